// Env: every filesystem and clock access kvtier makes goes through this
// interface (the idea is LevelDB's Env). Production code uses Env::Default();
// tests wrap it (EnvWrapper) to inject ENOSPC, EIO, EACCES, short transfers,
// latency or a crash after N bytes without touching real hardware.
//
// Contract for implementations: no call follows a symbolic link in any
// component of a path (a symlink is reported as ELOOP), so nothing outside
// the directory tree the caller names can be read, written or deleted.
// The POSIX Env keeps it with openat2(RESOLVE_NO_SYMLINKS); on kernels
// before 5.6, which lack openat2, a path call refuses a link only as its
// last component (O_NOFOLLOW). A Dir's calls name single entries, so once
// it is open they keep the contract on every kernel.
// All methods are safe for concurrent use.
#ifndef KVTIER_INCLUDE_ENV_H_
#define KVTIER_INCLUDE_ENV_H_

#include <sys/uio.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kvtier/status.h"

namespace kvtier {

struct FileInfo {
  uint64_t size = 0;
  uint64_t dev = 0;
  uint64_t ino = 0;
  int64_t atime_ns = 0;
  int64_t mtime_ns = 0;
  uint32_t mode = 0;         // st_mode bits
  uint64_t alloc_bytes = 0;  // st_blocks * 512: what the file costs the filesystem
  bool IsRegular() const;
  bool IsDirectory() const;
  bool IsSymlink() const;
};

struct DirEntry {
  enum class Type : unsigned char { kFile, kDirectory, kSymlink, kOther, kUnknown };
  std::string name;
  Type type = Type::kUnknown;
};

// Permissions of the files and directories a store creates, so that an
// evictor running as another user of the same group can delete them (it
// needs write permission on the directories only). dir_mode is applied
// exactly, by chmod after mkdir: the umask would strip group write, and
// mkdir ignores the setgid bit (the default 0755 with no group is left to
// mkdir and the umask, saving those calls). file_mode goes to open(2) and is masked by
// the umask as usual (the evictor needs no permission on files). group >= 0
// is given to each directory created; with setgid in dir_mode, everything
// created below then inherits it.
struct CreatePerms {
  uint32_t file_mode = 0644;
  uint32_t dir_mode = 0755;
  int64_t group = -1;  // -1: the creating process's (or a setgid parent's)
};

struct FsUsage {
  uint64_t total_bytes = 0;
  uint64_t avail_bytes = 0;
  int64_t fs_type = 0;  // statfs f_type (e.g. TMPFS_MAGIC)
};

// An open file. Offsets are absolute (pread/pwrite semantics), so one File
// may serve several concurrent transfers.
class File {
 public:
  File() = default;
  File(const File&) = delete;
  File& operator=(const File&) = delete;
  virtual ~File() = default;

  // Reads until the iovecs are full or end of file; *bytes_read says how far.
  virtual Status ReadV(uint64_t offset, const struct iovec* iov, int iovcnt,
                       size_t* bytes_read) = 0;
  // Writes every byte of the iovecs or fails.
  virtual Status WriteV(uint64_t offset, const struct iovec* iov, int iovcnt) = 0;
  virtual Status Sync() = 0;
  virtual Status Stat(FileInfo* info) = 0;
  // Sets the access time, leaving the modification time alone.
  virtual Status SetAccessTime(int64_t atime_ns) = 0;
  // A kernel file descriptor for backends that submit I/O themselves
  // (io_uring), or -1 when transfers must go through ReadV/WriteV (for
  // example when a test Env injects faults).
  virtual int NativeHandle() const { return -1; }
};

// A directory opened once, its path walked without following any symlink,
// whose entries are then named by a single component (no '/', "." or "..")
// and never followed if they are links. The store publishes a chunk through
// one: one path walk instead of one per call (stat, create, rename), and a
// fan-out directory swapped for a link half-way cannot redirect the later
// calls. Tree walks (the evictor, `kvtier stat`/`verify`) go from a root Dir
// to its subdirectories with OpenDir, so nothing they reach, list or delete
// can be outside the root or on another filesystem mounted inside it.
class Dir {
 public:
  Dir() = default;
  Dir(const Dir&) = delete;
  Dir& operator=(const Dir&) = delete;
  virtual ~Dir() = default;

