#include "evictor/journal.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <utility>
#include <vector>

#include "layout/layout.h"

namespace kvtier::evictor {

namespace {

constexpr std::array<uint32_t, 256> MakeCrcTable() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) != 0 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr std::array<uint32_t, 256> kCrcTable = MakeCrcTable();

constexpr char kSegmentSuffix[] = ".log";
constexpr size_t kSeqDigits = 16;

std::string Hex(uint64_t v, int digits) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%0*llx", digits, static_cast<unsigned long long>(v));
  return buf;
}

std::string SegmentName(int replica, uint64_t seq) {
  return "r" + std::to_string(replica) + "-" + Hex(seq, kSeqDigits) + kSegmentSuffix;
}

std::string TempPrefix(int replica) {
  return std::string(kTempPrefix) + "r" + std::to_string(replica) + "-";
}

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

}  // namespace

uint32_t Crc32(std::string_view data) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) c = kCrcTable[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

bool ParseSegmentName(std::string_view name, int* replica, uint64_t* seq) {
  const size_t suffix = sizeof(kSegmentSuffix) - 1;
  if (name.size() < 2 + 1 + kSeqDigits + suffix || name[0] != 'r') return false;
  if (name.substr(name.size() - suffix) != kSegmentSuffix) return false;
  std::string_view body = name.substr(1, name.size() - 1 - suffix);
  size_t dash = body.find('-');
  if (dash == std::string_view::npos || dash == 0 || dash > 4) return false;
  int r = 0;
  for (char c : body.substr(0, dash)) {
    if (c < '0' || c > '9') return false;
    r = r * 10 + (c - '0');
  }
  std::string_view hex = body.substr(dash + 1);
  if (hex.size() != kSeqDigits) return false;
  uint64_t v = 0;
  for (char c : hex) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) return false;
    v = v * 16 + static_cast<uint64_t>(d);
  }
  *replica = r;
  *seq = v;
  return true;
}

Status RemovalJournal::Add(const std::string& ns, std::string_view rel_path) {
  if (!enabled()) return Status::OK();
  std::string line = std::string(rel_path) + " " + Hex(Crc32(rel_path), 8) + "\n";
  Status s;
  std::string& body = pending_[ns];
  if (body.size() + line.size() > kMaxSegmentBytes) {
    std::string full = std::move(body);
    body.clear();
    s = WriteSegment(ns, full);
  }
  pending_[ns] += line;
  return s;
}

Status RemovalJournal::Flush() {
  Status first;
  std::map<std::string, std::string> pending = std::move(pending_);
  pending_.clear();
  for (const auto& [ns, body] : pending) {
    if (body.empty()) continue;
    Status s = WriteSegment(ns, body);
    if (first.ok() && !s.ok()) first = s;
  }
  return first;
}

Status RemovalJournal::OpenJournal(const std::string& ns, std::unique_ptr<Dir>* out) {
  Status s = env_->CreateDir(root_path_ + "/" + ns + "/" + kJournalDir, CreatePerms{});
  if (!s.ok()) return s;
  std::unique_ptr<Dir> ns_dir;
  s = root_->OpenDir(ns, &ns_dir);
  if (s.ok()) s = ns_dir->OpenDir(kJournalDir, out);
  return s;
}

Status RemovalJournal::Publish(Dir* journal, const std::string& tmp, const std::string& name,
                               const std::string& body, bool replace) {
  std::unique_ptr<File> f;
  Status s = journal->OpenFile(tmp, kOpenWrite | kOpenCreateExclusive, &f);
  if (!s.ok()) return s;
  struct iovec iov = {const_cast<char*>(body.data()), body.size()};
  s = f->WriteV(0, &iov, 1);
  f.reset();
  if (s.ok()) {
    s = journal->Rename(tmp, name, /*no_replace=*/!replace);
    if (s.IsNotSupported()) s = journal->Rename(tmp, name, /*no_replace=*/false);
  }
  if (!s.ok()) journal->Unlink(tmp);  // best effort; Prune removes it later otherwise
  return s;
}

Status RemovalJournal::WriteSegment(const std::string& ns, const std::string& body) {
  std::unique_ptr<Dir> journal;
  Status s = OpenJournal(ns, &journal);
  if (!s.ok()) return s;
  const int64_t now = env_->NowNanos();
  last_seq_ = std::max(last_seq_ + 1, static_cast<uint64_t>(std::max<int64_t>(now, 0)));
  s = Publish(journal.get(), TempPrefix(replica_) + Hex(last_seq_, kSeqDigits),
              SegmentName(replica_, last_seq_), body, /*replace=*/false);
  if (!s.ok()) return s;
  return Prune(ns, journal.get(), now);
}

