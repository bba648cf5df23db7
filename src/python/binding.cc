// The Python boundary: the only place kvtier raises exceptions (for misuse:
// wrong types, sizes, a closed store). I/O failures stay results. The GIL is
// released whenever the call can wait on the filesystem or the engine.
#include <nanobind/nanobind.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <type_traits>
#include <unordered_map>

#include "kvtier/store.h"
#include "python/buffer_ref.h"

namespace nb = nanobind;

namespace kvtier::python {
namespace {

const char* KindName(JobKind k) {
  switch (k) {
    case JobKind::kPut:
      return "put";
    case JobKind::kGet:
      return "get";
    case JobKind::kContains:
      return "contains";
  }
  return "?";
}

IoBackendKind ParseBackend(const std::string& s) {
  if (s == "auto") return IoBackendKind::kAuto;
  if (s == "io_uring") return IoBackendKind::kUring;
  if (s == "threadpool") return IoBackendKind::kThreadPool;
  throw nb::value_error("io_backend must be 'auto', 'io_uring' or 'threadpool'");
}

DirectIoMode ParseDirect(nb::handle h) {
  if (nb::isinstance<nb::bool_>(h)) {
    return nb::cast<bool>(h) ? DirectIoMode::kOn : DirectIoMode::kOff;
  }
  if (nb::isinstance<nb::str>(h) && nb::cast<std::string>(h) == "auto") return DirectIoMode::kAuto;
  throw nb::value_error("direct_io must be True, False or 'auto'");
}

std::string Key(nb::handle h) {
  if (!nb::isinstance<nb::bytes>(h)) throw nb::type_error("keys must be bytes");
  nb::bytes b = nb::borrow<nb::bytes>(h);
  return std::string(b.c_str(), b.size());
}

// A job's result for Python: (job id, kind, outcome per key as ints, which
// kvtier.KeyOutcome names; KEY_OUTCOMES lists them in order).
using PyResult = std::tuple<uint64_t, std::string, std::vector<int>>;

PyResult ToPython(const JobResult& r) {
  std::vector<int> outcomes;
  outcomes.reserve(r.outcomes.size());
  for (KeyOutcome o : r.outcomes) outcomes.push_back(static_cast<int>(o));
  return {r.job_id, KindName(r.kind), std::move(outcomes)};
}

// Seconds from Python as nanoseconds. NaN is misuse; negative is -1 (a
// timeout with no limit); infinite or past int64's range (where the cast
// would be UB) is INT64_MAX, which the Store reads as "never" for intervals
// and as no limit for timeouts.
int64_t Nanos(double seconds, const char* what) {
  if (std::isnan(seconds)) throw nb::value_error((std::string(what) + " is NaN").c_str());
  if (seconds < 0) return -1;
  if (seconds >= 9.2e9) return INT64_MAX;
  return static_cast<int64_t>(seconds * 1e9);
}

class PyStore {
 public:
  PyStore(const std::string& root, const std::string& fingerprint_json, int read_threads,
          int write_threads, const std::string& io_backend, nb::handle direct_io, bool verify,
          bool durable, double touch_interval_s, uint64_t max_queued_write_bytes,
          size_t max_pending_jobs, double lookup_cache_s, size_t chunk_bytes, double io_timeout_s,
          uint32_t file_mode, uint32_t dir_mode, int64_t group, const std::string& auth_key_file,
          bool encrypt, size_t segment_bytes)
      : chunk_bytes_(chunk_bytes) {
    Fingerprint fp;
    Status s = Fingerprint::FromJson(fingerprint_json, &fp);
    if (!s.ok()) throw nb::value_error(s.ToString().c_str());
    if (!(touch_interval_s >= 0) || !(lookup_cache_s >= 0)) {
      throw nb::value_error("intervals must be >= 0");
    }
    StoreOptions o;
    o.read_threads = read_threads;
    o.write_threads = write_threads;
    o.io_backend = ParseBackend(io_backend);
    o.direct_io = ParseDirect(direct_io);
    o.verify = verify;
    o.durable = durable;
    o.touch_interval_ns = Nanos(touch_interval_s, "touch_interval_s");
    o.max_queued_write_bytes = max_queued_write_bytes;
    o.max_pending_jobs = max_pending_jobs;
    o.lookup_cache_ns = Nanos(lookup_cache_s, "lookup_cache_s");
    // 0 or negative: no deadline; infinite: none either.
    int64_t io_timeout_ns = Nanos(io_timeout_s, "io_timeout_s");
    o.io_timeout_ns = io_timeout_ns == INT64_MAX ? 0 : io_timeout_ns;
    o.perms.file_mode = file_mode;
    o.perms.dir_mode = dir_mode;
    o.perms.group = group;
    o.auth_key_file = auth_key_file;
    o.encrypt = encrypt;
    o.segment_bytes = segment_bytes;
    std::unique_ptr<Store> opened;
    {
      nb::gil_scoped_release release;
      s = Store::Open(root, fp, o, &opened);
    }
    store_ = std::move(opened);
    if (s.IsInvalidArgument()) throw nb::value_error(s.ToString().c_str());
    if (!s.ok()) throw std::runtime_error(s.ToString());
  }

