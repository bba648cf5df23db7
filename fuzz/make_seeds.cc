// make_fuzz_seeds OUT_DIR: writes the seed inputs of the fuzz targets into
// OUT_DIR/<target>/, made by the real encoder and the real store, so that
// they follow the chunk format whatever version of it is built. fuzz/run.sh
// runs it before every fuzzing run; fuzz/corpus/ holds a committed copy
// (refresh it with `fuzz/run.sh --seeds-only`).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "format/chunk_format.h"
#include "kvtier/fingerprint.h"
#include "kvtier/store.h"
#include "layout/layout.h"

namespace kvtier {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& dir, const std::string& name, char mode, const std::string& body) {
  fs::create_directories(dir);
  std::ofstream f(dir / name, std::ios::binary | std::ios::trunc);
  if (mode != '\xff') f.put(mode);  // the targets' first byte: 0 raw, 1 built
  f.write(body.data(), static_cast<std::streamsize>(body.size()));
}

std::string ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

std::string Noise(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng());
  return s;
}

constexpr char kRaw = '\0';
constexpr char kBuilt = '\1';
constexpr char kPlain = '\xff';  // no mode byte

// Chunk files written by the store itself, for the header and inspect seeds.
bool ChunkSeeds(const fs::path& out) {
  const char* tmp = std::getenv("TMPDIR");
  std::string root = std::string(tmp != nullptr ? tmp : "/tmp") + "/kvtier-seeds-XXXXXX";
  if (::mkdtemp(root.data()) == nullptr) return false;
  Fingerprint fp;
  Fingerprint::FromJson(R"({"model":"org/Model-7B","kv_dtype":"bf16","block_size":256})", &fp);
  StoreOptions opts;
  opts.read_threads = 1;
  opts.write_threads = 1;
  std::unique_ptr<Store> store;
  if (!Store::Open(root, fp, opts, &store).ok()) return false;
  struct Seed {
    std::string name;
    std::string key;
    size_t payload;
  };
  const std::vector<Seed> seeds = {
      {"key1_empty", "k", 0},
      {"key32_100b", Noise(32, 1), 100},
      {"key100_5000b", Noise(100, 2), 5000},
      {"key101_hashed_name", Noise(101, 3), 4096},
      {"key600_8k", Noise(600, 4), 8192},
  };
  for (const Seed& s : seeds) {
    std::string payload = Noise(s.payload, 7);
    if (!store->Put(s.key, payload.data(), payload.size())) return false;
    std::string file = ReadAll(LocateChunk(store->namespace_dir(), s.key).path);
    if (file.size() < HeaderSize(s.key.size())) return false;
    Write(out / "chunk_header", s.name, kRaw, file.substr(0, HeaderSize(s.key.size())));
    Write(out / "inspect", s.name, kRaw, file);
  }
  store.reset();
  // Authenticated chunks (MAC'd with whichever of ChaCha20-Poly1305 and
  // GMAC this CPU's store picks, and AES-256-GCM encrypted), so the flags,
  // key id, nonce, tag and algorithm fields start from what the store writes.
  const std::string keys = root + "/keys";
  std::ofstream(keys) << std::string(64, 'a') << "\n";
  fs::permissions(keys, fs::perms::owner_read | fs::perms::owner_write);
  for (bool encrypt : {false, true}) {
    opts.auth_key_file = keys;
    opts.encrypt = encrypt;
    if (!Store::Open(root, fp, opts, &store).ok()) return false;
    const std::string key = encrypt ? "sealed-encrypted" : "sealed-mac";
    std::string payload = Noise(5000, 8);
    if (!store->Put(key, payload.data(), payload.size())) return false;
    std::string file = ReadAll(LocateChunk(store->namespace_dir(), key).path);
    if (file.size() < HeaderSize(key.size())) return false;
    const std::string name = encrypt ? "sealed_encrypted" : "sealed_mac";
    Write(out / "chunk_header", name, kRaw, file.substr(0, HeaderSize(key.size())));
    Write(out / "inspect", name, kRaw, file);
    store.reset();
  }
  fs::remove_all(root);
  // Inputs for the targets' "built" mode (fields chosen by the bytes).
  for (uint32_t i = 0; i < 3; ++i) {
    Write(out / "chunk_header", "built" + std::to_string(i), kBuilt, Noise(96 + 64 * i, 10 + i));
    Write(out / "inspect", "built" + std::to_string(i), kBuilt, Noise(200 + 400 * i, 20 + i));
  }
  return true;
}

