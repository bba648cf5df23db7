// kvtier: inspect, verify and benchmark a kvtier cache directory.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "cli/commands.h"
#include "kvtier/store.h"
#include "util/parse_bytes.h"
#ifdef KVTIER_HAVE_EVICTOR
#include "evictor/evictor_main.h"
#endif

namespace {

// `kvtier bench`'s flags: BenchArgs, and the ones parsed into it after.
struct BenchFlags {
  kvtier::cli::BenchArgs args;
  std::string size = "8M";
  std::string segment;
  bool no_verify = false;
  bool no_fio = false;
};

CLI::App* AddBench(CLI::App* app, BenchFlags* f, bool* json) {
  kvtier::cli::BenchArgs& a = f->args;
  auto* bench = app->add_subcommand(
      "bench", "Store and load N chunks of size S with T threads; fio and memcpy alongside");
  bench->add_option("--dir", a.dir, "Directory to benchmark (default: a temp dir)");
  bench->add_option("--load-dir", a.load_dir,
                    "--dir through another path (another node's mount): loads read there");
  bench->add_option("--size", f->size, "Chunk size (e.g. 2M, 8M, 32M)");
  bench->add_option("--count", a.count, "Chunks")->check(CLI::Range(1, 1000000));
  bench->add_option("--threads", a.threads, "I/O threads")->check(CLI::Range(1, 256));
  bench->add_option("--repeat", a.repeat, "Repetitions (medians reported)")
      ->check(CLI::Range(1, 100));
  bench->add_option("--backends", a.backends, "threadpool,io_uring,auto")->delimiter(',');
  bench->add_option("--modes", a.modes, "direct,buffered,auto")->delimiter(',');
  bench
      ->add_option("--depth", a.depth,
                   "Single-chunk jobs in flight, each with its own buffer (default: threads)")
      ->check(CLI::Range(1, 1024));
  bench->add_flag("--no-verify", f->no_verify, "Skip checksum verification on loads");
  bench->add_flag("--no-fio", f->no_fio, "Skip the fio baseline");
  bench->add_flag("--drop-caches", a.drop_caches,
                  "Drop the page cache before each load phase (root)");
  bench->add_flag("--json", *json, "Machine-readable output");
  bench->add_option("--auth-key-file", a.auth_key_file,
                    "Authenticated chunks with this key file (docs/SECURITY.md)");
  bench->add_flag("--encrypt", a.encrypt, "With --auth-key-file: encrypted chunks");
  bench->add_flag("--cold-tree", a.cold_tree,
                  "Create the fan-out directories inside the timed store phase (default: "
                  "before it, as in a warm cache and as fio's directory exists before fio)");
  bench->add_option("--segment", f->segment,
                    "Transfer unit of the store (e.g. 1M); default: store's");
  bench
      ->add_option("--io-timeout", a.io_timeout_s,
                   "Per-job I/O deadline in seconds (0: none, which also turns off staged "
                   "loads); default: the store's")
      ->check(CLI::Range(0.0, 1e6));
  return bench;
}

int RunBench(BenchFlags* f, bool json) {
  kvtier::cli::BenchArgs& a = f->args;
  if (!kvtier::ParseBytes(f->size, &a.chunk_bytes) || a.chunk_bytes == 0) {
    std::fprintf(stderr, "kvtier bench: bad --size %s\n", f->size.c_str());
    return 2;
  }
  if (a.chunk_bytes > kvtier::kMaxPayloadBytes) {
    std::fprintf(stderr, "kvtier bench: --size %s is over the chunk format's limit of %llu bytes\n",
                 f->size.c_str(), static_cast<unsigned long long>(kvtier::kMaxPayloadBytes));
    return 2;
  }
  if (!f->segment.empty() && !kvtier::ParseBytes(f->segment, &a.segment_bytes)) {
    std::fprintf(stderr, "kvtier bench: bad --segment %s\n", f->segment.c_str());
    return 2;
  }
  a.verify = !f->no_verify;
  a.fio = !f->no_fio;
  a.json = json;
  return kvtier::cli::BenchCommand(a);
}

int Main(int argc, char** argv) {
#ifdef KVTIER_HAVE_EVICTOR
  // `kvtier evict ...` is the evictor with the same flags.
  if (argc >= 2 && std::string(argv[1]) == "evict") {
    return kvtier::evictor::EvictorMain(argc - 1, argv + 1);
  }
#endif
  CLI::App app{"kvtier: shared-filesystem KV-cache store tools"};
  app.require_subcommand(1);
  bool json = false;
  app.add_flag("--json", json, "Machine-readable output");

  std::string root;
  auto* stat = app.add_subcommand("stat", "Namespaces, chunk counts, sizes and ages under ROOT");
  stat->add_option("ROOT", root, "Cache root")->required();
  stat->add_flag("--json", json, "Machine-readable output");

  bool delete_bad = false;
  auto* verify = app.add_subcommand("verify", "Check every chunk's header and checksum");
  verify->add_option("ROOT", root, "Cache root")->required();
  verify->add_flag("--delete-bad", delete_bad, "Remove chunks that fail verification");
  verify->add_flag("--json", json, "Machine-readable output");
  std::string key_file;
  verify->add_option("--auth-key-file", key_file, "Key file, to check authenticated chunks");

  std::string file;
  auto* inspect = app.add_subcommand("inspect", "Show and check one chunk file's header");
  inspect->add_option("FILE", file, "Chunk file")->required();
  inspect->add_flag("--json", json, "Machine-readable output");
  inspect->add_option("--auth-key-file", key_file, "Key file, to check an authenticated chunk");

  BenchFlags bench_flags;
  auto* bench = AddBench(&app, &bench_flags, &json);
#ifdef KVTIER_HAVE_EVICTOR
  app.add_subcommand("evict", "Run the evictor (e.g. `kvtier evict --once ROOT`)");
#endif

  CLI11_PARSE(app, argc, argv);

  if (*stat) return kvtier::cli::StatCommand(root, json);
  if (*verify) return kvtier::cli::VerifyCommand(root, delete_bad, json, key_file);
  if (*inspect) return kvtier::cli::InspectCommand(file, json, key_file);
  if (*bench) return RunBench(&bench_flags, json);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return Main(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "kvtier: %s\n", e.what());
    return 2;
  }
}
