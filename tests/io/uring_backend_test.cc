// The io_uring backend against real files and pipes: data and per-op
// results, the ring refilled as ops complete (not batch by batch), and every
// error path (failed transfer, short read, fault-env file, a ring that
// refuses submissions) returning with nothing queued or in flight.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <liburing.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <thread>
#include <vector>

#include "env/fault_injection_env.h"
#include "io/io_backend.h"
#include "layout/layout.h"
#include "test_util.h"

namespace kvtier {
namespace {

using kvtier::test::Payload;
using kvtier::test::ScratchDir;

constexpr size_t kSeg = size_t{64} * 1024;

std::unique_ptr<IoBackend> Uring(unsigned depth, UringSubmitFn submit = nullptr) {
  std::unique_ptr<IoBackend> b;
  Status s = NewUringBackend(depth, &b, submit);
  if (!s.ok()) return nullptr;
  return b;
}

// n segment transfers between `file` and `buf` (n * kSeg bytes): reads into
// a buffer of 'S', or writes of `write_from`'s first n segments. Each op's
// index is recorded as on_done reports it.
struct Transfers {
  Transfers(File* file, size_t n, const std::vector<char>* write_from = nullptr)
      : buf(write_from != nullptr ? *write_from : std::vector<char>(n * kSeg, 'S')),
        iovs(n),
        ops(n) {
    for (size_t k = 0; k < n; ++k) {
      iovs[k] = iovec{buf.data() + k * kSeg, kSeg};
      ops[k] = IoOp{file, write_from != nullptr, k * kSeg, &iovs[k], 1, 0, {}};
    }
    done_fn = [this](size_t k) { done.push_back(k); };
  }
  // With report false, Execute gets no on_done.
  void Run(IoBackend* b, bool report = true) {
    b->Execute(ops.data(), ops.size(), report ? &done_fn : nullptr);
  }
  // Each index reported once.
  bool EachDoneOnce() const {
    std::vector<int> seen(ops.size(), 0);
    for (size_t k : done) {
      if (k >= ops.size() || seen[k]++ != 0) return false;
    }
    return done.size() == ops.size();
  }
  std::vector<char> buf;
  std::vector<struct iovec> iovs;
  std::vector<IoOp> ops;
  std::vector<size_t> done;
  IoDoneFn done_fn;
};

// Every test gets a ring of depth 8 (skipped where io_uring is not
// available) and a scratch directory; MakeSource writes payload bytes to a
// file there and opens it for reading.
class UringBackend : public ::testing::Test {
 protected:
  void SetUp() override {
    ring_ = Uring(8);
    if (ring_ == nullptr) GTEST_SKIP() << "io_uring not available here";
  }

  std::string Path(const std::string& name) const { return dir_.path() + "/" + name; }

  // A new file `name` for writing only.
  void Create(const std::string& name, std::unique_ptr<File>* f) {
    ASSERT_TRUE(Env::Default()->OpenFile(Path(name), kOpenWrite | kOpenCreateExclusive, f).ok());
  }

  // data_ = Payload(bytes, seed), written to `name`, which source_ reads.
  void MakeSource(size_t bytes, uint32_t seed, const std::string& name = "f") {
    data_ = Payload(bytes, seed);
    std::unique_ptr<File> w;
    ASSERT_NO_FATAL_FAILURE(Create(name, &w));
    struct iovec iov {
      data_.data(), data_.size()
    };
    ASSERT_TRUE(w->WriteV(0, &iov, 1).ok());
    ASSERT_TRUE(Env::Default()->OpenFile(Path(name), kOpenRead, &source_).ok());
  }

