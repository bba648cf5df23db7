#include "crypto/namespace_keys.h"

#include <openssl/crypto.h>

#include <nlohmann/json.hpp>

namespace kvtier {

NamespaceKeys::~NamespaceKeys() {
  for (Entry& e : entries_) {
    OPENSSL_cleanse(e.gcm.data(), e.gcm.size());
    OPENSSL_cleanse(e.poly.data(), e.poly.size());
  }
}

Status NamespaceKeys::Derive(const KeyRing& ring, const Hash128& fingerprint_digest,
                             NamespaceKeys* out) {
  // info = label + the digest's 16 bytes (lo then hi, little-endian, as in
  // chunk headers). The GCM label is the one chunks were sealed under before
  // the MAC moved to ChaCha20-Poly1305, so encrypted chunks stay readable.
  std::string digest;
  for (uint64_t half : {fingerprint_digest.lo, fingerprint_digest.hi}) {
    for (int i = 0; i < 8; ++i) digest.push_back(static_cast<char>(half >> (8 * i)));
  }
  out->entries_.clear();
  for (const AuthKey& k : ring.keys()) {
    Entry e{k.id, {}, {}};
    const bool ok =
        Hkdf(k.secret, "kvtier chunk key v1" + digest, e.gcm.data(), e.gcm.size()) &&
        Hkdf(k.secret, "kvtier chunk mac key v2" + digest, e.poly.data(), e.poly.size());
    if (ok) out->entries_.push_back(e);
    OPENSSL_cleanse(e.gcm.data(), e.gcm.size());
    OPENSSL_cleanse(e.poly.data(), e.poly.size());
    if (!ok) return Status::IOError("libcrypto: HKDF failed", 0);
  }
  return Status::OK();
}

const ChunkKey* NamespaceKeys::Find(uint64_t id, AuthAlgorithm alg) const {
  for (const Entry& e : entries_) {
    if (e.id == id) return &e.For(alg);
  }
  return nullptr;
}

Status WithKeyId(const Fingerprint& fp, const KeyRing& ring, Fingerprint* out) {
  nlohmann::json j = nlohmann::json::parse(fp.canonical(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return Status::InvalidArgument("fingerprint is not a JSON object");
  if (j.contains("auth_key_id")) {
    return Status::InvalidArgument("fingerprint field auth_key_id is set by auth_key_file");
  }
  const uint64_t id = ring.anchor_id();
  j["auth_key_id"] = HexEncode(&id, sizeof(id));
  return Fingerprint::FromJson(j.dump(), out);
}

Status OpenNamespaceKeys(Env* env, const std::string& key_file, const Fingerprint& fp,
                         Fingerprint* out_fp, std::shared_ptr<const NamespaceKeys>* keys) {
  KeyRing ring;
  Status s = LoadKeyFile(env, key_file, &ring);
  if (!s.ok()) return s;
  s = WithKeyId(fp, ring, out_fp);
  if (!s.ok()) return s;
  auto derived = std::make_shared<NamespaceKeys>();
  s = NamespaceKeys::Derive(ring, Hash128{out_fp->digest_lo(), out_fp->digest_hi()}, derived.get());
  if (!s.ok()) return s;
  *keys = std::move(derived);
  return Status::OK();
}

}  // namespace kvtier
