// `kvtier bench`: stores then loads N chunks of S bytes with T threads in a
// directory, for each I/O backend and direct/buffered mode, and in the same
// run measures fio with the same files, sizes, threads and mode (and a
// memcpy baseline), so every number comes with its ratio to the raw device.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>
#include <unordered_map>
#include <vector>

#include "cli/commands.h"
#include "cli/human.h"
#include "kvtier/env.h"
#include "kvtier/store.h"
#include "layout/layout.h"
#include "util/aligned_buffer.h"

namespace kvtier::cli {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Runs fn(t) on T threads; returns wall seconds.
template <typename Fn>
double Parallel(int threads, Fn fn) {
  auto start = Clock::now();
  std::vector<std::thread> ts;
  ts.reserve(static_cast<size_t>(threads));
  for (int t = 0; t < threads; ++t) ts.emplace_back(fn, t);
  for (auto& th : ts) th.join();
  return Seconds(start, Clock::now());
}

void DropCaches() {
  ::sync();
  FILE* f = std::fopen("/proc/sys/vm/drop_caches", "w");
  if (f != nullptr) {
    std::fputs("3\n", f);
    std::fclose(f);
  }
}

// fio's aggregate bandwidth (bytes/s) for one phase, or -1.
double RunFio(const std::string& dir, const std::string& rw, const BenchArgs& a, int per_thread,
              bool direct, const std::string& engine) {
  // One transfer per chunk file, into a chunk-sized buffer: the pattern of
  // a KV chunk load (a smaller block size would keep fio's buffer in cache).
  uint64_t bs = a.chunk_bytes;
  std::string cmd = "fio --name=kvbench --directory=" + dir + " --rw=" + rw +
                    " --numjobs=" + std::to_string(a.threads) +
                    " --nrfiles=" + std::to_string(per_thread) +
                    " --filesize=" + std::to_string(a.chunk_bytes) + " --bs=" + std::to_string(bs) +
                    " --ioengine=" + engine + " --direct=" + (direct ? "1" : "0") +
                    " --file_service_type=sequential --openfiles=1 --create_on_open=1"
                    " --fallocate=none --thread --group_reporting --output-format=json"
                    // fio drops the page cache of its files before a job by
                    // default; kvtier does not, so neither may (--drop-caches
                    // clears it for both).
                    " --invalidate=0 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  if (::pclose(p) != 0) return -1;
  size_t brace = out.find('{');
  if (brace == std::string::npos) return -1;
  json j = json::parse(out.substr(brace), nullptr, false);
  if (j.is_discarded() || !j.contains("jobs") || j["jobs"].empty()) return -1;
  return j["jobs"][0][rw == "write" ? "write" : "read"]["bw_bytes"].get<double>();
}

double MemcpyBaseline(const BenchArgs& a, int per_thread) {
  std::vector<std::unique_ptr<AlignedBuffer>> src, dst;
  for (int t = 0; t < a.threads; ++t) {
    src.push_back(std::make_unique<AlignedBuffer>(a.chunk_bytes));
    dst.push_back(std::make_unique<AlignedBuffer>(a.chunk_bytes));
    std::memset(src[t]->data(), t + 1, a.chunk_bytes);
    std::memset(dst[t]->data(), 0, a.chunk_bytes);
  }
  double secs = Parallel(a.threads, [&](int t) {
    for (int i = 0; i < per_thread; ++i) std::memcpy(dst[t]->data(), src[t]->data(), a.chunk_bytes);
  });
  return static_cast<double>(a.chunk_bytes) * per_thread * a.threads / secs;
}

struct Result {
  std::string backend, mode;
  double store_bps = 0, load_bps = 0, fio_write_bps = -1, fio_read_bps = -1;
  // kvtier / fio within one back-to-back pair (which shares the machine's
  // momentary state), and across pairs: median, lowest, highest.
  double store_ratio = 0, load_ratio = 0;
  double store_ratio_lo = 0, store_ratio_hi = 0, load_ratio_lo = 0, load_ratio_hi = 0;
  // Median per-pair ratios of the pairs kvtier ran first / fio ran first: a
  // gap between them is an order effect the alternation cancels.
  double store_ratio_kv_first = 0, store_ratio_fio_first = 0;
  double load_ratio_kv_first = 0, load_ratio_fio_first = 0;
  uint64_t load_failures = 0;
  // Failed keys by op and outcome ("get.io_error"), summed over repetitions.
  std::map<std::string, uint64_t> failures;
  // What the store settled on (`auto` picks per filesystem and direction).
  std::string backend_effective;
  bool load_direct = false, store_direct = false;
};

double Median(const std::vector<Result>& rs, double Result::*field) {
  std::vector<double> v;
  v.reserve(rs.size());
  for (const Result& r : rs) v.push_back(r.*field);
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// fio's write then read phase over `dir`/fio, the mode and engine of this
// kvtier run (`auto` is compared with fio's psync engine, buffered).
void RunFioPhases(const BenchArgs& a, const std::string& backend, const std::string& mode,
                  const std::string& dir, int per_thread, Result* r) {
  std::string fio_dir = dir + "/fio";
  fs::create_directories(fio_dir);
  std::string engine = backend == "io_uring" ? "io_uring" : "psync";
  bool direct = mode == "direct";
  r->fio_write_bps = RunFio(fio_dir, "write", a, per_thread, direct, engine);
  if (a.drop_caches) DropCaches();
  r->fio_read_bps = RunFio(fio_dir, "read", a, per_thread, direct, engine);
  std::error_code ec;
  fs::remove_all(fio_dir, ec);
}

StoreOptions BenchStoreOptions(const BenchArgs& a, const std::string& backend,
                               const std::string& mode) {
  StoreOptions o;
  o.read_threads = a.threads;
  o.write_threads = a.threads;
  o.io_backend = backend == "io_uring"     ? IoBackendKind::kUring
                 : backend == "threadpool" ? IoBackendKind::kThreadPool
                                           : IoBackendKind::kAuto;
  o.direct_io = mode == "direct"     ? DirectIoMode::kOn
                : mode == "buffered" ? DirectIoMode::kOff
                                     : DirectIoMode::kAuto;
  o.verify = a.verify;
  o.auth_key_file = a.auth_key_file;
  o.encrypt = a.encrypt;
  o.max_queued_write_bytes = UINT64_MAX;
  if (a.segment_bytes != 0) o.segment_bytes = a.segment_bytes;
  if (a.io_timeout_s >= 0) o.io_timeout_ns = static_cast<int64_t>(a.io_timeout_s * 1e9);
  return o;
}

std::string BenchKey(int i) { return "bench-" + std::to_string(i); }

using Buffers = std::vector<std::unique_ptr<AlignedBuffer>>;

// `depth` chunk buffers of random bytes.
Buffers RandomBuffers(int depth, size_t bytes) {
  Buffers bufs;
  std::mt19937_64 rng(1);
  for (int t = 0; t < depth; ++t) {
    bufs.push_back(std::make_unique<AlignedBuffer>(bytes));
    auto* words = reinterpret_cast<uint64_t*>(bufs[t]->data());  // NOLINT
    for (size_t i = 0; i < bytes / 8; ++i) words[i] = rng();
  }
  return bufs;
}

// The engine is driven the way an inference server drives it: one
// submitter keeps one single-chunk job per buffer in flight and collects
// them as they finish. The default, one per thread, is fio's shape: as many
// transfers at once as fio has jobs (write workers also serve reads, so
// more jobs in flight would let a load use up to 2 x threads workers) and
// one buffer each. It costs a short idle gap per chunk while the submitter
// hands out the next job. Returns {seconds, failed keys}; adds each failed
// key to *failures by op and outcome.
std::pair<double, uint64_t> RunPipeline(Store* store, const Buffers& bufs, size_t chunk_bytes,
                                        int total_chunks, bool write,
                                        std::map<std::string, uint64_t>* failures) {
  const int depth = static_cast<int>(bufs.size());
  std::unordered_map<uint64_t, int> in_flight;  // job id -> buffer slot
  std::vector<int> free_slots;
  for (int t = depth - 1; t >= 0; --t) free_slots.push_back(t);
  std::vector<JobResult> done;
  uint64_t failed = 0;
  auto fail = [&](KeyOutcome o) {
    ++failed;
    ++(*failures)[std::string(write ? "put." : "get.") + KeyOutcomeName(o)];
  };
  auto start = Clock::now();
  for (int next = 0; next < total_chunks || !in_flight.empty();) {
    while (next < total_chunks && !free_slots.empty()) {
      int slot = free_slots.back();
      free_slots.pop_back();
      char* buf = bufs[slot]->data();
      uint64_t id = write ? store->SubmitPut({{BenchKey(next), buf, chunk_bytes}})
                          : store->SubmitGet({{BenchKey(next), buf, chunk_bytes}});
      ++next;
      if (id == 0) {
        fail(KeyOutcome::kRejected);
        free_slots.push_back(slot);
        continue;
      }
      in_flight.emplace(id, slot);
    }
    if (in_flight.empty()) continue;
    // Refill whichever slot frees first, as fio's independent jobs do:
    // waiting on the oldest job would leave finished slots idle behind a
    // slow transfer.
    done.clear();
    store->WaitAny(&done, static_cast<size_t>(depth), -1);
    for (const JobResult& jr : done) {
      // Every pollable job of this store is ours: the bench is its only
      // client, and it submits nothing else.
      auto it = in_flight.find(jr.job_id);
      if (it == in_flight.end()) continue;
      for (KeyOutcome o : jr.outcomes) {
        if (o != KeyOutcome::kOk) fail(o);
      }
      free_slots.push_back(it->second);
      in_flight.erase(it);
    }
  }
  return std::make_pair(Seconds(start, Clock::now()), failed);
}

// One back-to-back pair: kvtier's store and load phases and fio's write and
// read phases, in the given order (repetitions alternate it, so a drift
// within a pair favours neither side).
bool RunOne(const BenchArgs& a, const std::string& backend, const std::string& mode,
            const std::string& dir, int per_thread, bool fio_first, Result* r) {
  if (a.fio && fio_first) RunFioPhases(a, backend, mode, dir, per_thread, r);
  const StoreOptions o = BenchStoreOptions(a, backend, mode);
  Fingerprint fp;
  Fingerprint::FromJson(R"({"model":"kvtier-bench"})", &fp);
  std::unique_ptr<Store> store;
  const std::string store_dir = dir + "/store";
  fs::create_directories(store_dir);
  Status s = Store::Open(store_dir, fp, o, &store);
  if (!s.ok()) {
    std::fprintf(stderr, "skip %s/%s: %s\n", backend.c_str(), mode.c_str(), s.ToString().c_str());
    return false;
  }
  r->backend_effective = store->io_backend_name();
  r->load_direct = store->load_direct_io();
  r->store_direct = store->store_direct_io();
  const int total_chunks = per_thread * a.threads;
  const Buffers bufs = RandomBuffers(a.depth, a.chunk_bytes);
  if (!a.cold_tree) {
    // A cache in service has its fan-out directories: each of the 65,536
    // leaves is made once, by the first chunk that lands there. fio's one
    // directory exists before fio starts, so the leaves these keys use are
    // made before the clock starts too (--cold-tree times them).
    Env* env = Env::Default();
    for (int i = 0; i < total_chunks; ++i) {
      CreateLeafDir(env, LocateChunk(store->namespace_dir(), BenchKey(i)), CreatePerms{});
    }
  }
  double total = static_cast<double>(a.chunk_bytes) * total_chunks;
  auto [wsecs, wfailed] =
      RunPipeline(store.get(), bufs, a.chunk_bytes, total_chunks, true, &r->failures);
  r->store_bps = total / wsecs;
  if (a.drop_caches) DropCaches();
  if (!a.load_dir.empty()) {
    // Load through another path to the same directory (another mount of a
    // shared filesystem: another node), whose client caches start cold.
    store.reset();
    s = Store::Open(a.load_dir + store_dir.substr(a.dir.size()), fp, o, &store);
    if (!s.ok()) {
      std::fprintf(stderr, "skip %s/%s: load dir: %s\n", backend.c_str(), mode.c_str(),
                   s.ToString().c_str());
      return false;
    }
  }
  auto [rsecs, rfailed] =
      RunPipeline(store.get(), bufs, a.chunk_bytes, total_chunks, false, &r->failures);
  r->load_bps = total / rsecs;
  r->load_failures = rfailed + wfailed;
  store.reset();
  std::error_code ec;
  fs::remove_all(store_dir, ec);
  if (a.fio && !fio_first) RunFioPhases(a, backend, mode, dir, per_thread, r);
  return true;
}

// Medians (and spreads) over the repetitions of one backend and mode.
Result Summarize(const std::vector<Result>& reps, const std::string& backend,
                 const std::string& mode) {
  Result m = reps[0];
  m.load_failures = 0;
  m.failures.clear();
  m.backend = backend;
  m.mode = mode;
  m.store_bps = Median(reps, &Result::store_bps);
  m.load_bps = Median(reps, &Result::load_bps);
  m.fio_write_bps = Median(reps, &Result::fio_write_bps);
  m.fio_read_bps = Median(reps, &Result::fio_read_bps);
  m.store_ratio = Median(reps, &Result::store_ratio);
  m.load_ratio = Median(reps, &Result::load_ratio);
  auto [slo, shi] = std::minmax_element(
      reps.begin(), reps.end(),
      [](const Result& x, const Result& y) { return x.store_ratio < y.store_ratio; });
  auto [llo, lhi] = std::minmax_element(
      reps.begin(), reps.end(),
      [](const Result& x, const Result& y) { return x.load_ratio < y.load_ratio; });
  m.store_ratio_lo = slo->store_ratio;
  m.store_ratio_hi = shi->store_ratio;
  m.load_ratio_lo = llo->load_ratio;
  m.load_ratio_hi = lhi->load_ratio;
  std::vector<Result> by_order[2];
  for (size_t k = 0; k < reps.size(); ++k) by_order[k % 2].push_back(reps[k]);
  if (!by_order[1].empty()) {
    m.store_ratio_kv_first = Median(by_order[0], &Result::store_ratio);
    m.store_ratio_fio_first = Median(by_order[1], &Result::store_ratio);
    m.load_ratio_kv_first = Median(by_order[0], &Result::load_ratio);
    m.load_ratio_fio_first = Median(by_order[1], &Result::load_ratio);
  }
  for (const Result& r : reps) {
    m.load_failures += r.load_failures;
    for (const auto& [what, n] : r.failures) m.failures[what] += n;
  }
  return m;
}

// Every backend and mode, each `repeat` times; a combination whose store
// cannot be opened is skipped (and said so on stderr).
std::vector<Result> RunAll(const BenchArgs& args, const std::string& base, int per_thread) {
  std::vector<Result> results;
  for (const std::string& backend : args.backends) {
    for (const std::string& mode : args.modes) {
      std::string dir = base + "/run-" + backend + "-" + mode;
      fs::create_directories(dir);
      // Shared machines drift: repeat kvtier and fio back to back, in
      // alternating order, and keep the median of each, so the ratio
      // compares like with like.
      std::vector<Result> reps;
      for (int k = 0; k < args.repeat; ++k) {
        Result r;
        if (!RunOne(args, backend, mode, dir, per_thread, /*fio_first=*/k % 2 == 1, &r)) break;
        if (r.fio_write_bps > 0 && r.fio_read_bps > 0) {
          r.store_ratio = r.store_bps / r.fio_write_bps;
          r.load_ratio = r.load_bps / r.fio_read_bps;
        }
        reps.push_back(r);
      }
      std::error_code ec;
      fs::remove_all(dir, ec);
      if (!reps.empty()) results.push_back(Summarize(reps, backend, mode));
    }
  }
  return results;
}

json RunJson(const Result& r) {
  json j = {{"backend", r.backend},
            {"mode", r.mode},
            {"backend_effective", r.backend_effective},
            {"load_direct", r.load_direct},
            {"store_direct", r.store_direct},
            {"store_GBps", r.store_bps / 1e9},
            {"load_GBps", r.load_bps / 1e9},
            {"load_failures", r.load_failures},
            {"failures", r.failures}};
  if (r.fio_write_bps > 0) {
    j["fio_write_GBps"] = r.fio_write_bps / 1e9;
    j["fio_read_GBps"] = r.fio_read_bps / 1e9;
    j["store_vs_fio"] = r.store_bps / r.fio_write_bps;
    j["load_vs_fio"] = r.load_bps / r.fio_read_bps;
    j["store_vs_fio_paired"] = {
        {"median", r.store_ratio}, {"min", r.store_ratio_lo}, {"max", r.store_ratio_hi}};
    j["load_vs_fio_paired"] = {
        {"median", r.load_ratio}, {"min", r.load_ratio_lo}, {"max", r.load_ratio_hi}};
    if (r.store_ratio_fio_first > 0) {
      j["paired_by_order"] = {{"store_kvtier_first", r.store_ratio_kv_first},
                              {"store_fio_first", r.store_ratio_fio_first},
                              {"load_kvtier_first", r.load_ratio_kv_first},
                              {"load_fio_first", r.load_ratio_fio_first}};
    }
  }
  return j;
}

void PrintTable(const BenchArgs& a, const json& out, int chunks, double memcpy_bps) {
  std::printf("kvtier bench: %d x %s chunks, %d threads, verify=%s, dir=%s\n", chunks,
              HumanBytes(static_cast<double>(a.chunk_bytes)).c_str(), a.threads,
              a.verify ? "on" : "off", a.dir.empty() ? "(temp)" : a.dir.c_str());
  std::printf("%-10s %-8s | %9s %9s %6s | %9s %9s %6s\n", "backend", "mode", "store", "fio-w",
              "ratio", "load", "fio-r", "ratio");
  for (const auto& j : out["runs"]) {
    bool f = j.contains("fio_write_GBps");
    std::printf("%-10s %-8s | %6.2f GB/s %6.2f %6.2f | %6.2f GB/s %6.2f %6.2f%s",
                j["backend"].get<std::string>().c_str(), j["mode"].get<std::string>().c_str(),
                j["store_GBps"].get<double>(), f ? j["fio_write_GBps"].get<double>() : 0.0,
                f ? j["store_vs_fio"].get<double>() : 0.0, j["load_GBps"].get<double>(),
                f ? j["fio_read_GBps"].get<double>() : 0.0,
                f ? j["load_vs_fio"].get<double>() : 0.0,
                j["load_failures"].get<uint64_t>() ? "  LOAD FAILURES:" : "");
    // Which keys failed and why, e.g. "get.io_error 3".
    for (const auto& item : j["failures"].items()) {
      std::printf(" %s %llu", item.key().c_str(),
                  static_cast<unsigned long long>(item.value().get<uint64_t>()));
    }
    std::printf("\n");
    if (j["backend"] == "auto" || j["mode"] == "auto") {
      std::printf("  auto chose: loads %s %s, stores %s\n",
                  j["backend_effective"].get<std::string>().c_str(),
                  j["load_direct"].get<bool>() ? "direct" : "buffered",
                  j["store_direct"].get<bool>() ? "direct" : "buffered");
    }
  }
  std::printf("memcpy baseline: %.2f GB/s\n", memcpy_bps / 1e9);
}

// Usage errors, or "" when the arguments make sense.
std::string CheckArgs(const BenchArgs& a) {
  if (!a.load_dir.empty() && a.dir.empty()) return "--load-dir needs --dir";
  for (const std::string& b : a.backends) {
    if (b != "threadpool" && b != "io_uring" && b != "auto") return "unknown backend " + b;
  }
  for (const std::string& m : a.modes) {
    if (m != "direct" && m != "buffered" && m != "auto") return "unknown mode " + m;
  }
  return "";
}

}  // namespace

int BenchCommand(const BenchArgs& a) {
  std::string base = a.dir;
  bool temp = base.empty();
  if (temp) {
    const char* t = std::getenv("TMPDIR");
    std::string templ = std::string(t != nullptr ? t : "/tmp") + "/kvtier-bench-XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) {
      std::perror("mkdtemp");
      return 2;
    }
    base = templ;
  }
  if (std::string err = CheckArgs(a); !err.empty()) {
    std::fprintf(stderr, "kvtier bench: %s\n", err.c_str());
    return 2;
  }
  int per_thread = std::max(1, a.count / a.threads);
  bool have_fio = a.fio && std::system("fio --version >/dev/null 2>&1") == 0;
  if (a.fio && !have_fio) std::fprintf(stderr, "fio not found: running without the baseline\n");
  BenchArgs args = a;
  args.fio = have_fio;
  if (args.depth <= 0) args.depth = a.threads;
  std::vector<Result> results = RunAll(args, base, per_thread);
  double memcpy_bps = MemcpyBaseline(a, per_thread);
  if (temp) {
    std::error_code ec;
    fs::remove_all(base, ec);
  }

  json out = {{"dir", a.dir.empty() ? "(temp)" : a.dir},
              {"load_dir", a.load_dir},
              {"chunk_bytes", a.chunk_bytes},
              {"chunks", per_thread * a.threads},
              {"threads", a.threads},
              {"depth", args.depth},
              {"repeat", a.repeat},
              {"cold_tree", a.cold_tree},
              {"verify", a.verify},
              {"io_timeout_s", a.io_timeout_s >= 0 ? a.io_timeout_s : kDefaultIoTimeoutNs / 1e9},
              {"memcpy_GBps", memcpy_bps / 1e9},
              {"runs", json::array()}};
  int failures = 0;
  for (const Result& r : results) {
    failures += static_cast<int>(r.load_failures);
    out["runs"].push_back(RunJson(r));
  }
  if (a.json) {
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    PrintTable(a, out, per_thread * a.threads, memcpy_bps);
  }
  return failures > 0 ? 1 : 0;
}

}  // namespace kvtier::cli
