// IovecCursor: walks a copy of an iovec array as a transfer makes partial
// progress, so short reads/writes can be resumed without touching the
// caller's array.
#ifndef KVTIER_SRC_IO_IOVEC_CURSOR_H_
#define KVTIER_SRC_IO_IOVEC_CURSOR_H_

#include <sys/uio.h>

#include <cstddef>
#include <vector>

namespace kvtier {

class IovecCursor {
 public:
  IovecCursor(const struct iovec* iov, int iovcnt) : vec_(iov, iov + iovcnt) { SkipEmpty(); }

  bool empty() const { return pos_ == vec_.size(); }
  const struct iovec* iov() const { return vec_.data() + pos_; }
  int count() const { return static_cast<int>(vec_.size() - pos_); }

  // Consumes n bytes from the front.
  void Advance(size_t n) {
    while (n > 0 && pos_ < vec_.size()) {
      size_t take = n < vec_[pos_].iov_len ? n : vec_[pos_].iov_len;
      vec_[pos_].iov_base = static_cast<char*>(vec_[pos_].iov_base) + take;
      vec_[pos_].iov_len -= take;
      n -= take;
      SkipEmpty();
    }
  }

 private:
  void SkipEmpty() {
    while (pos_ < vec_.size() && vec_[pos_].iov_len == 0) ++pos_;
  }

  std::vector<struct iovec> vec_;
  size_t pos_ = 0;
};

}  // namespace kvtier

#endif  // KVTIER_SRC_IO_IOVEC_CURSOR_H_
