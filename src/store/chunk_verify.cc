#include "store/chunk_verify.h"

#include <memory>
#include <vector>

#include "crypto/namespace_keys.h"
#include "env/walk.h"
#include "layout/layout.h"
#include "store/chunk_io.h"
#include "util/aligned_buffer.h"

namespace kvtier {

ChunkReport VerifyChunkFile(Env* env, const std::string& path, const Hash128* expected_fp,
                            bool delete_bad, const KeyRing* keys, bool auth_namespace) {
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
  // What a writer without the key can make: a load in this namespace
  // rejects it, so verify does too.
  if (auth_namespace && !r.header.authenticated()) {
    r.why = VerifyError::kAuth;
    r.error = "auth: plain chunk in an authenticated namespace";
    if (delete_bad) r.removed = env->Unlink(path).ok();
    return r;
  }
  // Full check through the store's own read path.
  ChunkIoOptions opts;
  opts.fingerprint = expected_fp != nullptr ? *expected_fp : r.header.fingerprint;
  if (r.header.authenticated()) {
    if (keys == nullptr) {
      r.why = VerifyError::kAuth;
      r.error = "authenticated chunk: its key file is needed to check it (--auth-key-file)";
      return r;
    }
    auto derived = std::make_shared<NamespaceKeys>();
    s = NamespaceKeys::Derive(*keys, opts.fingerprint, derived.get());
    if (!s.ok()) {
      r.error = s.ToString();
      return r;
    }
    opts.keys = std::move(derived);
  }
  opts.remove_corrupt = delete_bad;
  opts.touch_interval_ns = INT64_MAX;  // verifying is not an access
  ChunkIoContext ctx;
  ctx.backend = NewSyncBackend();
  AlignedBuffer payload(r.header.payload_length + kBlockSize);
  ReadOutcome outcome;
  s = ReadChunk(env, &ctx, opts, path, r.header.key, payload.data(), r.header.payload_length,
                /*gate=*/nullptr, &outcome);
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

namespace {

// Lists `dir` (at `path`) and opens each of its fan-out subdirectories,
// calling `enter` with each; failures go to `unreadable`.
template <typename Enter>
void ForEachFanoutDir(Dir* dir, const std::string& path, const UnreadableFn& unreadable,
                      const Enter& enter) {
  std::vector<DirEntry> entries;
  Status s = dir->List(&entries);
  if (!s.ok()) return unreadable(path, s);
  for (const DirEntry& e : entries) {
    if (!MaybeDirectory(e.type) || !IsFanoutDirName(e.name)) continue;
    std::unique_ptr<Dir> child;
    std::string child_path = path + "/" + e.name;
    if (OpenForWalk(dir, e.name, &child, &s)) {
      enter(child.get(), child_path);
    } else if (!s.ok()) {
      unreadable(child_path, s);
    }
  }
}

}  // namespace

Status WalkChunkTree(Env* env, const std::string& root, const ChunkVisitFn& visit,
                     const UnreadableFn& unreadable) {
  std::unique_ptr<Dir> top;
  Status s = env->OpenDir(root, &top);
  if (!s.ok()) return s;
  std::vector<DirEntry> namespaces;
  s = top->List(&namespaces);
  if (!s.ok()) return s;
  for (const DirEntry& ns : namespaces) {
    if (!MaybeDirectory(ns.type)) continue;
    const std::string ns_dir = root + "/" + ns.name;
    std::unique_ptr<Dir> ns_fd;
    if (!OpenForWalk(top.get(), ns.name, &ns_fd, &s)) {
      if (!s.ok()) unreadable(ns_dir, s);
      continue;
    }
    ForEachFanoutDir(ns_fd.get(), ns_dir, unreadable, [&](Dir* a, const std::string& a_path) {
      ForEachFanoutDir(a, a_path, unreadable, [&](Dir* leaf, const std::string& leaf_path) {
        std::vector<DirEntry> files;
        Status ls = leaf->List(&files);
        if (!ls.ok()) return unreadable(leaf_path, ls);
        for (const DirEntry& f : files) {
          FileInfo info;
          ls = leaf->Stat(f.name, &info);
          if (ls.ok()) {
            visit(ns_dir, leaf_path + "/" + f.name, f.name, info);
          } else if (!ls.IsNotFound()) {
            unreadable(leaf_path + "/" + f.name, ls);
          }
        }
      });
    });
  }
  return Status::OK();
}

}  // namespace kvtier
