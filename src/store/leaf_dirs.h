// LeafDirs: open handles of a namespace's leaf directories (ns/aa/bb),
// shared by the workers and reused across keys and jobs, so that checking
// whether a chunk exists, or opening it to load it, names one entry relative
// to its leaf instead of walking its whole path.
//
// Why: on a network filesystem each component of a path is a lookup round
// trip to the metadata server whenever the client cannot prove its cached
// entry current. MooseFS's client gives the kernel no entry timeout:
// measured through its master's counters, a stat of ROOT/ns/aa/bb/name costs
// one lookup per component below the mount, every time; through a held leaf
// handle it costs one. (Lustre caches directory entries under DLM locks, so
// there the walk is mostly client CPU; the name is one RPC either way.)
//
// A leaf not held is opened relative to a held handle of its fan-out
// parent (ns/aa, 256 of them a namespace) when there is one, so a leaf this
// process never saw costs one lookup (bb) instead of a walk that revalidates
// ns and aa too: MooseFS's client keeps a directory entry for 1 s, and 256
// parents spread over thousands of keys are looked up again about once a
// key. Parents have a table of their own, so that a full leaf table,
// which is emptied, leaves them be.
//
// Staleness bound: a handle is used for at most `ttl_ns` after it was
// opened. The evictor removes a leaf once it is empty (after --dir-grace)
// and a writer may then create a new one under the same name; the old
// handle finds nothing in the removed directory, so for at most ttl_ns a
// chunk stored in the new one reads as absent (a recompute). The reverse
// cannot happen: a removed directory has no entries, so a handle never
// makes a deleted chunk look present. The same holds for a parent the
// evictor removed once empty: through its stale handle every new leaf under
// the re-created one reads as absent for at most ttl_ns.
//
// Bounded: at most `max_dirs` handles (one descriptor each), and no more
// than an eighth of the process's descriptor limit, are held; when a table
// is full it is emptied, not grown, and when the process runs out of
// descriptors (EMFILE) both are emptied and the call made once more. Safe
// for concurrent use.
#ifndef KVTIER_SRC_STORE_LEAF_DIRS_H_
#define KVTIER_SRC_STORE_LEAF_DIRS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "kvtier/env.h"
#include "layout/layout.h"
#include "util/mutex.h"

namespace kvtier {

class LeafDirs {
 public:
  // Holds up to `max_dirs` handles, `max_parents` of them for parents (none
  // when an eighth of the descriptor limit is under twice that: the leaves
  // keep what there is).
  LeafDirs(Env* env, int64_t ttl_ns, size_t max_dirs, size_t max_parents);

  // Stats loc.name in loc.leaf_dir: NotFound when the entry or its leaf does
  // not exist. `now_ns` is the monotonic clock.
  Status Stat(const ChunkLocation& loc, uint64_t now_ns, FileInfo* info);
  // Opens `name` in `leaf_dir` (Dir::OpenFile's flags and errors).
  Status OpenFile(const std::string& leaf_dir, const std::string& name, unsigned flags,
                  uint64_t now_ns, std::unique_ptr<File>* out);

  size_t size();  // handles held, leaves and parents (for tests and metrics)

 private:
  // `share`: the handles this table may hold (max_dirs, within the process's
  // descriptor limit), split between parents and leaves.
  struct Split {};
  LeafDirs(Split, Env* env, uint64_t ttl_ns, size_t share, size_t max_parents);

  struct Entry {
    std::shared_ptr<Dir> dir;
    uint64_t expires_ns = 0;
  };
  using Table = std::unordered_map<std::string, Entry>;
  // Runs op(dir) on the leaf's handle: a held one if fresh, else one opened
  // now (and kept). A held handle that fails with anything but NotFound
  // (ESTALE, say) is dropped and op runs once more on a new one.
  template <class Op>
  Status WithLeaf(const std::string& leaf_dir, uint64_t now_ns, Op op) EXCLUDES(mu_);
  // Opens the leaf through its parent's handle (held, or opened and kept),
  // or by path where the parent's handle fails with anything but NotFound.
  Status OpenLeaf(const std::string& leaf_dir, uint64_t now_ns, std::unique_ptr<Dir>* out)
      EXCLUDES(mu_);
  // The fresh handle of `dir` held in the parents' or the leaves' table, or
  // null (an expired one is forgotten).
  std::shared_ptr<Dir> Held(bool parent, const std::string& dir, uint64_t now_ns) EXCLUDES(mu_);
  void Keep(bool parent, const std::string& dir, std::shared_ptr<Dir> handle, uint64_t now_ns)
      EXCLUDES(mu_);
  // Forgets `dir` if `handle` is still what the table holds for it.
  void Forget(bool parent, const std::string& dir, const std::shared_ptr<Dir>& handle)
      EXCLUDES(mu_);
  // Empties both tables; false when they held nothing. The handles close
  // after the lock is released.
  bool Shed() EXCLUDES(mu_);
  Table& Pick(bool parent) REQUIRES(mu_) { return parent ? parents_ : leaves_; }
  bool Caching() const { return leaf_max_ > 0; }

  Env* const env_;
  const uint64_t ttl_ns_;
  const size_t parent_max_;
  const size_t leaf_max_;  // 0: nothing is held (no ttl, or no descriptors to spare)
  Mutex mu_;
  Table leaves_ GUARDED_BY(mu_);
  Table parents_ GUARDED_BY(mu_);
};

// The store's Env for loads: opening a chunk file of namespace `ns_dir`
// goes through its leaf's held handle (one lookup instead of a path walk);
// every other call is the base Env's.
class LeafEnv final : public EnvWrapper {
 public:
  LeafEnv(Env* base, LeafDirs* dirs, std::string ns_dir);
  Status OpenFile(const std::string& path, unsigned flags, std::unique_ptr<File>* out) override;

 private:
  LeafDirs* const dirs_;
  const std::string ns_dir_;
};

}  // namespace kvtier

#endif  // KVTIER_SRC_STORE_LEAF_DIRS_H_
