#include "cli/human.h"

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

}  // namespace kvtier::cli
