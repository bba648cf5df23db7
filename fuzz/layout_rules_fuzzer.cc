// Fuzzes the evictor's layout and name rules (evictor/layout_rules.h): the
// predicates that decide which names under the root may ever be deleted,
// and the replica shares. Directory entries are untrusted (anyone with
// write access to the volume names them). Properties checked:
//  - a name the rules accept as a chunk or a temp file is never "." or ".."
//    (names come from directory listings: no '/' or NUL), and never both a
//    chunk and a temp file;
//  - fan-out and leaf names are one component too, and ShareOf puts every
//    fan-out name in exactly one of `replicas` shares (-1 for anything else);
//  - whatever the key, the store's own file name for it (ChunkFileName,
//    LocateChunk) is one the evictor recognises, so no chunk is left behind.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "evictor/layout_rules.h"
#include "layout/layout.h"

namespace kvtier::evictor {
namespace {

bool OneComponent(std::string_view n) {
  return !n.empty() && n != "." && n != ".." && n.find('/') == std::string_view::npos &&
         n.find('\0') == std::string_view::npos;
}

void Check(bool ok) {
  if (!ok) std::abort();
}

void CheckNames(LayoutKind layout, const std::string& fanout, const std::string& leaf,
                const std::string& name, int replicas) {
  IsKvtierNamespaceName(name);
  IsVllmNamespaceName(name);
  if (IsFanoutName(layout, fanout)) {
    Check(OneComponent(fanout));
    int share = ShareOf(layout, fanout, replicas);
    Check(replicas < 1 ? share == -1 : share >= 0 && share < replicas);
  } else {
    Check(ShareOf(layout, fanout, replicas) == -1);
  }
  if (IsLeafName(layout, leaf)) Check(OneComponent(leaf));
  const bool chunk = IsChunkName(layout, fanout, leaf, name);
  const bool temp = IsTempName(layout, name);
  if (chunk || temp) Check(OneComponent(name));
  Check(!(chunk && temp));
}

void CheckStoreNames(const std::string& key, int replicas) {
  const ChunkLocation loc = LocateChunk("ns", key);
  // ns/aa/bb
  const std::string fanout = loc.leaf_dir.substr(3, 2);
  const std::string leaf = loc.leaf_dir.substr(6);
  Check(loc.leaf_dir.size() == 8 && IsFanoutName(LayoutKind::kKvtier, fanout) &&
        IsLeafName(LayoutKind::kKvtier, leaf));
  Check(IsChunkName(LayoutKind::kKvtier, fanout, leaf, loc.name));
  Check(!IsTempName(LayoutKind::kKvtier, loc.name));
  if (replicas >= 1) {
    int share = ShareOf(LayoutKind::kKvtier, fanout, replicas);
    Check(share >= 0 && share < replicas);
  }
}

}  // namespace
}  // namespace kvtier::evictor

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using kvtier::evictor::LayoutKind;
  FuzzedDataProvider in(data, size);
  const auto layout = static_cast<LayoutKind>(in.ConsumeIntegralInRange<uint8_t>(0, 3));
  const int replicas = in.ConsumeIntegralInRange<int>(-1, 300);
  std::string fanout = in.ConsumeRandomLengthString(8);
  std::string leaf = in.ConsumeRandomLengthString(16);
  std::string name = in.ConsumeRandomLengthString(600);
  // Directory entries never hold '/' or NUL (the kernel refuses them).
  for (std::string* s : {&fanout, &leaf, &name}) {
    std::erase(*s, '/');
    std::erase(*s, '\0');
  }
  kvtier::evictor::CheckNames(layout, fanout, leaf, name, replicas);
  // The rest of the input as a store key (1 byte to 64 KiB in practice).
  std::string key = in.ConsumeRemainingBytesAsString();
  kvtier::evictor::CheckStoreNames(key, replicas);
  return 0;
}
