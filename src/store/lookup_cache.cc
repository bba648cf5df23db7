#include "store/lookup_cache.h"

#include <cstdint>

#include "util/hash.h"

namespace kvtier {

LookupCache::LookupCache(int64_t ttl_ns, size_t max_entries)
    : ttl_ns_(ttl_ns), max_per_shard_(max_entries / kShards + 1) {}

LookupCache::Shard& LookupCache::ShardFor(std::string_view key) {
  return shards_[Xxh3_64(key) % kShards];
}

bool LookupCache::Get(std::string_view key, int64_t now_ns, bool* exists) {
  if (ttl_ns_ <= 0) return false;
  Shard& shard = ShardFor(key);
  MutexLock lock(&shard.mu);
  auto it = shard.map.find(key);
  if (it == shard.map.end()) return false;
  if (it->second.expires_ns < now_ns) {
    shard.map.erase(it);
    return false;
  }
  *exists = it->second.exists;
  return true;
}

void LookupCache::Set(std::string_view key, bool exists, int64_t now_ns) {
  if (ttl_ns_ <= 0) return;
  Shard& shard = ShardFor(key);
  MutexLock lock(&shard.mu);
  if (shard.map.size() >= max_per_shard_) shard.map.clear();  // bounded: forget, don't grow
  // Saturating: a ttl of "forever" must not wrap into the past.
  int64_t expires = ttl_ns_ > INT64_MAX - now_ns ? INT64_MAX : now_ns + ttl_ns_;
  shard.map[std::string(key)] = Entry{exists, expires};
}

void LookupCache::Erase(std::string_view key) {
  Shard& shard = ShardFor(key);
  MutexLock lock(&shard.mu);
  auto it = shard.map.find(key);
  if (it != shard.map.end()) shard.map.erase(it);
}

}  // namespace kvtier
