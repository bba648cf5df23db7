// The kvtier CLI's subcommands. Each returns the process exit status.
#ifndef KVTIER_SRC_CLI_COMMANDS_H_
#define KVTIER_SRC_CLI_COMMANDS_H_

#include <cstdint>
#include <string>
#include <vector>

namespace kvtier::cli {

int StatCommand(const std::string& root, bool json);
// key_file: an auth_key_file, to check authenticated chunks (empty: they
// are reported as needing it).
int VerifyCommand(const std::string& root, bool delete_bad, bool json,
                  const std::string& key_file = "");
int InspectCommand(const std::string& file, bool json, const std::string& key_file = "");

struct BenchArgs {
  std::string dir;
  std::string load_dir;  // the same directory through another path (mount); loads use it
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
  std::string auth_key_file;   // authenticated chunks (StoreOptions::auth_key_file)
  bool encrypt = false;        // with auth_key_file: encrypted too
};
int BenchCommand(const BenchArgs& args);

}  // namespace kvtier::cli

#endif  // KVTIER_SRC_CLI_COMMANDS_H_
