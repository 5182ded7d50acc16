#include "exec/http_backend.h"

#include <chrono>
#include <cstdio>
#include <thread>

#include <httplib.h>

#include "util/error.h"
#include "util/strings.h"

namespace ghx::exec {

using Clock = std::chrono::steady_clock;

std::unique_ptr<httplib::Client> client_for(const std::string& url, double connect_s, double read_s) {
  auto c = std::make_unique<httplib::Client>(url);
  c->set_connection_timeout(std::chrono::microseconds(static_cast<int64_t>(connect_s * 1e6)));
  c->set_read_timeout(std::chrono::microseconds(static_cast<int64_t>(read_s * 1e6)));
  c->set_write_timeout(std::chrono::microseconds(static_cast<int64_t>(connect_s * 1e6)));
  c->set_keep_alive(false);
  return c;
}

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

HttpFailure http_failure(const std::string& url, const httplib::Result& res, const std::string& what) {
  HttpFailure f;
  const std::string where = host_of(url) + ": " + (what.empty() ? "" : what + ": ");
  if (!res) {
    f.connection = true;
    f.message = where + httplib::to_string(res.error());
  } else if (res->status != 200) {
    f.status = res->status;
    f.message = where + "HTTP " + std::to_string(res->status) + " " + res->body.substr(0, 200);
  }
  return f;
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

}  // namespace ghx::exec
