#include "evictor/evictor.h"

#include <algorithm>
#include <chrono>

#include "env/root_path.h"

namespace kvtier::evictor {

namespace {

constexpr size_t kBatch = 64;  // victims whose directories are listed together
constexpr int64_t kSleepSliceNs = 50LL * 1000 * 1000;
// The removal journal is written at least this often during a round (and at
// its end): the evictor's part of the eviction -> BlockRemoved delay.
constexpr uint64_t kJournalFlushNs = 1000ULL * 1000 * 1000;

int64_t SecondsToNs(double s) { return static_cast<int64_t>(s * 1e9); }

// Live chunks and their allocated bytes below directory `dir` of the index.
void AddSubtree(const FileIndex& index, uint32_t dir, uint64_t* chunks, uint64_t* bytes) {
  const IndexedDir& d = index.dir(dir);
  for (const IndexedFile& f : d.files) {
    if (f.gone()) continue;
    ++*chunks;
    *bytes += f.alloc;
  }
  for (uint32_t c : d.children) {
    if (index.dir(c).live) AddSubtree(index, c, chunks, bytes);
  }
}

}  // namespace

Status Evictor::Open(const EvictorOptions& options, std::unique_ptr<Evictor>* out) {
  Env* env = options.env != nullptr ? options.env : Env::Default();
  EvictorOptions opts = options;
  if (opts.config.replica_index < 0 && opts.config.replicas == 1) opts.config.replica_index = 0;
  // Below the resolved root no symlink is followed (the walk opens every
  // directory with O_NOFOLLOW); the root itself may be reached through one.
  std::string resolved;
  Status resolve = ResolveRoot(opts.config.root, &resolved);
  if (resolve.ok()) opts.config.root = resolved;
  Status s = Validate(opts.config, env);
  if (s.ok() && !resolve.ok()) {
    s = Status::InvalidArgument("cache root " + opts.config.root + ": " + resolve.ToString());
  }
  if (!s.ok()) return s;
  std::unique_ptr<Dir> root;
  s = env->OpenDir(opts.config.root, &root);
  if (!s.ok()) return s;
  FileInfo st;
  s = root->StatSelf(&st);
  if (!s.ok()) return s;
  std::vector<DirEntry> probe;
  s = root->List(&probe);  // an unreadable root is a configuration error, not a skip
  if (!s.ok())
    return Status::InvalidArgument("cannot list cache root " + opts.config.root + ": " +
                                   s.ToString());
  Logger* logger = options.logger;
  out->reset(new Evictor(opts, env, logger, std::move(root), st.dev));
  return Status::OK();
}

Evictor::Evictor(const EvictorOptions& options, Env* env, Logger* logger, std::unique_ptr<Dir> root,
                 uint64_t dev)
    : options_(options),
      config_(options_.config),
      env_(env),
      own_logger_(logger == nullptr ? new Logger : nullptr),
      logger_(logger != nullptr ? logger : own_logger_.get()),
      root_(std::move(root)),
      root_dev_(dev),
      scanner_(root_.get(), &index_),
      deleter_(root_.get(), root_dev_, &index_),
      journal_(env_, root_.get(), config_.root, std::max(config_.replica_index, 0),
               config_.dry_run ? 0 : SecondsToNs(config_.journal_keep_s)),
      pending_(SecondsToNs(config_.free_lag_s), config_.replicas) {
  if (own_logger_) {
    LogLevel level = LogLevel::kInfo;
    ParseLogLevel(config_.log_level, &level);
    own_logger_->set_level(level);
  }
  deleter_.set_before_recheck(options_.before_recheck);
  metrics_.high_watermark->Set(config_.high_watermark);
  metrics_.low_watermark->Set(config_.low_watermark);
  metrics_.replicas->Set(config_.replicas);
  metrics_.replica_index->Set(config_.replica_index);
  metrics_.dry_run->Set(config_.dry_run ? 1 : 0);
}

Evictor::~Evictor() = default;

bool Evictor::stopping() const {
  return stop_.load() || (options_.external_stop != nullptr && options_.external_stop->load());
}

void Evictor::Stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
}

bool Evictor::SleepFor(int64_t ns) {
  const uint64_t end = env_->MonotonicNanos() + static_cast<uint64_t>(std::max<int64_t>(ns, 0));
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    if (stopping()) return false;
    uint64_t now = env_->MonotonicNanos();
    if (now >= end) return true;
    // Short slices so a signal flag (which cannot notify) is seen promptly.
    int64_t slice = std::min<int64_t>(end - now, kSleepSliceNs);
    cv_.wait_for(l, std::chrono::nanoseconds(slice), [this] { return stop_.load(); });
  }
}