void FingerprintSeeds(const fs::path& out) {
  // One literal per seed (long ones joined explicitly).
  const std::string vllm =
      std::string(R"({"engine":"vllm","engine_version":"0.33","model":"Qwen/Qwen3-8B",)") +
      R"("model_revision":"","kv_dtype":"bfloat16","block_size":256,"hash_algo":"sha256",)" +
      R"("cache_salt":"","kv_groups":[{"layers":["model.layers.0.self_attn"],)" +
      R"("tokens_per_block":16}],"parallel":{"tp":2,"pp":1,"pcp":1,"rank":0},)" +
      R"("chunk_bytes":4194304,"canonical":true})";
  const std::string sglang =
      std::string(R"({"engine":"sglang","model":"deepseek-ai/DeepSeek-V3","mla":true,)") +
      R"("page_size":64,"layout":"page_first","tp_size":8,"pp_rank":0,"dtype":"fp8_e4m3",)" +
      R"("x":null,"f":1.5e-3})";
  const std::vector<std::string> texts = {
      R"({"model":"meta-llama/Llama-3.1-8B","kv_dtype":"bf16"})",
      vllm,
      sglang,
      R"({"model":"a/b/c \u00e9\ud83d\ude00 ../..","n":-0,"big":18446744073709551615})",
      R"({})",
  };
  for (size_t i = 0; i < texts.size(); ++i) {
    Write(out / "fingerprint", "fp" + std::to_string(i) + ".json", kPlain, texts[i]);
  }
}

// Layout seeds in the target's FuzzedDataProvider order: three strings,
// each ended by "\\ ", then the store key; the integers come off the end
// (replicas: two bytes, then the layout: one byte, 1 kvtier, 2 vLLM).
void LayoutSeeds(const fs::path& out) {
  struct Seed {
    std::string name, fanout, leaf, file, key;
    char layout;
  };
  const std::vector<Seed> seeds = {
      {"kvtier_chunk", "3f", "a0", "6b6579.kv", "key", '\1'},
      {"kvtier_hashed", "00", "ff", "h0123456789abcdef0123456789abcdef.kv", Noise(200, 5), '\1'},
      {"kvtier_temp", "3f", "a0", ".tmp.0123456789abcdef.42", "k", '\1'},
      {"vllm_chunk", "abc", "de_g0", "abcde0123456789a.bin", "", '\2'},
      {"vllm_temp", "abc", "de_g12", "abcde0123456789a.bin_7.tmp", "", '\2'},
      {"vllm_probe", "abc", "de_g1", ".o_direct_probe_123.tmp", "", '\2'},
  };
  for (const Seed& s : seeds) {
    std::string body = s.fanout + "\\ " + s.leaf + "\\ " + s.file + "\\ " + s.key;
    body += std::string("\x03\x00", 2);
    body += s.layout;
    Write(out / "layout_rules", s.name, kPlain, body);
  }
}

}  // namespace
}  // namespace kvtier

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path out = argv[1];
  if (!kvtier::ChunkSeeds(out)) {
    std::fprintf(stderr, "make_fuzz_seeds: could not write chunk seeds\n");
    return 1;
  }
  kvtier::FingerprintSeeds(out);
  kvtier::LayoutSeeds(out);
  return 0;
}
