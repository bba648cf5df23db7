#include "layout/namespace_dir.h"

#include <memory>

#include "layout/layout.h"
#include "util/hash.h"

namespace kvtier {

namespace {

constexpr size_t kMaxFingerprintFile = 1 << 20;

Status ReadSmallFile(Env* env, const std::string& path, std::string* out) {
  std::unique_ptr<File> file;
  Status s = env->OpenFile(path, kOpenRead, &file);
  if (!s.ok()) return s;
  FileInfo info;
  s = file->Stat(&info);
  if (!s.ok()) return s;
  if (!info.IsRegular() || info.size > kMaxFingerprintFile) {
    return Status::Corruption(path + " is not a small regular file");
  }
  out->assign(info.size, '\0');
  struct iovec iov = {out->data(), out->size()};
  size_t got = 0;
  s = file->ReadV(0, &iov, 1, &got);
  out->resize(got);
  return s;
}

// With `durable`, the new name is synced into `dir` too.
Status WriteAtomically(Env* env, const std::string& dir, const std::string& name,
                       const std::string& data, uint64_t writer_id, uint32_t mode, bool durable) {
  std::string tmp = dir + "/" + kTempPrefix + name + "." + HexEncode(&writer_id, sizeof(writer_id));
  std::unique_ptr<File> file;
  Status s = env->OpenFile(tmp, kOpenWrite | kOpenCreateExclusive | OpenModeFlags(mode), &file);
  if (!s.ok()) return s;
  struct iovec iov = {const_cast<char*>(data.data()), data.size()};
  s = file->WriteV(0, &iov, 1);
  if (s.ok()) s = file->Sync();
  file.reset();
  // Last writer wins; every writer writes identical bytes.
  if (s.ok()) s = env->Rename(tmp, dir + "/" + name, /*no_replace=*/false);
  if (!s.ok()) {
    env->Unlink(tmp);
    return s;
  }
  return durable ? env->SyncDir(dir) : Status::OK();
}

}  // namespace

Status OpenNamespaceDir(Env* env, const std::string& root, const Fingerprint& fp,
                        uint64_t writer_id, const CreatePerms& perms, bool durable,
                        std::string* ns_dir, NamespaceState* state) {
  FileInfo root_info;
  Status s = env->Stat(root, &root_info);
  if (!s.ok()) return s;
  if (!root_info.IsDirectory()) return Status::InvalidArgument(root + " is not a directory");
  *ns_dir = root + "/" + fp.namespace_name();
  s = env->CreateDir(*ns_dir, perms);
  // Synced even when the directory existed: its creator may have lost power
  // before syncing it.
  if (s.ok() && durable) s = env->SyncDir(root);
  if (!s.ok()) return s;
  const std::string fp_path = *ns_dir + "/" + kFingerprintFile;
  const std::string want = fp.canonical() + "\n";
  std::string have;
  s = ReadSmallFile(env, fp_path, &have);
  if (s.ok() || s.IsCorruption()) {
    Fingerprint parsed;
    if (s.ok() && Fingerprint::FromJson(have, &parsed).ok()) {
      if (parsed.digest_hex() == fp.digest_hex()) {
        *state = NamespaceState::kReady;
        return Status::OK();
      }
      *state = NamespaceState::kConflict;
      return Status::OK();
    }
    // Unparseable: the directory name already pins the digest, so rewriting
    // the description cannot hide a real conflict.
    if (!s.ok()) env->Unlink(fp_path);  // e.g. a directory or FIFO in its place
    *state = NamespaceState::kRepaired;
    return WriteAtomically(env, *ns_dir, kFingerprintFile, want, writer_id, perms.file_mode,
                           durable);
  }
  if (!s.IsNotFound()) return s;
  *state = NamespaceState::kReady;
  return WriteAtomically(env, *ns_dir, kFingerprintFile, want, writer_id, perms.file_mode, durable);
}

Status ReadNamespaceFingerprint(Env* env, const std::string& ns_dir, Fingerprint* out) {
  std::string text;
  Status s = ReadSmallFile(env, ns_dir + "/" + kFingerprintFile, &text);
  if (!s.ok()) return s;
  return Fingerprint::FromJson(text, out);
}

}  // namespace kvtier
