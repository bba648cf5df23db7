// Every kind of bad file under a chunk name is a miss plus a counter: never a
// crash, never wrong bytes, and (for files) the bad file is removed.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <tuple>

#include "layout/layout.h"
#include "test_util.h"

namespace kvtier {
namespace {

namespace fs = std::filesystem;
using test::Metric;
using test::OpenStore;
using test::Payload;
using test::ScratchDir;

constexpr size_t kLen = 10000;

// (direct I/O mode, transfer segment size): with 4 KiB segments a chunk is
// read in several transfers (all at once with io_uring and O_DIRECT), so
// damage after the first segment is checked on every read plan.
class Corruption : public ::testing::TestWithParam<std::tuple<DirectIoMode, size_t>> {
 protected:
  void SetUp() override {
    StoreOptions opts;
    opts.direct_io = std::get<0>(GetParam());
    opts.segment_bytes = std::get<1>(GetParam());
    store_ = OpenStore(dir_.path(), opts);
    data_ = Payload(kLen, 42);
    ASSERT_TRUE(store_->Put("victim", data_.data(), kLen));
    path_ = LocateChunk(store_->namespace_dir(), "victim").path;
  }

  // Loads "victim" into a buffer pre-filled with a sentinel; expects a miss.
  void ExpectMiss(const std::string& counter) {
    std::vector<char> out(kLen, 'S');
    EXPECT_FALSE(store_->Get("victim", out.data(), kLen));
    if (!counter.empty()) {
      EXPECT_EQ(Metric(*store_, counter), 1) << counter;
    }
    EXPECT_EQ(store_->Contains({"victim"}),
              std::vector<bool>{fs::is_regular_file(fs::symlink_status(path_))});
  }

  void FlipByte(size_t offset) {
    std::fstream f(path_, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x10);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(&c, 1);
  }

