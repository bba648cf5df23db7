// Human-readable sizes and times for CLI output.
#ifndef KVTIER_SRC_CLI_HUMAN_H_
#define KVTIER_SRC_CLI_HUMAN_H_

#include <cstdint>
#include <string>

namespace kvtier::cli {

std::string HumanBytes(double bytes);  // "1.5 GiB"
std::string HumanAge(double seconds);  // "3.2 h"
// Parses "4096", "8M", "2MiB", "1G" into bytes; false on garbage or overflow.
bool ParseBytes(const std::string& text, uint64_t* out);

}  // namespace kvtier::cli

#endif  // KVTIER_SRC_CLI_HUMAN_H_
