// UnsyncedState: what a power loss may take away, as the fault-injection
// Env's files and directories report it (the idea is LevelDB's
// fault_injection_test, extended to writes at any offset):
//
// - file data: every write to a file opened for writing is lost unless that
//   file was synced (File::Sync) after it. A lost range reads back as zeros
//   (the size the file had reached stays): a file whose entry survived but
//   whose blocks never reached the disk, which is what a torn chunk is.
// - directory entries: a file or directory created, or a file renamed into a
//   directory, keeps that name only once the directory was synced
//   (Dir::Sync, Env::SyncDir) after it. Entries of one directory persist in
//   order, as a journal commits them, so a power loss keeps some prefix of
//   them. A lost directory takes everything below it along, synced or not
//   (its entries were unreachable), which is why a durable store syncs the
//   parent of every fan-out and namespace directory it creates.
//
// Not modelled: an unlink or rmdir is durable at once (undoing one would need
// the bytes). (On ext4 and xfs the journal happens to commit a mkdir with
// the next fsync in the tree; POSIX does not promise it, so the model does
// not either.)
//
// Thread-safe. Paths are compared as strings, so callers name a file the
// same way throughout (the Env's paths and its Dirs' path + "/" + name).
#ifndef KVTIER_SRC_ENV_UNSYNCED_STATE_H_
#define KVTIER_SRC_ENV_UNSYNCED_STATE_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "kvtier/env.h"
#include "util/mutex.h"

namespace kvtier {

class UnsyncedState {
 public:
  // One file opened for writing; shared by its open File and the state, so
  // a rename while it is open moves it.
  struct FileRecord {
    std::string path;
    std::vector<std::pair<uint64_t, uint64_t>> unsynced;  // (offset, length) since the last sync
  };

  // `created`: the open made the file (a new entry in its directory).
  std::shared_ptr<FileRecord> Opened(const std::string& path, bool created);
  void Wrote(FileRecord* file, uint64_t offset, uint64_t len);
  void FileSynced(FileRecord* file);
  // Records a rename into `to`'s directory.
  void Renamed(const std::string& from, const std::string& to);
  // Records a directory made by mkdir (not one that existed already).
  void DirCreated(const std::string& path);
  void Unlinked(const std::string& path);
  void DirSynced(const std::string& dir);

  // Applies a power loss to the files on `env` (the real one beneath the
  // fault env) and forgets everything: seed 0 loses everything not synced;
  // another seed keeps a random prefix of each directory's unsynced entries
  // and each unsynced write with probability 1/2, the same for the same seed.
  // REQUIRES: no file is being written through the fault env (close the
  // store first). Returns how many entries and writes were lost.
  size_t Drop(Env* env, uint64_t seed);

 private:
  struct DirOp {
    std::string name;  // the entry made (path)
    std::string from;  // a rename's source path; empty for a create
    bool dir = false;  // a mkdir: losing it loses the tree below
  };

  Mutex mu_;
  std::map<std::string, std::shared_ptr<FileRecord>> files_ GUARDED_BY(mu_);
  std::map<std::string, std::vector<DirOp>> dirs_ GUARDED_BY(mu_);
};

}  // namespace kvtier

#endif  // KVTIER_SRC_ENV_UNSYNCED_STATE_H_
