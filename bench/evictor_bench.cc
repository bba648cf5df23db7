// Driver for bench/evictor_bench.sh and bench/evictor_dfs_scan.sh: builds a
// kvtier-layout tree of chunk files (empty, or SIZE bytes each), times the
// evictor's full scan of it (and the index memory per file), and times
// eviction of every file.
//
//   kvtier-evictor-bench make-tree DIR N [SIZE] [THREADS]
//   kvtier-evictor-bench scan DIR [RUNS] [SCAN_THREADS]
//   kvtier-evictor-bench delete DIR
//
// make-tree's threads each create a disjoint set of leaf directories: on a
// network filesystem every create is a round trip, and one thread would take
// hours for a tree that a scan crosses in minutes.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "evictor/evictor.h"
#include "layout/layout.h"

using kvtier::evictor::Evictor;
using kvtier::evictor::EvictorOptions;
using kvtier::evictor::Logger;
using kvtier::evictor::LogLevel;
using kvtier::evictor::ScanResult;

namespace {

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

long RssKiB() {
  FILE* f = std::fopen("/proc/self/statm", "r");
  long pages = 0, rss = 0;
  if (f != nullptr) {
    if (std::fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
    std::fclose(f);
  }
  return rss * (sysconf(_SC_PAGESIZE) / 1024);
}

// Creates the files of leaves [first, last) of `leaves`; false on an error.
bool MakeLeaves(const std::vector<std::pair<std::string, std::vector<std::string>>>& leaves,
                size_t first, size_t last, size_t size, long base_s) {
  const std::string data(size, 'k');
  for (size_t l = first; l < last; ++l) {
    const std::string& leaf = leaves[l].first;
    mkdir(leaf.substr(0, leaf.size() - 3).c_str(), 0755);
    mkdir(leaf.c_str(), 0755);
    int dfd = open(leaf.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd < 0) return false;
    for (const std::string& name : leaves[l].second) {
      int fd = openat(dfd, name.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      if (fd < 0) return false;
      bool ok = size == 0 || write(fd, data.data(), size) == static_cast<ssize_t>(size);
      // Distinct atimes a day in the past, so there is an LRU order.
      uint64_t h = std::hash<std::string>()(name);
      struct timespec ts[2];
      ts[0].tv_sec = base_s - 86400 + static_cast<long>(h % 80000);
      ts[0].tv_nsec = 0;
      ts[1] = ts[0];
      futimens(fd, ts);
      close(fd);
      if (!ok) return false;
    }
    close(dfd);
  }
  return true;
}

int MakeTree(const std::string& dir, long n, size_t size, int threads) {
  const std::string ns = dir + "/bench-model-0123456789ab";
  mkdir(dir.c_str(), 0755);
  mkdir(ns.c_str(), 0755);
  int fp = open((ns + "/fingerprint.json").c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  if (fp < 0 || write(fp, "{}\n", 3) != 3) return 1;
  close(fp);
  // Group keys by leaf so each leaf directory is created and opened once.
  std::map<std::string, std::vector<std::string>> by_leaf;
  for (long i = 0; i < n; ++i) {
    uint64_t k = static_cast<uint64_t>(i) * 0x9E3779B97F4A7C15ULL;
    std::string key(reinterpret_cast<const char*>(&k), sizeof(k));
    kvtier::ChunkLocation loc = kvtier::LocateChunk(ns, key);
    by_leaf[loc.leaf_dir].push_back(loc.path.substr(loc.leaf_dir.size() + 1));
  }
  std::vector<std::pair<std::string, std::vector<std::string>>> leaves(by_leaf.begin(),
                                                                       by_leaf.end());
  struct timespec base;
  clock_gettime(CLOCK_REALTIME, &base);
  threads = std::max(threads, 1);
  std::vector<char> ok(threads, 1);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    size_t first = leaves.size() * t / threads, last = leaves.size() * (t + 1) / threads;
    workers.emplace_back(
        [&, t, first, last] { ok[t] = MakeLeaves(leaves, first, last, size, base.tv_sec); });
  }
  for (std::thread& w : workers) w.join();
  for (char o : ok) {
    if (!o) return 1;
  }
  std::printf("created %ld files of %zu bytes in %zu leaf directories under %s\n", n, size,
              leaves.size(), ns.c_str());
  return 0;
}

EvictorOptions BenchOptions(const std::string& dir, Logger* logger) {
  EvictorOptions o;
  o.config.root = dir;
  o.config.min_age_s = 0;
  o.config.max_delete_rate = 0;
  o.config.port = 0;
  o.config.once = true;
  o.logger = logger;
  return o;
}

int Scan(const std::string& dir, int runs, int threads) {
  Logger logger;
  logger.set_level(LogLevel::kError);
  double best = 1e30;
  for (int r = 0; r < runs; ++r) {
    EvictorOptions o = BenchOptions(dir, &logger);
    o.config.quota_bytes = 1ULL << 60;  // never evict
    o.config.scan_threads = threads;
    long rss0 = RssKiB();
    std::unique_ptr<Evictor> ev;
    kvtier::Status s = Evictor::Open(o, &ev);
    if (!s.ok()) {
      std::fprintf(stderr, "%s\n", s.ToString().c_str());
      return 1;
    }
    ScanResult res;
    double t0 = Now();
    s = ev->Scan(true, &res);
    double secs = Now() - t0;
    long rss1 = RssKiB();
    uint64_t files = ev->index().Totals().files;
    size_t mem = ev->index().MemoryBytes();
    std::printf(
        "scan run=%d threads=%d files=%llu seconds=%.3f files_per_s=%.0f index_bytes=%zu "
        "index_bytes_per_file=%.1f rss_delta_bytes_per_file=%.1f\n",
        r, threads, static_cast<unsigned long long>(files), secs, files / secs, mem,
        files ? static_cast<double>(mem) / files : 0.0,
        files ? (rss1 - rss0) * 1024.0 / files : 0.0);
    if (secs < best) best = secs;
  }
  std::printf("scan_best_seconds=%.3f\n", best);
  return 0;
}

int Delete(const std::string& dir) {
  Logger logger;
  logger.set_level(LogLevel::kError);
  EvictorOptions o = BenchOptions(dir, &logger);
  o.config.quota_bytes = 1;  // everything is over quota
  o.config.low_watermark = 0;
  o.config.dir_grace_s = 1e9;
  std::unique_ptr<Evictor> ev;
  kvtier::Status s = Evictor::Open(o, &ev);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  double t0 = Now();
  s = ev->RunOnce();
  double total = Now() - t0;
  double scan = ev->metrics().last_scan_seconds->value();
  uint64_t n = ev->metrics().files_evicted->value();
  std::printf(
      "delete files=%llu total_seconds=%.3f scan_seconds=%.3f delete_seconds=%.3f "
      "deletes_per_s=%.0f\n",
      static_cast<unsigned long long>(n), total, scan, total - scan, n / (total - scan));
  return s.ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 4 && std::strcmp(argv[1], "make-tree") == 0)
    return MakeTree(argv[2], std::atol(argv[3]), argc >= 5 ? std::atol(argv[4]) : 0,
                    argc >= 6 ? std::atoi(argv[5]) : 1);
  if (argc >= 3 && std::strcmp(argv[1], "scan") == 0) {
    return Scan(argv[2], argc >= 4 ? std::atoi(argv[3]) : 3,
                argc >= 5 ? std::atoi(argv[4]) : EvictorOptions().config.scan_threads);
  }
  if (argc >= 3 && std::strcmp(argv[1], "delete") == 0) return Delete(argv[2]);
  std::fprintf(
      stderr,
      "usage: %s make-tree DIR N [SIZE] [THREADS] | scan DIR [RUNS] [SCAN_THREADS] | delete DIR\n",
      argv[0]);
  return 2;
}