bool Evictor::Throttle() {
  if (config_.max_delete_rate <= 0) return !stopping();
  uint64_t now = env_->MonotonicNanos();
  if (next_delete_ns_ > now && !SleepFor(next_delete_ns_ - now)) return false;
  uint64_t step = static_cast<uint64_t>(1e9 / config_.max_delete_rate);
  next_delete_ns_ = std::max(next_delete_ns_, now) + step;
  return !stopping();
}

DeletePolicy Evictor::Policy() const {
  DeletePolicy p;
  p.now_ns = env_->NowNanos();
  p.min_age_ns = SecondsToNs(config_.min_age_s);
  p.tmp_grace_ns = SecondsToNs(config_.tmp_grace_s);
  p.dir_grace_ns = SecondsToNs(config_.dir_grace_s);
  p.dry_run = config_.dry_run;
  return p;
}

Status Evictor::Scan(bool full, ScanResult* result) {
  ScanOptions so;
  so.replicas = config_.replicas;
  so.replica_index = config_.replica_index;
  so.now_ns = env_->NowNanos();
  so.tmp_grace_ns = SecondsToNs(config_.tmp_grace_s);
  so.dir_grace_ns = SecondsToNs(config_.dir_grace_s);
  so.full = full;
  so.threads = config_.scan_threads;
  so.stop = &stop_;
  so.stop_also = options_.external_stop;
  so.logger = logger_;
  return scanner_.Scan(so, result);
}

Usage Evictor::QuotaUsage(const IndexTotals& t) const {
  Usage u;
  // The scan does not enter journal/ directories; the journal counts
  // this replica's files there itself.
  u.used = t.chunk_bytes + t.other_bytes + journal_.OwnBytes();
  u.capacity = std::max<uint64_t>(1, config_.quota_bytes / static_cast<uint64_t>(config_.replicas));
  return u;
}

Status Evictor::FilesystemUsage(Usage* u) {
  FsUsage fs;
  Status s = env_->GetFsUsage(config_.root, &fs);
  if (!s.ok()) return s;
  u->capacity = fs.total_bytes;
  u->used = fs.total_bytes > fs.avail_bytes ? fs.total_bytes - fs.avail_bytes : 0;
  // What we deleted and statvfs does not show yet counts as free.
  const uint64_t pending = pending_.Observe(u->used, static_cast<int64_t>(env_->MonotonicNanos()));
  metrics_.pending_free_bytes->Set(static_cast<int64_t>(pending));
  u->used -= std::min(u->used, pending);
  return Status::OK();
}

void Evictor::RemoveStale(const ScanResult& scan) {
  for (const StaleEntry& e : scan.stale) {
    if (!Throttle()) return;
    Status err;
    DeletePolicy p = Policy();
    if (deleter_.RemoveStale(e, p, &err)) {
      (e.is_dir ? metrics_.dirs_removed : metrics_.temp_files_removed)->Add();
      std::string path = index_.RelPath(e.dir);
      logger_->Info(
          e.is_dir ? "removed empty directory" : "removed stale temp file",
          {{"path", path.empty() ? e.name : path + "/" + e.name}, {"dry_run", config_.dry_run}});
    } else if (!err.ok()) {
      metrics_.errors->Add();
      logger_->Warn("cannot remove stale entry", {{"name", e.name}, {"error", err.ToString()}});
    }
  }
}

void Evictor::DeleteOne(const Candidate& c, RoundTally* tally) {
  uint64_t bytes = 0;
  std::string path;
  Status err;
  switch (deleter_.DeleteChunk(c, Policy(), &bytes, &path, &err)) {
    case Verdict::kDeleted:
      tally->freed += bytes;
      ++tally->deleted;
      metrics_.files_evicted->Add();
      metrics_.bytes_evicted->Add(bytes);
      if (logger_->level() <= LogLevel::kDebug) {  // skip building the fields per file
        logger_->Debug(config_.dry_run ? "would evict" : "evicted",
                       {{"path", path}, {"bytes", bytes}, {"atime_ns", c.atime_ns}});
      }
      if (options_.on_deleted && !config_.dry_run) options_.on_deleted(path);
      if (index_.dir(c.dir).layout == LayoutKind::kKvtier) JournalRemoval(path);
      break;
    case Verdict::kSparedHot:
      ++tally->spared;
      metrics_.spared_hot->Add();
      break;
    case Verdict::kSparedYoung:
      metrics_.spared_young->Add();
      break;
    case Verdict::kVanished:
      metrics_.vanished->Add();
      break;
    case Verdict::kError:
      ++tally->failed;
      metrics_.errors->Add();
      logger_->Warn("cannot evict", {{"path", path}, {"error", err.ToString()}});
      break;
  }
}

