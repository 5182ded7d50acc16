#include "cache/remote.h"

#include <httplib.h>

#include <chrono>
#include <iostream>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/hash.h"

namespace ghx::cache {

using nlohmann::json;

namespace {
using Clock = std::chrono::steady_clock;
constexpr size_t k_max_record = 1u << 20;  // an ac record is a small JSON document
}  // namespace

struct RemoteStore::Http {
  std::string base;    // "http://host:port"
  std::string prefix;  // "/" or "/path/"
  double timeout_s = 30;

  std::unique_ptr<httplib::Client> client() const {
    auto c = std::make_unique<httplib::Client>(base);
    const auto t = std::chrono::microseconds(static_cast<int64_t>(timeout_s * 1e6));
    c->set_connection_timeout(std::chrono::microseconds(static_cast<int64_t>(std::min(timeout_s, 5.0) * 1e6)));
    c->set_read_timeout(t);
    c->set_write_timeout(t);
    c->set_keep_alive(false);
    return c;
  }

  /// GET: the status (0: no answer) and at most `limit` bytes of body (status -1 past it).
  int get(const std::string& path, size_t limit, std::string* body, std::string* why) const {
    auto c = client();
    body->clear();
    bool over = false;
    int status = 0;
    auto res = c->Get(prefix + path, [&](const httplib::Response& r) {
      status = r.status;
      return true;
    }, [&](const char* d, size_t n) {
      if (status != 200) return true;  // a 404 page, say: not kept
      if (body->size() + n > limit) {
        over = true;
        return false;
      }
      body->append(d, n);
      return true;
    });
    if (over) {
      *why = "answer for " + path + " over " + std::to_string(limit) + " bytes";
      return -1;
    }
    if (!res) {
      *why = httplib::to_string(res.error());
      return 0;
    }
    return res->status;
  }

