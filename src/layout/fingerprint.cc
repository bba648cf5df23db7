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

// Real fingerprints nest three or four levels. Serialising is recursive, so
// a fingerprint.json of 100,000 nested brackets (200 KB, which anyone who
// can write the volume may plant) overflowed the stack of Store::Open and
// `kvtier stat` (found while writing fuzz/fingerprint_fuzzer).
constexpr int kMaxDepth = 64;

}  // namespace

Status Fingerprint::FromJson(std::string_view json, Fingerprint* out) {
  bool too_deep = false;
  // Values nested deeper than the limit are dropped as they are parsed (the
  // whole fingerprint is refused below), so they cost no memory either.
  auto depth_check = [&too_deep](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
    if (depth <= kMaxDepth) return true;
    too_deep = true;
    return false;
  };
  nlohmann::json obj = nlohmann::json::parse(json, depth_check, /*allow_exceptions=*/false);
  if (too_deep) return Status::InvalidArgument("fingerprint nested too deeply");
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
