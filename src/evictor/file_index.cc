#include "evictor/file_index.h"

#include <algorithm>

namespace kvtier::evictor {

FileIndex::FileIndex() {
  dirs_.emplace_back();
  dirs_[kRootDir].live = true;
}

uint32_t FileIndex::FindOrAddChild(uint32_t parent, std::string_view name, DirRole role,
                                   LayoutKind layout) {
  auto& kids = dirs_[parent].children;
  auto it = std::lower_bound(kids.begin(), kids.end(), name,
                             [this](uint32_t c, std::string_view n) { return dirs_[c].name < n; });
  if (it != kids.end() && dirs_[*it].name == name) return *it;
  size_t pos = it - kids.begin();
  uint32_t id;
  if (!free_.empty()) {
    id = free_.back();
    free_.pop_back();
  } else {
    id = static_cast<uint32_t>(dirs_.size());
    dirs_.emplace_back();
  }
  // `kids` may dangle after emplace_back reallocated dirs_; index afresh.
  IndexedDir& d = dirs_[id];
  d = IndexedDir();
  d.name.assign(name);
  d.parent = parent;
  d.role = role;
  d.layout = layout;
  d.live = true;
  auto& pk = dirs_[parent].children;
  pk.insert(pk.begin() + pos, id);
  return id;
}

uint32_t FileIndex::FindChild(uint32_t parent, std::string_view name) const {
  const auto& kids = dirs_[parent].children;
  auto it = std::lower_bound(kids.begin(), kids.end(), name,
                             [this](uint32_t c, std::string_view n) { return dirs_[c].name < n; });
  return it != kids.end() && dirs_[*it].name == name ? *it : kNoDir;
}

void FileIndex::RetainChildren(uint32_t parent, const std::vector<std::string_view>& keep) {
  auto& kids = dirs_[parent].children;
  std::vector<uint32_t> kept;
  kept.reserve(kids.size());
  for (uint32_t c : kids) {
    if (std::binary_search(keep.begin(), keep.end(), std::string_view(dirs_[c].name))) {
      kept.push_back(c);
    } else {
      Free(c);
    }
  }
  dirs_[parent].children.swap(kept);
}

void FileIndex::Free(uint32_t id) {
  for (uint32_t c : dirs_[id].children) Free(c);
  dirs_[id] = IndexedDir();  // releases the name, children and files
  free_.push_back(id);
}

std::string FileIndex::RelPath(uint32_t id) const {
  std::string out;
  for (std::string_view c : Components(id)) {
    if (!out.empty()) out.push_back('/');
    out.append(c);
  }
  return out;
}

std::vector<std::string_view> FileIndex::Components(uint32_t id) const {
  std::vector<std::string_view> parts;
  for (uint32_t d = id; d != kRootDir && d != kNoDir; d = dirs_[d].parent) {
    parts.push_back(dirs_[d].name);
  }
  std::reverse(parts.begin(), parts.end());
  return parts;
}

IndexTotals FileIndex::Totals() const {
  IndexTotals t;
  for (const IndexedDir& d : dirs_) {
    if (!d.live) continue;
    t.other_bytes += d.other_bytes;
    for (const IndexedFile& f : d.files) {
      if (f.gone()) continue;
      ++t.files;
      t.chunk_bytes += f.alloc;
      if (t.oldest_atime_ns == 0 || f.atime_ns < t.oldest_atime_ns) t.oldest_atime_ns = f.atime_ns;
    }
  }
  return t;
}

size_t FileIndex::MemoryBytes() const {
  size_t n = dirs_.capacity() * sizeof(IndexedDir) + free_.capacity() * sizeof(uint32_t);
  for (const IndexedDir& d : dirs_) {
    if (d.name.capacity() > 15) n += d.name.capacity() + 1;  // beyond the SSO buffer
    n += d.children.capacity() * sizeof(uint32_t);
    n += d.files.capacity() * sizeof(IndexedFile);
  }
  return n;
}

void FileIndex::BuildCandidateHeap(int64_t max_change_ns, std::vector<Candidate>* heap) const {
  heap->clear();
  for (uint32_t i = 0; i < dirs_.size(); ++i) {
    const IndexedDir& d = dirs_[i];
    if (!d.live) continue;
    for (uint32_t s = 0; s < d.files.size(); ++s) {
      const IndexedFile& f = d.files[s];
      if (f.gone() || f.change_ns > max_change_ns) continue;
      heap->push_back(Candidate{f.atime_ns, i, s});
    }
  }
  std::make_heap(heap->begin(), heap->end(), CandidateAfter);
}

}  // namespace kvtier::evictor
