#include "evictor/layout_rules.h"

#include "layout/layout.h"

namespace kvtier::evictor {

namespace {

bool IsLowerHex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

bool AllLowerHex(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsLowerHex(c)) return false;
  }
  return true;
}

bool AllDigits(std::string_view s) {
  if (s.empty() || s.size() > 19) return false;
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

int HexValue(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 16 + (IsDigit(c) ? c - '0' : c - 'a' + 10);
  return v;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

constexpr size_t kDigestLen = 12;
// vLLM block hashes are at most a few dozen bytes; anything longer is not one.
constexpr size_t kMaxVllmHashHex = 256;

bool IsVllmChunkStem(std::string_view stem) {
  return stem.size() >= 5 && stem.size() <= kMaxVllmHashHex && stem.size() % 2 == 0 &&
         AllLowerHex(stem);
}

}  // namespace

bool IsKvtierNamespaceName(std::string_view name) {
  if (name.size() < kDigestLen + 2) return false;
  std::string_view digest = name.substr(name.size() - kDigestLen);
  return name[name.size() - kDigestLen - 1] == '-' && AllLowerHex(digest);
}

bool IsVllmNamespaceName(std::string_view name) {
  size_t r = name.rfind("_r");
  if (r == std::string_view::npos || !AllDigits(name.substr(r + 2))) return false;
  std::string_view base = name.substr(0, r);
  if (base.size() < kDigestLen + 2) return false;
  return base[base.size() - kDigestLen - 1] == '_' &&
         AllLowerHex(base.substr(base.size() - kDigestLen));
}

bool IsFanoutName(LayoutKind layout, std::string_view name) {
  switch (layout) {
    case LayoutKind::kKvtier:
      return IsFanoutDirName(name);
    case LayoutKind::kVllm:
      return name.size() == 3 && AllLowerHex(name);
    default:
      return false;
  }
}

bool IsLeafName(LayoutKind layout, std::string_view name) {
  switch (layout) {
    case LayoutKind::kKvtier:
      return IsFanoutDirName(name);
    case LayoutKind::kVllm:
      return name.size() >= 5 && AllLowerHex(name.substr(0, 2)) && name.substr(2, 2) == "_g" &&
             AllDigits(name.substr(4));
    default:
      return false;
  }
}

bool IsChunkName(LayoutKind layout, std::string_view fanout, std::string_view leaf,
                 std::string_view name) {
  switch (layout) {
    case LayoutKind::kKvtier:
      return IsChunkFileName(name);
    case LayoutKind::kVllm: {
      if (!EndsWith(name, ".bin") || fanout.size() != 3 || leaf.size() < 2) return false;
      std::string_view stem = name.substr(0, name.size() - 4);
      // The hash names its own directories; a file that disagrees was not
      // written by the connector.
      return IsVllmChunkStem(stem) && stem.substr(0, 3) == fanout &&
             stem.substr(3, 2) == leaf.substr(0, 2);
    }
    default:
      return false;
  }
}

bool IsTempName(LayoutKind layout, std::string_view name) {
  switch (layout) {
    case LayoutKind::kKvtier:
      return IsTempFileName(name);
    case LayoutKind::kVllm: {
      if (!EndsWith(name, ".tmp")) return false;
      std::string_view body = name.substr(0, name.size() - 4);
      size_t us = body.rfind('_');
      if (us == std::string_view::npos || !AllDigits(body.substr(us + 1))) return false;
      std::string_view target = body.substr(0, us);
      if (target == ".o_direct_probe") return true;
      return EndsWith(target, ".bin") && IsVllmChunkStem(target.substr(0, target.size() - 4));
    }
    default:
      return false;
  }
}

int ShareOf(LayoutKind layout, std::string_view fanout, int replicas) {
  if (replicas < 1 || !IsFanoutName(layout, fanout)) return -1;
  return HexValue(fanout) % replicas;
}

}  // namespace kvtier::evictor