  virtual Status OpenFile(const std::string& name, unsigned flags, std::unique_ptr<File>* out) = 0;
  // Opens subdirectory `name`. A symlink or anything but a directory fails
  // (ELOOP or ENOTDIR), and so does a directory on another filesystem than
  // this one (EXDEV: a mount point inside the tree is never entered).
  virtual Status OpenDir(const std::string& name, std::unique_ptr<Dir>* out) = 0;
  // Opens subdirectory `name` only to name entries in it (the store's
  // fan-out directories): with the same refusals as OpenDir, but where it
  // can (POSIX: O_PATH) without opening it for reading, which on a network
  // filesystem can be a request to the server. List() on the result opens
  // it then. The default is OpenDir.
  virtual Status OpenDirHandle(const std::string& name, std::unique_ptr<Dir>* out) {
    return OpenDir(name, out);
  }
  // Every entry except "." and "..", in directory order, typed as the
  // filesystem reports them (kUnknown where it does not: Stat the entry).
  virtual Status List(std::vector<DirEntry>* out) = 0;
  virtual Status Stat(const std::string& name, FileInfo* info) = 0;
  // The directory itself (its device and times).
  virtual Status StatSelf(FileInfo* info) = 0;
  // Both names in this directory; no_replace as for Env::Rename.
  virtual Status Rename(const std::string& from, const std::string& to, bool no_replace) = 0;
  virtual Status Unlink(const std::string& name) = 0;
  // Removes empty subdirectory `name` (ENOTEMPTY otherwise).
  virtual Status RemoveDir(const std::string& name) = 0;
  virtual Status SetAccessTime(const std::string& name, int64_t atime_ns) = 0;
  // Makes the directory's entries durable (creates, renames).
  virtual Status Sync() = 0;
};

enum OpenFlags : unsigned {
  kOpenRead = 1u << 0,
  kOpenWrite = 1u << 1,
  kOpenCreateExclusive = 1u << 2,  // create; fail with EEXIST if present
  kOpenDirect = 1u << 3,           // O_DIRECT: caller aligns buffers
};

// A created file's permission bits travel in the open flags (0644 when
// none are given), so wrappers that forward flags keep them.
inline constexpr unsigned kOpenModeShift = 16;
inline constexpr unsigned OpenModeFlags(uint32_t mode) { return (mode & 07777u) << kOpenModeShift; }
inline constexpr uint32_t OpenFlagsMode(unsigned flags) {
  uint32_t mode = (flags >> kOpenModeShift) & 07777u;
  return mode != 0 ? mode : 0644;
}

class Env {
 public:
  Env() = default;
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  virtual ~Env() = default;

  // The POSIX implementation; lives for the whole process.
  static Env* Default();

  virtual Status OpenFile(const std::string& path, unsigned flags, std::unique_ptr<File>* out) = 0;
  // lstat-like: reports a symlink as such, never its target.
  virtual Status Stat(const std::string& path, FileInfo* info) = 0;
  // With no_replace, fails with EEXIST instead of replacing `to`; where the
  // filesystem cannot do that atomically it returns NotSupported.
  virtual Status Rename(const std::string& from, const std::string& to, bool no_replace) = 0;
  virtual Status Unlink(const std::string& path) = 0;
  virtual Status RemoveDir(const std::string& path) = 0;
  // Succeeds when the directory already exists (and then leaves its mode and
  // group alone); a directory it creates gets perms.dir_mode and perms.group.
  virtual Status CreateDir(const std::string& path, const CreatePerms& perms) = 0;
  virtual Status SyncDir(const std::string& path) = 0;
  virtual Status OpenDir(const std::string& path, std::unique_ptr<Dir>* out) = 0;
  virtual Status ListDir(const std::string& path, std::vector<DirEntry>* out) = 0;
  virtual Status SetAccessTime(const std::string& path, int64_t atime_ns) = 0;
  virtual Status GetFsUsage(const std::string& path, FsUsage* out) = 0;

  // Wall-clock time (comparable with file times) and a monotonic clock.
  virtual int64_t NowNanos() = 0;
  virtual uint64_t MonotonicNanos() = 0;
  virtual void SleepMicros(uint64_t micros) = 0;
};

// Forwards every call to another Env; subclasses override what they change.
class EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env* target) : target_(target) {}
  Env* target() const { return target_; }

  Status OpenFile(const std::string& path, unsigned flags, std::unique_ptr<File>* out) override {
    return target_->OpenFile(path, flags, out);
  }
  Status Stat(const std::string& path, FileInfo* info) override {
    return target_->Stat(path, info);
  }
  Status Rename(const std::string& from, const std::string& to, bool no_replace) override {
    return target_->Rename(from, to, no_replace);
  }
  Status Unlink(const std::string& path) override { return target_->Unlink(path); }
  Status RemoveDir(const std::string& path) override { return target_->RemoveDir(path); }
  Status CreateDir(const std::string& path, const CreatePerms& perms) override {
    return target_->CreateDir(path, perms);
  }
  Status SyncDir(const std::string& path) override { return target_->SyncDir(path); }
  Status OpenDir(const std::string& path, std::unique_ptr<Dir>* out) override {
    return target_->OpenDir(path, out);
  }
  Status ListDir(const std::string& path, std::vector<DirEntry>* out) override {
    return target_->ListDir(path, out);
  }
  Status SetAccessTime(const std::string& path, int64_t atime_ns) override {
    return target_->SetAccessTime(path, atime_ns);
  }
  Status GetFsUsage(const std::string& path, FsUsage* out) override {
    return target_->GetFsUsage(path, out);
  }
  int64_t NowNanos() override { return target_->NowNanos(); }
  uint64_t MonotonicNanos() override { return target_->MonotonicNanos(); }
  void SleepMicros(uint64_t micros) override { target_->SleepMicros(micros); }

 private:
  Env* target_;
};

}  // namespace kvtier

#endif  // KVTIER_INCLUDE_ENV_H_
