#include "env/fault_injection_env.h"

#include <cerrno>
#include <chrono>
#include <vector>

namespace kvtier {

namespace {

class FaultFile final : public File {
 public:
  FaultFile(FaultInjectionEnv* env, std::unique_ptr<File> base, std::string path,
            std::shared_ptr<UnsyncedState::FileRecord> record)
      : env_(env), base_(std::move(base)), path_(std::move(path)), record_(std::move(record)) {}

  Status ReadV(uint64_t offset, const struct iovec* iov, int iovcnt, size_t* got) override {
    env_->Delay();
    Status s = env_->Check(FaultOp::kRead, path_);
    if (!s.ok()) return s;
    env_->NoteTransfer(false, offset, Total(iov, iovcnt));
    size_t limit = env_->TransferLimit();
    if (limit == 0) return base_->ReadV(offset, iov, iovcnt, got);
    // Short reads: the contract is "until full or EOF", so loop in small steps
    // (exercises callers' offset arithmetic through the wrapper).
    std::vector<struct iovec> small = Trim(iov, iovcnt, limit);
    size_t n = 0;
    s = base_->ReadV(offset, small.data(), static_cast<int>(small.size()), &n);
    *got = n;
    if (!s.ok() || n < limit) return s;
    size_t rest = 0;
    std::vector<struct iovec> tail = Skip(iov, iovcnt, n);
    if (tail.empty()) return s;
    s = ReadV(offset + n, tail.data(), static_cast<int>(tail.size()), &rest);
    *got = n + rest;
    return s;
  }

  Status WriteV(uint64_t offset, const struct iovec* iov, int iovcnt) override {
    env_->Delay();
    Status s = env_->Check(FaultOp::kWrite, path_);
    if (!s.ok()) return s;
    const size_t total = Total(iov, iovcnt);
    env_->NoteTransfer(true, offset, total);
    if (!env_->SpendWriteBudget(total)) return Status::IOError("crashed " + path_, EIO);
    s = base_->WriteV(offset, iov, iovcnt);
    UnsyncedState* u = env_->unsynced();
    if (s.ok() && u != nullptr && record_ != nullptr) u->Wrote(record_.get(), offset, total);
    return s;
  }

  Status Sync() override {
    Status s = env_->Check(FaultOp::kSync, path_);
    if (s.ok()) s = base_->Sync();
    UnsyncedState* u = env_->unsynced();
    if (s.ok() && u != nullptr && record_ != nullptr) u->FileSynced(record_.get());
    return s;
  }
  Status Stat(FileInfo* info) override { return base_->Stat(info); }
  Status SetAccessTime(int64_t atime_ns) override {
    Status s = env_->Check(FaultOp::kSetAtime, path_);
    return s.ok() ? base_->SetAccessTime(atime_ns) : s;
  }

 private:
  static size_t Total(const struct iovec* iov, int n) {
    size_t total = 0;
    for (int i = 0; i < n; ++i) total += iov[i].iov_len;
    return total;
  }
  static std::vector<struct iovec> Trim(const struct iovec* iov, int n, size_t limit) {
    std::vector<struct iovec> out;
    for (int i = 0; i < n && limit > 0; ++i) {
      size_t take = iov[i].iov_len < limit ? iov[i].iov_len : limit;
      out.push_back(iovec{iov[i].iov_base, take});
      limit -= take;
    }
    return out;
  }
  static std::vector<struct iovec> Skip(const struct iovec* iov, int n, size_t skip) {
    std::vector<struct iovec> out;
    for (int i = 0; i < n; ++i) {
      if (skip >= iov[i].iov_len) {
        skip -= iov[i].iov_len;
        continue;
      }
      out.push_back(iovec{static_cast<char*>(iov[i].iov_base) + skip, iov[i].iov_len - skip});
      skip = 0;
    }
    return out;
  }

  FaultInjectionEnv* env_;
  std::unique_ptr<File> base_;
  std::string path_;
  std::shared_ptr<UnsyncedState::FileRecord> record_;  // opened for writing while tracking
};

class FaultDir final : public Dir {
 public:
  FaultDir(FaultInjectionEnv* env, std::unique_ptr<Dir> base, std::string path)
      : env_(env), base_(std::move(base)), path_(std::move(path)) {}

