#include "evictor/config.h"

#include <strings.h>

#include <cstdlib>

#include "evictor/json_log.h"

namespace kvtier::evictor {

namespace {

bool ParseDouble(std::string_view text, double* out) {
  std::string unit;
  return ParseNumber(text, out, &unit) && unit.empty();
}

bool ParseInt(std::string_view text, int* out) {
  std::string t(text);
  if (t.empty()) return false;
  char* end = nullptr;
  long v = std::strtol(t.c_str(), &end, 10);
  if (*end != '\0' || v < -1000000 || v > 1000000) return false;
  *out = static_cast<int>(v);
  return true;
}

bool ParseBool(std::string_view text, bool* out) {
  std::string t(text);
  for (const char* yes : {"1", "true", "yes", "on"}) {
    if (strcasecmp(t.c_str(), yes) == 0) return (*out = true, true);
  }
  for (const char* no : {"0", "false", "no", "off", ""}) {
    if (strcasecmp(t.c_str(), no) == 0) return (*out = false, true);
  }
  return false;
}

Status BadEnv(const char* name, const char* value) {
  return Status::InvalidArgument(std::string("environment ") + name + "='" + value +
                                 "' is not valid");
}

}  // namespace

bool ParseRatio(std::string_view text, double* out) {
  double v;
  if (!ParseDouble(text, &v)) return false;
  *out = v > 1.0 ? v / 100.0 : v;
  return true;
}

bool ParseDuration(std::string_view text, double* seconds) {
  double v = 0;
  std::string unit;
  if (!ParseNumber(text, &v, &unit)) return false;
  double mult;
  if (unit.empty() || unit == "s") {
    mult = 1;
  } else if (unit == "ms") {
    mult = 1e-3;
  } else if (unit == "m" || unit == "min") {
    mult = 60;
  } else if (unit == "h") {
    mult = 3600;
  } else {
    return false;
  }
  *seconds = v * mult;
  return true;
}

bool ParseOrdinal(std::string_view pod_name, int* out) {
  size_t dash = pod_name.rfind('-');
  if (dash == std::string_view::npos || dash + 1 >= pod_name.size()) return false;
  std::string_view digits = pod_name.substr(dash + 1);
  if (digits.size() > 6) return false;
  int v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *out = v;
  return true;
}

Status ApplyEnvironment(const GetEnvFn& getenv_fn, Config* c) {
  const char* v;
  if ((v = getenv_fn("KVTIER_EVICTOR_ROOT")) && *v) c->root = v;
  const char* mount = getenv_fn("PVC_MOUNT_PATH");
  const char* sub = getenv_fn("CACHE_DIRECTORY");
  if (mount && *mount) {
    c->root = mount;
    if (sub && *sub) {
      std::string s(sub);
      while (!s.empty() && s.front() == '/') s.erase(0, 1);
      if (!s.empty()) c->root += "/" + s;
    }
  } else if (sub && *sub) {
    // llm-d's default mount point when only the subdirectory is given.
    std::string s(sub);
    c->root = s.front() == '/' ? s : "/kv-cache/" + s;
  }
  if ((v = getenv_fn("CLEANUP_THRESHOLD")) && !ParseRatio(v, &c->high_watermark)) {
    return BadEnv("CLEANUP_THRESHOLD", v);
  }
  if ((v = getenv_fn("TARGET_THRESHOLD")) && !ParseRatio(v, &c->low_watermark)) {
    return BadEnv("TARGET_THRESHOLD", v);
  }
  if ((v = getenv_fn("DRY_RUN")) && !ParseBool(v, &c->dry_run)) return BadEnv("DRY_RUN", v);
  if ((v = getenv_fn("LOG_LEVEL")) && *v) {
    LogLevel l;
    if (!ParseLogLevel(v, &l)) return BadEnv("LOG_LEVEL", v);
    c->log_level = v;
  }
  if ((v = getenv_fn("TOTAL_SHARDS")) && !ParseInt(v, &c->replicas)) {
    return BadEnv("TOTAL_SHARDS", v);
  }
  if ((v = getenv_fn("SHARD_INDEX")) && !ParseInt(v, &c->replica_index)) {
    return BadEnv("SHARD_INDEX", v);
  }
  return Status::OK();
}

Status ResolveReplicaIndex(const GetEnvFn& getenv_fn, Config* c) {
  if (c->replica_index >= 0) return Status::OK();
  if (c->replicas <= 1) {
    c->replica_index = 0;
    return Status::OK();
  }
  for (const char* var : {"POD_NAME", "HOSTNAME"}) {
    const char* name = getenv_fn(var);
    if (name && ParseOrdinal(name, &c->replica_index)) return Status::OK();
  }
  return Status::InvalidArgument(
      "--replicas > 1 needs --replica-index, or $POD_NAME/$HOSTNAME ending in -<ordinal>");
}

Status Validate(const Config& c, Env* env) {
  auto bad = [](const std::string& m) { return Status::InvalidArgument(m); };
  if (!(c.high_watermark > 0 && c.high_watermark <= 1)) {
    return bad("high watermark must be in (0, 1] (or (0, 100] percent)");
  }
  if (!(c.low_watermark >= 0 && c.low_watermark < c.high_watermark)) {
    return bad("low watermark (" + std::to_string(c.low_watermark) +
               ") must be below the high watermark (" + std::to_string(c.high_watermark) + ")");
  }
  if (!(c.poll_interval_s > 0)) return bad("--poll-interval must be > 0");
  if (!(c.max_delete_rate >= 0)) return bad("--max-delete-rate must be >= 0");
  if (!(c.min_age_s >= 0) || !(c.tmp_grace_s >= 0) || !(c.dir_grace_s >= 0)) {
    return bad("--min-age, --tmp-grace and --dir-grace must be >= 0");
  }
  if (c.replicas < 1 || c.replicas > 4096) return bad("--replicas must be in 1..4096");
  if (c.replica_index < 0 || c.replica_index >= c.replicas) {
    return bad("--replica-index must be in 0..replicas-1");
  }
  if (!(c.free_lag_s >= 0)) return bad("--free-lag must be >= 0");
  if (!(c.journal_keep_s >= 0)) return bad("--journal-keep must be >= 0");
  if (c.scan_threads < 1 || c.scan_threads > 256) return bad("--scan-threads must be in 1..256");
  if (c.port < 0 || c.port > 65535) return bad("--port must be in 0..65535");
  LogLevel l;
  if (!ParseLogLevel(c.log_level, &l)) return bad("unknown log level '" + c.log_level + "'");
  if (c.root.empty()) return bad("no cache root given (ROOT, or PVC_MOUNT_PATH)");
  FileInfo info;
  Status s = env->Stat(c.root, &info);
  if (!s.ok()) return Status::InvalidArgument("cache root " + c.root + ": " + s.ToString());
  if (!info.IsDirectory()) {
    return Status::InvalidArgument("cache root " + c.root + " is not a directory");
  }
  return Status::OK();
}

}  // namespace kvtier::evictor
