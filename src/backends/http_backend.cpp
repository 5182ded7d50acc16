#include "backends/http_backend.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <httplib.h>

#include "util/error.h"
#include "util/strings.h"

namespace ghx::backends {

using Clock = std::chrono::steady_clock;

std::string host_of(const std::string& url) {
  auto p = url.find("://");
  return p == std::string::npos ? url : url.substr(p + 3);
}

EndpointPool::EndpointPool(std::vector<std::string> urls) {
  for (auto& u : urls) m_eps.push_back({std::move(u)});
}

std::optional<std::string> EndpointPool::acquire() {
  std::unique_lock<std::mutex> lock(m_mu);
  for (;;) {
    bool any_alive = false;
    for (auto& e : m_eps) {
      if (e.dead) continue;
      any_alive = true;
      if (!e.busy) {
        e.busy = true;
        return e.url;
      }
    }
    if (!any_alive) return std::nullopt;
    m_cv.wait(lock);
  }
}

void EndpointPool::release(const std::string& url, bool connection_failed, int images, double seconds) {
  {
    std::lock_guard<std::mutex> lock(m_mu);
    for (auto& e : m_eps) {
      if (e.url != url) continue;
      e.busy = false;
      e.failures = connection_failed ? e.failures + 1 : 0;
      if (e.failures >= k_dead_after) e.dead = true;
      e.images += images;
      e.seconds += seconds;
    }
  }
  m_cv.notify_all();
}

std::string EndpointPool::status() const {
  std::lock_guard<std::mutex> lock(m_mu);
  std::string s;
  for (const auto& e : m_eps) {
    if (!s.empty()) s += ", ";
    char buf[64];
    if (e.dead) std::snprintf(buf, sizeof buf, "dead");
    else std::snprintf(buf, sizeof buf, "%.2f img/s", e.seconds > 0 ? e.images / e.seconds : 0.0);
    s += host_of(e.url) + " " + buf;
  }
  return s;
}

std::vector<std::string> split_spaces(const std::string& all) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < all.size()) {
    size_t sp = all.find(' ', start);
    if (sp == std::string::npos) sp = all.size();
    if (sp > start) out.push_back(all.substr(start, sp - start));
    start = sp + 1;
  }
  return out;
}

EndpointPool& EndpointPools::pool_for(const plan::Step& s) {
  std::vector<std::string> urls = m_override;
  if (urls.empty()) {
    const std::string* e = s.find_context("endpoints");
    urls = split_spaces(e ? *e : "");
  }
  std::string key = util::join(urls, " ");
  std::lock_guard<std::mutex> lock(m_mu);
  auto it = m_pools.find(key);
  if (it == m_pools.end()) it = m_pools.emplace(key, std::make_unique<EndpointPool>(urls)).first;
  return *it->second;
}

std::string EndpointPools::status() const {
  std::lock_guard<std::mutex> lock(m_mu);
  std::string s;
  for (const auto& [k, p] : m_pools) s += (s.empty() ? "" : "; ") + p->status();
  return s;
}

namespace {

/// Calls client.stop() (which shuts the socket down, ending a blocked read) when the deadline
/// passes before the exchange ends; the reading side also checks the deadline per chunk.
class Watchdog {
 public:
  Watchdog(httplib::Client& client, Clock::time_point deadline)
      : m_thread([this, &client, deadline] {
          std::unique_lock<std::mutex> lock(m_mu);
          if (m_cv.wait_until(lock, deadline, [this] { return m_done; })) return;
          m_fired = true;
          lock.unlock();
          client.stop();
        }) {}
  ~Watchdog() {
    {
      std::lock_guard<std::mutex> lock(m_mu);
      m_done = true;
    }
    m_cv.notify_all();
    m_thread.join();
  }
  bool fired() {
    std::lock_guard<std::mutex> lock(m_mu);
    return m_fired;
  }

 private:
  std::mutex m_mu;
  std::condition_variable m_cv;
  bool m_done = false;
  bool m_fired = false;
  std::thread m_thread;  // last: starts once the members above exist
};

}  // namespace

size_t answer_limit(const BackendOptions& options, int images) {
  const double per_image = std::min(std::max(0.0, options.max_image_mb), k_max_image_mb) * 1e6 * 4 / 3;
  return (size_t(1) << 20) + static_cast<size_t>(per_image * std::max(1, images));
}

