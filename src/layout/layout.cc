#include "layout/layout.h"

#include "util/hash.h"

namespace kvtier {

namespace {
bool IsHexDigit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
}  // namespace

std::string ChunkFileName(std::string_view key) {
  if (!key.empty() && key.size() <= kMaxDirectKey) {
    return HexEncode(key.data(), key.size()) + kChunkSuffix;
  }
  std::string name = "h";
  name.append(Xxh3_128(key.data(), key.size()).ToHex()).append(kChunkSuffix);
  return name;
}

ChunkLocation LocateChunk(const std::string& ns_dir, std::string_view key) {
  uint64_t h = Xxh3_64(key);
  unsigned char top[2] = {static_cast<unsigned char>(h >> 56), static_cast<unsigned char>(h >> 48)};
  ChunkLocation loc;
  loc.leaf_dir.reserve(ns_dir.size() + 6);
  loc.leaf_dir.append(ns_dir).append("/").append(HexEncode(top, 1));
  loc.leaf_dir.append("/").append(HexEncode(top + 1, 1));
  loc.name = ChunkFileName(key);
  loc.path = loc.leaf_dir + "/" + loc.name;
  return loc;
}

Status CreateLeafDir(Env* env, const ChunkLocation& loc, const CreatePerms& perms) {
  Status s = env->CreateDir(loc.leaf_dir.substr(0, loc.leaf_dir.size() - 3), perms);  // ns/aa
  return s.ok() ? env->CreateDir(loc.leaf_dir, perms) : s;
}

bool IsChunkFileName(std::string_view name) {
  constexpr size_t kSuffix = sizeof(kChunkSuffix) - 1;
  if (name.size() <= kSuffix || name.substr(name.size() - kSuffix) != kChunkSuffix) return false;
  std::string_view stem = name.substr(0, name.size() - kSuffix);
  if (stem.front() == 'h') {
    if (stem.size() != 33) return false;
    stem.remove_prefix(1);
  } else if (stem.size() % 2 != 0 || stem.size() > 2 * kMaxDirectKey) {
    return false;
  }
  for (char c : stem) {
    if (!IsHexDigit(c)) return false;
  }
  return true;
}

bool IsTempFileName(std::string_view name) {
  return name.substr(0, sizeof(kTempPrefix) - 1) == kTempPrefix;
}

bool IsFanoutDirName(std::string_view name) {
  return name.size() == 2 && IsHexDigit(name[0]) && IsHexDigit(name[1]);
}

}  // namespace kvtier
