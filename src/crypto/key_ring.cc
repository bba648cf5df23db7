#include "crypto/key_ring.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <cctype>
#include <cstdio>
#include <memory>

#include "env/root_path.h"

namespace kvtier {

namespace {

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool DecodeHex(std::string_view s, std::string* out) {
  if (s.size() % 2 != 0) return false;
  out->clear();
  for (size_t i = 0; i < s.size(); i += 2) {
    int hi = HexDigit(s[i]);
    int lo = HexDigit(s[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi << 4 | lo));
  }
  return true;
}

// Standard base64 with padding (what `base64` and Kubernetes print).
bool DecodeBase64(std::string_view s, std::string* out) {
  if (s.empty() || s.size() % 4 != 0) return false;
  for (char c : s) {
    if (std::isalnum(static_cast<unsigned char>(c)) == 0 && c != '+' && c != '/' && c != '=') {
      return false;
    }
  }
  std::string buf(s.size() / 4 * 3, '\0');
  int n =
      EVP_DecodeBlock(reinterpret_cast<unsigned char*>(buf.data()),
                      reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (n < 0) return false;
  size_t pad = 0;
  if (s.back() == '=') ++pad;
  if (s.size() >= 2 && s[s.size() - 2] == '=') ++pad;
  buf.resize(static_cast<size_t>(n) - pad);  // EVP_DecodeBlock counts the padding as zeros
  OPENSSL_cleanse(out->data(), out->size());
  *out = std::move(buf);
  return true;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())) != 0) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())) != 0) s.remove_suffix(1);
  return s;
}

}  // namespace

KeyRing::~KeyRing() {
  for (AuthKey& k : keys_) OPENSSL_cleanse(k.secret.data(), k.secret.size());
}

bool Hkdf(std::string_view ikm, std::string_view info, unsigned char* out, size_t n) {
  std::unique_ptr<EVP_KDF, decltype(&EVP_KDF_free)> kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr),
                                                        &EVP_KDF_free);
  if (kdf == nullptr) return false;
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(EVP_KDF_CTX_new(kdf.get()),
                                                                &EVP_KDF_CTX_free);
  if (ctx == nullptr) return false;
  char digest[] = "SHA256";
  OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
                         OSSL_PARAM_construct_octet_string(
                             OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()), ikm.size()),
                         OSSL_PARAM_construct_octet_string(
                             OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()),
                         OSSL_PARAM_construct_end()};
  return EVP_KDF_derive(ctx.get(), out, n, params) == 1;
}

bool DeriveKeyId(std::string_view secret, uint64_t* id) {
  unsigned char derived[32];
  if (!Hkdf(secret, "kvtier key id v1", derived, sizeof(derived))) return false;
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  bool ok = EVP_Digest(derived, sizeof(derived), digest, &len, EVP_sha256(), nullptr) == 1;
  OPENSSL_cleanse(derived, sizeof(derived));
  if (!ok || len < 8) return false;
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | digest[i];
  *id = v;
  return true;
}

Status KeyRing::Parse(std::string_view text, KeyRing* out) {
  KeyRing ring;
  size_t line_no = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = Trim(text.substr(0, nl));
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++line_no;
    if (line.empty() || line.front() == '#') continue;
    const std::string where = "line " + std::to_string(line_no);
    AuthKey key;
    // Hex first: a hex key is also valid base64 text, never the reverse
    // when it has an even number of hex digits.
    if (!DecodeHex(line, &key.secret) && !DecodeBase64(line, &key.secret)) {
      return Status::InvalidArgument(where + " is neither hex nor base64");
    }
    if (key.secret.size() < kMinKeyBytes) {
      std::string n = std::to_string(key.secret.size());
      OPENSSL_cleanse(key.secret.data(), key.secret.size());
      return Status::InvalidArgument(where + " holds a key of " + n + " bytes; at least " +
                                     std::to_string(kMinKeyBytes) + " are needed");
    }
    if (ring.keys_.size() == kMaxKeys) {
      OPENSSL_cleanse(key.secret.data(), key.secret.size());
      return Status::InvalidArgument("more than " + std::to_string(kMaxKeys) + " keys");
    }
    if (!DeriveKeyId(key.secret, &key.id)) return Status::IOError("libcrypto: HKDF failed", 0);
    ring.keys_.push_back(std::move(key));
  }
  if (ring.keys_.empty()) return Status::InvalidArgument("no key in it");
  *out = std::move(ring);
  return Status::OK();
}

Status LoadKeyFile(Env* env, const std::string& path, KeyRing* out) {
  auto bad = [&](const std::string& why) {
    return Status::InvalidArgument("auth_key_file " + path + ": " + why);
  };
  std::string real;
  Status s = ResolveRoot(path, &real);
  if (!s.ok()) return bad(s.ToString());
  std::unique_ptr<File> file;
  s = env->OpenFile(real, kOpenRead, &file);
  if (!s.ok()) return bad(s.ToString());
  FileInfo info;
  s = file->Stat(&info);
  if (!s.ok()) return bad(s.ToString());
  if (!info.IsRegular()) return bad("not a regular file");
  if ((info.mode & (S_IRWXG | S_IRWXO)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", info.mode & 07777);
    return bad(std::string("mode ") + mode +
               " lets group or others read it; chmod 600 it (a Kubernetes Secret volume: "
               "defaultMode: 0400)");
  }
  if (info.size > kMaxKeyFileBytes) return bad("larger than 64 KiB");
  std::string text(info.size, '\0');
  size_t got = 0;
  if (!text.empty()) {
    struct iovec iov = {text.data(), text.size()};
    s = file->ReadV(0, &iov, 1, &got);
    if (!s.ok()) return bad(s.ToString());
  }
  text.resize(got);
  s = KeyRing::Parse(text, out);
  OPENSSL_cleanse(text.data(), text.size());
  if (!s.ok()) return bad(s.message());
  return Status::OK();
}

}  // namespace kvtier
