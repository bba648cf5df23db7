// Decides per directory whether O_DIRECT works: creates a scratch file with
// O_DIRECT, writes and reads back one aligned block, removes it. tmpfs on
// old kernels, some FUSE and NFS mounts refuse; they get buffered I/O.
#ifndef KVTIER_SRC_IO_DIRECT_PROBE_H_
#define KVTIER_SRC_IO_DIRECT_PROBE_H_

#include <cstdint>
#include <string>

#include "kvtier/env.h"

namespace kvtier {

bool ProbeDirectIo(Env* env, const std::string& dir, uint64_t writer_id);

}  // namespace kvtier

#endif  // KVTIER_SRC_IO_DIRECT_PROBE_H_