  // One Python object per store: a copy would share the Store but not the
  // buffers its jobs hold.
  PyStore(const PyStore&) = delete;
  PyStore& operator=(const PyStore&) = delete;
  // Dropped without close(): the Store drains its queues before the buffers
  // its jobs still hold are released (members go in reverse order, held_
  // first). Its workers never take the GIL, so draining under it is safe.
  ~PyStore() { store_.reset(); }

  bool Put(nb::bytes key, nb::handle data) {
    std::string k = Key(key);
    BufferRef ref = Acquire(data, false);
    CheckPutLimits(k, ref.size());
    std::shared_ptr<Store> s = store();
    nb::gil_scoped_release release;
    return s->Put(k, ref.data(), ref.size());
  }

  bool Get(nb::bytes key, nb::handle out) {
    std::string k = Key(key);
    BufferRef ref = Acquire(out, true);
    std::shared_ptr<Store> s = store();
    nb::gil_scoped_release release;
    return s->Get(k, ref.data(), ref.size());
  }

  std::vector<bool> Contains(nb::handle keys) {
    std::vector<std::string> ks = Keys(keys);
    std::shared_ptr<Store> s = store();
    nb::gil_scoped_release release;
    return s->Contains(ks);
  }

  uint64_t SubmitPut(nb::handle keys, nb::handle buffers) {
    return Submit<PutRequest>(keys, buffers, /*writable=*/false, &Store::SubmitPut);
  }

  uint64_t SubmitGet(nb::handle keys, nb::handle buffers) {
    return Submit<GetRequest>(keys, buffers, /*writable=*/true, &Store::SubmitGet);
  }

  uint64_t SubmitContains(nb::handle keys) { return store()->SubmitContains(Keys(keys)); }

  // timeout_s 0: never blocks; > 0 or negative (no limit): waits for at
  // least one job to finish while any is outstanding.
  std::vector<PyResult> Poll(size_t max_results, double timeout_s) {
    std::vector<JobResult> done;
    std::shared_ptr<Store> s = store();
    if (timeout_s == 0) {
      s->Poll(&done, max_results);
    } else {
      int64_t ns = Nanos(timeout_s, "timeout_s");
      nb::gil_scoped_release release;
      s->WaitAny(&done, max_results, ns);
    }
    std::vector<PyResult> out;
    for (const JobResult& r : done) {
      held_.erase(r.job_id);  // the engine is done with the buffers
      out.push_back(ToPython(r));
    }
    return out;
  }

