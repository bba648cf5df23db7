#include "store/chunk_verify.h"

#include <vector>

#include "layout/layout.h"
#include "store/chunk_io.h"
#include "util/aligned_buffer.h"

namespace kvtier {

ChunkReport VerifyChunkFile(Env* env, const std::string& path, const Hash128* expected_fp,
                            bool delete_bad) {
  ChunkReport r;
  r.path = path;
  FileInfo info;
  Status s = env->Stat(path, &info);
  if (!s.ok()) {
    r.error = s.ToString();
    return r;
  }
  r.file_size = info.size;
  if (!info.IsRegular()) {
    r.why = VerifyError::kNotRegularFile;
    return r;
  }
  // Header first: its key length decides how much header there is.
  std::unique_ptr<File> file;
  s = env->OpenFile(path, kOpenRead, &file);
  if (!s.ok()) {
    r.error = s.ToString();
    return r;
  }
  std::vector<char> head(std::min<uint64_t>(info.size, HeaderSize(kMaxKeyLength)));
  struct iovec iov = {head.data(), head.size()};
  size_t got = 0;
  s = file->ReadV(0, &iov, 1, &got);
  file.reset();
  if (!s.ok()) {
    r.error = s.ToString();
    return r;
  }
  if (!DecodeHeader(head.data(), got, &r.header, &r.why).ok()) {
    if (delete_bad) r.removed = env->Unlink(path).ok();
    return r;
  }
  r.header_valid = true;
  std::string name = path.substr(path.find_last_of('/') + 1);
  if (ChunkFileName(r.header.key) != name) {
    r.why = VerifyError::kKeyMismatch;
    if (delete_bad) r.removed = env->Unlink(path).ok();
    return r;
  }
  if (r.header.payload_length > info.size) {
    r.why = VerifyError::kTruncated;
    if (delete_bad) r.removed = env->Unlink(path).ok();
    return r;
  }
  // Full check through the store's own read path.
  ChunkIoOptions opts;
  opts.fingerprint = expected_fp != nullptr ? *expected_fp : r.header.fingerprint;
  opts.remove_corrupt = delete_bad;
  opts.touch_interval_ns = INT64_MAX;  // verifying is not an access
  ChunkIoContext ctx;
  ctx.backend = NewSyncBackend();
  AlignedBuffer payload(r.header.payload_length + kBlockSize);
  ReadOutcome outcome;
  s = ReadChunk(env, &ctx, opts, path, r.header.key, payload.data(), r.header.payload_length,
                &outcome);
  r.removed = outcome.removed;
  if (s.ok()) {
    r.ok = true;
  } else if (s.IsCorruption()) {
    r.why = outcome.why;
  } else {
    r.error = s.ToString();
  }
  return r;
}

Status WalkChunkTree(Env* env, const std::string& root,
                     const std::function<void(const std::string&, const std::string&,
                                              const std::string&, const FileInfo&)>& visit) {
  std::vector<DirEntry> namespaces;
  Status s = env->ListDir(root, &namespaces);
  if (!s.ok()) return s;
  for (const DirEntry& ns : namespaces) {
    if (ns.type != DirEntry::Type::kDirectory) continue;
    std::string ns_dir = root + "/" + ns.name;
    std::vector<DirEntry> level1, level2, files;
    if (!env->ListDir(ns_dir, &level1).ok()) continue;
    for (const DirEntry& a : level1) {
      if (a.type != DirEntry::Type::kDirectory || !IsFanoutDirName(a.name)) continue;
      if (!env->ListDir(ns_dir + "/" + a.name, &level2).ok()) continue;
      for (const DirEntry& b : level2) {
        if (b.type != DirEntry::Type::kDirectory || !IsFanoutDirName(b.name)) continue;
        std::string leaf = ns_dir + "/" + a.name + "/" + b.name;
        if (!env->ListDir(leaf, &files).ok()) continue;
        for (const DirEntry& f : files) {
          FileInfo info;
          std::string path = leaf + "/" + f.name;
          if (!env->Stat(path, &info).ok()) continue;
          visit(ns_dir, path, f.name, info);
        }
      }
    }
  }
  return Status::OK();
}

}  // namespace kvtier
