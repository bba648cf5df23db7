// LookupCache: short-lived existence verdicts, so a scheduler that asks about
// the same prefix blocks every few milliseconds does not send a metadata
// round-trip each time. Sharded, bounded (a full shard is cleared), and
// updated by the store's own puts and failed gets so a verdict it knows to be
// stale is dropped at once.
#ifndef KVTIER_SRC_STORE_LOOKUP_CACHE_H_
#define KVTIER_SRC_STORE_LOOKUP_CACHE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "util/mutex.h"

namespace kvtier {

class LookupCache {
 public:
  LookupCache(int64_t ttl_ns, size_t max_entries);

  // Returns true and sets *exists if a fresh verdict is cached.
  bool Get(std::string_view key, int64_t now_ns, bool* exists);
  void Set(std::string_view key, bool exists, int64_t now_ns);
  void Erase(std::string_view key);

 private:
  static constexpr int kShards = 16;
  struct Entry {
    bool exists;
    int64_t expires_ns;
  };
  // Transparent hashing: look up by string_view without building a string.
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view k) const { return std::hash<std::string_view>{}(k); }
  };
  struct Shard {
    Mutex mu;
    std::unordered_map<std::string, Entry, KeyHash, std::equal_to<>> map GUARDED_BY(mu);
  };
  Shard& ShardFor(std::string_view key);

  int64_t ttl_ns_;
  size_t max_per_shard_;
  std::array<Shard, kShards> shards_;
};

}  // namespace kvtier

#endif  // KVTIER_SRC_STORE_LOOKUP_CACHE_H_