  nb::object Wait(uint64_t job_id, double timeout_s) {
    JobResult r;
    bool ok;
    std::shared_ptr<Store> s = store();
    int64_t ns = Nanos(timeout_s, "timeout_s");
    {
      nb::gil_scoped_release release;
      ok = s->Wait(job_id, &r, ns);
    }
    if (!ok) return nb::none();
    held_.erase(job_id);
    return nb::cast(ToPython(r));
  }

  nb::dict Stats() {
    nb::dict d;
    for (const auto& [k, v] : store()->MetricsMap()) d[k.c_str()] = v;
    d["namespace_dir"] = store()->namespace_dir();
    d["io_backend"] = std::string(store()->io_backend_name());
    d["load_direct_io"] = store()->load_direct_io();
    d["store_direct_io"] = store()->store_direct_io();
    d["usable"] = store()->usable();
    return d;
  }

  std::string MetricsText() { return store()->MetricsText(); }
  std::string NamespaceDir() { return store()->namespace_dir(); }
  std::string IoBackend() { return store()->io_backend_name(); }
  bool LoadDirectIo() { return store()->load_direct_io(); }
  bool StoreDirectIo() { return store()->store_direct_io(); }
  bool Usable() { return store()->usable(); }
  bool Closed() const { return store_ == nullptr; }

  // Another thread may be blocked in this store (GIL released) while one
  // closes it: each blocking call holds its own reference, so the last one
  // out frees the Store, never a call still inside it.
  void Close() {
    if (store_ == nullptr) return;
    std::shared_ptr<Store> s = std::move(store_);
    {
      nb::gil_scoped_release release;
      // Every job finishes or is abandoned at its deadline (its buffers
      // then untouchable by late I/O): either way the buffers are free.
      s->Close();
    }
    held_.clear();
  }

 private:
  std::shared_ptr<Store> store() {
    if (store_ == nullptr) throw nb::value_error("store is closed");
    return store_;
  }

  // (owner, address, nbytes): what kvtier's Python layer passes for torch
  // tensors, which do not implement the buffer protocol.
  static bool IsAddressTuple(nb::handle h) {
    if (!nb::isinstance<nb::tuple>(h) || nb::len(h) != 3) return false;
    nb::tuple t = nb::borrow<nb::tuple>(h);
    return nb::isinstance<nb::int_>(t[1]) && nb::isinstance<nb::int_>(t[2]) &&
           !nb::isinstance<nb::bool_>(t[1]) && !nb::isinstance<nb::bool_>(t[2]);
  }

  // `where` names a piece of a key's list (its errors are ValueErrors).
  BufferRef AcquireOne(nb::handle h, bool writable, const std::string& where = "") {
    BufferRef ref;
    if (IsAddressTuple(h)) {
      nb::tuple t = nb::borrow<nb::tuple>(h);
      ref.FromAddress(t[0].ptr(), nb::cast<size_t>(t[1]), nb::cast<size_t>(t[2]));
    } else {
      std::string error;
      if (!ref.FromBuffer(h.ptr(), writable, &error)) {
        if (where.empty()) throw nb::type_error(error.c_str());
        throw nb::value_error((where + ": " + error).c_str());
      }
    }
    return ref;
  }

  void CheckChunkBytes(size_t size) const {
    if (chunk_bytes_ != 0 && size != chunk_bytes_) {
      throw nb::value_error(("buffer is " + std::to_string(size) +
                             " bytes; this store's chunk_bytes is " + std::to_string(chunk_bytes_))
                                .c_str());
    }
  }

  BufferRef Acquire(nb::handle h, bool writable) {
    BufferRef ref = AcquireOne(h, writable);
    CheckChunkBytes(ref.size());
    return ref;
  }

