// Structured logs for the evictor: one JSON object per line,
//   {"ts":"2025-01-31T12:00:00.123Z","level":"info","msg":"...", <fields>}
// on stderr by default, so `kubectl logs` feeds them straight to a log
// pipeline. Field names never collide with ts/level/msg (they are prefixed
// with "_" if they would).
//
// Thread-safety: Log() may be called from any thread; lines never interleave.
#ifndef KVTIER_SRC_EVICTOR_JSON_LOG_H_
#define KVTIER_SRC_EVICTOR_JSON_LOG_H_

#include <cstdio>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "util/mutex.h"

namespace kvtier::evictor {

enum class LogLevel { kDebug = 0, kInfo, kWarn, kError };

// Accepts debug/info/warn/warning/error/critical in any case.
bool ParseLogLevel(std::string_view text, LogLevel* out);

class Logger {
 public:
  Logger() = default;
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  void set_level(LogLevel level) { level_ = level; }
  LogLevel level() const { return level_; }
  // Replaces stderr as the destination (tests capture lines with it).
  void set_sink(std::function<void(const std::string& line)> sink);

  void Log(LogLevel level, std::string_view msg, const nlohmann::json& fields = nullptr);
  void Debug(std::string_view msg, const nlohmann::json& f = nullptr) {
    Log(LogLevel::kDebug, msg, f);
  }
  void Info(std::string_view msg, const nlohmann::json& f = nullptr) {
    Log(LogLevel::kInfo, msg, f);
  }
  void Warn(std::string_view msg, const nlohmann::json& f = nullptr) {
    Log(LogLevel::kWarn, msg, f);
  }
  void Error(std::string_view msg, const nlohmann::json& f = nullptr) {
    Log(LogLevel::kError, msg, f);
  }

 private:
  Mutex mu_;  // one line at a time on the sink
  LogLevel level_ = LogLevel::kInfo;
  std::function<void(const std::string&)> sink_ GUARDED_BY(mu_);
};

}  // namespace kvtier::evictor

#endif  // KVTIER_SRC_EVICTOR_JSON_LOG_H_
