// Human-readable sizes and times for CLI output.
#ifndef KVTIER_SRC_CLI_HUMAN_H_
#define KVTIER_SRC_CLI_HUMAN_H_

#include <cstdint>
#include <string>

namespace kvtier::cli {

std::string HumanBytes(double bytes);  // "1.5 GiB"
std::string HumanAge(double seconds);  // "3.2 h"

}  // namespace kvtier::cli

#endif  // KVTIER_SRC_CLI_HUMAN_H_
