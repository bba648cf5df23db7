// Helpers shared by the unit tests (the evictor's included): scratch
// directories, a private tmpfs, fingerprints, deterministic payloads.
#ifndef KVTIER_TESTS_TEST_UTIL_H_
#define KVTIER_TESTS_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>
#include <cstdint>

#include <cstdlib>
#include <filesystem>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "kvtier/fingerprint.h"
#include "kvtier/store.h"

namespace kvtier::test {

// A fresh directory removed (recursively, without following symlinks) at
// scope exit.
class ScratchDir {
 public:
  explicit ScratchDir(const std::string& base = "") {
    std::string root = base;
    if (root.empty()) {
      const char* t = std::getenv("TMPDIR");
      root = t != nullptr ? t : "/tmp";
    }
    std::string templ = root + "/kvtier-test-XXXXXX";
    path_ = ::mkdtemp(templ.data()) != nullptr ? templ : "";
  }
  ~ScratchDir() {
    std::error_code ec;
    // Tests that take permissions away (EACCES cases) must not leak the dir.
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                 std::filesystem::perm_options::add, ec);
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A tmpfs of `size` (mount's syntax: "1m", "64m") on a fresh directory;
// ok() is false where mounting is not permitted (not root): skip then.
class TmpfsMount {
 public:
  explicit TmpfsMount(const std::string& size) {
    std::string opts = "size=" + size + ",mode=0755";
    ok_ = ::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0, opts.c_str()) == 0;
  }
  ~TmpfsMount() {
    if (ok_) ::umount2(dir_.path().c_str(), MNT_DETACH);
  }
  TmpfsMount(const TmpfsMount&) = delete;
  TmpfsMount& operator=(const TmpfsMount&) = delete;
  bool ok() const { return ok_; }
  const std::string& path() const { return dir_.path(); }

 private:
  ScratchDir dir_;
  bool ok_ = false;
};

inline Fingerprint TestFingerprint(const std::string& model = "test/model-a") {
  Fingerprint fp;
  Status s = Fingerprint::FromJson(
      R"({"model":")" + model + R"(","kv_dtype":"bfloat16","block_size":16,"tp":1,"rank":0})", &fp);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return fp;
}

inline std::vector<char> Payload(size_t len, uint32_t seed) {
  std::vector<char> v(len);
  std::mt19937 rng(seed);
  for (auto& c : v) c = static_cast<char>(rng());
  return v;
}

inline std::unique_ptr<Store> OpenStore(const std::string& root, StoreOptions opts = {},
                                        const Fingerprint& fp = TestFingerprint()) {
  if (opts.read_threads == 16) opts.read_threads = 2;
  if (opts.write_threads == 16) opts.write_threads = 2;
  std::unique_ptr<Store> store;
  Status s = Store::Open(root, fp, opts, &store);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return store;
}

inline double Metric(const Store& store, const std::string& name) {
  auto m = store.MetricsMap();
  auto it = m.find(name);
  return it == m.end() ? -1 : it->second;
}

}  // namespace kvtier::test

namespace kvtier {
// gtest prints an outcome by name.
inline void PrintTo(KeyOutcome outcome, std::ostream* os) { *os << KeyOutcomeName(outcome); }
}  // namespace kvtier

#endif  // KVTIER_TESTS_TEST_UTIL_H_
