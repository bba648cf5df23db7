// Store::Open: validates options, resolves the root, prepares the namespace
// directory, probes O_DIRECT and io_uring, and starts the workers.
#include <unistd.h>

#include <chrono>
#include <climits>
#include <cstdlib>
#include <random>

#include "crypto/namespace_keys.h"
#include "env/root_path.h"
#include "io/direct_probe.h"
#include "io/io_backend.h"
#include "io/io_choice.h"
#include "layout/namespace_dir.h"
#include "store/store_handle.h"
#include "store/store_impl.h"

namespace kvtier {

namespace {

uint64_t NewWriterId() {
  std::random_device rd;
  uint64_t id = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  id ^= static_cast<uint64_t>(::getpid()) << 16;
  id ^= static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
  return id;
}

Status CheckOptions(const StoreOptions& o) {
  if (o.read_threads < 1 || o.read_threads > 1024) {
    return Status::InvalidArgument("read_threads must be in [1, 1024]");
  }
  if (o.write_threads < 1 || o.write_threads > 1024) {
    return Status::InvalidArgument("write_threads must be in [1, 1024]");
  }
  if (o.max_pending_jobs < 1) return Status::InvalidArgument("max_pending_jobs must be >= 1");
  if (o.touch_interval_ns < 0) return Status::InvalidArgument("touch_interval must be >= 0");
  if (o.segment_bytes != 0 && (o.segment_bytes < 4096 || o.segment_bytes > (1u << 30))) {
    return Status::InvalidArgument("segment_bytes must be 0 (auto) or in [4 KiB, 1 GiB]");
  }
  // The store reads back its own files and creates entries in its own
  // directories.
  if ((o.perms.file_mode & ~07777u) != 0 || (o.perms.file_mode & 0600) != 0600) {
    return Status::InvalidArgument("file_mode must be within 07777 and include 0600");
  }
  if ((o.perms.dir_mode & ~07777u) != 0 || (o.perms.dir_mode & 0700) != 0700) {
    return Status::InvalidArgument("dir_mode must be within 07777 and include 0700");
  }
  if (o.perms.group < -1 || o.perms.group >= 0xffffffffLL) {
    return Status::InvalidArgument("group must be -1 or a group id");
  }
  return Status::OK();
}

}  // namespace

bool JobResult::all_ok() const {
  for (KeyOutcome o : outcomes) {
    if (o != KeyOutcome::kOk) return false;
  }
  return true;
}

const char* KeyOutcomeName(KeyOutcome outcome) {
  switch (outcome) {
    case KeyOutcome::kOk:
      return "ok";
    case KeyOutcome::kMiss:
      return "miss";
    case KeyOutcome::kCorrupt:
      return "corrupt";
    case KeyOutcome::kAuthFailed:
      return "auth_failed";
    case KeyOutcome::kIoError:
      return "io_error";
    case KeyOutcome::kTimedOut:
      return "timed_out";
    case KeyOutcome::kDropped:
      return "dropped";
    case KeyOutcome::kInvalid:
      return "invalid";
    case KeyOutcome::kRejected:
      return "rejected";
  }
  return "unknown";
}

Status Store::Open(const std::string& root, const Fingerprint& fingerprint,
                   const StoreOptions& options, std::unique_ptr<Store>* out) {
  Status s = CheckOptions(options);
  if (!s.ok()) return s;
  if (fingerprint.namespace_name().empty()) {
    return Status::InvalidArgument(
        "fingerprint has no digest or namespace name (a default-constructed Fingerprint): "
        "build it with Fingerprint::FromJson");
  }
  Env* env = options.env != nullptr ? options.env : Env::Default();
  if (options.encrypt && options.auth_key_file.empty()) {
    return Status::InvalidArgument("encrypt needs auth_key_file");
  }
  // An authenticated namespace is named with its key id (crypto/).
  Fingerprint fp = fingerprint;
  std::shared_ptr<const NamespaceKeys> keys;
  if (!options.auth_key_file.empty()) {
    s = OpenNamespaceKeys(env, options.auth_key_file, fingerprint, &fp, &keys);
    if (!s.ok()) return s;
  }
  std::string resolved;
  s = ResolveRoot(root, &resolved);
  if (!s.ok()) return s;
  uint64_t writer_id = NewWriterId();
  std::string ns_dir;
  NamespaceState state = NamespaceState::kReady;
  s = OpenNamespaceDir(env, resolved, fp, writer_id, options.perms, options.durable, &ns_dir,
                       &state);
  if (!s.ok()) return s;

  // `auto` follows a rule per filesystem class and per direction
  // (io/io_choice.h: what loses where, with the measurements in
  // bench/RESULTS.md); explicit options apply to loads and stores alike.
  FsUsage fs;
  FsClass fs_class = env->GetFsUsage(ns_dir, &fs).ok() ? ClassifyFs(fs.fs_type) : FsClass::kOther;
  const bool memory_fs = fs_class == FsClass::kMemory;
  const AutoIoRule rule = AutoIoFor(fs_class);
  bool direct_ok = false;
  if (WantsDirectProbe(rule, options.direct_io)) {
    direct_ok = ProbeDirectIo(env, ns_dir, writer_id);
    if (!direct_ok && options.direct_io == DirectIoMode::kOn) {
      return Status::NotSupported("O_DIRECT is not supported under " + ns_dir);
    }
  }
  bool uring_ok = false;
  if (options.io_backend != IoBackendKind::kThreadPool) {
    std::unique_ptr<IoBackend> probe;
    uring_ok = NewUringBackend(kUringQueueDepth, &probe).ok();
    if (!uring_ok && options.io_backend == IoBackendKind::kUring) {
      return Status::NotSupported("io_uring is not available");
    }
  }
  // On FUSE, stores take O_DIRECT only when the server is a short round
  // trip away (io/io_choice.cc); the probe's samples are spread out so that
  // a loaded machine does not hide a near server (io/direct_probe.h).
  const int64_t rtt_ns =
      direct_ok && WantsRoundTripProbe(rule, options.direct_io)
          ? ProbeRoundTripNs(env, ns_dir, writer_id,
                             DefaultRoundTripPlan(rule.store_direct_below_rtt_ns))
          : -1;
  const IoChoice io = ResolveIoChoice(rule, options.direct_io, options.io_backend, direct_ok,
                                      uring_ok, rtt_ns, options.segment_bytes);
  StoreImplParams params;
  params.env = env;
  params.options = options;
  params.ns_dir = ns_dir;
  params.fingerprint = fp;
  params.writer_id = writer_id;
  params.usable = state != NamespaceState::kConflict;
  params.io = io;
  params.memory_fs = memory_fs;
  params.keys = std::move(keys);
  auto impl = std::make_shared<StoreImpl>(std::move(params));
  if (state == NamespaceState::kRepaired) impl->metrics()->fingerprint_repaired->Add();
  if (state == NamespaceState::kConflict) impl->metrics()->namespace_conflict->Set(1);
  impl->Start();
  *out = std::make_unique<StoreHandle>(std::move(impl));
  return Status::OK();
}

}  // namespace kvtier