std::string megabytes(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

HttpReply http_call(const std::string& url, const HttpCall& call) {
  HttpReply out;
  const std::string where = host_of(url) + ": " + (call.what.empty() ? "" : call.what + ": ");
  const auto t0 = Clock::now();
  const double limit_s = std::min(std::max(0.0, call.deadline_s), k_max_deadline_s);
  const auto deadline = t0 + std::chrono::microseconds(static_cast<int64_t>(limit_s * 1e6));
  httplib::Client c(url);
  const auto connect = std::chrono::microseconds(static_cast<int64_t>(std::max(0.0, std::min(call.connect_s, limit_s)) * 1e6));
  c.set_connection_timeout(connect);
  c.set_write_timeout(std::chrono::microseconds(static_cast<int64_t>(limit_s * 1e6)));
  c.set_read_timeout(std::chrono::microseconds(static_cast<int64_t>(limit_s * 1e6)));
  c.set_keep_alive(false);

  httplib::Request req;
  req.method = call.method;
  req.path = call.path;
  if (call.method == "POST") {
    req.body = call.body;
    req.headers.emplace("Content-Type", "application/json");
  }
  bool too_large = false, late = false;
  std::string body;
  // A declared length over the limit is refused before any of the body is read; one within it
  // is reserved at once (a body grown by doubling could take twice the limit).
  req.response_handler = [&](const httplib::Response& r) {
    if (!r.has_header("Content-Length")) return true;
    const std::string v = r.get_header_value("Content-Length");
    char* end = nullptr;
    const unsigned long long n = std::strtoull(v.c_str(), &end, 10);
    if (end == v.c_str() || *end != '\0') return true;
    if (n > call.max_body) {
      too_large = true;
      return false;
    }
    body.reserve(static_cast<size_t>(n));
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (Clock::now() > deadline) {
      late = true;
      return false;
    }
    if (body.size() + n > call.max_body) {
      too_large = true;
      return false;
    }
    body.append(data, n);
    return true;
  };
  httplib::Result res{nullptr, httplib::Error::Unknown};
  bool fired = false;
  {
    Watchdog dog(c, deadline);
    res = c.send(req);
    fired = dog.fired();
  }
  if (too_large) {
    out.failure.message = where + "the answer is larger than " + megabytes(call.max_body) + " (cut off there)";
    return out;
  }
  if (late || fired) {  // a body read to the end of the connection looks whole when the watchdog cut it
    out.failure.connection = true;
    out.failure.message = where + "no complete answer within " + util::shortest_double(call.deadline_s) + " s";
    return out;
  }
  if (!res) {
    out.failure.connection = true;
    out.failure.message = where + httplib::to_string(res.error());
    return out;
  }
  out.status = res->status;
  out.body = std::move(body);
  if (res->status != 200) {
    out.failure.status = res->status;
    out.failure.message = where + "HTTP " + std::to_string(res->status) + " " + util::printable_prefix(out.body, 200);
  }
  return out;
}

std::string with_retries(EndpointPool& pool, const BackendOptions& options, int images,
                         const std::function<HttpFailure(const std::string& url)>& attempt) {
  double backoff = options.backoff_s;
  std::string last;
  for (int n = 0; n <= options.retries; ++n) {
    std::optional<std::string> url = pool.acquire();
    if (!url) throw Error("no endpoint left: " + (last.empty() ? std::string("none configured") : last));
    auto t0 = Clock::now();
    HttpFailure f;
    try {
      f = attempt(*url);
    } catch (...) {
      pool.release(*url, false, 0, std::chrono::duration<double>(Clock::now() - t0).count());
      throw;
    }
    double dt = std::chrono::duration<double>(Clock::now() - t0).count();
    if (f.message.empty()) {
      pool.release(*url, false, images, dt);
      return *url;
    }
    // Connection failures count towards dropping the endpoint; 4xx is final.
    pool.release(*url, f.connection, 0, dt);
    last = f.message;
    if (!f.connection && f.status < 500) throw Error(last);
    if (n < options.retries) {
      std::this_thread::sleep_for(std::chrono::duration<double>(backoff));
      backoff *= 2;
    }
  }
  throw Error("gave up after " + std::to_string(options.retries + 1) + " attempts: " + last);
}

std::string generation_request_key(const plan::Step& s) {
  std::string k;
  for (const auto& [n, v] : s.params) {
    if (n == "seed") continue;
    k += n + '=' + v + '\x1f';
  }
  if (const std::string* e = s.find_context("endpoints")) k += *e;
  return k;
}

}  // namespace ghx::backends
