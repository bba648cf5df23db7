#include "env/unsynced_state.h"

#include <sys/uio.h>

#include <algorithm>
#include <random>

namespace kvtier {

namespace {

// One spelling per path: no repeated or trailing '/'.
std::string Normalize(const std::string& path) {
  std::string out;
  out.reserve(path.size());
  for (char c : path) {
    if (c == '/' && !out.empty() && out.back() == '/') continue;
    out.push_back(c);
  }
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  return out;
}

std::string Parent(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Overwrites [offset, offset + len) of `path` with zeros: its blocks never
// reached the disk.
void ZeroRange(Env* env, const std::string& path, uint64_t offset, uint64_t len) {
  std::unique_ptr<File> file;
  if (!env->OpenFile(path, kOpenWrite, &file).ok()) return;
  std::vector<char> zeros(std::min<uint64_t>(len, 1 << 20), 0);
  for (uint64_t done = 0; done < len;) {
    struct iovec iov {
      zeros.data(), std::min<uint64_t>(zeros.size(), len - done)
    };
    if (!file->WriteV(offset + done, &iov, 1).ok()) return;
    done += iov.iov_len;
  }
}

// Removes `path` and everything below it (a lost mkdir); best effort.
void RemoveTree(Env* env, const std::string& path) {
  std::vector<DirEntry> entries;
  if (env->ListDir(path, &entries).ok()) {
    for (const DirEntry& e : entries) {
      const std::string child = path + "/" + e.name;
      FileInfo info;
      if (env->Stat(child, &info).ok() && info.IsDirectory()) {
        RemoveTree(env, child);
      } else {
        env->Unlink(child);
      }
    }
  }
  env->RemoveDir(path);
}

}  // namespace

std::shared_ptr<UnsyncedState::FileRecord> UnsyncedState::Opened(const std::string& path,
                                                                 bool created) {
  auto rec = std::make_shared<FileRecord>();
  rec->path = Normalize(path);
  MutexLock l(&mu_);
  files_[rec->path] = rec;
  if (created) dirs_[Parent(rec->path)].push_back(DirOp{rec->path, ""});
  return rec;
}

void UnsyncedState::Wrote(FileRecord* file, uint64_t offset, uint64_t len) {
  MutexLock l(&mu_);
  auto& u = file->unsynced;
  // Sequential writes (a chunk's segments) extend one range.
  if (!u.empty() && u.back().first + u.back().second == offset) {
    u.back().second += len;
  } else {
    u.emplace_back(offset, len);
  }
}

void UnsyncedState::FileSynced(FileRecord* file) {
  MutexLock l(&mu_);
  file->unsynced.clear();
}

void UnsyncedState::Renamed(const std::string& from, const std::string& to) {
  const std::string f = Normalize(from);
  const std::string t = Normalize(to);
  MutexLock l(&mu_);
  auto it = files_.find(f);
  if (it != files_.end()) {
    auto rec = it->second;
    files_.erase(it);
    rec->path = t;
    files_[t] = rec;
  }
  dirs_[Parent(t)].push_back(DirOp{t, f});
}

void UnsyncedState::DirCreated(const std::string& path) {
  const std::string p = Normalize(path);
  MutexLock l(&mu_);
  dirs_[Parent(p)].push_back(DirOp{p, "", /*dir=*/true});
}

void UnsyncedState::Unlinked(const std::string& path) {
  MutexLock l(&mu_);
  files_.erase(Normalize(path));
}

void UnsyncedState::DirSynced(const std::string& dir) {
  MutexLock l(&mu_);
  dirs_.erase(Normalize(dir));
}

size_t UnsyncedState::Drop(Env* env, uint64_t seed) {
  MutexLock l(&mu_);
  std::mt19937_64 rng(seed);
  size_t lost = 0;
  for (auto& [dir, ops] : dirs_) {
    const size_t keep = seed == 0 ? 0 : rng() % (ops.size() + 1);
    // Undo the entries past the kept prefix, newest first. (A rename that
    // replaced a file gives back the new file's old name, not the old file.)
    for (size_t i = ops.size(); i-- > keep;) {
      const DirOp& op = ops[i];
      ++lost;
      if (op.dir) {
        RemoveTree(env, op.name);  // its files' records fail to reopen below
        continue;
      }
      auto it = files_.find(op.name);
      if (op.from.empty()) {
        env->Unlink(op.name);
        if (it != files_.end()) files_.erase(it);
        continue;
      }
      if (!env->Rename(op.name, op.from, /*no_replace=*/false).ok()) continue;
      if (it != files_.end()) {
        auto rec = it->second;
        files_.erase(it);
        rec->path = op.from;
        files_[op.from] = rec;
      }
    }
  }
  for (auto& [path, rec] : files_) {
    for (const auto& [offset, len] : rec->unsynced) {
      if (seed != 0 && (rng() & 1) != 0) continue;
      ZeroRange(env, path, offset, len);
      ++lost;
    }
    rec->unsynced.clear();
  }
  files_.clear();
  dirs_.clear();
  return lost;
}

}  // namespace kvtier
