// Helpers shared by the evictor tests (scratch directories and the private
// tmpfs come from tests/test_util.h): kvtier/vLLM trees with chosen atimes and mtimes.
#ifndef KVTIER_TESTS_EVICTOR_EVICTOR_TEST_UTIL_H_
#define KVTIER_TESTS_EVICTOR_EVICTOR_TEST_UTIL_H_

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <cstdint>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "evictor/evictor.h"
#include "kvtier/fingerprint.h"
#include "layout/layout.h"
#include "test_util.h"

namespace kvtier::evictor::test {

constexpr int64_t kSec = 1000000000LL;

inline int64_t WallNs() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * kSec + ts.tv_nsec;
}

using kvtier::test::ScratchDir;
using kvtier::test::TmpfsMount;

inline void SetTimes(const std::string& path, int64_t atime_ns, int64_t mtime_ns) {
  struct timespec ts[2];
  ts[0].tv_sec = atime_ns / kSec;
  ts[0].tv_nsec = atime_ns % kSec;
  ts[1].tv_sec = mtime_ns / kSec;
  ts[1].tv_nsec = mtime_ns % kSec;
  ::utimensat(AT_FDCWD, path.c_str(), ts, AT_SYMLINK_NOFOLLOW);
}

inline bool Exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

inline bool WriteFile(const std::string& path, size_t size) {
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  std::string data(size, 'x');
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size());
  ::close(fd);
  return ok;
}

inline void MkdirAll(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
}

// A kvtier namespace directory with its fingerprint.json.
inline std::string MakeKvtierNamespace(const std::string& root, const std::string& model = "m") {
  Fingerprint fp;
  Fingerprint::FromJson("{\"model\":\"" + model + "\"}", &fp);
  std::string ns = root + "/" + fp.namespace_name();
  MkdirAll(ns);
  WriteFile(ns + "/fingerprint.json", 16);
  return ns;
}

// Writes a chunk of `size` bytes for `key` and sets its times; returns its path.
inline std::string WriteKvtierChunk(const std::string& ns, const std::string& key, size_t size,
                                    int64_t atime_ns, int64_t mtime_ns) {
  ChunkLocation loc = LocateChunk(ns, key);
  MkdirAll(loc.leaf_dir);
  WriteFile(loc.path, size);
  SetTimes(loc.path, atime_ns, mtime_ns);
  return loc.path;
}

// vLLM fs-tier layout: <ns>/<hhh>/<hh>_g<group>/<hash>.bin
inline std::string VllmChunkPath(const std::string& ns, const std::string& hash_hex,
                                 int group = 0) {
  return ns + "/" + hash_hex.substr(0, 3) + "/" + hash_hex.substr(3, 2) + "_g" +
         std::to_string(group) + "/" + hash_hex + ".bin";
}

inline std::string WriteVllmChunk(const std::string& ns, const std::string& hash_hex, size_t size,
                                  int64_t atime_ns, int64_t mtime_ns) {
  std::string p = VllmChunkPath(ns, hash_hex);
  MkdirAll(std::filesystem::path(p).parent_path().string());
  WriteFile(p, size);
  SetTimes(p, atime_ns, mtime_ns);
  return p;
}

inline double FsUsageRatio(const std::string& path) {
  struct statvfs v;
  if (::statvfs(path.c_str(), &v) != 0) return -1;
  return 1.0 - static_cast<double>(v.f_bavail) / static_cast<double>(v.f_blocks);
}

// Options for a test evictor: quiet, no HTTP, no age limits, no rate limit.
inline EvictorOptions TestOptions(const std::string& root, Logger* logger) {
  EvictorOptions o;
  o.config.root = root;
  o.config.min_age_s = 0;
  o.config.tmp_grace_s = 3600;
  o.config.dir_grace_s = 3600;
  o.config.max_delete_rate = 0;
  o.config.poll_interval_s = 0.05;
  o.config.port = 0;
  o.config.replica_index = 0;
  o.logger = logger;
  return o;
}

// One --once pass with options `o` that want everything gone (quota of one
// byte, low mark 0); Open and RunOnce are expected to succeed.
inline std::unique_ptr<Evictor> EvictAll(EvictorOptions o) {
  o.config.quota_bytes = 1;
  o.config.low_watermark = 0;
  o.config.once = true;
  std::unique_ptr<Evictor> ev;
  Status s = Evictor::Open(o, &ev);
  EXPECT_TRUE(s.ok()) << s.ToString();
  if (ev) {
    s = ev->RunOnce();
    EXPECT_TRUE(s.ok()) << s.ToString();
  }
  return ev;
}

inline std::unique_ptr<Logger> QuietLogger() {
  auto l = std::make_unique<Logger>();
  l->set_level(LogLevel::kError);
  l->set_sink([](const std::string&) {});
  return l;
}

}  // namespace kvtier::evictor::test

#endif  // KVTIER_TESTS_EVICTOR_EVICTOR_TEST_UTIL_H_
