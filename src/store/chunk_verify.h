// Offline verification of chunk files (the CLI's `inspect` and `verify`):
// the key is not known in advance, so read the header first, then run the
// same ReadChunk path the store uses for loads.
#ifndef KVTIER_SRC_STORE_CHUNK_VERIFY_H_
#define KVTIER_SRC_STORE_CHUNK_VERIFY_H_

#include <functional>
#include <string>

#include "crypto/key_ring.h"
#include "format/chunk_format.h"
#include "kvtier/env.h"

namespace kvtier {

struct ChunkReport {
  std::string path;
  bool ok = false;
  VerifyError why = VerifyError::kNone;
  std::string error;  // I/O problems and misplacement
  bool header_valid = false;
  ChunkHeader header;
  uint64_t file_size = 0;
  bool removed = false;
};

// Verifies one chunk file. With expected_fp set (non-zero), the header's
// fingerprint must match it; the file name must match the header's key.
// An authenticated chunk needs `keys` (its namespace's keys are derived
// from them); without, it is reported as reason auth and never deleted.
// `auth_namespace`: the chunk's namespace was opened with a key file (its
// fingerprint has auth_key_id), so a plain chunk there is bad (reason auth)
// whatever its checksum, as it is to the store's loads.
ChunkReport VerifyChunkFile(Env* env, const std::string& path, const Hash128* expected_fp,
                            bool delete_bad, const KeyRing* keys = nullptr,
                            bool auth_namespace = false);

// Called for every entry of every leaf fan-out directory: its namespace
// directory, path, name and lstat (files, temp files, and anything else
// found there: the caller classifies by name and info).
using ChunkVisitFn = std::function<void(const std::string& ns_dir, const std::string& path,
                                        const std::string& name, const FileInfo& info)>;
// Called for a directory (or leaf entry) below the root that could not be
// read, whose contents the walk therefore left out.
using UnreadableFn = std::function<void(const std::string& path, const Status& error)>;

// Walks ROOT/<namespace>/<aa>/<bb>/ through Env::Dir (see OpenForWalk: no
// symlink followed, no other filesystem entered). Fails only when the root
// itself cannot be listed; every other failure goes to `unreadable`.
Status WalkChunkTree(Env* env, const std::string& root, const ChunkVisitFn& visit,
                     const UnreadableFn& unreadable);

}  // namespace kvtier

#endif  // KVTIER_SRC_STORE_CHUNK_VERIFY_H_
