// RemovalJournal: tells the engines which chunks this evictor replica
// deleted, through files inside each namespace, so no network path from the
// evictor to the engines is needed (kvtier.vllm tails them and turns the
// names it had announced into BlockRemoved events).
//
//   ROOT/<ns>/journal/r<replica>-<seq>.log   one segment per flush
//   ROOT/<ns>/journal/.tmp.r<replica>-<seq>  while one is written
//   ROOT/<ns>/journal/usage.r<replica>        this replica's share of the
//                                             namespace: chunks and bytes
//
// <seq> is 16 lowercase hex digits (the wall clock in ns when written,
// strictly increasing per replica). A segment is written whole to a temp
// file and renamed into place, so a reader sees all of it or nothing. Each
// line is "<aa>/<bb>/<chunk file name> <CRC-32 of that path, 8 hex>\n" (the
// chunk's path in the namespace, so a reader can check that it is still
// gone); a reader skips and counts a line whose checksum fails, so a torn or
// hostile line never becomes a removal.
//
// Bounds: a segment holds at most kMaxSegmentBytes (Add flushes first when
// the next name would not fit), so a replica buffers at most that much per
// namespace between flushes. Each replica keeps its segments younger than
// `keep_ns`, at most kMaxSegments of them; replica 0 also removes any
// segment (of a replica that no longer runs) older than 2 * keep_ns, and
// each replica its own temp files older than keep_ns. The journal
// directory is not a fan-out name, so the evictor's scan, `kvtier
// stat`/`verify` and the engines' stores never enter it; instead each
// replica counts its own segments and usage note (OwnBytes) against its
// share of a --quota-bytes quota. Up to kMaxSegments * kMaxSegmentBytes
// (512 MiB) per namespace, they would otherwise fill a quota unseen.
//
// Thread-safety: used from the evictor's loop thread only.
#ifndef KVTIER_SRC_EVICTOR_JOURNAL_H_
#define KVTIER_SRC_EVICTOR_JOURNAL_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "kvtier/env.h"
#include "kvtier/status.h"

namespace kvtier::evictor {

inline constexpr char kJournalDir[] = "journal";
inline constexpr size_t kMaxSegmentBytes = size_t{512} * 1024;
inline constexpr int kMaxSegments = 1024;
inline constexpr uint64_t kUsageRefreshNs = 60ULL * 1000 * 1000 * 1000;

// CRC-32 (IEEE 802.3, as zlib's crc32) of `data`.
uint32_t Crc32(std::string_view data);
// "r<replica>-<16 hex>.log" -> replica and seq; false for any other name.
bool ParseSegmentName(std::string_view name, int* replica, uint64_t* seq);

class RemovalJournal {
 public:
  // `root` is the open cache root at `root_path`; `keep_ns` <= 0 disables
  // the journal (Add and Flush do nothing). `max_segments`: kept per
  // replica (tests lower it).
  RemovalJournal(Env* env, Dir* root, std::string root_path, int replica, int64_t keep_ns,
                 int max_segments = kMaxSegments)
      : env_(env),
        root_(root),
        root_path_(std::move(root_path)),
        replica_(replica),
        keep_ns_(keep_ns),
        max_segments_(max_segments) {}

  bool enabled() const { return keep_ns_ > 0; }

  // Notes that chunk `rel_path` ("<aa>/<bb>/<name>") of namespace directory
  // `ns` (a name in the root) was deleted. Flushes `ns` first when the name would overflow its
  // segment; returns that flush's status.
  Status Add(const std::string& ns, std::string_view rel_path);
  // Replaces usage.r<replica> of `ns` with "chunks <n> bytes <b> time <ns>
  // <CRC-32 of what precedes it, 8 hex>\n" when the numbers changed or the
  // file is older than kUsageRefreshNs (engines export the sum over replicas
  // as gauges, ignoring files not refreshed for 5 minutes).
  Status WriteUsage(const std::string& ns, uint64_t chunks, uint64_t bytes);
  // Writes what was added since the last flush (one segment per namespace)
  // and prunes old segments. Returns the first error; what could not be
  // written is dropped (its engines keep announcing those chunks until the
  // next store or restart: stale, never wrong).
  Status Flush();
  // Allocated bytes of this replica's segments and usage notes in every
  // namespace, as of its last flush or usage note there (each lists the
  // journal directory and stats what it has not seen before). Temp files
  // (at most one per call, removed on failure) are not counted.
  uint64_t OwnBytes() const;

 private:
  struct UsageNote {
    uint64_t chunks = 0, bytes = 0;
    uint64_t written_ns = 0;  // monotonic
  };
  struct OwnFiles {
    std::map<uint64_t, uint64_t> segments;  // seq -> allocated bytes
    uint64_t usage_note = 0;                // allocated bytes
  };
  Status WriteSegment(const std::string& ns, const std::string& body);
  // Opens (creating it) the journal directory of namespace `ns`.
  Status OpenJournal(const std::string& ns, std::unique_ptr<Dir>* out);
  // Writes `body` to a temp file, then renames it onto `name`.
  Status Publish(Dir* journal, const std::string& tmp, const std::string& name,
                 const std::string& body, bool replace);
  // Removes old segments and temp files, and recounts own_[ns].
  Status Prune(const std::string& ns, Dir* journal, int64_t now_ns);

  Env* const env_;
  Dir* const root_;
  const std::string root_path_;
  const int replica_;
  const int64_t keep_ns_;
  const int max_segments_;
  uint64_t last_seq_ = 0;
  std::map<std::string, std::string> pending_;  // namespace -> segment body
  std::map<std::string, UsageNote> usage_;      // namespace -> last written
  std::map<std::string, OwnFiles> own_;         // namespace -> this replica's files
};

}  // namespace kvtier::evictor

#endif  // KVTIER_SRC_EVICTOR_JOURNAL_H_
