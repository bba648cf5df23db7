// Fuzzes the fingerprint.json reader (Fingerprint::FromJson, what
// ReadNamespaceFingerprint runs on a namespace's fingerprint.json, a file
// anyone with write access to the volume may have replaced). Properties
// checked: parsing the canonical form again gives the same fingerprint, and
// the namespace name is one safe path component that the evictor
// recognises as a kvtier namespace.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "evictor/layout_rules.h"
#include "kvtier/fingerprint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  kvtier::Fingerprint fp;
  if (!kvtier::Fingerprint::FromJson(text, &fp).ok()) return 0;
  kvtier::Fingerprint again;
  if (!kvtier::Fingerprint::FromJson(fp.canonical(), &again).ok() ||
      again.canonical() != fp.canonical() || again.digest_hex() != fp.digest_hex() ||
      again.namespace_name() != fp.namespace_name()) {
    std::abort();
  }
  const std::string& name = fp.namespace_name();
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos || name.size() > 255 ||
      !kvtier::evictor::IsKvtierNamespaceName(name)) {
    std::abort();
  }
  return 0;
}
