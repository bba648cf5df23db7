#include "kvtier/fingerprint.h"

#include <nlohmann/json.hpp>

#include "util/hash.h"

namespace kvtier {

namespace {

// Lowercase [a-z0-9._-], other runs become '-', at most 40 characters, so the
// namespace name is a safe single path component whatever the model id is.
std::string Slug(const nlohmann::json& obj) {
  std::string model;
  auto it = obj.find("model");
  if (it != obj.end() && it->is_string()) model = it->get<std::string>();
  size_t slash = model.find_last_of('/');
  if (slash != std::string::npos) model = model.substr(slash + 1);
  std::string out;
  for (char c : model) {
    char l = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    bool keep = (l >= 'a' && l <= 'z') || (l >= '0' && l <= '9') || l == '.' || l == '_';
    if (keep) {
      out.push_back(l);
    } else if (!out.empty() && out.back() != '-') {
      out.push_back('-');
    }
    if (out.size() >= 40) break;
  }
  while (!out.empty() && (out.back() == '-' || out.back() == '.')) out.pop_back();
  while (!out.empty() && out.front() == '.') out.erase(out.begin());
  return out.empty() ? "kv" : out;
}

}  // namespace

Status Fingerprint::FromJson(std::string_view json, Fingerprint* out) {
  nlohmann::json obj = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (obj.is_discarded() || !obj.is_object()) {
    return Status::InvalidArgument("fingerprint must be a JSON object");
  }
  Fingerprint fp;
  fp.canonical_ = obj.dump();  // nlohmann keeps object keys sorted
  Hash128 digest = Xxh3_128(fp.canonical_.data(), fp.canonical_.size());
  fp.digest_lo_ = digest.lo;
  fp.digest_hi_ = digest.hi;
  fp.digest_hex_ = digest.ToHex();
  fp.namespace_name_ = Slug(obj) + "-" + fp.digest_hex_.substr(0, 12);
  *out = std::move(fp);
  return Status::OK();
}

}  // namespace kvtier
