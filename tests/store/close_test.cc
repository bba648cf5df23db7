// Close() from several threads at once: the Store header calls it safe, and
// the StoreHandle's destructor calls it again. Run under ThreadSanitizer
// (tools/test.sh) this is what catches a Close() that returns before the
// workers it did not join have finished with the store.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "test_util.h"

namespace kvtier {
namespace {

using test::Metric;
using test::OpenStore;
using test::Payload;
using test::ScratchDir;

TEST(Close, ConcurrentCallersAllReturnAfterTheWorkersExit) {
  ScratchDir dir;
  for (int round = 0; round < 20; ++round) {
    StoreOptions opts;
    opts.read_threads = 2;
    opts.write_threads = 2;
    auto store = OpenStore(dir.path(), opts);
    ASSERT_NE(store, nullptr);
    std::vector<char> data = Payload(4096, static_cast<uint32_t>(round));
    // Work in the queues while the closers start.
    std::vector<PutRequest> puts;
    for (int i = 0; i < 8; ++i) {
      puts.push_back({"r" + std::to_string(round) + "-" + std::to_string(i), data.data(), 4096});
    }
    ASSERT_NE(store->SubmitPut(puts), 0u);
    std::atomic<int> go{0};
    std::vector<std::thread> closers;
    std::atomic<int> workers_left{0};
    for (int t = 0; t < 3; ++t) {
      closers.emplace_back([&] {
        go.fetch_add(1);
        while (go.load() < 3) std::this_thread::yield();
        store->Close();
        // Every caller, not only the one that joined the workers, sees them
        // gone once its Close() has returned.
        if (Metric(*store, "workers") != 0) workers_left.fetch_add(1);
      });
    }
    for (auto& t : closers) t.join();
    EXPECT_EQ(workers_left.load(), 0);
    std::vector<char> buf(16);
    EXPECT_EQ(store->SubmitGet({{"x", buf.data(), buf.size()}}), 0u);
  }
}

}  // namespace
}  // namespace kvtier
