// FileIndex: what the evictor knows about its share of the tree, kept small
// enough for tens of millions of chunks.
//
// A directory is a node (name, parent, children); a chunk is a 32-byte
// IndexedFile inside its leaf directory: the XXH3-64 of its name, its atime,
// its last change time and its allocated bytes. The name itself is not kept:
// the deleter lists the leaf directory again and picks the entry whose name
// hashes to name_hash, so a path is re-derived only for the few files that
// are about to be deleted. Directory nodes cost about 100 bytes each, i.e. a
// few bytes per file at the usual fan-out (65,536 leaves per namespace).
//
// Thread-safety: not synchronised; the evictor's loop thread owns it.
#ifndef KVTIER_SRC_EVICTOR_FILE_INDEX_H_
#define KVTIER_SRC_EVICTOR_FILE_INDEX_H_

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include "evictor/layout_rules.h"

namespace kvtier::evictor {

inline constexpr uint32_t kNoDir = std::numeric_limits<uint32_t>::max();

enum class DirRole : uint8_t { kRoot, kNamespace, kFanout, kLeaf };

struct IndexedFile {
  static constexpr uint64_t kGone = std::numeric_limits<uint64_t>::max();
  uint64_t name_hash = 0;
  int64_t atime_ns = 0;
  int64_t change_ns = 0;  // mtime: the min-age clock
  uint64_t alloc = 0;     // allocated bytes; kGone once deleted (until rescan)
  bool gone() const { return alloc == kGone; }
};
static_assert(sizeof(IndexedFile) == 32, "IndexedFile must stay compact");

struct IndexedDir {
  std::string name;
  uint32_t parent = kNoDir;
  DirRole role = DirRole::kRoot;
  LayoutKind layout = LayoutKind::kNone;
  bool live = false;
  // List again on the next scan even if the directory's mtime is unchanged
  // (a temp file or empty directory is waiting for its grace period, or the
  // mtime was too recent to trust).
  bool revisit = true;
  int64_t listed_mtime_ns = -1;    // mtime when last listed; -1: never
  uint64_t other_bytes = 0;        // non-chunk regular files (quota accounting)
  std::vector<uint32_t> children;  // sorted by name
  std::vector<IndexedFile> files;  // leaves only
};

struct IndexTotals {
  uint64_t files = 0;           // live chunks
  uint64_t chunk_bytes = 0;     // their allocated bytes
  uint64_t other_bytes = 0;     // everything else seen in the share
  int64_t oldest_atime_ns = 0;  // 0 when empty
};

// A chunk picked for eviction: where it is and how old it looked.
struct Candidate {
  int64_t atime_ns;
  uint32_t dir;
  uint32_t slot;
};

class FileIndex {
 public:
  FileIndex();

  static constexpr uint32_t kRootDir = 0;

  IndexedDir& dir(uint32_t i) { return dirs_[i]; }
  const IndexedDir& dir(uint32_t i) const { return dirs_[i]; }

  // The child `name` of `parent`, created (live, revisit) when absent.
  uint32_t FindOrAddChild(uint32_t parent, std::string_view name, DirRole role, LayoutKind layout);
  // The child `name` of `parent`, or kNoDir.
  uint32_t FindChild(uint32_t parent, std::string_view name) const;
  // Drops every child of `parent` whose name is not in `keep` (sorted),
  // with all its descendants: the directory vanished or left our share.
  void RetainChildren(uint32_t parent, const std::vector<std::string_view>& keep);

  // Path of a directory relative to the root ("" for the root).
  std::string RelPath(uint32_t dir) const;
  // Its components, root first (empty for the root).
  std::vector<std::string_view> Components(uint32_t dir) const;

  IndexTotals Totals() const;
  // Heap bytes held by the index (directories, names, file vectors).
  size_t MemoryBytes() const;

  // Live chunks whose change time is at or before `max_change_ns`, oldest
  // atime first (a min-heap: use std::pop_heap with CandidateAfter).
  void BuildCandidateHeap(int64_t max_change_ns, std::vector<Candidate>* heap) const;

 private:
  void Free(uint32_t dir);

  std::vector<IndexedDir> dirs_;
  std::vector<uint32_t> free_;
};

// Heap order for BuildCandidateHeap: the oldest atime at the front.
inline bool CandidateAfter(const Candidate& a, const Candidate& b) {
  return a.atime_ns > b.atime_ns;
}

}  // namespace kvtier::evictor

#endif  // KVTIER_SRC_EVICTOR_FILE_INDEX_H_
