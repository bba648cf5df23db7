// Driver for bench/evictor_bench.sh: builds a kvtier-layout tree of empty
// chunk files, times the evictor's full scan of it (and the index memory per
// file), and times eviction of every file.
//
//   kvtier-evictor-bench make-tree DIR N
//   kvtier-evictor-bench scan DIR [RUNS]
//   kvtier-evictor-bench delete DIR
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
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

int MakeTree(const std::string& dir, long n) {
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
  struct timespec base;
  clock_gettime(CLOCK_REALTIME, &base);
  long i = 0;
  for (auto& [leaf, names] : by_leaf) {
    mkdir(leaf.substr(0, leaf.size() - 3).c_str(), 0755);
    mkdir(leaf.c_str(), 0755);
    int dfd = open(leaf.c_str(), O_RDONLY | O_DIRECTORY);
    if (dfd < 0) return 1;
    for (const std::string& name : names) {
      int fd = openat(dfd, name.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
      if (fd < 0) return 1;
      // Distinct atimes a day in the past, so there is an LRU order.
      struct timespec ts[2];
      ts[0].tv_sec = base.tv_sec - 86400 + (i * 7919) % 80000;
      ts[0].tv_nsec = 0;
      ts[1] = ts[0];
      futimens(fd, ts);
      close(fd);
      ++i;
    }
    close(dfd);
  }
  std::printf("created %ld files in %zu leaf directories under %s\n", i, by_leaf.size(),
              ns.c_str());
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

int Scan(const std::string& dir, int runs) {
  Logger logger;
  logger.set_level(LogLevel::kError);
  double best = 1e30;
  for (int r = 0; r < runs; ++r) {
    EvictorOptions o = BenchOptions(dir, &logger);
    o.config.quota_bytes = 1ULL << 60;  // never evict
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
        "scan run=%d files=%llu seconds=%.3f files_per_s=%.0f index_bytes=%zu "
        "index_bytes_per_file=%.1f rss_delta_bytes_per_file=%.1f\n",
        r, static_cast<unsigned long long>(files), secs, files / secs, mem,
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
  double scan = ev->metrics().last_scan_seconds.load();
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
    return MakeTree(argv[2], std::atol(argv[3]));
  if (argc >= 3 && std::strcmp(argv[1], "scan") == 0)
    return Scan(argv[2], argc >= 4 ? std::atoi(argv[3]) : 3);
  if (argc >= 3 && std::strcmp(argv[1], "delete") == 0) return Delete(argv[2]);
  std::fprintf(stderr, "usage: %s make-tree DIR N | scan DIR [RUNS] | delete DIR\n", argv[0]);
  return 2;
}
