// The `auto` rule for io_backend and direct_io: what wins depends on the
// filesystem under the cache root (statfs f_type), so the rule is a table
// keyed by its class. Measurements behind each row: bench/RESULTS.md,
// "`auto` I/O choices per filesystem".
#ifndef KVTIER_SRC_IO_IO_CHOICE_H_
#define KVTIER_SRC_IO_IO_CHOICE_H_

#include <cstdint>

namespace kvtier {

enum class FsClass {
  kMemory,      // tmpfs, ramfs: no device, the page cache is the data
  kLocalBlock,  // ext4, xfs, btrfs, f2fs: a block device with native async I/O
  kFuse,        // any FUSE filesystem (MooseFS, JuiceFS, Weka's client, ...)
  kNfs,         // NFS, SMB/CIFS
  kLustre,
  kOther,  // anything else (overlayfs, GPFS, BeeGFS, CephFS, ...)
};

FsClass ClassifyFs(int64_t f_type);
const char* FsClassName(FsClass c);

// What `auto` does on one filesystem class, for stores and loads alike.
struct AutoIoRule {
  bool try_direct;         // probe O_DIRECT, use it if the probe passes
  bool uring_with_direct;  // io_uring when O_DIRECT is on (buffered: always the thread pool)
};

AutoIoRule AutoIoFor(FsClass c);

}  // namespace kvtier

#endif  // KVTIER_SRC_IO_IO_CHOICE_H_
