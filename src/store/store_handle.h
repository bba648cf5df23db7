// StoreHandle: what Store::Open hands out. The workers share the StoreImpl
// (a worker blocked in the filesystem may outlive Close()), so the caller
// owns this handle, whose destruction closes the store.
#ifndef KVTIER_SRC_STORE_STORE_HANDLE_H_
#define KVTIER_SRC_STORE_STORE_HANDLE_H_

#include <memory>
#include <utility>

#include "store/store_impl.h"

namespace kvtier {

class StoreHandle final : public Store {
 public:
  explicit StoreHandle(std::shared_ptr<StoreImpl> impl) : impl_(std::move(impl)) {}
  ~StoreHandle() override { impl_->Close(); }
  StoreHandle(const StoreHandle&) = delete;
  StoreHandle& operator=(const StoreHandle&) = delete;

  uint64_t SubmitPut(std::vector<PutRequest> r) override { return impl_->SubmitPut(std::move(r)); }
  uint64_t SubmitGet(std::vector<GetRequest> r) override { return impl_->SubmitGet(std::move(r)); }
  uint64_t SubmitContains(std::vector<std::string> keys) override {
    return impl_->SubmitContains(std::move(keys));
  }
  void Poll(std::vector<JobResult>* results, size_t max_results) override {
    impl_->Poll(results, max_results);
  }
  size_t WaitAny(std::vector<JobResult>* results, size_t max_results, int64_t timeout_ns) override {
    return impl_->WaitAny(results, max_results, timeout_ns);
  }
  bool Wait(uint64_t job_id, JobResult* result, int64_t timeout_ns) override {
    return impl_->Wait(job_id, result, timeout_ns);
  }
  bool Put(std::string_view key, const void* data, size_t len) override {
    return impl_->Put(key, data, len);
  }
  bool Get(std::string_view key, void* buf, size_t len) override {
    return impl_->Get(key, buf, len);
  }
  std::vector<bool> Contains(const std::vector<std::string>& keys) override {
    return impl_->Contains(keys);
  }
  std::string MetricsText() const override { return impl_->MetricsText(); }
  std::map<std::string, double> MetricsMap() const override { return impl_->MetricsMap(); }
  const std::string& namespace_dir() const override { return impl_->namespace_dir(); }
  const char* io_backend_name() const override { return impl_->io_backend_name(); }
  bool load_direct_io() const override { return impl_->load_direct_io(); }
  bool store_direct_io() const override { return impl_->store_direct_io(); }
  bool usable() const override { return impl_->usable(); }
  void Close() override { impl_->Close(); }

 private:
  std::shared_ptr<StoreImpl> impl_;
};

}  // namespace kvtier

#endif  // KVTIER_SRC_STORE_STORE_HANDLE_H_
