// AlignedBuffer: a zero-initialised heap buffer aligned for O_DIRECT.
#ifndef KVTIER_SRC_UTIL_ALIGNED_BUFFER_H_
#define KVTIER_SRC_UTIL_ALIGNED_BUFFER_H_

#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace kvtier {

class AlignedBuffer {
 public:
  static constexpr size_t kAlign = 4096;
  AlignedBuffer() = default;
  explicit AlignedBuffer(size_t size) { Reserve(size); }
  ~AlignedBuffer() { std::free(data_); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;

  // Ensures capacity for `size` bytes; contents are not preserved.
  void Reserve(size_t size) {
    if (size <= capacity_) return;
    std::free(data_);
    size_t rounded = (size + kAlign - 1) / kAlign * kAlign;
    data_ = static_cast<char*>(std::aligned_alloc(kAlign, rounded));
    capacity_ = data_ != nullptr ? rounded : 0;
  }
  // Zeroes the first `size` bytes (after Reserve(size)).
  void Clear(size_t size) { std::memset(data_, 0, size); }
  char* data() const { return data_; }
  size_t capacity() const { return capacity_; }

 private:
  char* data_ = nullptr;
  size_t capacity_ = 0;
};

inline bool IsAligned(const void* p, size_t a) {
  return reinterpret_cast<unsigned long>(p) % a == 0;  // NOLINT(*-reinterpret-cast)
}

}  // namespace kvtier

#endif  // KVTIER_SRC_UTIL_ALIGNED_BUFFER_H_
