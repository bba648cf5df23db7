// Config: every setting of the evictor, where it comes from, and what makes
// it invalid. Sources, weakest first: built-in defaults, the environment
// (llm-d PVC-evictor names, so an existing deployment can switch binaries),
// then command-line flags (evictor_main.cc).
//
// Environment accepted (semantics as in llm-d's pvc_evictor):
//   PVC_MOUNT_PATH     mount of the cache volume            -> root
//   CACHE_DIRECTORY    subdirectory of PVC_MOUNT_PATH       -> root = mount/dir
//   CLEANUP_THRESHOLD  disk usage % that starts deletion    -> high watermark
//   TARGET_THRESHOLD   disk usage % that stops it           -> low watermark
//   DRY_RUN            true/false                           -> dry_run
//   LOG_LEVEL          DEBUG/INFO/WARNING/ERROR             -> log_level
//   TOTAL_SHARDS, SHARD_INDEX                               -> replicas, index
// plus our own KVTIER_EVICTOR_ROOT.
#ifndef KVTIER_SRC_EVICTOR_CONFIG_H_
#define KVTIER_SRC_EVICTOR_CONFIG_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "kvtier/env.h"
#include "kvtier/status.h"
#include "util/parse_bytes.h"

namespace kvtier::evictor {

struct Config {
  std::string root;
  // Fractions of the filesystem (or of quota_bytes). Values above 1 given on
  // the command line or in the environment are read as percentages.
  double high_watermark = 0.85;
  double low_watermark = 0.70;
  // 0: usage is the filesystem's (statvfs). Otherwise usage is the bytes
  // allocated under the root, against this quota.
  uint64_t quota_bytes = 0;
  double poll_interval_s = 10.0;
  double max_delete_rate = 1000.0;  // files per second; 0 = unlimited
  double min_age_s = 600.0;         // by mtime (see ChangeNanos)
  double tmp_grace_s = 3600.0;
  double dir_grace_s = 600.0;
  // Leaf directories whose mtime did not change are not re-listed, except
  // on a full rescan this often (atimes move without touching the directory).
  double full_rescan_s = 3600.0;
  // Fan-out directories scanned at once. On a network or parallel
  // filesystem every stat and listing is a round trip to a server, and
  // these threads mostly wait on them; on a local disk they cost little.
  int scan_threads = 16;
  // How long deleted bytes may take to show up free in statvfs (see
  // pending_free.h); 0 trusts statvfs at once. MooseFS took ~13 minutes.
  // Off by default: on a filesystem that frees at once, writers adding
  // bytes while deletions show up keep part of the estimate alive for this
  // long, so the evictor would run that much above the marks.
  double free_lag_s = 0.0;
  // How long removal-journal segments stay in each namespace (journal.h);
  // engines tailing it must look at least this often. 0: no journal.
  double journal_keep_s = 600.0;
  int replicas = 1;
  int replica_index = -1;  // -1: from $POD_NAME / $HOSTNAME ordinal, or 0
  int port = 9464;         // 0: no HTTP server
  std::string bind = "127.0.0.1";
  bool dry_run = false;
  bool once = false;
  std::string log_level = "info";
};

using GetEnvFn = std::function<const char*(const char*)>;

// Applies the environment variables listed above. Malformed values are
// InvalidArgument naming the variable.
Status ApplyEnvironment(const GetEnvFn& getenv_fn, Config* config);

// Fills replica_index when it is -1: 0 for one replica, else the trailing
// "-<n>" of $POD_NAME or $HOSTNAME (a StatefulSet ordinal).
Status ResolveReplicaIndex(const GetEnvFn& getenv_fn, Config* config);

// Checks ranges and that the root is an existing directory (through `env`,
// which never follows a symlink in the last component).
Status Validate(const Config& config, Env* env);

// "85" -> 0.85, "0.85" -> 0.85.
bool ParseRatio(std::string_view text, double* out);
// "600", "600s", "10m", "1h", "250ms" -> seconds.
bool ParseDuration(std::string_view text, double* seconds);
// The trailing ordinal of a StatefulSet pod name, e.g. "kvtier-evictor-3" -> 3.
bool ParseOrdinal(std::string_view pod_name, int* out);

}  // namespace kvtier::evictor

#endif  // KVTIER_SRC_EVICTOR_CONFIG_H_
