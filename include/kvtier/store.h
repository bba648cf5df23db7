// Store: content-addressed KV chunks on a (shared) directory.
//
// A Store is safe for concurrent use from any number of threads without
// external synchronisation. Every call returns without waiting on the
// filesystem except Wait(), WaitAny() and the synchronous conveniences
// (Put, Get, Contains), which submit a job and wait for it. Failures never
// throw and never hand unverified bytes back: a chunk that fails any check
// is a miss.
#ifndef KVTIER_INCLUDE_STORE_H_
#define KVTIER_INCLUDE_STORE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "kvtier/env.h"
#include "kvtier/fingerprint.h"
#include "kvtier/status.h"

namespace kvtier {

enum class IoBackendKind { kAuto, kUring, kThreadPool };
enum class DirectIoMode { kAuto, kOn, kOff };

// Format limits, refused where data enters: a Put/SubmitPut of a longer
// key or a larger payload fails for that key (puts_invalid_total).
inline constexpr size_t kMaxKeyBytes = 65535;
inline constexpr uint64_t kMaxPayloadBytes = 1ULL << 36;  // 64 GiB
// Most buffers one request's payload may be gathered from or scattered into
// (PutRequest::pieces, GetRequest::pieces): each transfer is one vectored
// call, and the kernel takes at most 1024 iovecs per call (header and
// O_DIRECT tail block included).
inline constexpr size_t kMaxPayloadPieces = 1000;

// Default transfer unit of loads and buffered stores (StoreOptions::
// segment_bytes left at 0, on filesystems whose `auto` rule names none).
inline constexpr size_t kDefaultSegmentBytes = 512 << 10;
// Default per-job I/O deadline (StoreOptions::io_timeout_ns): far above a
// healthy load of a 50,000-token prefix (seconds), far below "hung".
inline constexpr int64_t kDefaultIoTimeoutNs = 30LL * 1000 * 1000 * 1000;

// The defaults below are spelled only here: the Python extension exports
// them (kvtier._kvtier.STORE_DEFAULTS) and kvtier.Store and the engine
// integrations read them from there (python/kvtier/_store.py).
struct StoreOptions {
  Env* env = nullptr;  // nullptr: Env::Default()
  int read_threads = 16;
  int write_threads = 16;
  IoBackendKind io_backend = IoBackendKind::kAuto;
  DirectIoMode direct_io = DirectIoMode::kAuto;
  bool verify = true;          // payload checksum on every read
  bool durable = false;        // fsync file + directory before a put completes
  bool remove_corrupt = true;  // unlink chunks that fail verification
  int64_t touch_interval_ns = 60LL * 1000 * 1000 * 1000;
  // Bytes of accepted-but-unwritten puts. A put that would exceed it is
  // dropped (KeyOutcome::kDropped, counter puts_dropped) rather than
  // buffered.
  uint64_t max_queued_write_bytes = 1ULL << 30;
  // Jobs submitted but not yet collected by Poll/Wait. Over it, submits
  // fail immediately (Submit* returns 0, the synchronous helpers false;
  // counter jobs_rejected).
  size_t max_pending_jobs = 4096;
  // How long a Contains() verdict is reused without asking the filesystem.
  int64_t lookup_cache_ns = 1LL * 1000 * 1000 * 1000;
  size_t lookup_cache_entries = 1 << 18;
  // Transfer unit of loads (and of buffered stores): small enough that a
  // segment is checksummed while still in cache (buffered) or overlaps later
  // segments (io_uring). 0: `auto`, by filesystem (io/io_choice.h):
  // kDefaultSegmentBytes, except 2 MiB for loads on FUSE mounts. Other
  // values apply to loads and stores and are rounded down to a multiple of
  // 4 KiB.
  size_t segment_bytes = 0;
  // Per-job I/O deadline, counted from submission; <= 0: none. Past it the
  // job completes with its unfinished keys KeyOutcome::kTimedOut (counted in
  // io_timeouts_total), and no late read ever writes into its buffers: on a
  // filesystem that can stall (anything but tmpfs/ramfs) loads land in
  // store-owned staging buffers and reach the caller's buffer only while the
  // job is live. Close() then returns within this deadline plus up to
  // 100 ms for the workers to exit, even when the filesystem never answers
  // again.
  int64_t io_timeout_ns = kDefaultIoTimeoutNs;
  // Mode and group of the directories and files the store creates. The
  // defaults (0755 / 0644, the process's group) let only this user delete
  // chunks; for an evictor running as another user of one group, use
  // dir_mode 02775 (group-writable, setgid so the group is inherited).
  CreatePerms perms;
  // Authenticated chunks (docs/SECURITY.md): the path of a key file (one
  // key per line, hex or base64, >= 32 bytes; mode 0600 or stricter). Every
  // chunk then carries an AES-256-GCM tag over its header (namespace, key)
  // and payload, a load takes only chunks whose tag one of the keys verifies,
  // and the key id joins the fingerprint. Writes use the first key. A bad
  // file fails Open with InvalidArgument. Empty: plain chunks.
  std::string auth_key_file;
  // With auth_key_file: payloads are encrypted too (AES-256-GCM, a random
  // nonce per chunk, a key per namespace derived with HKDF).
  bool encrypt = false;
};

enum class JobKind { kPut, kGet, kContains };

// What became of one key of a job. Only kOk is a success; every other
// value is a failure the caller handles like a miss (vLLM recomputes the
// key, a store is simply not made). The value says why, for logs and
// counters: a miss is normal, the others point at the volume, a tenant or
// the load. The store's own counters (MetricsMap()) count the same events.
enum class KeyOutcome : uint8_t {
  kOk = 0,      // put: stored, or already there; get: loaded and verified;
                // contains: present
  kMiss,        // get, contains: no chunk under this key (or the namespace is
                // unusable: every get misses)
  kCorrupt,     // get: a file was there and failed a check (header, key,
                // fingerprint, length, checksum, truncated, not a regular
                // file: verify_failures_total says which); put: something
                // that is not a regular file holds the chunk's name
  kAuthFailed,  // get, authenticated namespace (auth_key_file): no key of
                // this store verifies the chunk's tag, or the chunk is
                // unsealed; also a sealed chunk read by a store without keys
  kIoError,     // the filesystem failed the operation (EIO, ENOSPC, EACCES,
                // ...; get_errors / put_errors / lookup_errors)
  kTimedOut,    // the job's io_timeout passed before this key finished
  kDropped,     // put: refused at admission, not queued: the write queue was
                // over max_queued_write_bytes, or the namespace is unusable
  kInvalid,     // put: key or payload over the format's limits (kMaxKeyBytes,
                // kMaxPayloadBytes); put, get: pieces that do not add up to
                // len, a null piece, or more than kMaxPayloadPieces; nothing
                // was queued
  kRejected,    // the whole job was refused (max_pending_jobs outstanding, or
                // the store closing): Submit* returned 0 and no JobResult
                // exists; for callers recording such keys beside the rest
};
inline constexpr int kKeyOutcomeCount = static_cast<int>(KeyOutcome::kRejected) + 1;
// "ok", "miss", "corrupt", "auth_failed", "io_error", "timed_out",
// "dropped", "invalid", "rejected" (stable: logs and metrics use them).
const char* KeyOutcomeName(KeyOutcome outcome);

struct JobResult {
  uint64_t job_id = 0;
  JobKind kind = JobKind::kGet;
  // One per key, in submission order.
  std::vector<KeyOutcome> outcomes;
  bool ok(size_t i) const { return outcomes[i] == KeyOutcome::kOk; }
  bool all_ok() const;
};

// One buffer of a payload held in several (a page whose K and V, or whose
// layers, lie apart in memory).
struct ConstPiece {
  const void* data = nullptr;
  size_t len = 0;
};
struct MutablePiece {
  void* data = nullptr;
  size_t len = 0;
};

// The payload is data[0, len), or, when `pieces` is not empty, the
// concatenation of the pieces in order (one chunk, one file): `data` is then
// null and `len` their total. Anything else is kInvalid for that key.
struct PutRequest {
  PutRequest() = default;
  PutRequest(std::string k, const void* d, size_t n) : key(std::move(k)), data(d), len(n) {}
  // The pieces form, len their total.
  PutRequest(std::string k, std::vector<ConstPiece> p) : key(std::move(k)), pieces(std::move(p)) {
    for (const ConstPiece& x : pieces) len += x.len;
  }

