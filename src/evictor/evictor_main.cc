#include "evictor/evictor_main.h"

#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "CLI/CLI.hpp"
#include "evictor/evictor.h"
#include "evictor/http_server.h"

namespace kvtier::evictor {

namespace {

std::atomic<bool> g_stop_requested{false};
static_assert(std::atomic<bool>::is_always_lock_free, "needed in a signal handler");

extern "C" void OnTerminate(int) { g_stop_requested.store(true); }

void InstallSignalHandlers() {
  struct sigaction sa {};
  sa.sa_handler = OnTerminate;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
}

int ConfigError(const char* prog, const std::string& msg) {
  std::fprintf(stderr, "%s: invalid configuration: %s\n", prog, msg.c_str());
  return 2;
}

// Flags whose text needs our own parsing (percent or fraction, units).
struct TextFlags {
  std::string high, low, quota, poll, min_age, tmp_grace, dir_grace, full_rescan, free_lag,
      journal_keep;
};

Status ApplyTextFlags(const TextFlags& t, Config* c) {
  auto dur = [](const std::string& text, const char* flag, double* out) {
    if (text.empty() || ParseDuration(text, out)) return Status::OK();
    return Status::InvalidArgument(std::string(flag) + ": not a duration: " + text);
  };
  if (!t.high.empty() && !ParseRatio(t.high, &c->high_watermark)) {
    return Status::InvalidArgument("--high: not a ratio or percentage: " + t.high);
  }
  if (!t.low.empty() && !ParseRatio(t.low, &c->low_watermark)) {
    return Status::InvalidArgument("--low: not a ratio or percentage: " + t.low);
  }
  if (!t.quota.empty() && !ParseBytes(t.quota, &c->quota_bytes)) {
    return Status::InvalidArgument("--quota-bytes: not a size: " + t.quota);
  }
  Status s = dur(t.poll, "--poll-interval", &c->poll_interval_s);
  if (s.ok()) s = dur(t.min_age, "--min-age", &c->min_age_s);
  if (s.ok()) s = dur(t.tmp_grace, "--tmp-grace", &c->tmp_grace_s);
  if (s.ok()) s = dur(t.dir_grace, "--dir-grace", &c->dir_grace_s);
  if (s.ok()) s = dur(t.full_rescan, "--full-rescan", &c->full_rescan_s);
  if (s.ok()) s = dur(t.free_lag, "--free-lag", &c->free_lag_s);
  if (s.ok()) s = dur(t.journal_keep, "--journal-keep", &c->journal_keep_s);
  return s;
}

}  // namespace

HttpResponse ServeEvictorHttp(const Evictor& ev, const std::string& path) {
  HttpResponse r;
  if (path == "/metrics") {
    r.body = ev.RenderMetrics();
  } else if (path == "/healthz") {
    r.code = ev.healthy() ? 200 : 503;
    r.body = ev.healthy() ? "ok\n" : "unhealthy\n";
  } else {
    r.code = 404;
    r.body = "try /metrics or /healthz\n";
  }
  return r;
}

namespace {

// "(default 10m)": the help's defaults are Config's, never spelled twice.
std::string DefaultDuration(double seconds) {
  char buf[48];
  if (seconds >= 3600 && static_cast<int64_t>(seconds) % 3600 == 0) {
    std::snprintf(buf, sizeof(buf), "(default %gh)", seconds / 3600);
  } else if (seconds >= 60 && static_cast<int64_t>(seconds) % 60 == 0) {
    std::snprintf(buf, sizeof(buf), "(default %gm)", seconds / 60);
  } else {
    std::snprintf(buf, sizeof(buf), "(default %gs)", seconds);
  }
  return buf;
}

// Binds the flags to `config` (plain values) and `text` (parsed after).
void AddFlags(CLI::App* app, Config* config, TextFlags* text) {
  const Config d;
  const auto pct = [](double ratio) { return std::to_string(std::lround(ratio * 100)); };
  app->add_option("root", config->root, "Cache root (or $PVC_MOUNT_PATH[/$CACHE_DIRECTORY])");
  app->add_option("--high,--high-watermark", text->high,
                  "Start deleting at this usage (a fraction or percentage; default " +
                      pct(d.high_watermark) + "%)");
  app->add_option("--low,--low-watermark", text->low,
                  "Stop deleting at this usage (a fraction or percentage; default " +
                      pct(d.low_watermark) + "%)");
  app->add_option("--quota-bytes", text->quota,
                  "Apply the watermarks to bytes under ROOT against this quota (e.g. 10T) "
                  "instead of the filesystem");
  app->add_option("--poll-interval", text->poll,
                  "Time between ticks " + DefaultDuration(d.poll_interval_s));
  app->add_option("--max-delete-rate", config->max_delete_rate, "Files per second; 0 = unlimited");
  app->add_option("--min-age", text->min_age,
                  "Never delete files changed within this " + DefaultDuration(d.min_age_s));
  app->add_option("--tmp-grace", text->tmp_grace,
                  "Remove temp files older than this " + DefaultDuration(d.tmp_grace_s));
  app->add_option(
      "--dir-grace", text->dir_grace,
      "Remove empty fan-out directories older than this " + DefaultDuration(d.dir_grace_s));
  app->add_option(
      "--full-rescan", text->full_rescan,
      "Re-list unchanged leaf directories this often " + DefaultDuration(d.full_rescan_s));
  app->add_option("--free-lag", text->free_lag,
                  "Deleted bytes may take this long to show up free in statvfs " +
                      DefaultDuration(d.free_lag_s) + "; 0: off");
  app->add_option("--journal-keep", text->journal_keep,
                  "Keep removal-journal segments (for engines' BlockRemoved events) this long " +
                      DefaultDuration(d.journal_keep_s) + "; 0: no journal");
  app->add_option(
      "--scan-threads", config->scan_threads,
      "Fan-out directories scanned in parallel (default " + std::to_string(d.scan_threads) + ")");
  app->add_option("--replicas", config->replicas, "Number of evictor replicas on this tree");
  app->add_option("--replica-index", config->replica_index,
                  "This replica's share (default: ordinal of $POD_NAME or $HOSTNAME)");
  app->add_option("--port", config->port, "HTTP port for /metrics and /healthz; 0 disables");
  app->add_option("--bind", config->bind, "HTTP bind address (default " + d.bind + ")");
  app->add_flag("--dry-run", config->dry_run, "Log what would be deleted; delete nothing");
  app->add_flag("--once", config->once, "One scan and eviction round, then exit");
  app->add_option("--log-level", config->log_level, "debug, info, warn or error");
}

// Opens the evictor and runs it until a signal (or one tick with --once),
// serving /metrics and /healthz meanwhile unless --once or --port 0.
int RunEvictor(const Config& config, const char* prog) {
  Logger logger;
  LogLevel level = LogLevel::kInfo;
  ParseLogLevel(config.log_level, &level);
  logger.set_level(level);

  g_stop_requested = false;
  InstallSignalHandlers();
  EvictorOptions options;
  options.config = config;
  options.logger = &logger;
  options.external_stop = &g_stop_requested;
  std::unique_ptr<Evictor> evictor;
  Status s = Evictor::Open(options, &evictor);
  if (!s.ok()) return ConfigError(prog, s.message());

  std::unique_ptr<HttpServer> http;
  if (config.port != 0 && !config.once) {
    Evictor* ev = evictor.get();
    HttpServerOptions http_options;
    http_options.dropped = ev->metrics().http_dropped;
    http_options.timed_out = ev->metrics().http_timeouts;
    http = std::make_unique<HttpServer>(
        [ev](const std::string& path) { return ServeEvictorHttp(*ev, path); }, http_options);
    s = http->Start(config.bind, config.port);
    if (!s.ok()) {
      logger.Error("cannot start HTTP server", {{"error", s.ToString()}});
      return 1;
    }
    logger.Info("serving /metrics and /healthz", {{"bind", config.bind}, {"port", http->port()}});
  }
  s = evictor->Run();
  if (http) http->Stop();
  if (!s.ok()) {
    logger.Error("evictor failed", {{"error", s.ToString()}});
    return 1;
  }
  return 0;
}

}  // namespace

int EvictorMain(int argc, char** argv) {
  const char* prog = argc > 0 ? argv[0] : "kvtier-evictor";
  Config config;
  auto getenv_fn = [](const char* name) -> const char* { return std::getenv(name); };
  Status s = ApplyEnvironment(getenv_fn, &config);
  if (!s.ok()) return ConfigError(prog, s.message());

  CLI::App app{"kvtier-evictor: keeps a KV-cache directory between watermarks, LRU first"};
  TextFlags text;
  AddFlags(&app, &config, &text);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }
  s = ApplyTextFlags(text, &config);
  if (s.ok()) s = ResolveReplicaIndex(getenv_fn, &config);
  if (!s.ok()) return ConfigError(prog, s.message());
  return RunEvictor(config, prog);
}

}  // namespace kvtier::evictor