void Evictor::JournalRemoval(const std::string& path) {
  const size_t slash = path.find('/');
  Status s = journal_.Add(path.substr(0, slash), std::string_view(path).substr(slash + 1));
  if (!s.ok()) {
    metrics_.errors->Add();
    logger_->Warn("cannot write removal journal", {{"error", s.ToString()}});
  }
}

bool Evictor::AfterBatch(uint64_t freed_in_batch) {
  if (env_->MonotonicNanos() - last_journal_flush_ns_ >= kJournalFlushNs) FlushJournal();
  if (config_.quota_bytes != 0 || config_.dry_run) return false;
  pending_.Add(freed_in_batch, static_cast<int64_t>(env_->MonotonicNanos()));
  // Other replicas (or a writer that stopped) may have done the rest.
  Usage u;
  return FilesystemUsage(&u).ok() && u.ratio() <= config_.low_watermark;
}

uint64_t Evictor::EvictRound(uint64_t budget) {
  const int64_t now = env_->NowNanos();
  std::vector<Candidate> heap;
  index_.BuildCandidateHeap(now - SecondsToNs(config_.min_age_s), &heap);
  RoundTally tally;
  std::vector<Candidate> batch;
  bool done = false;
  while (!done && tally.freed < budget && !heap.empty() && !stopping()) {
    batch.clear();
    const uint64_t freed_before_batch = tally.freed;
    while (batch.size() < kBatch && !heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), CandidateAfter);
      batch.push_back(heap.back());
      heap.pop_back();
    }
    deleter_.PrepareBatch(batch);
    for (const Candidate& c : batch) {
      if (tally.freed >= budget || !Throttle()) break;
      DeleteOne(c, &tally);
    }
    deleter_.EndBatch();
    done = AfterBatch(tally.freed - freed_before_batch);
  }
  logger_->Info(config_.dry_run ? "eviction round (dry run)" : "eviction round",
                {{"budget_bytes", budget},
                 {"freed_bytes", tally.freed},
                 {"files", tally.deleted},
                 {"spared_hot", tally.spared},
                 {"candidates_left", heap.size()}});
  every_delete_failed_ = tally.failed > 0 && tally.deleted == 0;
  FlushJournal();
  return tally.freed;
}

void Evictor::WriteNamespaceUsage() {
  if (!journal_.enabled()) return;
  for (uint32_t ns : index_.dir(FileIndex::kRootDir).children) {
    const IndexedDir& d = index_.dir(ns);
    if (!d.live || d.layout != LayoutKind::kKvtier) continue;
    uint64_t chunks = 0, bytes = 0;
    AddSubtree(index_, ns, &chunks, &bytes);
    Status s = journal_.WriteUsage(d.name, chunks, bytes);
    if (!s.ok()) {
      metrics_.errors->Add();
      logger_->Warn("cannot write namespace usage",
                    {{"namespace", d.name}, {"error", s.ToString()}});
    }
  }
}

void Evictor::FlushJournal() {
  last_journal_flush_ns_ = env_->MonotonicNanos();
  Status s = journal_.Flush();
  if (!s.ok()) {
    metrics_.errors->Add();
    logger_->Warn("cannot write removal journal", {{"error", s.ToString()}});
  }
}

Status Evictor::ScanTick(int64_t now, ScanResult* scan) {
  const uint64_t t0 = env_->MonotonicNanos();
  const bool full = now - last_full_scan_ns_ >= SecondsToNs(config_.full_rescan_s);
  Status s = Scan(full, scan);
  const double secs = (env_->MonotonicNanos() - t0) / 1e9;
  if (!s.ok()) {
    healthy_ = false;
    metrics_.errors->Add();
    logger_->Error("cannot list cache root", {{"root", config_.root}, {"error", s.ToString()}});
    return s;
  }
  healthy_ = true;
  metrics_.errors->Add(scan->errors);
  if (scan->stopped) return Status::OK();
  if (full) last_full_scan_ns_ = now;
  metrics_.scans->Add();
  metrics_.dirs_skipped->Add(scan->dirs_skipped);
  metrics_.scan_duration->ObserveNanos(env_->MonotonicNanos() - t0);
  metrics_.last_scan_seconds->Set(secs);

  RemoveStale(*scan);
  IndexTotals t = index_.Totals();
  SetIndexGauges(t);
  metrics_.oldest_file_age_seconds->Set(
      t.oldest_atime_ns == 0 ? 0 : (now - t.oldest_atime_ns) / 1000000000LL);
  metrics_.index_memory_bytes->Set(static_cast<int64_t>(index_.MemoryBytes()));
  logger_->Debug("scan", {{"seconds", secs},
                          {"full", full},
                          {"dirs_listed", scan->dirs_listed},
                          {"dirs_skipped", scan->dirs_skipped},
                          {"files_stated", scan->files_stated},
                          {"files_indexed", t.files},
                          {"errors", scan->errors}});
  return Status::OK();
}

