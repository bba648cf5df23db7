// Numbers from configuration and command lines. ParseNumber is the one
// strtod behind every parser of sizes, durations and ratios (the CLI's and
// the evictor's): a finite number, then an optional unit each caller reads.
// ParseBytes: "4096", "8M", "2MiB", "1.5G", "10T" (powers of 1024).
#ifndef KVTIER_SRC_UTIL_PARSE_BYTES_H_
#define KVTIER_SRC_UTIL_PARSE_BYTES_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace kvtier {

// False unless `text` starts with a finite number; *unit gets what follows
// it ("" when nothing does).
bool ParseNumber(std::string_view text, double* value, std::string* unit);

// False on garbage, a negative number or overflow.
bool ParseBytes(std::string_view text, uint64_t* out);

}  // namespace kvtier

#endif  // KVTIER_SRC_UTIL_PARSE_BYTES_H_