  int put(const std::string& path, const std::string& bytes, const char* type, std::string* why) const {
    auto c = client();
    auto res = c->Put(prefix + path, bytes, type);
    if (!res) {
      *why = httplib::to_string(res.error());
      return 0;
    }
    if (res->status < 200 || res->status > 299) *why = "PUT " + path + ": HTTP " + std::to_string(res->status);
    return res->status;
  }
};

RemoteStore::RemoteStore(Cache& local, const std::string& url, double timeout_s) : m_local(local), m_url(url) {
  m_http = std::make_unique<Http>();
  m_http->timeout_s = timeout_s;
  const size_t scheme = url.find("://");
  const std::string s = scheme == std::string::npos ? "" : url.substr(0, scheme);
  if (s != "http" && s != "https") throw Error("remote cache '" + url + "': expected http://HOST[:PORT][/PATH]");
  const size_t slash = url.find('/', scheme + 3);
  m_http->base = url.substr(0, slash);
  m_http->prefix = slash == std::string::npos ? "/" : url.substr(slash);
  if (m_http->base.size() <= scheme + 3) throw Error("remote cache '" + url + "': no host");
  if (m_http->prefix.back() != '/') m_http->prefix += '/';
}

RemoteStore::~RemoteStore() = default;

std::unique_ptr<StepStore> open_remote_store(Cache& local, const std::string& url, double timeout_s) {
  return std::make_unique<RemoteStore>(local, url, timeout_s);
}

bool remote_reachable(StepStore& remote, std::string* why) { return static_cast<RemoteStore&>(remote).reachable(why); }

RemoteStats remote_stats(const StepStore& remote) { return static_cast<const RemoteStore&>(remote).stats(); }

void RemoteStore::warn(const std::string& what) {
  std::lock_guard<std::mutex> lock(m_mu);
  ++m_stats.errors;
  if (m_warned) return;
  m_warned = true;
  std::cerr << "ghx: warning: remote cache " << m_url << ": " << what
            << " (the run goes on without it where it fails; later problems are counted, not shown)\n";
}

bool RemoteStore::reachable(std::string* why) {
  std::string body;
  return m_http->get("ac/00000000000000000000000000000000", k_max_record, &body, why) != 0;
}

bool RemoteStore::fetch(const plan::StepKey& key) {
  if (m_down.load()) return false;
  const auto t0 = Clock::now();
  auto done = [&](bool hit, int64_t bytes) {
    std::lock_guard<std::mutex> lock(m_mu);
    m_stats.lookup_s += std::chrono::duration<double>(Clock::now() - t0).count();
    (hit ? m_stats.hits : m_stats.misses)++;
    m_stats.bytes_in += bytes;
    return hit;
  };
  std::string why, record;
  const int st = m_http->get("ac/" + key.hex(), k_max_record, &record, &why);
  if (st == 0 || st == -1) {
    if (st == 0) m_down = true;  // no answer: not asked again by this run (each try could wait out the timeout)
    warn(why);
    return done(false, 0);
  }
  if (st != 200) return done(false, 0);  // 404: not there
  std::string sha, kind, meta;
  int64_t size = -1;
  Provenance prov;
  try {
    const json r = json::parse(record);
    sha = r.at("cas").get<std::string>();
    size = r.at("size").get<int64_t>();
    kind = r.at("kind").get<std::string>();
    prov.tool_version = r.value("tool_version", "");
    prov.device = r.value("device", "");
    prov.duration_s = r.value("duration_s", 0.0);
    prov.inputs = r.value("inputs", "");
    meta = r.value("meta", "");
  } catch (const std::exception&) {
    return done(false, static_cast<int64_t>(record.size()));  // not a ghx record: a miss
  }
  if (sha.size() != 64 || sha.find_first_not_of("0123456789abcdef") != std::string::npos || size < 0)
    return done(false, static_cast<int64_t>(record.size()));
  std::string bytes;
  const int bs = m_http->get("cas/" + sha, static_cast<size_t>(size) + 1, &bytes, &why);
  if (bs == 0) {
    m_down = true;
    warn(why);
  }
  // Evicted, cut short or not the bytes the record names: a miss, computed here.
  if (bs != 200 || static_cast<int64_t>(bytes.size()) != size || util::sha256_hex(bytes) != sha)
    return done(false, static_cast<int64_t>(record.size() + bytes.size()));
  m_local.put(key, kind, bytes, prov, meta);
  return done(true, static_cast<int64_t>(record.size() + bytes.size()));
}

std::vector<ClaimState> RemoteStore::claim(const std::vector<plan::StepKey>& keys) {
  std::vector<ClaimState> st = m_local.claim(keys);
  for (size_t k = 0; k < keys.size(); ++k)
    if (st[k] == ClaimState::mine && fetch(keys[k])) st[k] = ClaimState::done;  // put() released the claim
  return st;
}

void RemoteStore::put(const plan::StepKey& key, const std::string& kind, const std::string& bytes, const Provenance& prov,
                      const std::string& meta) {
  m_local.put(key, kind, bytes, prov, meta);  // the local cache first: its failure stops the run
  if (m_down.load()) return;
  const std::string sha = util::sha256_hex(bytes);
  std::string why;
  int st = m_http->put("cas/" + sha, bytes, "application/octet-stream", &why);
  if (st < 200 || st > 299) {
    if (st == 0) m_down = true;
    warn(why);
    return;  // no record without its bytes
  }
  json r = {{"ghx_record", 1},       {"kind", kind},         {"cas", sha},
            {"size", bytes.size()},  {"tool_version", prov.tool_version}, {"device", prov.device},
            {"duration_s", prov.duration_s}, {"inputs", prov.inputs}, {"meta", meta}};
  const std::string text = r.dump();
  st = m_http->put("ac/" + key.hex(), text, "application/json", &why);
  if (st < 200 || st > 299) {
    if (st == 0) m_down = true;
    warn(why);
    return;
  }
  std::lock_guard<std::mutex> lock(m_mu);
  ++m_stats.uploads;
  m_stats.bytes_out += static_cast<int64_t>(bytes.size() + text.size());
}

RemoteStats RemoteStore::stats() const {
  std::lock_guard<std::mutex> lock(m_mu);
  return m_stats;
}

}  // namespace ghx::cache
