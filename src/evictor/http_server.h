// A small HTTP/1.0 server for /metrics and /healthz: one thread, one
// request per connection, bound to 127.0.0.1 unless told otherwise.
//
// The kubelet's 1 s /healthz probe must not depend on other clients, so the
// thread multiplexes non-blocking connections with poll() instead of serving
// one at a time: an idle or slow-loris client holds a slot, not the thread.
// Each connection gets `io_timeout_ms` to send its whole request and again
// to take the whole response; then it is closed. At most `max_connections`
// are open; a new one beyond that closes the oldest still reading (the one
// that has had the longest to send a few bytes), so a fresh probe is always
// served. Memory is bounded by max_connections x (8 KiB request + response).
//
// Thread-safety: Start/Stop from the owning thread; the handler runs on the
// server thread and must be thread-safe itself.
#ifndef KVTIER_SRC_EVICTOR_HTTP_SERVER_H_
#define KVTIER_SRC_EVICTOR_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "kvtier/status.h"
#include "metrics/registry.h"

namespace kvtier::evictor {

struct HttpResponse {
  int code = 200;
  std::string content_type = "text/plain; version=0.0.4";
  std::string body;
};

struct HttpServerOptions {
  int max_connections = 128;
  int io_timeout_ms = 2000;
  // Optional; must outlive the server.
  Counter* dropped = nullptr;    // closed to make room under max_connections
  Counter* timed_out = nullptr;  // closed at their read or write deadline
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const std::string& path)>;

  explicit HttpServer(Handler handler, HttpServerOptions options = {})
      : handler_(std::move(handler)), options_(options) {}
  ~HttpServer() { Stop(); }
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds `address:port` (port 0 picks a free one; see port()) and starts
  // the thread.
  Status Start(const std::string& address, int port);
  // Returns within about 200 ms; open connections are closed.
  void Stop();
  int port() const { return port_; }

 private:
  struct Conn;
  void Loop();
  // Returns false when accept failed for want of file descriptors: the
  // pending connection keeps the listening socket readable.
  bool AcceptAll(std::vector<Conn>* conns);
  HttpResponse Respond(const std::string& req, bool* head_only);

  Handler handler_;
  HttpServerOptions options_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace kvtier::evictor

#endif  // KVTIER_SRC_EVICTOR_HTTP_SERVER_H_
