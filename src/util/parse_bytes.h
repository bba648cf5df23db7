// Sizes from configuration and command lines: "4096", "8M", "2MiB",
// "1.5G", "10T" (powers of 1024). Shared by the CLI and the evictor.
#ifndef KVTIER_SRC_UTIL_PARSE_BYTES_H_
#define KVTIER_SRC_UTIL_PARSE_BYTES_H_

#include <cstdint>
#include <string_view>

namespace kvtier {

// False on garbage, a negative number or overflow.
bool ParseBytes(std::string_view text, uint64_t* out);

}  // namespace kvtier

#endif  // KVTIER_SRC_UTIL_PARSE_BYTES_H_
