// The kvtier CLI's subcommands. Each returns the process exit status.
#ifndef KVTIER_SRC_CLI_COMMANDS_H_
#define KVTIER_SRC_CLI_COMMANDS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kvtier::cli {

int StatCommand(const std::string& root, bool json);
int VerifyCommand(const std::string& root, bool delete_bad, bool json);
int InspectCommand(const std::string& file, bool json);

struct BenchArgs {
  std::string dir;
  uint64_t chunk_bytes = 8ULL << 20;
  int count = 64;
  int threads = 4;
  std::vector<std::string> backends = {"threadpool", "io_uring"};
  std::vector<std::string> modes = {"direct", "buffered"};
  bool verify = true;
  bool fio = true;
  bool drop_caches = false;
  bool json = false;
  uint64_t segment_bytes = 0;  // 0: the store's default
  int repeat = 3;              // medians over this many kvtier/fio pairs
  int depth = 0;               // jobs (buffers) in flight; 0: threads
  bool cold_tree = false;      // time the fan-out directories' creation too
  double io_timeout_s = -1;    // per-job deadline; < 0: the store's default
};
int BenchCommand(const BenchArgs& args);

}  // namespace kvtier::cli

#endif  // KVTIER_SRC_CLI_COMMANDS_H_
