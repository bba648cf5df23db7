// A tiny blocking HTTP/1.0 server for /metrics and /healthz: one thread,
// one request per connection, bound to 127.0.0.1 unless told otherwise.
// Prometheus scrapes once every few seconds; nothing here needs more.
//
// Thread-safety: Start/Stop from the owning thread; the handlers run on the
// server thread and must be thread-safe themselves.
#ifndef KVTIER_SRC_EVICTOR_HTTP_SERVER_H_
#define KVTIER_SRC_EVICTOR_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "kvtier/status.h"

namespace kvtier::evictor {

struct HttpResponse {
  int code = 200;
  std::string content_type = "text/plain; version=0.0.4";
  std::string body;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const std::string& path)>;

  explicit HttpServer(Handler handler) : handler_(std::move(handler)) {}
  ~HttpServer() { Stop(); }
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds `address:port` (port 0 picks a free one; see port()) and starts
  // the thread.
  Status Start(const std::string& address, int port);
  // Returns within about 200 ms.
  void Stop();
  int port() const { return port_; }

 private:
  void Loop();
  void Serve(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace kvtier::evictor

#endif  // KVTIER_SRC_EVICTOR_HTTP_SERVER_H_