  ScratchDir dir_;
  std::unique_ptr<Store> store_;
  std::vector<char> data_;
  std::string path_;
};

TEST_P(Corruption, FlippedBitInPayload) {
  FlipByte(4096 + 1234);
  ExpectMiss("verify_failures_total.payload_checksum");
  EXPECT_FALSE(fs::exists(path_));
  EXPECT_EQ(Metric(*store_, "corrupt_removed_total"), 1);
  // The store works again once a good copy is written.
  ASSERT_TRUE(store_->Put("victim", data_.data(), kLen));
  std::vector<char> out(kLen);
  ASSERT_TRUE(store_->Get("victim", out.data(), kLen));
  EXPECT_EQ(out, data_);
}

TEST_P(Corruption, FlippedBitInLastSegment) {
  FlipByte(4096 + kLen - 3);
  ExpectMiss("verify_failures_total.payload_checksum");
  EXPECT_FALSE(fs::exists(path_));
}

TEST_P(Corruption, FlippedBitInHeader) {
  FlipByte(20);
  ExpectMiss("verify_failures_total.header_checksum");
  EXPECT_FALSE(fs::exists(path_));
}

TEST_P(Corruption, FlippedMagic) {
  FlipByte(0);
  ExpectMiss("verify_failures_total.bad_magic");
}

TEST_P(Corruption, Truncated) {
  fs::resize_file(path_, 4096 + 5000);
  ExpectMiss("verify_failures_total.truncated");
  EXPECT_FALSE(fs::exists(path_));
}

TEST_P(Corruption, TruncatedIntoHeader) {
  fs::resize_file(path_, 100);
  ExpectMiss("verify_failures_total.truncated");
}

TEST_P(Corruption, ZeroLength) {
  fs::resize_file(path_, 0);
  ExpectMiss("verify_failures_total.truncated");
}

TEST_P(Corruption, OtherKeyMovedIntoPlace) {
  std::vector<char> other = Payload(kLen, 7);
  ASSERT_TRUE(store_->Put("other", other.data(), kLen));
  fs::rename(LocateChunk(store_->namespace_dir(), "other").path, path_);
  ExpectMiss("verify_failures_total.key_mismatch");
}

TEST_P(Corruption, OtherFingerprintMovedIntoPlace) {
  auto foreign = OpenStore(dir_.path(), {}, test::TestFingerprint("another-model"));
  std::vector<char> other = Payload(kLen, 7);
  ASSERT_TRUE(foreign->Put("victim", other.data(), kLen));
  fs::copy_file(LocateChunk(foreign->namespace_dir(), "victim").path, path_,
                fs::copy_options::overwrite_existing);
  ExpectMiss("verify_failures_total.fingerprint_mismatch");
}

TEST_P(Corruption, DirectoryInPlace) {
  fs::remove(path_);
  fs::create_directory(path_);
  ExpectMiss("verify_failures_total.not_regular_file");
  EXPECT_TRUE(fs::is_directory(path_));                     // left alone
  EXPECT_FALSE(store_->Put("victim", data_.data(), kLen));  // cannot publish over it
}

TEST_P(Corruption, SymlinkInPlace) {
  ScratchDir outside;
  std::string target = outside.path() + "/target";
  std::vector<char> other = Payload(kLen, 7);
  {
    auto foreign = OpenStore(outside.path());  // a valid chunk of the same fingerprint
    ASSERT_TRUE(foreign->Put("victim", data_.data(), kLen));
    fs::copy_file(LocateChunk(foreign->namespace_dir(), "victim").path, target);
  }
  fs::remove(path_);
  fs::create_symlink(target, path_);
  ExpectMiss("verify_failures_total.not_regular_file");
  EXPECT_TRUE(fs::exists(target));                      // the target is never touched
  EXPECT_FALSE(fs::exists(fs::symlink_status(path_)));  // the link itself is removed
}

TEST_P(Corruption, SymlinkedFanoutDirectory) {
  ScratchDir outside;
  std::string leaf = fs::path(path_).parent_path().string();
  fs::rename(leaf, outside.path() + "/moved");
  fs::create_symlink(outside.path() + "/moved", leaf);
  std::vector<char> out(kLen, 'S');
  EXPECT_FALSE(store_->Get("victim", out.data(), kLen));
  EXPECT_TRUE(fs::exists(outside.path() + "/moved/" + fs::path(path_).filename().string()));
  EXPECT_FALSE(store_->Put("victim", data_.data(), kLen));
}

TEST_P(Corruption, FifoInPlace) {
  fs::remove(path_);
  ASSERT_EQ(::mkfifo(path_.c_str(), 0644), 0);
  ExpectMiss("verify_failures_total.not_regular_file");
}

TEST_P(Corruption, LengthFieldLies) {
  // A header that is self-consistent but claims another length.
  std::vector<char> other = Payload(kLen + 1, 7);
  ASSERT_TRUE(store_->Put("victim2", other.data(), kLen + 1));
  fs::rename(LocateChunk(store_->namespace_dir(), "victim2").path, path_);
  ExpectMiss("verify_failures_total.key_mismatch");
}

TEST_P(Corruption, TimestampsBeyondInt64NanosStillHit) {
  // A replica's clock, or a hostile writer, may stamp a chunk with any time.
  struct timespec ts[2] = {{static_cast<time_t>(13'569'465'600), 0},  // year 2400
                           {static_cast<time_t>(-86'400), 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path_.c_str(), ts, 0), 0);
  std::vector<char> out(kLen, 'S');
  EXPECT_TRUE(store_->Get("victim", out.data(), kLen));
  EXPECT_EQ(out, data_);
  EXPECT_TRUE(store_->Put("victim", data_.data(), kLen));  // exists: no rewrite
  EXPECT_EQ(Metric(*store_, "get_hits_total"), 1);
}

INSTANTIATE_TEST_SUITE_P(Modes, Corruption,
                         ::testing::Combine(::testing::Values(DirectIoMode::kOff,
                                                              DirectIoMode::kAuto),
                                            ::testing::Values(kDefaultSegmentBytes, 4096)));

TEST(NamespaceFile, GarbageFingerprintJsonIsRepaired) {
  ScratchDir dir;
  std::string ns;
  std::vector<char> data = Payload(100, 1), out(100);
  {
    auto store = OpenStore(dir.path());
    ns = store->namespace_dir();
    ASSERT_TRUE(store->Put("k", data.data(), data.size()));
  }
  std::ofstream(ns + "/fingerprint.json") << "\x01garbage{{{";
  auto store = OpenStore(dir.path());
  EXPECT_EQ(Metric(*store, "fingerprint_repaired_total"), 1);
  EXPECT_TRUE(store->usable());
  ASSERT_TRUE(store->Get("k", out.data(), out.size()));
  EXPECT_EQ(out, data);
  std::ifstream in(ns + "/fingerprint.json");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text, test::TestFingerprint().canonical() + "\n");
}

TEST(NamespaceFile, ConflictingFingerprintDisablesTheNamespace) {
  ScratchDir dir;
  std::string ns;
  std::vector<char> data = Payload(100, 1), out(100);
  {
    auto store = OpenStore(dir.path());
    ns = store->namespace_dir();
    ASSERT_TRUE(store->Put("k", data.data(), data.size()));
  }
  std::ofstream(ns + "/fingerprint.json") << R"({"model":"someone-else"})";
  auto store = OpenStore(dir.path());
  EXPECT_FALSE(store->usable());
  EXPECT_EQ(Metric(*store, "namespace_conflict"), 1);
  EXPECT_FALSE(store->Get("k", out.data(), out.size()));
  EXPECT_FALSE(store->Put("k2", data.data(), data.size()));
  EXPECT_EQ(store->Contains({"k"}), std::vector<bool>{false});
}

TEST(NamespaceFile, DirectoryAsFingerprintJson) {
  ScratchDir dir;
  std::string ns;
  {
    auto store = OpenStore(dir.path());
    ns = store->namespace_dir();
  }
  fs::remove(ns + "/fingerprint.json");
  fs::create_directory(ns + "/fingerprint.json");
  std::unique_ptr<Store> store;
  Status s = Store::Open(dir.path(), test::TestFingerprint(), {}, &store);
  // Either repaired or refused cleanly; never a crash.
  if (s.ok()) {
    EXPECT_TRUE(store->usable());
  }
}

}  // namespace
}  // namespace kvtier
