// Probes a directory at Store::Open for the `auto` I/O choice.
#ifndef KVTIER_SRC_IO_DIRECT_PROBE_H_
#define KVTIER_SRC_IO_DIRECT_PROBE_H_

#include <cstdint>
#include <string>

#include "kvtier/env.h"

namespace kvtier {

// Whether O_DIRECT works: creates a scratch file with O_DIRECT, writes and
// reads back one aligned block, removes it. tmpfs on old kernels, some FUSE
// and NFS mounts refuse; they get buffered I/O.
bool ProbeDirectIo(Env* env, const std::string& dir, uint64_t writer_id);

// One round trip to the filesystem's server, in ns: the least of a few
// lookups of names that do not exist, each one entry of the open directory
// (a network client caches no miss for them, so each asks the server; the
// least is the one the machine's load delayed least). -1 if `dir` cannot be
// opened.
int64_t ProbeRoundTripNs(Env* env, const std::string& dir, uint64_t writer_id);

}  // namespace kvtier

#endif  // KVTIER_SRC_IO_DIRECT_PROBE_H_
