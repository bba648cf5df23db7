// Probes a directory at Store::Open for the `auto` I/O choice.
#ifndef KVTIER_SRC_IO_DIRECT_PROBE_H_
#define KVTIER_SRC_IO_DIRECT_PROBE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "kvtier/env.h"

namespace kvtier {

// Whether O_DIRECT works: creates a scratch file with O_DIRECT, writes and
// reads back one aligned block, removes it. tmpfs on old kernels, some FUSE
// and NFS mounts refuse; they get buffered I/O.
bool ProbeDirectIo(Env* env, const std::string& dir, uint64_t writer_id);

// How a round trip is sampled. A busy machine can only make a lookup slower,
// never faster, so the least sample is the estimate, and what matters is that
// at least one sample ran undelayed. Lookups made back to back share one
// scheduler stall (on the 2-core VM at load average 28, all 5 of them came in
// above 0.5 ms in one Open in 3, with the server ~0.1 ms away), so the
// samples are spread out: a pause between lookups lets a stall pass and
// wakes the prober as a sleeper, which the scheduler runs promptly. The
// pause doubles, so a few lookups cover stalls of hundreds of ms (one at
// load 28 held every lookup for ~90 ms across a 200 ms window).
struct RoundTripPlan {
  int max_lookups;       // at most this many lookups
  int64_t first_gap_ns;  // pause after the first lookup; doubles after each
  int64_t max_gap_ns;    // up to this
  int64_t budget_ns;     // no lookup starts once this much time would have passed
  // Stop as soon as one lookup is faster than this (0: never): the least can
  // only fall, so the decision it feeds is already made.
  int64_t enough_ns;
};

// Store::Open's plan: at most 16 lookups, pauses 2, 4, 8 ... 64 ms, within
// 500 ms. Costs one lookup where the server is near and the machine is not
// stalled; where the server is far, the whole window (12 lookups, ~0.5 s).
RoundTripPlan DefaultRoundTripPlan(int64_t enough_ns);

// The least time, in ns of env's monotonic clock, that `lookup` took over the
// samples `plan` allows, pausing with env->SleepMicros between them.
// `lookup(i)` makes the i-th lookup and returns false if it could not be
// made, which ends the sampling. -1 if no lookup was made.
int64_t LeastRoundTripNs(Env* env, const RoundTripPlan& plan,
                         const std::function<bool(int)>& lookup);

// One round trip to the filesystem's server, in ns: LeastRoundTripNs over
// lookups of names that do not exist, each one entry of the open directory
// (a network client caches no miss for them, so each asks the server). -1
// if `dir` cannot be opened.
int64_t ProbeRoundTripNs(Env* env, const std::string& dir, uint64_t writer_id,
                         const RoundTripPlan& plan);

}  // namespace kvtier

#endif  // KVTIER_SRC_IO_DIRECT_PROBE_H_
