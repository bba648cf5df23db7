// Readers loading chunks through kvtier::Store while the evictor deletes
// them get the exact bytes or a miss: never wrong data, never a crash.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "evictor_test_util.h"
#include "kvtier/store.h"

namespace kvtier::evictor {
namespace {

using namespace test;  // NOLINT

constexpr size_t kPayload = 8192;

std::string Payload(int key) {
  std::string p(kPayload, '\0');
  uint64_t x = 0x9E3779B97F4A7C15ULL * (key + 1);
  for (size_t i = 0; i < p.size(); ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    p[i] = static_cast<char>(x);
  }
  return p;
}

TEST(EvictorWithStore, ReadersSeeExactDataOrMiss) {
  ScratchDir dir;
  Fingerprint fp;
  ASSERT_TRUE(Fingerprint::FromJson(R"({"model":"reader-test"})", &fp).ok());
  StoreOptions so;
  so.read_threads = 2;
  so.write_threads = 2;
  so.io_backend = IoBackendKind::kThreadPool;
  so.lookup_cache_ns = 0;
  std::unique_ptr<Store> store;
  Status s = Store::Open(dir.path(), fp, so, &store);
  ASSERT_TRUE(s.ok()) << s.ToString();
  std::atomic<int> written{0};
  for (int k = 0; k < 200; ++k) {
    std::string p = Payload(k);
    ASSERT_TRUE(store->Put("key-" + std::to_string(k), p.data(), p.size()));
    written = k + 1;
  }

  auto logger = QuietLogger();
  EvictorOptions o = TestOptions(dir.path(), logger.get());
  o.config.quota_bytes = 150 * (kPayload + 4096);  // well below what is written
  o.config.high_watermark = 0.8;
  o.config.low_watermark = 0.5;
  o.config.poll_interval_s = 0.01;
  std::unique_ptr<Evictor> ev;
  ASSERT_TRUE(Evictor::Open(o, &ev).ok());
  std::thread daemon([&] { EXPECT_TRUE(ev->Run().ok()); });

  std::atomic<bool> stop{false};
  std::atomic<uint64_t> hits{0}, misses{0}, wrong{0};
  std::thread writer([&] {
    for (int k = 200; !stop; ++k) {
      std::string p = Payload(k);
      store->Put("key-" + std::to_string(k), p.data(), p.size());
      written = k + 1;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&, r] {
      std::mt19937 rng(r);
      std::string buf(kPayload, '\0');
      while (!stop) {
        int k = static_cast<int>(rng() % written.load());
        std::fill(buf.begin(), buf.end(), '\x5a');
        if (store->Get("key-" + std::to_string(k), buf.data(), buf.size())) {
          ++hits;
          if (buf != Payload(k)) ++wrong;
        } else {
          ++misses;
        }
      }
    });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  stop = true;
  writer.join();
  for (auto& t : readers) t.join();
  ev->Stop();
  daemon.join();
  store->Close();

  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_GT(hits.load(), 0u);
  EXPECT_GT(misses.load(), 0u);
  EXPECT_GT(ev->metrics().files_evicted->value(), 50u);
}

}  // namespace
}  // namespace kvtier::evictor