  std::string key;
  const void* data = nullptr;
  size_t len = 0;
  std::vector<ConstPiece> pieces;
};

// Loads scatter the payload the same way: buf[0, len), or the pieces in
// order (buf null, len their total). A chunk whose payload length is not
// len is a miss (kCorrupt, a length mismatch), whatever the pieces.
struct GetRequest {
  GetRequest() = default;
  GetRequest(std::string k, void* b, size_t n) : key(std::move(k)), buf(b), len(n) {}
  // The pieces form, len their total.
  GetRequest(std::string k, std::vector<MutablePiece> p) : key(std::move(k)), pieces(std::move(p)) {
    for (const MutablePiece& x : pieces) len += x.len;
  }

  std::string key;
  void* buf = nullptr;
  size_t len = 0;
  std::vector<MutablePiece> pieces;
};

class Store {
 public:
  // Opens (creating if needed) the namespace of `fingerprint` under `root`.
  static Status Open(const std::string& root, const Fingerprint& fingerprint,
                     const StoreOptions& options, std::unique_ptr<Store>* out);

  Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;
  virtual ~Store() = default;

  // Asynchronous interface. Buffers must stay valid and untouched until the
  // job is collected. Returns the job id, or 0 when the job was refused
  // because max_pending_jobs are outstanding (nothing was queued).
  virtual uint64_t SubmitPut(std::vector<PutRequest> requests) = 0;
  virtual uint64_t SubmitGet(std::vector<GetRequest> requests) = 0;
  virtual uint64_t SubmitContains(std::vector<std::string> keys) = 0;
  // Moves up to max_results finished jobs into *results; never blocks.
  virtual void Poll(std::vector<JobResult>* results, size_t max_results) = 0;
  // Poll that blocks until at least one job is collected, timeout_ns passes
  // or no submitted job is left to collect. Returns how many it collected.
  // Lets a submitter refill whichever slot frees first instead of waiting on
  // the oldest job.
  virtual size_t WaitAny(std::vector<JobResult>* results, size_t max_results,
                         int64_t timeout_ns) = 0;
  // Blocks until job_id finishes (or timeout_ns passes), then collects it.
  // False if it timed out, the id is unknown, or a Poll/WaitAny collected
  // it meanwhile. For both waits a timeout < 0 (or of 30 years or more) has
  // no limit.
  virtual bool Wait(uint64_t job_id, JobResult* result, int64_t timeout_ns) = 0;