  Status OpenFile(const std::string& name, unsigned flags, std::unique_ptr<File>* out) override {
    const std::string path = path_ + "/" + name;
    Status s = env_->BeforeOpen(path, flags);
    std::unique_ptr<File> base;
    if (s.ok()) s = base_->OpenFile(name, flags, &base);
    if (s.ok()) *out = env_->WrapFile(std::move(base), path, flags);
    return s;
  }
  Status Stat(const std::string& name, FileInfo* info) override {
    Status s = env_->Check(FaultOp::kStat, path_ + "/" + name);
    return s.ok() ? base_->Stat(name, info) : s;
  }
  Status Rename(const std::string& from, const std::string& to, bool no_replace) override {
    Status s = env_->BeforeRename(path_ + "/" + to);
    if (s.ok()) s = base_->Rename(from, to, no_replace);
    UnsyncedState* u = env_->unsynced();
    if (s.ok() && u != nullptr) u->Renamed(path_ + "/" + from, path_ + "/" + to);
    return s;
  }
  Status OpenDir(const std::string& name, std::unique_ptr<Dir>* out) override {
    std::unique_ptr<Dir> base;
    Status s = base_->OpenDir(name, &base);
    return Sub(s, name, std::move(base), out);
  }
  Status OpenDirHandle(const std::string& name, std::unique_ptr<Dir>* out) override {
    std::unique_ptr<Dir> base;
    Status s = base_->OpenDirHandle(name, &base);
    return Sub(s, name, std::move(base), out);
  }
  Status List(std::vector<DirEntry>* out) override {
    Status s = env_->Check(FaultOp::kList, path_);
    return s.ok() ? base_->List(out) : s;
  }
  Status StatSelf(FileInfo* info) override {
    Status s = env_->Check(FaultOp::kStat, path_);
    return s.ok() ? base_->StatSelf(info) : s;
  }
  Status Unlink(const std::string& name) override {
    Status s = env_->Check(FaultOp::kUnlink, path_ + "/" + name);
    if (!s.ok()) return s;
    FileInfo st;
    bool lag = env_->LaggingFrees() && base_->Stat(name, &st).ok();
    s = base_->Unlink(name);
    if (s.ok() && lag) env_->NoteUnlinked(st.alloc_bytes);
    UnsyncedState* u = env_->unsynced();
    if (s.ok() && u != nullptr) u->Unlinked(path_ + "/" + name);
    return s;
  }
  Status RemoveDir(const std::string& name) override {
    Status s = env_->Check(FaultOp::kUnlink, path_ + "/" + name);
    return s.ok() ? base_->RemoveDir(name) : s;
  }
  Status SetAccessTime(const std::string& name, int64_t atime_ns) override {
    Status s = env_->Check(FaultOp::kSetAtime, path_ + "/" + name);
    return s.ok() ? base_->SetAccessTime(name, atime_ns) : s;
  }
  Status Sync() override {
    Status s = env_->Check(FaultOp::kSync, path_);
    if (s.ok()) s = base_->Sync();
    UnsyncedState* u = env_->unsynced();
    if (s.ok() && u != nullptr) u->DirSynced(path_);
    return s;
  }

