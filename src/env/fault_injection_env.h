// FaultInjectionEnv: an EnvWrapper for tests that makes chosen operations
// fail with a chosen errno (ENOSPC, EIO, EACCES, ...), return short
// transfers, sleep, stall (block until released, as on a network
// filesystem whose server stopped answering), or "crash": after a byte
// budget is spent every later write and rename fails, as if the process had
// died at that point, leaving on disk exactly what a killed writer would
// leave. It can also report another filesystem type, so a scratch directory
// passes for FUSE or tmpfs, and lose power: with TrackUnsynced on, it
// records what was written or named and not yet synced, and
// DropUnsyncedData takes that away from the files beneath it
// (env/unsynced_state.h says what is modelled).
//
// A test must release every stall, and wait for the store's workers to be
// gone, before destroying the env.
//
// Files it opens report NativeHandle() == -1, so even the io_uring backend
// moves their bytes through the wrapper and sees the faults.
#ifndef KVTIER_SRC_ENV_FAULT_INJECTION_ENV_H_
#define KVTIER_SRC_ENV_FAULT_INJECTION_ENV_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "env/unsynced_state.h"
#include "kvtier/env.h"
#include "util/mutex.h"

namespace kvtier {

enum class FaultOp : unsigned {
  kOpen = 0,
  kRead,
  kWrite,
  kSync,
  kRename,
  kStat,
  kMkdir,
  kList,
  kUnlink,
  kSetAtime,
  kCount
};

class FaultInjectionEnv final : public EnvWrapper {
 public:
  explicit FaultInjectionEnv(Env* target) : EnvWrapper(target) {}

  // Every `op` fails with `err` until cleared (0 clears).
  void SetError(FaultOp op, int err) { errors_[static_cast<unsigned>(op)].store(err); }
  // Limits those errors to `dir` and the paths below it ("": every path),
  // so a test can fail one directory of a tree. kUnlink covers rmdir too.
  void SetErrorScope(const std::string& dir);
  void ClearErrors() {
    for (auto& e : errors_) e.store(0);
  }
  // Reads and writes move at most this many bytes per call (0: no limit).
  void SetShortTransfer(size_t max_bytes) { short_transfer_.store(max_bytes); }
  // Every read and write sleeps this long first.
  void SetLatencyMicros(uint64_t micros) { latency_us_.store(micros); }
  // After `bytes` more bytes have been written, all writes and renames fail
  // with EIO (a writer that died mid-way). ~0 disables.
  void CrashAfterBytes(uint64_t bytes) { crash_budget_.store(bytes); }
  uint64_t injected() const { return injected_.load(); }
  // Every `op` blocks from now on until Release(op); those already blocked
  // stay blocked. The stalled op then proceeds normally.
  void Stall(FaultOp op);
  void Release(FaultOp op);
  // Waits up to timeout_ms until at least n operations are blocked.
  bool WaitStalled(size_t n, int timeout_ms);
  size_t stalled();
  // The largest single ReadV / WriteV of a wrapped file so far, in bytes
  // (what one transfer of the store's asks for, before any short-transfer
  // splitting).
  size_t largest_read() const { return largest_read_.load(); }
  size_t largest_write() const { return largest_write_.load(); }
  // The largest power of two dividing the file offset of every ReadV of a
  // wrapped file that started past offset 0 (~0 while none has): how well
  // the store's transfers line up with a filesystem's blocks or stripes.
  uint64_t read_offset_alignment() const { return read_alignment_.load(); }
  // GetFsUsage reports this statfs f_type (0: the real one).
  void SetFsType(int64_t magic) { fs_type_.store(magic); }
  // A file unlinked from now on is reported free by GetFsUsage only `ns`
  // after its unlink (MooseFS and Lustre free space late); 0 ends the lag.
  void SetFreeLag(int64_t ns) { free_lag_ns_.store(ns); }
  // Unlinked bytes GetFsUsage does not report free yet.
  uint64_t LaggingBytes();
  // Records an unlink of `bytes` (the wrapped directories call it).
  void NoteUnlinked(uint64_t bytes);
  bool LaggingFrees() const { return free_lag_ns_.load() > 0; }
  // Power loss: from now on, files opened for writing and directory entries
  // are tracked until synced; DropUnsyncedData(seed) then applies a power
  // loss (UnsyncedState::Drop) and returns how many writes and entries it
  // took. REQUIRES for the drop: nothing is writing through this env.
  void TrackUnsynced() { track_unsynced_.store(true); }
  size_t DropUnsyncedData(uint64_t seed = 0) { return unsynced_.Drop(target(), seed); }
  // The tracker, or null when TrackUnsynced is off (the wrapped files and
  // directories report to it).
  UnsyncedState* unsynced() { return track_unsynced_.load() ? &unsynced_ : nullptr; }

