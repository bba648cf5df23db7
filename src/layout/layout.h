// Where chunks live on the shared directory:
//
//   ROOT/<model-slug>-<digest12>/fingerprint.json
//   ROOT/<model-slug>-<digest12>/<aa>/<bb>/<name>.kv
//
// aa/bb are the top two bytes of XXH3-64(key) in hex (a two-level fan-out of
// 65,536 leaf directories, uniform whatever the keys look like). <name> is the
// lowercase hex of the key for keys of 1..kMaxDirectKey bytes, else "h"
// followed by the hex XXH3-128 of the key. Either way the name is built only
// from [0-9a-fh], so no key can name a path outside the root; the full key is
// in the header and checked on every read.
#ifndef KVTIER_SRC_LAYOUT_LAYOUT_H_
#define KVTIER_SRC_LAYOUT_LAYOUT_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "kvtier/env.h"
#include "kvtier/status.h"

namespace kvtier {

inline constexpr size_t kMaxDirectKey = 100;
inline constexpr char kChunkSuffix[] = ".kv";
inline constexpr char kTempPrefix[] = ".tmp.";
inline constexpr char kFingerprintFile[] = "fingerprint.json";

struct ChunkLocation {
  std::string leaf_dir;  // ns/aa/bb
  std::string name;      // <name>.kv
  std::string path;      // ns/aa/bb/<name>.kv
};

std::string ChunkFileName(std::string_view key);
ChunkLocation LocateChunk(const std::string& ns_dir, std::string_view key);
// Creates the chunk's two fan-out levels with `perms`; existing ones are
// fine (and keep theirs).
Status CreateLeafDir(Env* env, const ChunkLocation& loc, const CreatePerms& perms);

bool IsChunkFileName(std::string_view name);
bool IsTempFileName(std::string_view name);
// True for the two-hex-digit names of fan-out directories.
bool IsFanoutDirName(std::string_view name);

}  // namespace kvtier

#endif  // KVTIER_SRC_LAYOUT_LAYOUT_H_