 private:
  // A subdirectory the base opened (status s), wrapped so its calls see the
  // same faults.
  Status Sub(Status s, const std::string& name, std::unique_ptr<Dir> base,
             std::unique_ptr<Dir>* out) {
    if (s.ok()) *out = std::make_unique<FaultDir>(env_, std::move(base), path_ + "/" + name);
    return s;
  }
  FaultInjectionEnv* env_;
  std::unique_ptr<Dir> base_;
  std::string path_;
};

}  // namespace

Status FaultInjectionEnv::Check(FaultOp op, const std::string& what) {
  {
    MutexLock lock(&stall_mu_);
    if (stall_[static_cast<unsigned>(op)]) {
      ++blocked_;
      stall_cv_.SignalAll();
      while (stall_[static_cast<unsigned>(op)]) stall_cv_.Wait(&stall_mu_);
      --blocked_;
    }
  }
  int err = errors_[static_cast<unsigned>(op)].load();
  if (err == 0 || !InErrorScope(what)) return Status::OK();
  injected_.fetch_add(1);
  return PosixError("injected fault: " + what, err);
}

void FaultInjectionEnv::Stall(FaultOp op) {
  MutexLock lock(&stall_mu_);
  stall_[static_cast<unsigned>(op)] = true;
}

void FaultInjectionEnv::Release(FaultOp op) {
  {
    MutexLock lock(&stall_mu_);
    stall_[static_cast<unsigned>(op)] = false;
  }
  stall_cv_.SignalAll();
}

bool FaultInjectionEnv::WaitStalled(size_t n, int timeout_ms) {
  MutexLock lock(&stall_mu_);
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (blocked_ < n) {
    if (!stall_cv_.WaitUntil(&stall_mu_, until)) return blocked_ >= n;
  }
  return true;
}

size_t FaultInjectionEnv::stalled() {
  MutexLock lock(&stall_mu_);
  return blocked_;
}

void FaultInjectionEnv::NoteTransfer(bool write, uint64_t offset, size_t bytes) {
  std::atomic<size_t>& largest = write ? largest_write_ : largest_read_;
  size_t seen = largest.load();
  while (bytes > seen && !largest.compare_exchange_weak(seen, bytes)) {
  }
  if (write || offset == 0) return;
  const uint64_t align = offset & (~offset + 1);  // the lowest set bit
  uint64_t now = read_alignment_.load();
  while (align < now && !read_alignment_.compare_exchange_weak(now, align)) {
  }
}

Status FaultInjectionEnv::GetFsUsage(const std::string& path, FsUsage* out) {
  Status s = EnvWrapper::GetFsUsage(path, out);
  int64_t magic = fs_type_.load();
  if (s.ok() && magic != 0) out->fs_type = magic;
  if (s.ok()) {
    uint64_t held = LaggingBytes();
    out->avail_bytes = out->avail_bytes > held ? out->avail_bytes - held : 0;
  }
  return s;
}

void FaultInjectionEnv::NoteUnlinked(uint64_t bytes) {
  MutexLock l(&lag_mu_);
  unlinked_.emplace_back(NowNanos(), bytes);
}

uint64_t FaultInjectionEnv::LaggingBytes() {
  const int64_t cutoff = NowNanos() - free_lag_ns_.load();
  MutexLock l(&lag_mu_);
  while (!unlinked_.empty() && unlinked_.front().first <= cutoff) unlinked_.pop_front();
  uint64_t held = 0;
  for (const auto& u : unlinked_) held += u.second;
  return held;
}

void FaultInjectionEnv::Delay() {
  uint64_t us = latency_us_.load();
  if (us > 0) SleepMicros(us);
}

bool FaultInjectionEnv::SpendWriteBudget(uint64_t bytes) {
  uint64_t budget = crash_budget_.load();
  while (true) {
    if (budget == ~0ULL) return true;
    if (budget < bytes) {
      crash_budget_.store(0);
      return false;
    }
    if (crash_budget_.compare_exchange_weak(budget, budget - bytes)) return true;
  }
}

Status FaultInjectionEnv::BeforeOpen(const std::string& path, unsigned flags) {
  Status s = Check(FaultOp::kOpen, path);
  if (!s.ok()) return s;
  if ((flags & kOpenWrite) && crash_budget_.load() == 0) return Status::IOError("crashed", EIO);
  return Status::OK();
}

Status FaultInjectionEnv::BeforeRename(const std::string& to) {
  Status s = Check(FaultOp::kRename, to);
  if (!s.ok()) return s;
  if (crash_budget_.load() == 0) return Status::IOError("crashed before rename", EIO);
  return Status::OK();
}

std::unique_ptr<File> FaultInjectionEnv::WrapFile(std::unique_ptr<File> base,
                                                  const std::string& path, unsigned flags) {
  std::shared_ptr<UnsyncedState::FileRecord> record;
  UnsyncedState* u = unsynced();
  if (u != nullptr && (flags & kOpenWrite) != 0) {
    record = u->Opened(path, (flags & kOpenCreateExclusive) != 0);
  }
  return std::make_unique<FaultFile>(this, std::move(base), path, std::move(record));
}

Status FaultInjectionEnv::OpenFile(const std::string& path, unsigned flags,
                                   std::unique_ptr<File>* out) {
  Status s = BeforeOpen(path, flags);
  std::unique_ptr<File> base;
  if (s.ok()) s = EnvWrapper::OpenFile(path, flags, &base);
  if (s.ok()) *out = WrapFile(std::move(base), path, flags);
  return s;
}

Status FaultInjectionEnv::Stat(const std::string& path, FileInfo* info) {
  Status s = Check(FaultOp::kStat, path);
  return s.ok() ? EnvWrapper::Stat(path, info) : s;
}

Status FaultInjectionEnv::Rename(const std::string& from, const std::string& to, bool no_replace) {
  Status s = BeforeRename(to);
  if (s.ok()) s = EnvWrapper::Rename(from, to, no_replace);
  UnsyncedState* u = unsynced();
  if (s.ok() && u != nullptr) u->Renamed(from, to);
  return s;
}

Status FaultInjectionEnv::CreateDir(const std::string& path, const CreatePerms& perms) {
  Status s = Check(FaultOp::kMkdir, path);
  if (!s.ok()) return s;
  UnsyncedState* u = unsynced();
  FileInfo info;
  // Only a directory this call makes is a new, unsynced entry.
  const bool existed = u != nullptr && EnvWrapper::Stat(path, &info).ok();
  s = EnvWrapper::CreateDir(path, perms);
  if (s.ok() && u != nullptr && !existed) u->DirCreated(path);
  return s;
}

void FaultInjectionEnv::SetErrorScope(const std::string& dir) {
  MutexLock l(&scope_mu_);
  scope_ = dir;
}

bool FaultInjectionEnv::InErrorScope(const std::string& what) {
  MutexLock l(&scope_mu_);
  if (scope_.empty() || what == scope_) return true;
  return what.size() > scope_.size() && what.compare(0, scope_.size(), scope_) == 0 &&
         what[scope_.size()] == '/';
}

Status FaultInjectionEnv::Unlink(const std::string& path) {
  Status s = Check(FaultOp::kUnlink, path);
  if (!s.ok()) return s;
  FileInfo st;
  bool lag = LaggingFrees() && EnvWrapper::Stat(path, &st).ok();
  s = EnvWrapper::Unlink(path);
  if (s.ok() && lag) NoteUnlinked(st.alloc_bytes);
  UnsyncedState* u = unsynced();
  if (s.ok() && u != nullptr) u->Unlinked(path);
  return s;
}

Status FaultInjectionEnv::RemoveDir(const std::string& path) {
  Status s = Check(FaultOp::kUnlink, path);
  return s.ok() ? EnvWrapper::RemoveDir(path) : s;
}

Status FaultInjectionEnv::SyncDir(const std::string& path) {
  Status s = Check(FaultOp::kSync, path);
  if (s.ok()) s = EnvWrapper::SyncDir(path);
  UnsyncedState* u = unsynced();
  if (s.ok() && u != nullptr) u->DirSynced(path);
  return s;
}

Status FaultInjectionEnv::SetAccessTime(const std::string& path, int64_t atime_ns) {
  Status s = Check(FaultOp::kSetAtime, path);
  return s.ok() ? EnvWrapper::SetAccessTime(path, atime_ns) : s;
}

Status FaultInjectionEnv::ListDir(const std::string& path, std::vector<DirEntry>* out) {
  Status s = Check(FaultOp::kList, path);
  return s.ok() ? EnvWrapper::ListDir(path, out) : s;
}

Status FaultInjectionEnv::OpenDir(const std::string& path, std::unique_ptr<Dir>* out) {
  std::unique_ptr<Dir> base;
  Status s = EnvWrapper::OpenDir(path, &base);
  if (!s.ok()) return s;
  *out = std::make_unique<FaultDir>(this, std::move(base), path);
  return Status::OK();
}

}  // namespace kvtier
