// The `auto` rule for io_backend and direct_io: what wins depends on the
// filesystem under the cache root (statfs f_type), so the rule is a table
// keyed by its class. Measurements behind each row: bench/RESULTS.md,
// "`auto` I/O choices per filesystem".
#ifndef KVTIER_SRC_IO_IO_CHOICE_H_
#define KVTIER_SRC_IO_IO_CHOICE_H_

#include <cstdint>

#include "kvtier/store.h"

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

// What `auto` does on one filesystem class, per direction: on FUSE the two
// directions win with opposite choices (bench/RESULTS.md, MooseFS): an
// O_DIRECT read of an existing file goes to the daemon as pieces all in
// flight at once, while an O_DIRECT write that extends a file goes one piece
// per round trip, so it wins only while a round trip is short. Stores have
// no backend choice: the writer threads write each chunk with one pwritev
// (io_uring would hand allocating writes to its own worker threads), so
// io_uring concerns loads only.
struct AutoIoRule {
  bool load_direct;   // loads: probe O_DIRECT, use it if the probe passes
  bool load_uring;    // loads: io_uring when they use O_DIRECT (buffered: the thread pool)
  bool store_direct;  // stores: probe O_DIRECT, use it if the probe passes
  // Stores use O_DIRECT too (if the probe passed) when one metadata round
  // trip to the filesystem (ProbeRoundTripNs, the least of spread-out
  // lookups) takes less than this; 0: never.
  int64_t store_direct_below_rtt_ns;
  // The loads' transfer unit when StoreOptions::segment_bytes is left at 0;
  // 0 here: kDefaultSegmentBytes. Stores keep kDefaultSegmentBytes.
  size_t load_segment_bytes = 0;
};

AutoIoRule AutoIoFor(FsClass c);

// What Store::Open settled on: the rule, explicit options, and the probes.
struct IoChoice {
  bool load_direct = false;
  bool load_uring = false;
  bool store_direct = false;
  size_t load_segment_bytes = kDefaultSegmentBytes;
  size_t store_segment_bytes = kDefaultSegmentBytes;  // buffered stores
};

// Whether Open must probe O_DIRECT: an explicit kOn, or `auto` where the
// rule wants it in either direction.
bool WantsDirectProbe(const AutoIoRule& rule, DirectIoMode mode);
// Whether `auto` needs the round trip time for the store direction.
bool WantsRoundTripProbe(const AutoIoRule& rule, DirectIoMode mode);

// Explicit options apply to both directions and win over the rule.
// `direct_ok`: the O_DIRECT probe passed (false if it was not run);
// `uring_ok`: io_uring is available; `rtt_ns`: ProbeRoundTripNs's answer
// (< 0: not measured); `segment_bytes`: StoreOptions::segment_bytes, for
// both directions (0: the rule's for loads, the default for stores).
// Refusing an explicit kOn / kUring that cannot be had is the caller's job.
IoChoice ResolveIoChoice(const AutoIoRule& rule, DirectIoMode mode, IoBackendKind backend,
                         bool direct_ok, bool uring_ok, int64_t rtt_ns, size_t segment_bytes = 0);

}  // namespace kvtier

#endif  // KVTIER_SRC_IO_IO_CHOICE_H_
