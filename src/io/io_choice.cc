#include "io/io_choice.h"

#include <linux/magic.h>

namespace kvtier {

namespace {

// Magic numbers not in every <linux/magic.h>.
constexpr int64_t kFuseMagic = 0x65735546;
constexpr int64_t kLustreMagic = 0x0BD00BD0;
constexpr int64_t kSmb2Magic = static_cast<int64_t>(0xFE534D42);
constexpr int64_t kCifsMagic = static_cast<int64_t>(0xFF534D42);
constexpr int64_t kXfsMagic = 0x58465342;
constexpr int64_t kF2fsMagic = static_cast<int64_t>(0xF2F52010);

}  // namespace

FsClass ClassifyFs(int64_t f_type) {
  // statfs f_type is a signed word on some ABIs: compare the low 32 bits.
  switch (f_type & 0xffffffff) {
    case TMPFS_MAGIC:
    case RAMFS_MAGIC:
      return FsClass::kMemory;
    case EXT4_SUPER_MAGIC:  // also ext2/ext3
    case kXfsMagic:
    case BTRFS_SUPER_MAGIC:
    case kF2fsMagic:
      return FsClass::kLocalBlock;
    case kFuseMagic:
      return FsClass::kFuse;
    case NFS_SUPER_MAGIC:
    case kSmb2Magic:
    case kCifsMagic:
      return FsClass::kNfs;
    case kLustreMagic:
      return FsClass::kLustre;
    default:
      return FsClass::kOther;
  }
}

const char* FsClassName(FsClass c) {
  switch (c) {
    case FsClass::kMemory:
      return "memory";
    case FsClass::kLocalBlock:
      return "local-block";
    case FsClass::kFuse:
      return "fuse";
    case FsClass::kNfs:
      return "nfs";
    case FsClass::kLustre:
      return "lustre";
    case FsClass::kOther:
      break;
  }
  return "other";
}

AutoIoRule AutoIoFor(FsClass c) {
  switch (c) {
    case FsClass::kLocalBlock:
      // The device takes several transfers per thread at once: io_uring
      // keeps them in flight without a thread each.
      return {true, true};
    case FsClass::kMemory:
      // O_DIRECT moves the same bytes with nothing to bypass and loses the
      // in-cache checksumming of buffered segments; io_uring only adds
      // io-wq hand-offs to page-cache copies.
    case FsClass::kFuse:
    case FsClass::kNfs:
      // Measured on MooseFS (FUSE): O_DIRECT makes every transfer a
      // synchronous round trip to the daemon (stores 0.08 vs 0.27 GB/s
      // buffered at 1 ms), and FUSE reads cannot be issued without
      // blocking, so io_uring hands each one to an io-wq worker (32 of them
      // for 4 threads), a thread pool behind the thread pool, and with
      // verification it has a chunk's segments in flight at once, out of
      // order for read-ahead. NFS (not measured here) has the same io-wq
      // hand-off; buffered keeps its read-ahead and write-behind, which
      // hide the round trips.
      return {false, false};
    case FsClass::kLustre:
    case FsClass::kOther:
      // Not measured here. Parallel filesystems (Lustre, GPFS) recommend
      // O_DIRECT for large transfers (no client page-cache locking); their
      // clients have no non-blocking path, so io_uring would only add
      // io-wq hand-offs.
      break;
  }
  return {true, false};
}

}  // namespace kvtier
