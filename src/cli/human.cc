#include "cli/human.h"

#include <cctype>
#include <cstdio>

namespace kvtier::cli {

std::string HumanBytes(double bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (bytes >= 1024 && u < 5) {
    bytes /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), u == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[u]);
  return buf;
}

std::string HumanAge(double s) {
  char buf[32];
  if (s < 120) {
    std::snprintf(buf, sizeof(buf), "%.0f s", s);
  } else if (s < 7200) {
    std::snprintf(buf, sizeof(buf), "%.1f min", s / 60);
  } else if (s < 172800) {
    std::snprintf(buf, sizeof(buf), "%.1f h", s / 3600);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f d", s / 86400);
  }
  return buf;
}

bool ParseBytes(const std::string& text, uint64_t* out) {
  size_t i = 0;
  uint64_t v = 0;
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text[0]))) return false;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    if (v > (UINT64_MAX - 9) / 10) return false;
    v = v * 10 + static_cast<uint64_t>(text[i++] - '0');
  }
  std::string unit = text.substr(i);
  uint64_t mult = 1;
  if (unit.empty() || unit == "B") {
    mult = 1;
  } else if (unit == "K" || unit == "KiB" || unit == "k") {
    mult = 1ULL << 10;
  } else if (unit == "M" || unit == "MiB") {
    mult = 1ULL << 20;
  } else if (unit == "G" || unit == "GiB") {
    mult = 1ULL << 30;
  } else {
    return false;
  }
  if (v > UINT64_MAX / mult) return false;
  *out = v * mult;
  return true;
}

}  // namespace kvtier::cli
