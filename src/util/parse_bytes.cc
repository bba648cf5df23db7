#include "util/parse_bytes.h"

#include <cmath>
#include <cstdlib>
#include <string>

namespace kvtier {

bool ParseNumber(std::string_view text, double* value, std::string* unit) {
  std::string t(text);
  if (t.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (end == t.c_str() || !std::isfinite(v)) return false;
  *value = v;
  unit->assign(end);
  return true;
}

bool ParseBytes(std::string_view text, uint64_t* out) {
  double v = 0;
  std::string unit;
  if (!ParseNumber(text, &v, &unit) || v < 0) return false;
  double mult = 1;
  if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b')) unit.pop_back();
  if (!unit.empty() && (unit.back() == 'i')) unit.pop_back();
  if (unit.size() > 1) return false;
  if (!unit.empty()) {
    switch (unit[0]) {
      case 'k':
      case 'K':
        mult = 1024.0;
        break;
      case 'm':
      case 'M':
        mult = 1024.0 * 1024;
        break;
      case 'g':
      case 'G':
        mult = 1024.0 * 1024 * 1024;
        break;
      case 't':
      case 'T':
        mult = 1024.0 * 1024 * 1024 * 1024;
        break;
      default:
        return false;
    }
  }
  double bytes = v * mult;
  if (bytes >= 1.8e19) return false;
  *out = static_cast<uint64_t>(bytes);
  return true;
}

}  // namespace kvtier
