#include "evictor/json_log.h"

#include <strings.h>

#include <chrono>
#include <ctime>

namespace kvtier::evictor {

namespace {

const char* LevelName(LogLevel l) {
  switch (l) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    default:
      return "error";
  }
}

std::string NowIso8601() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  time_t secs = static_cast<time_t>(ms / 1000);
  struct tm tm;
  gmtime_r(&secs, &tm);
  char buf[40];
  size_t n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof(buf) - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

}  // namespace

bool ParseLogLevel(std::string_view text, LogLevel* out) {
  std::string t(text);
  if (strcasecmp(t.c_str(), "debug") == 0) {
    *out = LogLevel::kDebug;
  } else if (strcasecmp(t.c_str(), "info") == 0) {
    *out = LogLevel::kInfo;
  } else if (strcasecmp(t.c_str(), "warn") == 0 || strcasecmp(t.c_str(), "warning") == 0) {
    *out = LogLevel::kWarn;
  } else if (strcasecmp(t.c_str(), "error") == 0 || strcasecmp(t.c_str(), "critical") == 0) {
    *out = LogLevel::kError;
  } else {
    return false;
  }
  return true;
}

void Logger::set_sink(std::function<void(const std::string& line)> sink) {
  MutexLock l(&mu_);
  sink_ = std::move(sink);
}

void Logger::Log(LogLevel level, std::string_view msg, const nlohmann::json& fields) {
  if (level < level_) return;
  nlohmann::ordered_json line;
  line["ts"] = NowIso8601();
  line["level"] = LevelName(level);
  line["msg"] = std::string(msg);
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) {
      const std::string& k = it.key();
      bool reserved = k == "ts" || k == "level" || k == "msg";
      line[reserved ? "_" + k : k] = it.value();
    }
  }
  // Paths are bytes, not UTF-8: replace invalid sequences rather than throw.
  std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  MutexLock l(&mu_);
  if (sink_) {
    sink_(text);
  } else {
    text.push_back('\n');
    fwrite(text.data(), 1, text.size(), stderr);
  }
}

}  // namespace kvtier::evictor
