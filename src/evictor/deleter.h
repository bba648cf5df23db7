// Deleter: the last safety gate before anything is removed.
//
// For every chunk the evictor picked, it re-derives the name (listing the
// leaf directory and matching the indexed name hash), opens the directory
// chain from the root fd with O_NOFOLLOW, lstat's the file again and unlinks
// it through the parent fd only if it is still a regular chunk file on the
// root's filesystem, older than --min-age, with the atime the scan saw. A
// chunk whose atime moved is spared and its index entry refreshed.
//
// Residual race (documented, harmless): a writer may rename a fresh copy of
// the same chunk into place between the re-stat and the unlink; the reader
// then sees a miss, never wrong bytes.
#ifndef KVTIER_SRC_EVICTOR_DELETER_H_
#define KVTIER_SRC_EVICTOR_DELETER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "evictor/file_index.h"
#include "evictor/scanner.h"
#include "kvtier/env.h"

namespace kvtier::evictor {

enum class Verdict {
  kDeleted,      // unlinked (or, in dry-run, would have been)
  kSparedHot,    // atime moved since the scan
  kSparedYoung,  // changed within min-age
  kVanished,     // already gone (or no longer a regular chunk)
  kError,        // could not open its directory or unlink it
};

struct DeletePolicy {
  int64_t now_ns = 0;
  int64_t min_age_ns = 0;
  int64_t tmp_grace_ns = 0;
  int64_t dir_grace_ns = 0;
  bool dry_run = false;
};

class Deleter {
 public:
  // `root` is the open cache root, on device `root_dev`.
  Deleter(Dir* root, uint64_t root_dev, FileIndex* index)
      : root_(root), root_dev_(root_dev), index_(index) {}

  // Runs between the choice of a victim and its re-stat (tests use it to
  // touch the file, as a reader would).
  void set_before_recheck(std::function<void(const std::string& rel_path)> hook) {
    before_recheck_ = std::move(hook);
  }

  // Opens and lists, once each, the leaf directories of a batch of victims.
  void PrepareBatch(const std::vector<Candidate>& batch);
  // Closes what PrepareBatch opened.
  void EndBatch() { open_.clear(); }

  // Deletes one victim of the current batch. *freed gets its allocated
  // bytes when kDeleted; *rel_path its path relative to the root.
  Verdict DeleteChunk(const Candidate& c, const DeletePolicy& policy, uint64_t* freed,
                      std::string* rel_path, Status* error);
  // Removes a stale temp file or an empty fan-out directory found by a scan
  // if it still qualifies. Returns true when it was removed.
  bool RemoveStale(const StaleEntry& e, const DeletePolicy& policy, Status* error);

  // Opens directory `dir` of the index from the root, one Dir::OpenDir step
  // at a time (no symlink followed, no other filesystem entered).
  Status OpenDirChain(uint32_t dir, std::unique_ptr<Dir>* out) const;

 private:
  struct OpenLeaf {
    std::unique_ptr<Dir> dir;
    Status status;
    std::vector<std::pair<uint64_t, std::string>> names;  // (hash, name) of chunks
  };

  Dir* const root_;
  const uint64_t root_dev_;
  FileIndex* index_;
  std::map<uint32_t, OpenLeaf> open_;
  std::function<void(const std::string&)> before_recheck_;
};

}  // namespace kvtier::evictor

#endif  // KVTIER_SRC_EVICTOR_DELETER_H_
