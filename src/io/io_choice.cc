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
      return {true, true, true, 0};
    case FsClass::kMemory:
      // O_DIRECT moves the same bytes with nothing to bypass and loses the
      // in-cache checksumming of buffered segments; io_uring only adds
      // io-wq hand-offs to page-cache copies.
      return {false, false, false, 0};
    case FsClass::kFuse:
      // Measured on MooseFS at 0-2 ms per direction. Loads: an O_DIRECT
      // read of a whole chunk is split by the kernel into requests that are
      // all at the daemon at once (FUSE async_dio), where a buffered reader
      // waits out read-ahead round trips segment by segment; io_uring keeps
      // each worker's segments in flight together. Stores: the kernel sends
      // a direct write that extends a file one piece per round trip
      // (fuse_direct_IO: a file's size cannot grow asynchronously), and
      // every chunk is a new file, so stores stay buffered and land in the
      // daemon's write cache, unless the daemon is a short round trip away:
      // direct stores ran 1.50x buffered with no added delay (a lookup
      // ~0.1 ms), 0.97x at 0.5 ms per direction (~1.2 ms), 0.59x at 2 ms
      // (~4.3 ms). O_DIRECT loads: 1.9x buffered with no delay, as fast or
      // faster at 0.5 and 2 ms. Load segments: 2 MiB. The kernel sends the
      // daemon read requests of at most 1 MiB (libfuse 3's 256 pages) and
      // lets at most max_background (12) of a mount's asynchronous ones out
      // at once: it caps requests, not bytes, so 512 KiB segments put half
      // the bytes of 1 MiB requests in flight, which a far server turns
      // into half the rate. At 2 ms per direction on the GPU host, 2 MiB
      // segments loaded a 50,000-token prefix 1.18x faster than 512 KiB
      // ones, twenty at once 1.22x (bench/RESULTS.md, "Load segments on
      // FUSE"). Stores keep the default: that cap is on reads, buffered
      // writes reach the daemon through its write cache, and 2 MiB store
      // segments were not faster in the runs that tried them.
      return {true, true, false, 500000, 2 << 20};  // 0.5 ms
    case FsClass::kNfs:
      // Not measured here. A buffered client keeps read-ahead and
      // write-behind, which hide round trips, and a FUSE-like io-wq
      // hand-off would make io_uring a thread pool behind the thread pool.
      return {false, false, false, 0};
    case FsClass::kLustre:
    case FsClass::kOther:
      // Not measured here. Parallel filesystems (Lustre, GPFS) recommend
      // O_DIRECT for large transfers (no client page-cache locking); their
      // clients have no non-blocking path, so io_uring would only add
      // io-wq hand-offs.
      break;
  }
  return {true, false, true, 0};
}

bool WantsDirectProbe(const AutoIoRule& rule, DirectIoMode mode) {
  if (mode == DirectIoMode::kOn) return true;
  return mode == DirectIoMode::kAuto && (rule.load_direct || rule.store_direct);
}

bool WantsRoundTripProbe(const AutoIoRule& rule, DirectIoMode mode) {
  return mode == DirectIoMode::kAuto && !rule.store_direct && rule.store_direct_below_rtt_ns > 0;
}

IoChoice ResolveIoChoice(const AutoIoRule& rule, DirectIoMode mode, IoBackendKind backend,
                         bool direct_ok, bool uring_ok, int64_t rtt_ns, size_t segment_bytes) {
  IoChoice c;
  if (segment_bytes != 0) {
    c.load_segment_bytes = c.store_segment_bytes = segment_bytes;
  } else if (rule.load_segment_bytes != 0) {
    c.load_segment_bytes = rule.load_segment_bytes;
  }
  if (mode == DirectIoMode::kAuto) {
    const bool near = rtt_ns >= 0 && rtt_ns < rule.store_direct_below_rtt_ns;
    c.load_direct = direct_ok && rule.load_direct;
    c.store_direct = direct_ok && (rule.store_direct || near);
  } else {
    c.load_direct = c.store_direct = direct_ok && mode == DirectIoMode::kOn;
  }
  switch (backend) {
    case IoBackendKind::kUring:
      c.load_uring = uring_ok;
      break;
    case IoBackendKind::kThreadPool:
      c.load_uring = false;
      break;
    case IoBackendKind::kAuto:
      c.load_uring = uring_ok && c.load_direct && rule.load_uring;
      break;
  }
  return c;
}

}  // namespace kvtier
