#include "python/buffer_ref.h"

#include <utility>

namespace kvtier::python {

BufferRef& BufferRef::operator=(BufferRef&& o) noexcept {
  if (this != &o) {
    Release();
    view_ = o.view_;
    has_view_ = std::exchange(o.has_view_, false);
    owner_ = std::exchange(o.owner_, nullptr);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
  }
  return *this;
}

bool BufferRef::FromBuffer(PyObject* obj, bool writable, std::string* error) {
  Release();
  int flags = PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
  if (PyObject_GetBuffer(obj, &view_, flags) != 0) {
    PyErr_Clear();
    *error = writable ? "expected a writable, C-contiguous buffer"
                      : "expected a C-contiguous buffer (bytes, bytearray, memoryview, numpy "
                        "array, torch CPU tensor)";
    return false;
  }
  has_view_ = true;
  data_ = static_cast<char*>(view_.buf);
  size_ = static_cast<size_t>(view_.len);
  return true;
}

void BufferRef::FromAddress(PyObject* owner, size_t address, size_t len) {
  Release();
  Py_XINCREF(owner);
  owner_ = owner;
  data_ = reinterpret_cast<char*>(address);  // NOLINT(performance-no-int-to-ptr)
  size_ = len;
}

void BufferRef::Release() {
  if (has_view_) {
    PyBuffer_Release(&view_);
    has_view_ = false;
  }
  Py_XDECREF(owner_);
  owner_ = nullptr;
  data_ = nullptr;
  size_ = 0;
}

}  // namespace kvtier::python
