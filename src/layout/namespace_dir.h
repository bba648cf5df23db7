// Creates or opens a namespace directory and its fingerprint.json.
#ifndef KVTIER_SRC_LAYOUT_NAMESPACE_DIR_H_
#define KVTIER_SRC_LAYOUT_NAMESPACE_DIR_H_

#include <cstdint>
#include <string>

#include "kvtier/env.h"
#include "kvtier/fingerprint.h"

namespace kvtier {

enum class NamespaceState {
  kReady,     // fingerprint.json present and matching (or just written)
  kRepaired,  // fingerprint.json was unreadable garbage; rewritten
  kConflict,  // fingerprint.json holds a different valid fingerprint
};

// Ensures ROOT/<namespace>/ exists with a fingerprint.json equal to `fp`,
// written atomically (temp file + rename); what it creates gets `perms`.
// With `durable`, the namespace's entry in `root` and fingerprint.json's in
// the namespace are synced before it returns (a power loss keeps both).
// *ns_dir receives the directory.
// A conflict is reported as kConflict with OK status: the caller must then
// refuse to serve or store anything in that namespace.
Status OpenNamespaceDir(Env* env, const std::string& root, const Fingerprint& fp,
                        uint64_t writer_id, const CreatePerms& perms, bool durable,
                        std::string* ns_dir, NamespaceState* state);

// Reads and parses ns_dir/fingerprint.json (the same size and file-type
// limits the store applies), for tools that inspect a namespace.
Status ReadNamespaceFingerprint(Env* env, const std::string& ns_dir, Fingerprint* out);

}  // namespace kvtier

#endif  // KVTIER_SRC_LAYOUT_NAMESPACE_DIR_H_
