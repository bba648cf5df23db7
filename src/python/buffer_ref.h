// BufferRef: a contiguous byte range borrowed from a Python object (buffer
// protocol, or an explicit address for objects such as torch tensors that
// have none), holding the object alive until released. Create and release
// with the GIL held.
#ifndef KVTIER_SRC_PYTHON_BUFFER_REF_H_
#define KVTIER_SRC_PYTHON_BUFFER_REF_H_

#include <Python.h>

#include <cstddef>
#include <string>

namespace kvtier::python {

class BufferRef {
 public:
  BufferRef() = default;
  ~BufferRef() { Release(); }
  BufferRef(BufferRef&& o) noexcept { *this = std::move(o); }
  BufferRef& operator=(BufferRef&& o) noexcept;
  BufferRef(const BufferRef&) = delete;
  BufferRef& operator=(const BufferRef&) = delete;

  // From the buffer protocol; raises TypeError/ValueError (returns false)
  // for non-contiguous or (when writable) read-only buffers.
  bool FromBuffer(PyObject* obj, bool writable, std::string* error);
  // From (owner, address, length): the caller vouches for the range, as
  // torch's data_ptr()/nbytes do.
  void FromAddress(PyObject* owner, size_t address, size_t len);
  void Release();

  char* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  Py_buffer view_{};
  bool has_view_ = false;
  PyObject* owner_ = nullptr;
  char* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace kvtier::python

#endif  // KVTIER_SRC_PYTHON_BUFFER_REF_H_