void Evictor::SetIndexGauges(const IndexTotals& t) {
  metrics_.files_indexed->Set(static_cast<int64_t>(t.files));
  metrics_.bytes_indexed->Set(static_cast<int64_t>(t.chunk_bytes));
}

void Evictor::SetUsageGauges(const Usage& u) {
  metrics_.usage_bytes->Set(static_cast<int64_t>(u.used));
  metrics_.usage_ratio->Set(u.ratio());
}

void Evictor::EvictExcess(const Usage& u, bool starting) {
  const double target = config_.low_watermark * static_cast<double>(u.capacity);
  uint64_t excess = u.used > target ? static_cast<uint64_t>(u.used - target) : 0;
  uint64_t budget =
      config_.quota_bytes > 0 ? excess : excess / static_cast<uint64_t>(config_.replicas);
  if (starting) {
    episode_needed_ = budget;
    episode_deleted_ = 0;
  }
  const uint64_t freed = budget > 0 ? EvictRound(budget) : 0;
  episode_deleted_ += freed;
  metrics_.overshoot_bytes->Set(static_cast<int64_t>(
      episode_deleted_ > episode_needed_ ? episode_deleted_ - episode_needed_ : 0));
  Usage after;
  if (config_.quota_bytes > 0) {
    after.capacity = u.capacity;
    after.used = u.used > freed ? u.used - freed : 0;
  } else if (!FilesystemUsage(&after).ok()) {
    after = u;
  }
  SetUsageGauges(after);
  // A dry run frees nothing, so its hysteresis would never end.
  if (after.ratio() <= config_.low_watermark || config_.dry_run) evicting_ = false;
}

Status Evictor::RunOnce() {
  every_delete_failed_ = false;
  const int64_t now = env_->NowNanos();
  ScanResult scan;
  Status s = ScanTick(now, &scan);
  if (!s.ok() || scan.stopped) return s;

  Usage u;
  if (config_.quota_bytes > 0) {
    u = QuotaUsage(index_.Totals());
  } else if (s = FilesystemUsage(&u); !s.ok()) {
    metrics_.errors->Add();
    logger_->Error("cannot measure usage; not evicting", {{"error", s.ToString()}});
    return Status::OK();
  }
  SetUsageGauges(u);
  metrics_.capacity_bytes->Set(static_cast<int64_t>(u.capacity));
  const bool starting = !evicting_ && u.ratio() >= config_.high_watermark;
  if (u.ratio() >= config_.high_watermark) {
    if (!evicting_) {
      logger_->Info("high watermark reached", {{"usage_ratio", u.ratio()}, {"used_bytes", u.used}});
    }
    evicting_ = true;
  } else if (u.ratio() <= config_.low_watermark) {
    evicting_ = false;
  }
  if (evicting_) EvictExcess(u, starting);
  metrics_.evicting->Set(evicting_ ? 1 : 0);
  WriteNamespaceUsage();
  SetIndexGauges(index_.Totals());
  return Status::OK();
}

Status Evictor::Run() {
  logger_->Info("evictor started", {{"root", config_.root},
                                    {"high", config_.high_watermark},
                                    {"low", config_.low_watermark},
                                    {"quota_bytes", config_.quota_bytes},
                                    {"replicas", config_.replicas},
                                    {"replica_index", config_.replica_index},
                                    {"dry_run", config_.dry_run}});
  const int64_t poll = SecondsToNs(config_.poll_interval_s);
  while (!stopping()) {
    uint64_t t0 = env_->MonotonicNanos();
    Status s = RunOnce();
    if (!s.ok() && config_.once) return s;
    if (config_.once && every_delete_failed_) {
      return Status::IOError("every delete of the eviction round failed", 0);
    }
    if (config_.once) break;
    int64_t spent = static_cast<int64_t>(env_->MonotonicNanos() - t0);
    if (!SleepFor(std::max<int64_t>(poll - spent, 0))) break;
  }
  logger_->Info("evictor stopped", nullptr);
  return Status::OK();
}

}  // namespace kvtier::evictor
