// Round trips through the public Store API across backends, I/O modes,
// sizes and buffer alignments.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "layout/layout.h"
#include "test_util.h"
#include "util/aligned_buffer.h"

namespace kvtier {
namespace {

using test::Metric;
using test::OpenStore;
using test::Payload;
using test::ScratchDir;

struct Mode {
  IoBackendKind backend;
  DirectIoMode direct;
};

class StoreModes : public ::testing::TestWithParam<Mode> {};

TEST_P(StoreModes, RoundTripSizesAndAlignments) {
  ScratchDir dir;
  StoreOptions opts;
  opts.io_backend = GetParam().backend;
  opts.direct_io = GetParam().direct;
  opts.segment_bytes = 64 * 1024;  // several segments per chunk
  auto store = OpenStore(dir.path(), opts);
  ASSERT_NE(store, nullptr);
  uint32_t seed = 1;
  for (size_t len : {size_t{0}, size_t{1}, size_t{4095}, size_t{4096}, size_t{4097},
                     size_t{65536 * 3 + 17}, size_t{1 << 20}}) {
    for (size_t misalign : {size_t{0}, size_t{3}}) {
      std::string key = "key-" + std::to_string(len) + "-" + std::to_string(misalign);
      std::vector<char> data = Payload(len + 1, seed++);  // +1: never a null data()
      AlignedBuffer src(len + 8192), dst(len + 8192);
      std::memcpy(src.data() + misalign, data.data(), len);
      ASSERT_TRUE(store->Put(key, src.data() + misalign, len)) << key;
      std::memset(dst.data(), 0, len + 8192);
      ASSERT_TRUE(store->Get(key, dst.data() + misalign, len)) << key;
      EXPECT_EQ(std::memcmp(dst.data() + misalign, data.data(), len), 0) << key;
      // A second put of the same key is a skip, not a rewrite.
      ASSERT_TRUE(store->Put(key, src.data() + misalign, len));
    }
  }
  EXPECT_EQ(Metric(*store, "puts_existing_total"), 14);
  EXPECT_EQ(Metric(*store, "get_hits_total"), 14);
  EXPECT_EQ(Metric(*store, "verify_failures_total.payload_checksum"), 0);
  std::vector<char> buf(10);
  EXPECT_FALSE(store->Get("absent", buf.data(), buf.size()));
  EXPECT_EQ(Metric(*store, "get_misses_total"), 1);
  if (GetParam().direct == DirectIoMode::kOn) {
    EXPECT_TRUE(store->load_direct_io());
    EXPECT_TRUE(store->store_direct_io());
  }
}

INSTANTIATE_TEST_SUITE_P(AllModes, StoreModes,
                         ::testing::Values(Mode{IoBackendKind::kThreadPool, DirectIoMode::kOff},
                                           Mode{IoBackendKind::kThreadPool, DirectIoMode::kAuto},
                                           Mode{IoBackendKind::kAuto, DirectIoMode::kOff},
                                           Mode{IoBackendKind::kAuto, DirectIoMode::kAuto}));

TEST(Store, ChunkFilesHaveTheDocumentedShape) {
  ScratchDir dir;
  auto store = OpenStore(dir.path());
  std::vector<char> data = Payload(5000, 9);
  ASSERT_TRUE(store->Put("abc", data.data(), data.size()));
  std::string path =
      store->namespace_dir() + "/" +
      LocateChunk(store->namespace_dir(), "abc").path.substr(store->namespace_dir().size() + 1);
  EXPECT_EQ(std::filesystem::file_size(path), 4096u + 8192u);
  EXPECT_TRUE(std::filesystem::exists(store->namespace_dir() + "/fingerprint.json"));
  EXPECT_EQ(std::filesystem::path(path).filename().string(), "616263.kv");
  // No temp files remain after a publish.
  for (auto& e : std::filesystem::recursive_directory_iterator(dir.path())) {
    EXPECT_FALSE(IsTempFileName(e.path().filename().string())) << e.path();
  }
}

TEST(Store, FingerprintsAreIsolated) {
  ScratchDir dir;
  auto a = OpenStore(dir.path(), {}, test::TestFingerprint("model-a"));
  auto b = OpenStore(dir.path(), {}, test::TestFingerprint("model-b"));
  std::vector<char> data = Payload(100, 1);
  ASSERT_TRUE(a->Put("k", data.data(), data.size()));
  std::vector<char> out(100);
  EXPECT_FALSE(b->Get("k", out.data(), out.size()));
  EXPECT_EQ(b->Contains({"k"}), std::vector<bool>{false});
  EXPECT_EQ(a->Contains({"k"}), std::vector<bool>{true});
  EXPECT_NE(a->namespace_dir(), b->namespace_dir());
}

TEST(Store, DefaultFingerprintIsRefusedByName) {
  ScratchDir dir;
  std::unique_ptr<Store> store;
  Status s = Store::Open(dir.path(), Fingerprint(), StoreOptions(), &store);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_NE(s.ToString().find("Fingerprint::FromJson"), std::string::npos) << s.ToString();
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));  // nothing created
}