  // Synchronous conveniences: submit one job and wait for it. Their jobs
  // are never returned by Poll, so they mix safely with the async interface.
  virtual bool Put(std::string_view key, const void* data, size_t len) = 0;
  virtual bool Get(std::string_view key, void* buf, size_t len) = 0;
  virtual std::vector<bool> Contains(const std::vector<std::string>& keys) = 0;

  virtual std::string MetricsText() const = 0;
  virtual std::map<std::string, double> MetricsMap() const = 0;

  virtual const std::string& namespace_dir() const = 0;
  // What the options (`auto`: a rule per filesystem type and direction)
  // settled on. The backend moves loads; stores are written by the writer
  // threads, one vectored write per chunk.
  virtual const char* io_backend_name() const = 0;
  virtual bool load_direct_io() const = 0;
  virtual bool store_direct_io() const = 0;
  // False when the namespace is unusable (fingerprint.json conflict): every
  // get then misses and every put is refused.
  virtual bool usable() const = 0;

  // Finishes queued work and stops the workers. Idempotent; the destructor
  // calls it. With an io_timeout it returns once every job has completed
  // (at the latest at the last job's deadline) plus up to 100 ms for the
  // workers to exit; a worker still blocked in the filesystem is left
  // behind, holding only its own staging buffer and the store's internals
  // (the Env must outlive it: MetricsMap()'s "workers" reaches 0 when it
  // is gone), and never touches a job's buffers again.
  virtual void Close() = 0;
};

}  // namespace kvtier

#endif  // KVTIER_INCLUDE_STORE_H_