uint64_t RemovalJournal::OwnBytes() const {
  uint64_t total = 0;
  for (const auto& [ns, files] : own_) {
    total += files.usage_note;
    for (const auto& [seq, bytes] : files.segments) total += bytes;
  }
  return total;
}

Status RemovalJournal::WriteUsage(const std::string& ns, uint64_t chunks, uint64_t bytes) {
  if (!enabled()) return Status::OK();
  const uint64_t mono = env_->MonotonicNanos();
  auto it = usage_.find(ns);
  if (it != usage_.end() && it->second.chunks == chunks && it->second.bytes == bytes &&
      mono - it->second.written_ns < kUsageRefreshNs) {
    return Status::OK();
  }
  std::unique_ptr<Dir> journal;
  Status s = OpenJournal(ns, &journal);
  if (!s.ok()) return s;
  std::string text = "chunks " + std::to_string(chunks) + " bytes " + std::to_string(bytes) +
                     " time " + std::to_string(env_->NowNanos());
  text += " " + Hex(Crc32(text), 8) + "\n";
  const std::string r = std::to_string(replica_);
  journal->Unlink(std::string(kTempPrefix) + "usage.r" + r);  // left by a crash, if any
  s = Publish(journal.get(), std::string(kTempPrefix) + "usage.r" + r, "usage.r" + r, text,
              /*replace=*/true);
  if (!s.ok()) return s;
  usage_[ns] = UsageNote{chunks, bytes, mono};
  FileInfo st;
  own_[ns].usage_note = journal->Stat("usage.r" + r, &st).ok() ? st.alloc_bytes : 0;
  // Also counts (and ages out) segments a previous run left, before this
  // run's first flush there. The note itself was written: a segment that
  // could not be removed is for the next flush to report.
  Prune(ns, journal.get(), env_->NowNanos());
  return Status::OK();
}

Status RemovalJournal::Prune(const std::string& ns, Dir* journal, int64_t now_ns) {
  std::vector<DirEntry> entries;
  Status s = journal->List(&entries);
  if (!s.ok()) return s;
  const uint64_t keep_from = static_cast<uint64_t>(std::max<int64_t>(now_ns - keep_ns_, 0));
  const uint64_t orphan_from = static_cast<uint64_t>(std::max<int64_t>(now_ns - 2 * keep_ns_, 0));
  const std::string tmp_prefix = TempPrefix(replica_);
  std::vector<std::pair<uint64_t, std::string>> mine;
  std::vector<std::string> drop;
  for (const DirEntry& e : entries) {
    int replica = 0;
    uint64_t seq = 0;
    if (ParseSegmentName(e.name, &replica, &seq)) {
      if (replica == replica_) {
        if (seq < keep_from) {
          drop.push_back(e.name);
        } else {
          mine.emplace_back(seq, e.name);
        }
      } else if (replica_ == 0 && seq < orphan_from) {
        drop.push_back(e.name);
      }
    } else if (StartsWith(e.name, tmp_prefix)) {
      FileInfo st;
      if (journal->Stat(e.name, &st).ok() && st.IsRegular() && st.mtime_ns < now_ns - keep_ns_) {
        drop.push_back(e.name);
      }
    }
  }
  std::sort(mine.begin(), mine.end());
  const size_t excess = mine.size() > static_cast<size_t>(max_segments_)
                            ? mine.size() - static_cast<size_t>(max_segments_)
                            : 0;
  for (size_t i = 0; i < excess; ++i) drop.push_back(mine[i].second);
  // Recount what stays; a segment is written once, so one stat each.
  std::map<uint64_t, uint64_t>& counted = own_[ns].segments;
  std::map<uint64_t, uint64_t> kept;
  for (size_t i = excess; i < mine.size(); ++i) {
    auto it = counted.find(mine[i].first);
    FileInfo st;
    if (it != counted.end()) {
      kept.emplace(it->first, it->second);
    } else if (journal->Stat(mine[i].second, &st).ok()) {
      kept.emplace(mine[i].first, st.alloc_bytes);
    }
  }
  counted = std::move(kept);
  Status first;
  for (const std::string& name : drop) {
    Status u = journal->Unlink(name);
    if (first.ok() && !u.ok() && !u.IsNotFound()) first = u;
  }
  return first;
}

}  // namespace kvtier::evictor
