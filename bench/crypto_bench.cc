// Load speed of authenticated and encrypted chunks against plain verified
// ones (docs/SECURITY.md), side by side in one run: three namespaces (plain
// with XXH3, MAC'd, encrypted) hold the same chunks; each round loads all of
// them from each namespace, the order rotating per round, with the same
// threads and jobs in flight. Ratios are per round (adjacent runs), then the
// median, so a machine whose load drifts still compares like with like.
// The process's CPU seconds per GB loaded (user + system) are printed too:
// on a shared machine they show the cost when other work takes the cores.
//
// --micro instead times the primitives alone, one thread, on a 512 KiB
// buffer in cache, interleaved in short bursts (best burst, thread CPU
// time): XXH3-128, the MAC (ChaCha20-Poly1305 with no plaintext), GMAC,
// AES-256-GCM decryption, and memcpy, as the store's own code calls them.
//
//   kvtier-crypto-bench --dir /dev/shm/cb [--size 8M] [--count 64]
//                       [--threads 4] [--rounds 5] [--direct auto|on|off]
//                       [--segment 512K]
//   kvtier-crypto-bench --micro [--seconds 2]
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "crypto/chunk_cipher.h"
#include "kvtier/store.h"
#include "util/hash.h"

namespace {

using kvtier::Store;

struct Buf {
  explicit Buf(size_t n)
      : p(static_cast<char*>(std::aligned_alloc(4096, (n + 4095) / 4096 * 4096))) {}
  ~Buf() { std::free(p); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  char* p;
};

double Now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// CPU seconds (user + system) this process has used.
double CpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

double ThreadCpuNow() {
  timespec t{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// The primitives alone (see the top of the file). Prints one JSON line.
int Micro(double seconds) {
  constexpr size_t kBuf = 512 << 10;
  std::vector<char> in(kBuf), out(kBuf);
  std::mt19937 rng(2);
  for (char& c : in) c = static_cast<char>(rng());
  kvtier::ChunkKey key{};
  key[0] = 1;
  kvtier::Nonce nonce{};
  kvtier::ChunkCipher cipher;
  bool ok = true;
  volatile uint64_t sink = 0;
  const char* names[] = {"xxh3_128", "mac_chacha20_poly1305", "gmac_aes256gcm", "aes256gcm_decrypt",
                         "memcpy"};
  auto run = [&](int which) {
    switch (which) {
      case 0: {
        kvtier::Xxh3Stream h;
        h.Update(in.data(), kBuf);
        sink = sink + h.Digest().lo;
        break;
      }
      case 1:
      case 2: {
        auto alg = which == 1 ? kvtier::AuthAlgorithm::kChaCha20Poly1305
                              : kvtier::AuthAlgorithm::kAes256Gcm;
        kvtier::Tag tag{};
        ok = ok && cipher.Begin(alg, key, nonce, true) && cipher.Aad(in.data(), kBuf) &&
             cipher.SealTag(&tag);
        sink = sink + tag[0];
        break;
      }
      case 3:
        ok = ok && cipher.Begin(kvtier::AuthAlgorithm::kAes256Gcm, key, nonce, false) &&
             cipher.Crypt(in.data(), out.data(), kBuf);
        sink = sink + static_cast<uint64_t>(out[7]);
        break;
      default:
        std::memcpy(out.data(), in.data(), kBuf);
        sink = sink + static_cast<uint64_t>(out[kBuf - 1]);
    }
  };
  constexpr int kKinds = 5, kReps = 16;  // one burst: 8 MiB through one primitive
  double best[kKinds] = {};
  const double end = Now() + seconds;
  while (Now() < end) {
    for (int k = 0; k < kKinds; ++k) {
      const double t0 = ThreadCpuNow();
      for (int r = 0; r < kReps; ++r) run(k);
      const double gbps = static_cast<double>(kBuf) * kReps / (ThreadCpuNow() - t0) / 1e9;
      best[k] = std::max(best[k], gbps);
    }
  }
  if (!ok) {
    std::fprintf(stderr, "libcrypto failed\n");
    return 1;
  }
  std::printf("{\"micro_gbps_one_thread_512k_in_cache\":{");
  for (int k = 0; k < kKinds; ++k) std::printf("%s\"%s\":%.2f", k ? "," : "", names[k], best[k]);
  // The MAC a store opened here seals authenticated-only chunks with.
  const bool gmac = kvtier::FasterMacAlgorithm() == kvtier::AuthAlgorithm::kAes256Gcm;
  std::printf("},\"mac_over_xxh3\":%.3f,\"mac_over_gmac\":%.3f,\"store_mac\":\"%s\"}\n",
              best[1] / best[0], best[1] / best[2], gmac ? "gmac" : "chacha20-poly1305");
  return 0;
}

uint64_t ParseSize(const std::string& s) {
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  switch (*end) {
    case 'K':
    case 'k':
      return static_cast<uint64_t>(v * 1024);
    case 'M':
    case 'm':
      return static_cast<uint64_t>(v * 1024 * 1024);
    case 'G':
    case 'g':
      return static_cast<uint64_t>(v * 1024 * 1024 * 1024);
    default:
      return static_cast<uint64_t>(v);
  }
}

std::string Key(int i) { return "chunk-" + std::to_string(i); }

// Loads every chunk once with `depth` single-chunk jobs in flight, refilled
// as they finish (how an engine drives it). Returns GB/s, or 0 on a miss.
double LoadAll(Store* s, int count, size_t size, std::vector<std::unique_ptr<Buf>>* bufs) {
  const int depth = static_cast<int>(bufs->size());
  std::vector<int> free_slots;
  for (int i = 0; i < depth; ++i) free_slots.push_back(i);
  std::vector<int> slot_of_job(1);
  std::vector<uint64_t> jobs;
  std::vector<std::pair<uint64_t, int>> inflight;
  int next = 0, done = 0;
  bool ok = true;
  const double t0 = Now();
  while (done < count) {
    while (next < count && !free_slots.empty()) {
      int slot = free_slots.back();
      free_slots.pop_back();
      uint64_t id = s->SubmitGet({kvtier::GetRequest{Key(next), (*bufs)[slot]->p, size}});
      inflight.emplace_back(id, slot);
      ++next;
    }
    std::vector<kvtier::JobResult> results;
    s->WaitAny(&results, depth, -1);
    for (const auto& r : results) {
      ok = ok && r.all_ok();
      auto it = std::find_if(inflight.begin(), inflight.end(),
                             [&](const auto& e) { return e.first == r.job_id; });
      free_slots.push_back(it->second);
      inflight.erase(it);
      ++done;
    }
  }
  const double secs = Now() - t0;
  return ok ? static_cast<double>(size) * count / secs / 1e9 : 0;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, direct = "auto";
  size_t size = 8 << 20;
  size_t segment = kvtier::kDefaultSegmentBytes;
  int count = 64, threads = 4, rounds = 5;
  double seconds = 2;
  if (argc >= 2 && std::string(argv[1]) == "--micro") {
    if (argc == 4 && std::string(argv[2]) == "--seconds") seconds = std::atof(argv[3]);
    return Micro(seconds);
  }
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--dir")
      dir = v;
    else if (a == "--size")
      size = ParseSize(v);
    else if (a == "--count")
      count = std::atoi(v.c_str());
    else if (a == "--threads")
      threads = std::atoi(v.c_str());
    else if (a == "--rounds")
      rounds = std::atoi(v.c_str());
    else if (a == "--direct")
      direct = v;
    else if (a == "--segment")
      segment = ParseSize(v);
    else {
      std::fprintf(stderr, "unknown flag %s\n", a.c_str());
      return 2;
    }
  }
  if (dir.empty() || count < 1 || threads < 1 || rounds < 1 || size == 0) {
    std::fprintf(stderr,
                 "usage: %s --dir D [--size 8M] [--count N] [--threads T] [--rounds R] "
                 "[--direct auto|on|off] [--segment BYTES]\n       %s --micro [--seconds S]\n",
                 argv[0], argv[0]);
    return 2;
  }
  namespace fs = std::filesystem;
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string keys = dir + "/keys";
  {
    std::mt19937_64 rng(std::random_device{}());
    std::ofstream f(keys);
    for (int i = 0; i < 4; ++i) {
      char hex[17];
      std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(rng()));
      f << hex;
    }
    f << "\n";
  }
  ::chmod(keys.c_str(), 0600);

  kvtier::Fingerprint fp;
  kvtier::Fingerprint::FromJson(R"({"model":"bench/crypto","kv_dtype":"bf16"})", &fp);
  const char* names[3] = {"plain", "mac", "encrypt"};
  std::unique_ptr<Store> stores[3];
  double store_gbps[3] = {};
  Buf data(size);
  std::mt19937 rng(1);
  for (size_t i = 0; i < size; ++i) data.p[i] = static_cast<char>(rng());
  for (int m = 0; m < 3; ++m) {
    kvtier::StoreOptions o;
    o.read_threads = threads;
    o.write_threads = threads;
    o.direct_io = direct == "on"    ? kvtier::DirectIoMode::kOn
                  : direct == "off" ? kvtier::DirectIoMode::kOff
                                    : kvtier::DirectIoMode::kAuto;
    o.max_queued_write_bytes = UINT64_MAX;
    o.segment_bytes = segment;
    if (m > 0) o.auth_key_file = keys;
    o.encrypt = m == 2;
    fs::create_directories(dir + "/" + names[m]);
    kvtier::Status s = Store::Open(dir + "/" + names[m], fp, o, &stores[m]);
    if (!s.ok()) {
      std::fprintf(stderr, "open %s: %s\n", names[m], s.ToString().c_str());
      return 1;
    }
    std::vector<kvtier::PutRequest> puts;
    for (int i = 0; i < count; ++i) puts.push_back({Key(i), data.p, size});
    const double t0 = Now();
    kvtier::JobResult r;
    if (!stores[m]->Wait(stores[m]->SubmitPut(std::move(puts)), &r, -1) || !r.all_ok()) {
      std::fprintf(stderr, "store %s failed\n", names[m]);
      return 1;
    }
    store_gbps[m] = static_cast<double>(size) * count / (Now() - t0) / 1e9;
  }
  std::vector<std::unique_ptr<Buf>> bufs;
  for (int i = 0; i < threads; ++i) bufs.push_back(std::make_unique<Buf>(size));
  std::vector<double> gbps[3], mac_ratio, enc_ratio;
  double cpu_s[3] = {};
  for (int r = 0; r < rounds; ++r) {
    double g[3];
    for (int k = 0; k < 3; ++k) {
      int m = (r + k) % 3;
      const double c0 = CpuSeconds();
      g[m] = LoadAll(stores[m].get(), count, size, &bufs);
      cpu_s[m] += CpuSeconds() - c0;
      if (g[m] == 0) {
        std::fprintf(stderr, "load %s missed\n", names[m]);
        return 1;
      }
      gbps[m].push_back(g[m]);
    }
    mac_ratio.push_back(g[1] / g[0]);
    enc_ratio.push_back(g[2] / g[0]);
  }
  const double loaded_gb = static_cast<double>(size) * count * rounds / 1e9;
  std::printf(
      "{\"dir\":\"%s\",\"size\":%zu,\"segment\":%zu,\"count\":%d,\"threads\":%d,\"rounds\":%d,"
      "\"io_backend\":\"%s\",\"store_mac\":\"%s\","
      "\"load_gbps\":{\"plain\":%.3f,\"mac\":%.3f,\"encrypt\":%.3f},"
      "\"store_gbps\":{\"plain\":%.3f,\"mac\":%.3f,\"encrypt\":%.3f},"
      "\"ratio_mac\":%.3f,\"ratio_encrypt\":%.3f,"
      "\"ratio_mac_min\":%.3f,\"ratio_encrypt_min\":%.3f,"
      "\"load_cpu_s_per_gb\":{\"plain\":%.4f,\"mac\":%.4f,\"encrypt\":%.4f}}\n",
      dir.c_str(), size, segment, count, threads, rounds, stores[0]->io_backend_name(),
      kvtier::FasterMacAlgorithm() == kvtier::AuthAlgorithm::kAes256Gcm ? "gmac"
                                                                        : "chacha20-poly1305",
      Median(gbps[0]), Median(gbps[1]), Median(gbps[2]), store_gbps[0], store_gbps[1],
      store_gbps[2], Median(mac_ratio), Median(enc_ratio),
      *std::min_element(mac_ratio.begin(), mac_ratio.end()),
      *std::min_element(enc_ratio.begin(), enc_ratio.end()), cpu_s[0] / loaded_gb,
      cpu_s[1] / loaded_gb, cpu_s[2] / loaded_gb);
  for (auto& s : stores) s->Close();
  fs::remove_all(dir);
  return 0;
}