  std::unique_ptr<IoBackend> ring_;
  ScratchDir dir_;
  std::vector<char> data_;
  std::unique_ptr<File> source_;
};

TEST_F(UringBackend, ReadsEverySegmentMoreThanTheDepth) {
  ASSERT_NO_FATAL_FAILURE(MakeSource(40 * kSeg, 1));
  for (int round = 0; round < 3; ++round) {  // the same ring, reused
    Transfers r(source_.get(), 40);
    r.Run(ring_.get());
    for (const IoOp& op : r.ops) {
      EXPECT_TRUE(op.status.ok()) << op.status.ToString();
      EXPECT_EQ(op.transferred, kSeg);
    }
    EXPECT_TRUE(r.EachDoneOnce());
    EXPECT_EQ(r.buf, data_);
  }
}

TEST_F(UringBackend, WritesThenReadsBack) {
  ring_ = Uring(4);
  ASSERT_NE(ring_, nullptr);
  const auto data = Payload(13 * kSeg, 2);
  std::unique_ptr<File> w;
  ASSERT_NO_FATAL_FAILURE(Create("w", &w));
  Transfers writes(w.get(), 13, &data);
  writes.Run(ring_.get(), /*report=*/false);
  for (const IoOp& op : writes.ops) {
    EXPECT_TRUE(op.status.ok()) << op.status.ToString();
    EXPECT_EQ(op.transferred, kSeg);
  }
  std::unique_ptr<File> f;
  ASSERT_TRUE(Env::Default()->OpenFile(Path("w"), kOpenRead, &f).ok());
  Transfers r(f.get(), 13);
  r.Run(ring_.get());
  EXPECT_EQ(r.buf, data);
}

TEST_F(UringBackend, ShortReadAtEndOfFile) {
  ASSERT_NO_FATAL_FAILURE(MakeSource(kSeg + kSeg / 2 + 7, 3));  // ends inside segment 2
  Transfers r(source_.get(), 4);
  r.Run(ring_.get());
  EXPECT_TRUE(r.EachDoneOnce());
  const size_t want[] = {kSeg, kSeg / 2 + 7, 0, 0};
  for (size_t k = 0; k < 4; ++k) {
    EXPECT_TRUE(r.ops[k].status.ok()) << k << ": " << r.ops[k].status.ToString();
    EXPECT_EQ(r.ops[k].transferred, want[k]) << k;
  }
  EXPECT_EQ(std::memcmp(r.buf.data(), data_.data(), data_.size()), 0);
  EXPECT_EQ(r.buf[data_.size()], 'S');  // nothing written past the end of file
}

TEST_F(UringBackend, FailedTransfersFailTheirOpsOnly) {
  ASSERT_NO_FATAL_FAILURE(MakeSource(20 * kSeg, 4, "good"));
  // Reading a descriptor opened for writing only: every CQE is -EBADF.
  std::unique_ptr<File> wonly;
  ASSERT_NO_FATAL_FAILURE(Create("wonly", &wonly));
  Transfers r(source_.get(), 20);
  for (size_t k = 0; k < 20; k += 3) r.ops[k].file = wonly.get();
  r.Run(ring_.get());
  EXPECT_TRUE(r.EachDoneOnce());
  for (size_t k = 0; k < 20; ++k) {
    if (k % 3 == 0) {
      EXPECT_EQ(r.ops[k].status.err(), EBADF) << k << ": " << r.ops[k].status.ToString();
      EXPECT_EQ(r.ops[k].transferred, 0u);
    } else {
      EXPECT_TRUE(r.ops[k].status.ok()) << k;
      EXPECT_EQ(std::memcmp(r.buf.data() + k * kSeg, data_.data() + k * kSeg, kSeg), 0) << k;
    }
  }
  // Nothing of that call is left in the ring: the next one sees only its own.
  Transfers again(source_.get(), 20);
  again.Run(ring_.get());
  EXPECT_TRUE(again.EachDoneOnce());
  EXPECT_EQ(again.buf, data_);
}

TEST_F(UringBackend, FaultEnvFilesRunThroughTheWrapperBesideKernelOps) {
  ASSERT_NO_FATAL_FAILURE(MakeSource(16 * kSeg, 5));
  FaultInjectionEnv fenv(Env::Default());
  std::unique_ptr<File> wrapped;
  ASSERT_TRUE(fenv.OpenFile(Path("f"), kOpenRead, &wrapped).ok());
  ASSERT_LT(wrapped->NativeHandle(), 0);

  fenv.SetShortTransfer(1000);  // every wrapped read comes back in 1000-byte steps
  Transfers r(source_.get(), 16);
  for (size_t k = 0; k < 16; k += 2) r.ops[k].file = wrapped.get();
  r.Run(ring_.get());
  EXPECT_TRUE(r.EachDoneOnce());
  for (const IoOp& op : r.ops) EXPECT_TRUE(op.status.ok() && op.transferred == kSeg);
  EXPECT_EQ(r.buf, data_);

  fenv.SetError(FaultOp::kRead, EIO);
  Transfers bad(source_.get(), 16);
  for (size_t k = 0; k < 16; k += 2) bad.ops[k].file = wrapped.get();
  bad.Run(ring_.get());
  EXPECT_TRUE(bad.EachDoneOnce());
  for (size_t k = 0; k < 16; ++k) {
    if (k % 2 == 0) {
      EXPECT_EQ(bad.ops[k].status.err(), EIO) << k;
    } else {
      EXPECT_TRUE(bad.ops[k].status.ok()) << k;
    }
  }
}

// A ring that refuses submissions: a stand-in for io_uring_submit that
// fails the next `g_refuse` calls (then submits for real), noting how many
// entries were waiting in the submission queue at each call.
std::atomic<int> g_refuse{0};
std::atomic<int> g_calls{0};
std::atomic<unsigned> g_max_ready{0};
int RefusingSubmit(struct io_uring* ring) {
  g_calls.fetch_add(1);
  unsigned ready = io_uring_sq_ready(ring);
  if (ready > g_max_ready.load()) g_max_ready.store(ready);
  if (g_refuse.load() > 0) {
    g_refuse.fetch_sub(1);
    return -EAGAIN;
  }
  return io_uring_submit(ring);
}

TEST_F(UringBackend, RefusedSubmissionsRunSynchronouslyAndLeaveTheRingEmpty) {
  ring_ = Uring(8, &RefusingSubmit);
  ASSERT_NE(ring_, nullptr);
  ASSERT_NO_FATAL_FAILURE(MakeSource(24 * kSeg, 6));

  // Refused a few times, then accepted: the retries carry the ops through.
  g_refuse = 2;
  Transfers retried(source_.get(), 24);
  retried.Run(ring_.get());
  EXPECT_TRUE(retried.EachDoneOnce());
  EXPECT_EQ(retried.buf, data_);

  // Refused for good: every op still completes (synchronously), and the
  // entries queued in the refusing ring are never sent later.
  g_refuse = 1000000;
  {
    Transfers refused(source_.get(), 24);
    refused.Run(ring_.get());
    EXPECT_TRUE(refused.EachDoneOnce());
    for (const IoOp& op : refused.ops) EXPECT_TRUE(op.status.ok() && op.transferred == kSeg);
    EXPECT_EQ(refused.buf, data_);
  }  // its buffers and ops are gone now; a stale entry would point at them
  g_refuse = 0;
  g_calls = 0;
  g_max_ready = 0;
  Transfers after(source_.get(), 24);
  after.Run(ring_.get());
  EXPECT_TRUE(after.EachDoneOnce());
  EXPECT_EQ(after.buf, data_);
  EXPECT_GT(g_calls.load(), 0);       // through the ring again, not all synchronous
  EXPECT_LE(g_max_ready.load(), 8u);  // never more than the depth waiting
}

// A File over a pipe's read end: a read completes only when the test writes
// to that pipe, so the test decides the order in which ops complete.
class PipeFile final : public File {
 public:
  PipeFile() { ok_ = ::pipe(fds_) == 0; }
  ~PipeFile() override {
    if (ok_) {
      ::close(fds_[0]);
      ::close(fds_[1]);
    }
  }
  bool ok() const { return ok_; }
  void Feed(char c) { EXPECT_EQ(::write(fds_[1], &c, 1), 1); }
  Status ReadV(uint64_t, const struct iovec* iov, int iovcnt, size_t* got) override {
    ssize_t n = ::readv(fds_[0], iov, iovcnt);
    *got = n > 0 ? static_cast<size_t>(n) : 0;
    return n < 0 ? PosixError("readv", errno) : Status::OK();
  }
  Status WriteV(uint64_t, const struct iovec*, int) override { return Status::NotSupported("x"); }
  Status Sync() override { return Status::OK(); }
  Status Stat(FileInfo*) override { return Status::NotSupported("x"); }
  Status SetAccessTime(int64_t) override { return Status::NotSupported("x"); }
  int NativeHandle() const override { return fds_[0]; }