  Status OpenFile(const std::string& path, unsigned flags, std::unique_ptr<File>* out) override;
  Status Stat(const std::string& path, FileInfo* info) override;
  Status Rename(const std::string& from, const std::string& to, bool no_replace) override;
  Status CreateDir(const std::string& path, const CreatePerms& perms) override;
  Status Unlink(const std::string& path) override;
  Status RemoveDir(const std::string& path) override;
  Status ListDir(const std::string& path, std::vector<DirEntry>* out) override;
  Status SyncDir(const std::string& path) override;
  Status SetAccessTime(const std::string& path, int64_t atime_ns) override;
  // The directory's calls see the same faults as the path-based ones.
  Status OpenDir(const std::string& path, std::unique_ptr<Dir>* out) override;
  Status GetFsUsage(const std::string& path, FsUsage* out) override;

  // Used by the wrapped files and directories.
  Status Check(FaultOp op, const std::string& what);
  size_t TransferLimit() const { return short_transfer_.load(); }
  void NoteTransfer(bool write, uint64_t offset, size_t bytes);
  void Delay();
  // Consumes write budget; false once the "crash" point is reached.
  bool SpendWriteBudget(uint64_t bytes);
  // The faults of an open (of `path` with `flags`) and of a rename (to
  // `to`), shared by the path calls and the wrapped directories; a base file
  // opened after BeforeOpen passed is wrapped by WrapFile.
  Status BeforeOpen(const std::string& path, unsigned flags);
  Status BeforeRename(const std::string& to);
  std::unique_ptr<File> WrapFile(std::unique_ptr<File> base, const std::string& path,
                                 unsigned flags);

 private:
  bool InErrorScope(const std::string& what);

  std::atomic<int> errors_[static_cast<unsigned>(FaultOp::kCount)] = {};
  std::atomic<size_t> short_transfer_{0};
  std::atomic<size_t> largest_read_{0};
  std::atomic<size_t> largest_write_{0};
  std::atomic<uint64_t> read_alignment_{~uint64_t{0}};
  std::atomic<uint64_t> latency_us_{0};
  std::atomic<uint64_t> crash_budget_{~0ULL};
  std::atomic<uint64_t> injected_{0};
  Mutex scope_mu_;
  std::string scope_ GUARDED_BY(scope_mu_);
  std::atomic<int64_t> fs_type_{0};
  std::atomic<int64_t> free_lag_ns_{0};
  Mutex lag_mu_;
  std::deque<std::pair<int64_t, uint64_t>> unlinked_ GUARDED_BY(lag_mu_);  // (NowNanos, bytes)
  Mutex stall_mu_;
  CondVar stall_cv_;
  bool stall_[static_cast<unsigned>(FaultOp::kCount)] GUARDED_BY(stall_mu_) = {};
  size_t blocked_ GUARDED_BY(stall_mu_) = 0;
  std::atomic<bool> track_unsynced_{false};
  UnsyncedState unsynced_;
};

}  // namespace kvtier

#endif  // KVTIER_SRC_ENV_FAULT_INJECTION_ENV_H_