  // One batched job over (key, buffers) pairs; the buffers stay held until
  // the job's result is collected. Per key: one buffer, or a list or tuple
  // of buffers whose concatenation is the payload (one chunk).
  template <class Request>
  uint64_t Submit(nb::handle keys, nb::handle buffers, bool writable,
                  uint64_t (Store::*submit)(std::vector<Request>)) {
    using Piece = typename decltype(Request::pieces)::value_type;
    std::vector<std::string> ks = Keys(keys);
    std::vector<BufferRef> refs;
    std::vector<Request> reqs;
    reqs.reserve(ks.size());
    size_t n = 0;
    for (nb::handle b : buffers) {
      if (n >= ks.size()) throw nb::value_error("keys and buffers differ in length");
      Request r;
      r.key = std::move(ks[n]);
      if (IsPieceList(b)) {
        const std::string where = "buffers[" + std::to_string(n) + "]";
        const size_t count = nb::len(b);
        if (count == 0) throw nb::value_error((where + ": an empty list of buffers").c_str());
        if (count > kMaxPayloadPieces) {
          throw nb::value_error((where + ": " + std::to_string(count) +
                                 " buffers; a key takes at most " +
                                 std::to_string(kMaxPayloadPieces))
                                    .c_str());
        }
        size_t j = 0;
        for (nb::handle piece : b) {
          const std::string at = where + "[" + std::to_string(j++) + "]";
          if (IsPieceList(piece)) {
            throw nb::value_error((at + ": a list inside a key's list of buffers").c_str());
          }
          refs.push_back(AcquireOne(piece, writable, at));
          r.pieces.push_back(Piece{refs.back().data(), refs.back().size()});
          r.len += refs.back().size();
        }
      } else {
        refs.push_back(AcquireOne(b, writable));
        if constexpr (std::is_same_v<Request, PutRequest>) {
          r.data = refs.back().data();
        } else {
          r.buf = refs.back().data();
        }
        r.len = refs.back().size();
      }
      CheckChunkBytes(r.len);
      if (!writable) CheckPutLimits(r.key, r.len);
      reqs.push_back(std::move(r));
      ++n;
    }
    if (n != ks.size()) throw nb::value_error("keys and buffers differ in length");
    uint64_t id = (store().get()->*submit)(std::move(reqs));
    if (id != 0) held_[id] = std::move(refs);
    return id;
  }

  // A list, or a tuple that is not an (owner, address, nbytes) triple.
  static bool IsPieceList(nb::handle h) {
    return nb::isinstance<nb::list>(h) || (nb::isinstance<nb::tuple>(h) && !IsAddressTuple(h));
  }

  // The chunk format's limits, refused before anything is queued: a store
  // that could never be read back is misuse, not an I/O failure.
  static void CheckPutLimits(const std::string& key, size_t len) {
    if (key.size() > kMaxKeyBytes) {
      throw nb::value_error(("key is " + std::to_string(key.size()) +
                             " bytes; the chunk format allows at most " +
                             std::to_string(kMaxKeyBytes))
                                .c_str());
    }
    if (len > kMaxPayloadBytes) {
      throw nb::value_error(("payload is " + std::to_string(len) +
                             " bytes; the chunk format allows at most " +
                             std::to_string(kMaxPayloadBytes))
                                .c_str());
    }
  }

  std::vector<std::string> Keys(nb::handle keys) {
    std::vector<std::string> out;
    for (nb::handle k : keys) out.push_back(Key(k));
    return out;
  }

