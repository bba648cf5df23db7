// `kvtier stat`, `kvtier verify`, `kvtier inspect`.
#include <unistd.h>

#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/human.h"
#include "crypto/key_ring.h"
#include "env/root_path.h"
#include "kvtier/fingerprint.h"
#include "layout/layout.h"
#include "layout/namespace_dir.h"
#include "store/chunk_verify.h"

namespace kvtier::cli {

namespace {

using nlohmann::json;

// The fingerprint digest a namespace directory claims, if readable.
bool NamespaceDigest(const std::string& ns_dir, Hash128* out, std::string* model,
                     bool* authenticated = nullptr) {
  Fingerprint fp;
  if (!ReadNamespaceFingerprint(Env::Default(), ns_dir, &fp).ok()) return false;
  *out = Hash128{fp.digest_lo(), fp.digest_hi()};
  json j = json::parse(fp.canonical(), nullptr, false);
  if (j.is_object() && j.contains("model") && j["model"].is_string()) *model = j["model"];
  if (authenticated != nullptr) *authenticated = j.is_object() && j.contains("auth_key_id");
  return true;
}

}  // namespace

namespace {

struct NsStats {
  uint64_t chunks = 0, bytes = 0, temps = 0, other = 0;
  int64_t oldest = 0, newest = 0;  // access times, ns; 0: no chunk
};

// Counts every namespace's files under `root`; what cannot be read is
// reported on stderr and left out. Fails only when the root cannot be.
Status CountNamespaces(Env* env, const std::string& root, std::map<std::string, NsStats>* per_ns) {
  auto visit = [per_ns](const std::string& ns, const std::string&, const std::string& name,
                        const FileInfo& info) {
    NsStats& n = (*per_ns)[ns.substr(ns.find_last_of('/') + 1)];
    if (IsChunkFileName(name) && info.IsRegular()) {
      ++n.chunks;
      n.bytes += info.size;
      if (n.oldest == 0 || info.atime_ns < n.oldest) n.oldest = info.atime_ns;
      if (info.atime_ns > n.newest) n.newest = info.atime_ns;
    } else if (IsTempFileName(name)) {
      ++n.temps;
    } else {
      ++n.other;
    }
  };
  return WalkChunkTree(env, root, visit, [](const std::string& path, const Status& error) {
    std::fprintf(stderr, "kvtier stat: cannot read %s: %s\n", path.c_str(),
                 error.ToString().c_str());
  });
}

void PrintStat(const std::string& given_root, const json& out, const FsUsage* usage) {
  std::printf("root: %s\n", given_root.c_str());
  if (usage != nullptr) {
    std::printf("filesystem: %s used of %s (%.1f%%)\n",
                HumanBytes(static_cast<double>(usage->total_bytes - usage->avail_bytes)).c_str(),
                HumanBytes(static_cast<double>(usage->total_bytes)).c_str(),
                usage->total_bytes ? 100.0 * (usage->total_bytes - usage->avail_bytes) /
                                         static_cast<double>(usage->total_bytes)
                                   : 0.0);
  }
  for (const auto& ns : out["namespaces"]) {
    std::printf("%-40s %10llu chunks %12s  temp %llu  other %llu  oldest access %s ago\n",
                ns["name"].get<std::string>().c_str(),
                static_cast<unsigned long long>(ns["chunks"].get<uint64_t>()),
                HumanBytes(ns["bytes"].get<double>()).c_str(),
                static_cast<unsigned long long>(ns["temp_files"].get<uint64_t>()),
                static_cast<unsigned long long>(ns["other_files"].get<uint64_t>()),
                HumanAge(ns["oldest_access_age_s"].get<double>()).c_str());
  }
}

}  // namespace

int StatCommand(const std::string& given_root, bool as_json) {
  Env* env = Env::Default();
  std::string root;
  Status s = ResolveRoot(given_root, &root);
  std::map<std::string, NsStats> per_ns;
  if (s.ok()) s = CountNamespaces(env, root, &per_ns);
  if (!s.ok()) {
    std::fprintf(stderr, "kvtier stat: %s\n", s.ToString().c_str());
    return 2;
  }
  FsUsage usage;
  bool have_usage = env->GetFsUsage(root, &usage).ok();
  double now = static_cast<double>(env->NowNanos()) / 1e9;
  json out = {{"root", given_root}, {"namespaces", json::array()}};
  if (have_usage) {
    out["fs_total_bytes"] = usage.total_bytes;
    out["fs_avail_bytes"] = usage.avail_bytes;
  }
  for (const auto& [name, n] : per_ns) {
    Hash128 digest;
    std::string model;
    NamespaceDigest(root + "/" + name, &digest, &model);
    out["namespaces"].push_back({{"name", name},
                                 {"model", model},
                                 {"chunks", n.chunks},
                                 {"bytes", n.bytes},
                                 {"temp_files", n.temps},
                                 {"other_files", n.other},
                                 {"oldest_access_age_s", n.oldest ? now - n.oldest / 1e9 : 0},
                                 {"newest_access_age_s", n.newest ? now - n.newest / 1e9 : 0}});
  }
  if (as_json) {
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    PrintStat(given_root, out, have_usage ? &usage : nullptr);
  }
  return 0;
}

int VerifyCommand(const std::string& given_root, bool delete_bad, bool as_json,
                  const std::string& key_file) {
  Env* env = Env::Default();
  std::string root;
  Status s = ResolveRoot(given_root, &root);
  if (!s.ok()) {
    std::fprintf(stderr, "kvtier verify: %s\n", s.ToString().c_str());
    return 2;
  }
  KeyRing keys;
  if (!key_file.empty() && !(s = LoadKeyFile(env, key_file, &keys)).ok()) {
    std::fprintf(stderr, "kvtier verify: %s\n", s.ToString().c_str());
    return 2;
  }
  std::vector<std::pair<std::string, std::string>> files;  // (ns_dir, path)
  // A directory that cannot be read hides chunks that were never checked:
  // verify does not pass then, and says where.
  std::vector<std::pair<std::string, std::string>> unreadable;  // (path, error)
  s = WalkChunkTree(
      env, root,
      [&](const std::string& ns, const std::string& path, const std::string& name,
          const FileInfo&) {
        if (IsChunkFileName(name)) files.emplace_back(ns, path);
      },
      [&](const std::string& path, const Status& error) {
        unreadable.emplace_back(path, error.ToString());
        std::fprintf(stderr, "kvtier verify: cannot read %s: %s\n", path.c_str(),
                     error.ToString().c_str());
      });
  if (!s.ok()) {
    std::fprintf(stderr, "kvtier verify: %s\n", s.ToString().c_str());
    return 2;
  }
  const bool tty = ::isatty(STDERR_FILENO) && !as_json;
  // Per namespace: its fingerprint digest and whether a key file opened it
  // (then only authenticated chunks are good there).
  std::map<std::string, std::pair<Hash128, bool>> digests;
  uint64_t good = 0, bad = 0, removed = 0;
  json bad_list = json::array();
  for (size_t i = 0; i < files.size(); ++i) {
    const auto& [ns, path] = files[i];
    if (!digests.count(ns)) {
      Hash128 d;
      std::string model;
      bool auth = false;
      digests[ns] = NamespaceDigest(ns, &d, &model, &auth) ? std::make_pair(d, auth)
                                                           : std::make_pair(Hash128{}, false);
    }
    const auto& [want, auth_ns] = digests[ns];
    ChunkReport r = VerifyChunkFile(env, path, (want.lo | want.hi) ? &want : nullptr, delete_bad,
                                    key_file.empty() ? nullptr : &keys, auth_ns);
    if (r.ok) {
      ++good;
    } else {
      ++bad;
      removed += r.removed ? 1 : 0;
      std::string why = r.error.empty() ? VerifyErrorName(r.why) : r.error;
      bad_list.push_back({{"path", path}, {"reason", why}, {"removed", r.removed}});
      if (!as_json) {
        std::fprintf(tty ? stderr : stdout, "%sBAD %s: %s%s\n", tty ? "\r\033[K" : "", path.c_str(),
                     why.c_str(), r.removed ? " (removed)" : "");
      }
    }
    if (tty && (i % 64 == 0 || i + 1 == files.size())) {
      int width = 40;
      int filled = static_cast<int>(width * (i + 1) / files.size());
      std::fprintf(stderr, "\r[%s%s] %zu/%zu chunks, %llu bad", std::string(filled, '#').c_str(),
                   std::string(width - filled, '.').c_str(), i + 1, files.size(),
                   static_cast<unsigned long long>(bad));
    }
  }
  if (tty) std::fprintf(stderr, "\n");
  if (as_json) {
    json unreadable_list = json::array();
    for (const auto& [path, error] : unreadable) {
      unreadable_list.push_back({{"path", path}, {"error", error}});
    }
    std::printf("%s\n", json({{"checked", files.size()},
                              {"good", good},
                              {"bad", bad},
                              {"removed", removed},
                              {"bad_chunks", bad_list},
                              {"unreadable", unreadable_list}})
                            .dump(2)
                            .c_str());
  } else {
    std::printf("checked %zu chunks: %llu good, %llu bad, %llu removed", files.size(),
                static_cast<unsigned long long>(good), static_cast<unsigned long long>(bad),
                static_cast<unsigned long long>(removed));
    if (!unreadable.empty()) std::printf("; %zu unreadable (not checked)", unreadable.size());
    std::printf("\n");
  }
  return bad > 0 || !unreadable.empty() ? 1 : 0;
}

int InspectCommand(const std::string& given_file, bool as_json, const std::string& key_file) {
  KeyRing keys;
  Status ks;
  if (!key_file.empty() && !(ks = LoadKeyFile(Env::Default(), key_file, &keys)).ok()) {
    std::fprintf(stderr, "kvtier inspect: %s\n", ks.ToString().c_str());
    return 2;
  }
  // The file's directory may be reached through a symlink; the file itself
  // is never followed. A path that cannot be resolved is reported by the
  // check below, as a missing file always was.
  std::string file;
  if (!ResolveFileInRoot(given_file, &file).ok()) file = given_file;
  ChunkReport r =
      VerifyChunkFile(Env::Default(), file, nullptr, false, key_file.empty() ? nullptr : &keys);
  json out = {{"path", given_file}, {"file_size", r.file_size}, {"valid", r.ok}};
  if (!r.ok) out["reason"] = r.error.empty() ? VerifyErrorName(r.why) : r.error;
  if (r.header_valid) {
    const ChunkHeader& h = r.header;
    out["header"] = {{"version", h.version},
                     {"checksum", h.checksum_type == ChecksumType::kXxh3_128 ? "xxh3-128" : "none"},
                     {"payload_length", h.payload_length},
                     {"payload_checksum", h.payload_checksum.ToHex()},
                     {"fingerprint", h.fingerprint.ToHex()},
                     {"created_ns", h.created_ns},
                     {"writer_id", HexEncode(&h.writer_id, sizeof(h.writer_id))},
                     {"key_length", h.key.size()},
                     {"key_hex", HexEncode(h.key.data(), std::min<size_t>(h.key.size(), 64))},
                     {"sealing", h.encrypted()       ? "encrypted"
                                 : h.authenticated() ? "authenticated"
                                                     : "none"}};
    if (h.authenticated()) {
      out["header"]["auth_key_id"] = HexEncode(&h.auth_key_id, sizeof(h.auth_key_id));
      // AES-256-GCM without encryption is GMAC.
      out["header"]["auth_algorithm"] = h.auth_alg == AuthAlgorithm::kChaCha20Poly1305
                                            ? "chacha20-poly1305"
                                        : h.encrypted() ? "aes-256-gcm"
                                                        : "gmac";
    }
  }
  if (as_json) {
    std::printf("%s\n", out.dump(2).c_str());
  } else {
    std::printf("%s\n  size: %s\n  valid: %s\n", given_file.c_str(),
                HumanBytes(static_cast<double>(r.file_size)).c_str(), r.ok ? "yes" : "NO");
    if (!r.ok) std::printf("  reason: %s\n", out["reason"].get<std::string>().c_str());
    if (r.header_valid) {
      for (const auto& [k, v] : out["header"].items()) {
        std::printf("  %s: %s\n", k.c_str(),
                    v.is_string() ? v.get<std::string>().c_str() : v.dump().c_str());
      }
    }
  }
  return r.ok ? 0 : 1;
}

}  // namespace kvtier::cli
