#include "evictor/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>

namespace kvtier::evictor {

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kPollMs = 200;
constexpr size_t kMaxRequest = 8192;

const char* Reason(int code) {
  switch (code) {
    case 200:
      return "OK";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    default:
      return "Service Unavailable";
  }
}

bool RequestComplete(const std::string& req) {
  return req.size() >= kMaxRequest || req.find("\r\n\r\n") != std::string::npos ||
         req.find("\n\n") != std::string::npos;
}

void Bump(Counter* c) {
  if (c != nullptr) c->Add();
}

}  // namespace

struct HttpServer::Conn {
  int fd = -1;
  Clock::time_point accepted;
  Clock::time_point deadline;
  bool writing = false;
  std::string data;  // the request while reading, the response while writing
  size_t sent = 0;
};

Status HttpServer::Start(const std::string& address, int port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) {
    return Status::InvalidArgument("--bind: not an IPv4 address: " + address);
  }
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return PosixError("socket", errno);
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::listen(fd, SOMAXCONN) != 0) {
    int err = errno;
    ::close(fd);
    return PosixError("bind " + address + ":" + std::to_string(port), err);
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  listen_fd_ = fd;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
  return Status::OK();
}

void HttpServer::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  listen_fd_ = -1;
}

bool HttpServer::AcceptAll(std::vector<Conn>* conns) {
  const size_t cap = static_cast<size_t>(std::max(1, options_.max_connections));
  for (;;) {
    int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    // EAGAIN, or a connection reset before we got to it; EMFILE/ENFILE
    // leave it queued, and the caller stops polling for it a while.
    if (c < 0) return errno != EMFILE && errno != ENFILE;
    if (conns->size() >= cap) {
      // Oldest reader first: a probe sends its request at once, so the
      // connection that has said the least for the longest goes.
      auto victim = conns->end();
      for (auto it = conns->begin(); it != conns->end(); ++it) {
        if (!it->writing && (victim == conns->end() || it->accepted < victim->accepted))
          victim = it;
      }
      if (victim == conns->end()) {  // every slot is writing: refuse the new one
        ::close(c);
        Bump(options_.dropped);
        continue;
      }
      ::close(victim->fd);
      conns->erase(victim);
      Bump(options_.dropped);
    }
    Conn conn;
    conn.fd = c;
    conn.accepted = Clock::now();
    conn.deadline = conn.accepted + std::chrono::milliseconds(options_.io_timeout_ms);
    conns->push_back(std::move(conn));
  }
}

HttpResponse HttpServer::Respond(const std::string& req, bool* head_only) {
  size_t sp1 = req.find(' ');
  size_t sp2 = sp1 == std::string::npos ? sp1 : req.find_first_of(" \r\n", sp1 + 1);
  std::string method = req.substr(0, sp1 == std::string::npos ? 0 : sp1);
  *head_only = method == "HEAD";
  HttpResponse resp;
  if (sp2 == std::string::npos || (method != "GET" && method != "HEAD")) {
    resp.code = 405;
    resp.body = "only GET\n";
    return resp;
  }
  std::string path = req.substr(sp1 + 1, sp2 - sp1 - 1);
  size_t q = path.find('?');
  if (q != std::string::npos) path.resize(q);
  return handler_(path);
}

void HttpServer::Loop() {
  std::vector<Conn> conns;
  std::vector<pollfd> fds;
  char buf[4096];
  Clock::time_point accept_after{};  // out of descriptors: skip the listener until then
  while (!stop_) {
    auto now = Clock::now();
    fds.clear();
    // A negative fd keeps slot 0 but is not polled (its revents stay 0).
    fds.push_back({now < accept_after ? -1 : listen_fd_, POLLIN, 0});
    int wait_ms = kPollMs;
    for (const Conn& c : conns) {
      fds.push_back({c.fd, static_cast<short>(c.writing ? POLLOUT : POLLIN), 0});
      auto left = std::chrono::ceil<std::chrono::milliseconds>(c.deadline - now).count();
      wait_ms = static_cast<int>(std::clamp<int64_t>(left, 0, wait_ms));
    }
    if (::poll(fds.data(), fds.size(), wait_ms) < 0 && errno != EINTR) {
      // Retried at once, a persistent error would spin.
      std::this_thread::sleep_for(std::chrono::milliseconds(kPollMs));
      continue;
    }
    now = Clock::now();
    // Walk the connections polled this round (AcceptAll appends after them).
    std::vector<Conn> live;
    live.reserve(conns.size());
    for (size_t i = 0; i < conns.size(); ++i) {
      Conn& c = conns[i];
      bool open = true;
      if (fds[i + 1].revents != 0 && !c.writing) {
        ssize_t n = ::recv(c.fd, buf, sizeof(buf), 0);
        if (n > 0) c.data.append(buf, static_cast<size_t>(n));
        bool eof = n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR);
        if (eof && c.data.empty()) {
          open = false;
        } else if (eof || RequestComplete(c.data)) {
          bool head_only = false;
          HttpResponse r = Respond(c.data, &head_only);
          c.data = "HTTP/1.0 " + std::to_string(r.code) + " " + Reason(r.code) +
                   "\r\nContent-Type: " + r.content_type +
                   "\r\nContent-Length: " + std::to_string(r.body.size()) +
                   "\r\nConnection: close\r\n\r\n";
          if (!head_only) c.data += r.body;
          c.writing = true;
          c.deadline = now + std::chrono::milliseconds(options_.io_timeout_ms);
        }
      }
      if (open && c.writing) {
        ssize_t n = ::send(c.fd, c.data.data() + c.sent, c.data.size() - c.sent, MSG_NOSIGNAL);
        if (n > 0) c.sent += static_cast<size_t>(n);
        if (c.sent == c.data.size() || (n < 0 && errno != EAGAIN && errno != EINTR)) open = false;
      }
      if (open && now >= c.deadline) {
        open = false;
        Bump(options_.timed_out);
      }
      if (open) {
        live.push_back(std::move(c));
      } else {
        ::close(c.fd);
      }
    }
    conns.swap(live);
    if ((fds[0].revents & POLLIN) != 0 && !AcceptAll(&conns)) {
      accept_after = now + std::chrono::milliseconds(kPollMs);
    }
  }
  for (const Conn& c : conns) ::close(c.fd);
}

}  // namespace kvtier::evictor
