// Status: the result of an operation that can fail. kvtier never throws
// across module boundaries; every fallible call returns a Status that keeps
// the context (path, errno) so the caller can log or count it.
//
// Thread-safety: a Status is a value; copies may be used from any thread.
#ifndef KVTIER_INCLUDE_STATUS_H_
#define KVTIER_INCLUDE_STATUS_H_

#include <string>
#include <string_view>

namespace kvtier {

class Status {
 public:
  enum class Code : unsigned char {
    kOk = 0,
    kNotFound,         // the chunk (or file) is not there: a plain miss
    kCorruption,       // bytes on disk failed verification
    kIOError,          // the filesystem refused or failed (errno kept)
    kInvalidArgument,  // caller or configuration error
    kNotSupported,     // e.g. O_DIRECT or io_uring unavailable
  };

  Status() = default;
  static Status OK() { return Status(); }
  static Status NotFound(std::string_view msg, int err = 0) {
    return Status(Code::kNotFound, msg, err);
  }
  static Status Corruption(std::string_view msg) { return Status(Code::kCorruption, msg, 0); }
  static Status IOError(std::string_view msg, int err) { return Status(Code::kIOError, msg, err); }
  static Status InvalidArgument(std::string_view msg) {
    return Status(Code::kInvalidArgument, msg, 0);
  }
  static Status NotSupported(std::string_view msg, int err = 0) {
    return Status(Code::kNotSupported, msg, err);
  }

  bool ok() const { return code_ == Code::kOk; }
  bool IsNotFound() const { return code_ == Code::kNotFound; }
  bool IsCorruption() const { return code_ == Code::kCorruption; }
  bool IsIOError() const { return code_ == Code::kIOError; }
  bool IsInvalidArgument() const { return code_ == Code::kInvalidArgument; }
  bool IsNotSupported() const { return code_ == Code::kNotSupported; }
  Code code() const { return code_; }
  // The errno behind an IOError/NotFound, or 0.
  int err() const { return err_; }
  const std::string& message() const { return msg_; }
  std::string ToString() const;

 private:
  Status(Code code, std::string_view msg, int err) : code_(code), err_(err), msg_(msg) {}

  Code code_ = Code::kOk;
  int err_ = 0;
  std::string msg_;
};

// Builds an IOError (or NotFound for ENOENT) carrying `context` and errno.
Status PosixError(std::string_view context, int err);

}  // namespace kvtier

#endif  // KVTIER_INCLUDE_STATUS_H_