TEST(Store, WrongSizeBufferIsAMiss) {
  ScratchDir dir;
  auto store = OpenStore(dir.path());
  std::vector<char> data = Payload(8192, 1);
  ASSERT_TRUE(store->Put("k", data.data(), data.size()));
  std::vector<char> small(4096);
  EXPECT_FALSE(store->Get("k", small.data(), small.size()));
  EXPECT_EQ(Metric(*store, "verify_failures_total.length_mismatch"), 1);
}

TEST(Store, HostileKeysRoundTripInsideTheRoot) {
  ScratchDir dir;
  auto store = OpenStore(dir.path());
  std::vector<std::string> keys = {"",
                                   "/",
                                   "..",
                                   "../../x",
                                   std::string("\0\0", 2),
                                   std::string(4096, '/'),
                                   std::string(4096, '\0')};
  for (size_t i = 0; i < keys.size(); ++i) {
    std::vector<char> data = Payload(1000, static_cast<uint32_t>(i));
    ASSERT_TRUE(store->Put(keys[i], data.data(), data.size())) << i;
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    std::vector<char> data = Payload(1000, static_cast<uint32_t>(i)), out(1000);
    ASSERT_TRUE(store->Get(keys[i], out.data(), out.size())) << i;
    EXPECT_EQ(out, data);
  }
  // Everything created lives under the namespace directory.
  size_t files = 0;
  for (auto& e : std::filesystem::recursive_directory_iterator(dir.path())) {
    if (e.is_regular_file()) ++files;
    EXPECT_EQ(e.path().string().rfind(store->namespace_dir(), 0), 0u) << e.path();
  }
  EXPECT_EQ(files, keys.size() + 1);  // + fingerprint.json
}

TEST(Store, AccessTimeIsRefreshedAtMostOncePerInterval) {
  ScratchDir dir;
  StoreOptions opts;
  opts.touch_interval_ns = 3600LL * 1000000000;
  auto store = OpenStore(dir.path(), opts);
  std::vector<char> data = Payload(100, 1), out(100);
  ASSERT_TRUE(store->Put("k", data.data(), data.size()));
  std::string path = LocateChunk(store->namespace_dir(), "k").path;
  ASSERT_TRUE(Env::Default()->SetAccessTime(path, 1000000000LL).ok());  // 1970
  ASSERT_TRUE(store->Get("k", out.data(), out.size()));
  FileInfo info;
  ASSERT_TRUE(Env::Default()->Stat(path, &info).ok());
  EXPECT_GT(info.atime_ns, 1000000000LL * 1000000);  // refreshed to ~now
  ASSERT_TRUE(store->Get("k", out.data(), out.size()));
  // Within the interval the store leaves it alone (the kernel's relatime
  // may still move it, so count the store's own refreshes).
  EXPECT_EQ(Metric(*store, "touches_total"), 1);
  // A put of an existing chunk refreshes a stale atime too.
  ASSERT_TRUE(Env::Default()->SetAccessTime(path, 1000000000LL).ok());
  ASSERT_TRUE(store->Put("k", data.data(), data.size()));
  ASSERT_TRUE(Env::Default()->Stat(path, &info).ok());
  EXPECT_GT(info.atime_ns, 1000000000LL * 1000000);
}

TEST(Store, MetricsText) {
  ScratchDir dir;
  auto store = OpenStore(dir.path());
  std::vector<char> data = Payload(100, 1);
  ASSERT_TRUE(store->Put("k", data.data(), data.size()));
  std::string text = store->MetricsText();
  EXPECT_NE(text.find("kvtier_puts_stored_total 1\n"), std::string::npos);
  EXPECT_NE(text.find("kvtier_put_seconds_count 1\n"), std::string::npos);
  EXPECT_NE(text.find("kvtier_verify_failures_total{reason=\"payload_checksum\"} 0"),
            std::string::npos);
}

}  // namespace
}  // namespace kvtier