  std::shared_ptr<Store> store_;
  size_t chunk_bytes_;
  // Buffers of submitted jobs, released when the job is collected. Only
  // touched with the GIL held.
  std::unordered_map<uint64_t, std::vector<BufferRef>> held_;
};

}  // namespace

NB_MODULE(_kvtier, m) {
  m.doc() = "kvtier: shared-filesystem KV-cache chunk store (native core)";
  m.attr("MAX_KEY_BYTES") = kMaxKeyBytes;
  m.attr("MAX_PAYLOAD_BYTES") = kMaxPayloadBytes;
  m.attr("MAX_PAYLOAD_PIECES") = kMaxPayloadPieces;
  // StoreOptions' defaults, in the units kvtier.Store takes, so that Python
  // reads them instead of spelling them a second time.
  const StoreOptions d;
  nb::dict defaults;
  defaults["read_threads"] = nb::cast(d.read_threads);
  defaults["write_threads"] = nb::cast(d.write_threads);
  defaults["verify"] = nb::cast(d.verify);
  defaults["durable"] = nb::cast(d.durable);
  defaults["touch_interval_s"] = nb::cast(static_cast<double>(d.touch_interval_ns) / 1e9);
  defaults["max_queued_write_bytes"] = nb::cast(d.max_queued_write_bytes);
  defaults["max_pending_jobs"] = nb::cast(d.max_pending_jobs);
  defaults["lookup_cache_s"] = nb::cast(static_cast<double>(d.lookup_cache_ns) / 1e9);
  defaults["io_timeout_s"] = nb::cast(static_cast<double>(d.io_timeout_ns) / 1e9);
  defaults["file_mode"] = nb::cast(d.perms.file_mode);
  defaults["dir_mode"] = nb::cast(d.perms.dir_mode);
  defaults["segment_bytes"] = nb::cast(d.segment_bytes);
  m.attr("STORE_DEFAULTS") = defaults;
  nb::list outcomes;
  for (int i = 0; i < kKeyOutcomeCount; ++i) {
    outcomes.append(KeyOutcomeName(static_cast<KeyOutcome>(i)));
  }
  m.attr("KEY_OUTCOMES") = nb::tuple(outcomes);
  nb::class_<PyStore>(m, "_Store")
      .def(nb::init<const std::string&, const std::string&, int, int, const std::string&,
                    nb::handle, bool, bool, double, uint64_t, size_t, double, size_t, double,
                    uint32_t, uint32_t, int64_t, const std::string&, bool, size_t>(),
           nb::arg("root"), nb::arg("fingerprint_json"), nb::arg("read_threads"),
           nb::arg("write_threads"), nb::arg("io_backend"), nb::arg("direct_io").none(),
           nb::arg("verify"), nb::arg("durable"), nb::arg("touch_interval_s"),
           nb::arg("max_queued_write_bytes"), nb::arg("max_pending_jobs"),
           nb::arg("lookup_cache_s"), nb::arg("chunk_bytes"), nb::arg("io_timeout_s"),
           nb::arg("file_mode") = CreatePerms{}.file_mode,
           nb::arg("dir_mode") = CreatePerms{}.dir_mode, nb::arg("group") = -1,
           nb::arg("auth_key_file") = "", nb::arg("encrypt") = false,
           nb::arg("segment_bytes") = StoreOptions{}.segment_bytes)
      .def("put", &PyStore::Put)
      .def("get", &PyStore::Get)
      .def("contains", &PyStore::Contains)
      .def("submit_put", &PyStore::SubmitPut)
      .def("submit_get", &PyStore::SubmitGet)
      .def("submit_contains", &PyStore::SubmitContains)
      .def("poll", &PyStore::Poll, nb::arg("max_results") = 1 << 20, nb::arg("timeout_s") = 0.0)
      .def("wait", &PyStore::Wait, nb::arg("job_id"), nb::arg("timeout_s") = -1.0)
      .def("stats", &PyStore::Stats)
      .def("metrics_text", &PyStore::MetricsText)
      .def("close", &PyStore::Close)
      .def_prop_ro("namespace_dir", &PyStore::NamespaceDir)
      .def_prop_ro("io_backend", &PyStore::IoBackend)
      .def_prop_ro("load_direct_io", &PyStore::LoadDirectIo)
      .def_prop_ro("store_direct_io", &PyStore::StoreDirectIo)
      .def_prop_ro("usable", &PyStore::Usable)
      .def_prop_ro("closed", &PyStore::Closed);
}

}  // namespace kvtier::python