 private:
  int fds_[2] = {-1, -1};
  bool ok_ = false;
};

TEST_F(UringBackend, RefillsAsOpsCompleteNotBatchByBatch) {
  // Depth 2, four one-byte reads on four pipes. Op 1 completes while op 0
  // is still waiting: op 2 must be submitted then (a batch-at-a-time
  // engine would wait for op 0 first and never submit again here).
  ring_ = Uring(2, &RefusingSubmit);
  ASSERT_NE(ring_, nullptr);
  g_refuse = 0;
  g_calls = 0;
  PipeFile pipes[4];
  for (auto& p : pipes) ASSERT_TRUE(p.ok());
  char out[4] = {};
  struct iovec iovs[4];
  IoOp ops[4];
  for (size_t k = 0; k < 4; ++k) {
    iovs[k] = iovec{&out[k], 1};
    ops[k] = IoOp{&pipes[k], false, 0, &iovs[k], 1, 0, {}};
  }
  std::atomic<bool> refilled{false};
  std::thread feeder([&] {
    while (g_calls.load() < 1) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    pipes[1].Feed('b');
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (g_calls.load() < 2 && std::chrono::steady_clock::now() < until) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    refilled = g_calls.load() >= 2;
    pipes[2].Feed('c');
    pipes[0].Feed('a');
    pipes[3].Feed('d');
  });
  std::vector<size_t> order;
  IoDoneFn done = [&](size_t k) { order.push_back(k); };
  ring_->Execute(ops, 4, &done);
  feeder.join();
  EXPECT_TRUE(refilled.load()) << "op 2 waited for op 0";
  EXPECT_EQ(std::string(out, 4), "abcd");
  ASSERT_EQ(order.size(), 4u);
  EXPECT_EQ(order[0], 1u);  // handed over as it landed, before op 0
}

TEST_F(UringBackend, StoreLoadsManySegmentsInOrderOfTheChecksum) {
  // 1 MiB chunks in 4 KiB segments: 257 transfers per chunk through a ring
  // of 8, landing in any order, hashed in payload order. A flipped byte deep
  // in the payload must still be caught.
  StoreOptions opts;
  opts.io_backend = IoBackendKind::kUring;
  opts.direct_io = DirectIoMode::kOn;
  opts.segment_bytes = 4096;
  opts.read_threads = 2;
  opts.write_threads = 1;
  opts.lookup_cache_ns = 0;
  std::unique_ptr<Store> store;
  Status s = Store::Open(dir_.path(), kvtier::test::TestFingerprint(), opts, &store);
  if (!s.ok()) GTEST_SKIP() << "io_uring + O_DIRECT not available here: " << s.ToString();
  ASSERT_STREQ(store->io_backend_name(), "io_uring");
  const size_t len = (1 << 20) + 1000;  // and an unaligned tail
  for (uint32_t i = 0; i < 6; ++i) {
    auto data = Payload(len, 100 + i);
    ASSERT_TRUE(store->Put("k" + std::to_string(i), data.data(), len));
  }
  std::vector<char> out(len);
  for (uint32_t i = 0; i < 6; ++i) {
    ASSERT_TRUE(store->Get("k" + std::to_string(i), out.data(), len)) << i;
    EXPECT_EQ(out, Payload(len, 100 + i)) << i;
  }
  const std::string path = LocateChunk(store->namespace_dir(), "k3").path;
  {
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    const size_t at = size_t{700} * 1024;
    f.seekp(static_cast<std::streamoff>(4096 + at));  // payload offset (one 4 KiB header) + at
    f.put(static_cast<char>(0x5a ^ Payload(len, 103)[at]));
  }
  EXPECT_FALSE(store->Get("k3", out.data(), len));
  EXPECT_TRUE(store->Get("k4", out.data(), len));
}

}  // namespace
}  // namespace kvtier
