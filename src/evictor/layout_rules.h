// Which names the evictor recognises, and which replica owns which part of
// the tree. Everything the evictor may delete must pass these predicates; a
// name that matches none of them is foreign and is never touched.
//
// kvtier (src/layout/layout.h):
//   ROOT/<slug>-<digest12>/fingerprint.json
//   ROOT/<slug>-<digest12>/<aa>/<bb>/<hex>.kv          temp: .tmp.*
// vLLM tiering `fs` / llm-d fs connector (vllm/v1/kv_offload/tiering/fs):
//   ROOT/<model>_<digest12>/config.json                 (never touched)
//   ROOT/<model>_<digest12>_r<rank>/<hhh>/<hh>_g<group>/<hash>.bin
//   temp: <hash>.bin_<decimal>.tmp beside the chunk (one suffix per writer
//   thread), and .o_direct_probe_<decimal>.tmp from the O_DIRECT probe.
//   The chunk name repeats its directories: <hash> starts with <hhh><hh>.
//
// Shares: replica i of N owns the first-level fan-out directories whose hex
// value is congruent to i mod N (<aa> for kvtier, <hhh> for vLLM), in every
// namespace. Namespace-level files (temps only) belong to replica 0.
// The shares are disjoint and together cover every fan-out directory.
#ifndef KVTIER_SRC_EVICTOR_LAYOUT_RULES_H_
#define KVTIER_SRC_EVICTOR_LAYOUT_RULES_H_

#include <cstdint>
#include <string_view>

namespace kvtier::evictor {

enum class LayoutKind : uint8_t { kNone = 0, kKvtier, kVllm };

// "<slug>-<12 lowercase hex>". The caller must also see fingerprint.json.
bool IsKvtierNamespaceName(std::string_view name);
// "<model>_<12 lowercase hex>_r<decimal rank>".
bool IsVllmNamespaceName(std::string_view name);

// First-level fan-out directory: "aa" (kvtier) or "hhh" (vLLM).
bool IsFanoutName(LayoutKind layout, std::string_view name);
// Second-level (leaf) directory: "bb" (kvtier) or "hh_g<group>" (vLLM).
bool IsLeafName(LayoutKind layout, std::string_view name);
// A published chunk that may live in leaf `leaf` under fan-out `fanout`.
bool IsChunkName(LayoutKind layout, std::string_view fanout, std::string_view leaf,
                 std::string_view name);
// A writer's temp file (stale ones are removed after --tmp-grace).
bool IsTempName(LayoutKind layout, std::string_view name);

// The replica (0..replicas-1) owning a first-level fan-out directory, or -1
// when `fanout` is not a fan-out name of `layout` or replicas < 1.
int ShareOf(LayoutKind layout, std::string_view fanout, int replicas);

}  // namespace kvtier::evictor

#endif  // KVTIER_SRC_EVICTOR_LAYOUT_RULES_H_
