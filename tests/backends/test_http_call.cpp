// Mirrors src/backends/http_backend.cpp's deadline where the fake servers cannot reach: a server
// (a raw socket here, no HTTP library) that trickles its status line and headers one byte at a
// time must be cut off at the call's deadline, as a trickled body is (test_hostile.cpp).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "backends/http_backend.h"

using namespace ghx;

namespace {

/// Accepts one connection on 127.0.0.1, reads the request, then sends `answer` one byte every
/// `gap_ms` until it is all out, the peer is gone, or stop() is called.
class TrickleServer {
 public:
  TrickleServer(std::string answer, int gap_ms) : m_answer(std::move(answer)), m_gap_ms(gap_ms) {
    m_fd = socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(m_fd >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    REQUIRE(bind(m_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(listen(m_fd, 4) == 0);
    socklen_t len = sizeof a;
    REQUIRE(getsockname(m_fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
    m_port = ntohs(a.sin_port);
    m_thread = std::thread([this] { serve(); });
  }
  ~TrickleServer() {
    m_stop = true;
    shutdown(m_fd, SHUT_RDWR);
    close(m_fd);
    m_thread.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }
  int sent() const { return m_sent; }

 private:
  void serve() {
    const int c = accept(m_fd, nullptr, nullptr);
    if (c < 0) return;
    char buf[4096];
    std::string req;
    while (req.find("\r\n\r\n") == std::string::npos && !m_stop) {
      const ssize_t n = recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      req.append(buf, static_cast<size_t>(n));
    }
    for (char ch : m_answer) {
      if (m_stop || send(c, &ch, 1, MSG_NOSIGNAL) != 1) break;
      ++m_sent;
      std::this_thread::sleep_for(std::chrono::milliseconds(m_gap_ms));
    }
    close(c);
  }
  std::string m_answer;
  int m_gap_ms;
  int m_fd = -1;
  int m_port = 0;
  std::atomic<bool> m_stop{false};
  std::atomic<int> m_sent{0};
  std::thread m_thread;
};

double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

TEST_CASE("http_call: a status line and headers trickled a byte at a time are cut at the deadline", "[hostile][http]") {
  // 90 bytes of headers at 100 ms each would take 9 s; every single read is quick.
  TrickleServer srv("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n{}", 100);
  backends::HttpCall call;
  call.path = "/sdapi/v1/options";
  call.what = "GET /sdapi/v1/options";
  call.connect_s = 2;
  call.deadline_s = 1.5;
  const auto t0 = std::chrono::steady_clock::now();
  const backends::HttpReply r = backends::http_call(srv.url(), call);
  const double took = since(t0);
  INFO(r.failure.message);
  CHECK(took >= 1.4);  // not before the deadline
  CHECK(took < 4.0);   // and not at the pace of the trickle
  CHECK(r.failure.connection);  // a timeout: retried like a connection error
  CHECK(r.failure.message.find("no complete answer within 1.5 s") != std::string::npos);
  CHECK(srv.sent() < 40);  // cut well before the headers ended
}

TEST_CASE("http_call: the same answer sent at once is read", "[hostile][http]") {
  TrickleServer srv("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", 0);
  backends::HttpCall call;
  call.path = "/sdapi/v1/options";
  call.deadline_s = 5;
  const backends::HttpReply r = backends::http_call(srv.url(), call);
  INFO(r.failure.message);
  CHECK(r.failure.message.empty());
  CHECK(r.status == 200);
  CHECK(r.body == "{}");
}
