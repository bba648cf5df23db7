#include "kvtier/status.h"

#include <cerrno>
#include <cstring>

namespace kvtier {

std::string Status::ToString() const {
  const char* name = "OK";
  switch (code_) {
    case Code::kOk:
      return "OK";
    case Code::kNotFound:
      name = "NotFound";
      break;
    case Code::kCorruption:
      name = "Corruption";
      break;
    case Code::kIOError:
      name = "IOError";
      break;
    case Code::kInvalidArgument:
      name = "InvalidArgument";
      break;
    case Code::kNotSupported:
      name = "NotSupported";
      break;
  }
  std::string out = std::string(name) + ": " + msg_;
  if (err_ != 0) {
    out += ": ";
    out += std::strerror(err_);
  }
  return out;
}

Status PosixError(std::string_view context, int err) {
  if (err == ENOENT) return Status::NotFound(context, err);
  return Status::IOError(context, err);
}

}  // namespace kvtier
