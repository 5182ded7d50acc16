// Fake A1111 / ComfyUI servers for tests; see fake_webui.h for what they speak and why.
#include "support/fake_webui.h"

// Debian's libcpp-httplib.so is built with these; httplib::Request / ClientImpl change layout
// with them, so they must match (pkg-config --cflags cpp-httplib).
#include <httplib.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

namespace ghx::test {

using json = nlohmann::json;

// ============================================================================ FakeFaults

void FakeFaults::fail_next(int n, int status) {
  std::lock_guard<std::mutex> l(m_mutex);
  m_fail_count = std::max(0, n);
  m_fail_status = status;
}

void FakeFaults::drop_next(int n) {
  std::lock_guard<std::mutex> l(m_mutex);
  m_drop_count = std::max(0, n);
}

void FakeFaults::die_after(int n) {
  std::function<void()> hook;
  {
    std::lock_guard<std::mutex> l(m_mutex);
    if (n <= 0) {
      m_die_after = -1;
      hook = m_on_die;
    } else {
      m_die_after = n;
    }
  }
  if (n <= 0 && hook) hook();
}

void FakeFaults::set_delay_s(double seconds) {
  std::lock_guard<std::mutex> l(m_mutex);
  m_delay_s = std::max(0.0, seconds);
}

void FakeFaults::set_wrong_model_hash(const std::string& hash) {
  std::lock_guard<std::mutex> l(m_mutex);
  m_wrong_model_hash = hash;
}

void FakeFaults::set_omit_infotext(bool on) {
  std::lock_guard<std::mutex> l(m_mutex);
  m_omit_infotext = on;
}

void FakeFaults::set_return_grid(bool on) {
  std::lock_guard<std::mutex> l(m_mutex);
  m_return_grid = on;
}

void FakeFaults::set_history_delay_polls(int n) {
  std::lock_guard<std::mutex> l(m_mutex);
  m_history_delay_polls = std::max(0, n);
}

void FakeFaults::hostile_next(int n, Hostile kind) {
  std::lock_guard<std::mutex> l(m_mutex);
  m_hostile_count = std::max(0, n);
  m_hostile = kind;
}

void FakeFaults::set_trickle_s(double seconds) {
  std::lock_guard<std::mutex> l(m_mutex);
  m_trickle_s = std::max(0.0, seconds);
}

void FakeFaults::set_huge_mb(int mb) {
  std::lock_guard<std::mutex> l(m_mutex);
  m_huge_mb = std::max(1, mb);
}

double FakeFaults::trickle_s() const {
  std::lock_guard<std::mutex> l(m_mutex);
  return m_trickle_s;
}

int FakeFaults::huge_mb() const {
  std::lock_guard<std::mutex> l(m_mutex);
  return m_huge_mb;
}

void FakeFaults::reset() {
  std::lock_guard<std::mutex> l(m_mutex);
  m_hostile_count = 0;
  m_hostile = Hostile::none;
  m_trickle_s = 1;
  m_huge_mb = 200;
  m_fail_count = 0;
  m_fail_status = 500;
  m_drop_count = 0;
  m_die_after = -1;
  m_delay_s = 0;
  m_wrong_model_hash.clear();
  m_omit_infotext = false;
  m_return_grid = true;
  m_history_delay_polls = 0;
}

double FakeFaults::delay_s() const {
  std::lock_guard<std::mutex> l(m_mutex);
  return m_delay_s;
}

std::string FakeFaults::wrong_model_hash() const {
  std::lock_guard<std::mutex> l(m_mutex);
  return m_wrong_model_hash;
}

bool FakeFaults::omit_infotext() const {
  std::lock_guard<std::mutex> l(m_mutex);
  return m_omit_infotext;
}

bool FakeFaults::return_grid() const {
  std::lock_guard<std::mutex> l(m_mutex);
  return m_return_grid;
}

int FakeFaults::history_delay_polls() const {
  std::lock_guard<std::mutex> l(m_mutex);
  return m_history_delay_polls;
}

FakeFaults::Decision FakeFaults::next_generation() {
  std::lock_guard<std::mutex> l(m_mutex);
  Decision d;
  if (m_drop_count > 0) {
    --m_drop_count;
    d.verdict = Verdict::Drop;
  } else if (m_fail_count > 0) {
    --m_fail_count;
    d.verdict = Verdict::Fail;
    d.status = m_fail_status;
  } else if (m_hostile_count > 0) {
    --m_hostile_count;
    d.hostile = m_hostile;
  }
  if (m_die_after > 0 && --m_die_after == 0) {
    m_die_after = -1;
    d.die = true;
  }
  return d;
}

void FakeFaults::on_die(std::function<void()> hook) {
  std::lock_guard<std::mutex> l(m_mutex);
  m_on_die = std::move(hook);
}

// ============================================================================ helpers

namespace {

uint64_t fnv1a64(const std::string& s, uint64_t h = 1469598103934665603ULL) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

std::string be32(uint32_t v) {
  std::string out(4, '\0');
  out[0] = char((v >> 24) & 0xff);
  out[1] = char((v >> 16) & 0xff);
  out[2] = char((v >> 8) & 0xff);
  out[3] = char(v & 0xff);
  return out;
}

uint32_t read_be32(const std::string& s, size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) | (uint32_t(uint8_t(s[at + 2])) << 8) |
         uint32_t(uint8_t(s[at + 3]));
}

const char k_png_signature[] = "\x89PNG\r\n\x1a\n";

std::string png_chunk(const std::string& type, const std::string& data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  crc = crc32(crc, reinterpret_cast<const Bytef*>(type.data()), uInt(type.size()));
  crc = crc32(crc, reinterpret_cast<const Bytef*>(data.data()), uInt(data.size()));
  return be32(uint32_t(data.size())) + type + data + be32(uint32_t(crc));
}

/// UTF-8 -> Latin-1 when every code point is below 256 (what PIL's add_text tries first).
std::optional<std::string> utf8_to_latin1(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = uint8_t(s[i]);
    if (c < 0x80) {
      out += char(c);
    } else if ((c == 0xc2 || c == 0xc3) && i + 1 < s.size() && (uint8_t(s[i + 1]) & 0xc0) == 0x80) {
      out += char(((c & 0x1f) << 6) | (uint8_t(s[i + 1]) & 0x3f));
      ++i;
    } else {
      return std::nullopt;
    }
  }
  return out;
}

std::string latin1_to_utf8(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x80) {
      out += char(c);
    } else {
      out += char(0xc0 | (c >> 6));
      out += char(0x80 | (c & 0x3f));
    }
  }
  return out;
}

/// A tEXt chunk, or an uncompressed iTXt one when the text is not Latin-1 (as PIL writes them).
std::string text_chunk(const std::string& keyword, const std::string& text) {
  if (auto latin1 = utf8_to_latin1(text)) return png_chunk("tEXt", keyword + std::string(1, '\0') + *latin1);
  // keyword \0, compression flag 0, method 0, language tag "" \0, translated keyword "" \0, text
  return png_chunk("iTXt", keyword + std::string(5, '\0') + text);
}

/// PNG bytes of `bgr` with the text chunks right after IHDR.
std::string encode_png(const cv::Mat& bgr, const std::vector<std::pair<std::string, std::string>>& texts) {
  std::vector<uchar> buf;
  if (!cv::imencode(".png", bgr, buf, {cv::IMWRITE_PNG_COMPRESSION, 1}))
    throw std::runtime_error("fake_webui: PNG encoding failed");
  std::string png(buf.begin(), buf.end());
  const size_t ihdr_end = 8 + 4 + 4 + 13 + 4;
  if (png.size() < ihdr_end || png.compare(12, 4, "IHDR") != 0)
    throw std::runtime_error("fake_webui: OpenCV wrote a PNG without IHDR first");
  std::string chunks;
  for (const auto& [key, text] : texts) chunks += text_chunk(key, text);
  png.insert(ihdr_end, chunks);
  return png;
}

/// Python's repr of a list of strings: ['a', 'b'].
std::string py_list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", '" : "'") + items[i] + "'";
  return out + "]";
}

/// Numbers as A1111's infotext shows them: 6 -> "6", 6.5 -> "6.5".
std::string format_number(double v) {
  if (std::isfinite(v) && std::floor(v) == v && std::fabs(v) < 1e15) return std::to_string(int64_t(v));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

/// A1111's infotext quote(): JSON-quoted when the value has ',', ':', a newline or a quote.
std::string quote_value(const std::string& v) {
  if (v.find_first_of(",:\n\"") == std::string::npos) return v;
  return json(v).dump();
}

std::string file_stem(const std::string& name) {
  auto slash = name.find_last_of("/\\");
  std::string base = slash == std::string::npos ? name : name.substr(slash + 1);
  auto dot = base.find_last_of('.');
  return dot == std::string::npos ? base : base.substr(0, dot);
}

struct CheckpointInfo {
  FakeCheckpoint ck;
  std::string hash10;      ///< AutoV2 short hash
  std::string model_name;  ///< name without extension ("/" -> "_"), A1111's model_name
  std::string title;       ///< "name [hash10]"
  bool hashed = true;      ///< false: A1111 has not hashed the file yet (sd-models: hash, sha256 null)

  explicit CheckpointInfo(FakeCheckpoint c) : ck(std::move(c)) {
    hash10 = ck.sha256.substr(0, 10);
    std::string n = ck.name;
    std::replace(n.begin(), n.end(), '/', '_');
    std::replace(n.begin(), n.end(), '\\', '_');
    auto dot = n.find_last_of('.');
    model_name = dot == std::string::npos ? n : n.substr(0, dot);
    title = ck.name + " [" + hash10 + "]";
  }
  /// A1111's checkpoint_aliases for this checkpoint.
  bool matches(const std::string& alias) const {
    const std::string stem = file_stem(ck.name);
    return alias == title || alias == ck.name || alias == model_name || alias == stem ||
           (!hash10.empty() && (alias == hash10 || alias == ck.sha256 || alias == stem + " [" + hash10 + "]"));
  }
};

std::vector<CheckpointInfo> to_infos(std::vector<FakeCheckpoint> cks) {
  std::vector<CheckpointInfo> out;
  for (auto& c : cks) out.emplace_back(std::move(c));
  return out;
}

/// Shuts down the server side of the connection that `req` came on: the socket whose local
/// port is the server's and whose peer port is the client's. httplib hands handlers no socket,
/// so it is looked up among this process's descriptors.
bool shutdown_connection(int server_port, int peer_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (!dir) return false;
  std::vector<int> fds;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9') fds.push_back(std::atoi(e->d_name));
  }
  closedir(dir);
  for (int fd : fds) {
    sockaddr_storage local{}, peer{};
    socklen_t local_len = sizeof local, peer_len = sizeof peer;
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&local), &local_len) != 0) continue;
    if (local.ss_family != AF_INET) continue;
    if (ntohs(reinterpret_cast<sockaddr_in*>(&local)->sin_port) != server_port) continue;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &peer_len) != 0) continue;
    if (peer.ss_family != AF_INET) continue;
    if (ntohs(reinterpret_cast<sockaddr_in*>(&peer)->sin_port) != peer_port) continue;
    ::shutdown(fd, SHUT_RDWR);
    return true;
  }
  return false;
}

const char* const k_html_page = "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>";

json parse_body(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return json(body);
  return j;
}

void send_json(httplib::Response& res, const json& j, int status = 200) {
  res.status = status;
  res.set_content(j.dump(), "application/json");
}

/// The part of the two servers that is the same: httplib server and thread, counters, faults.
class ServerCore {
 public:
  using FailBody = std::function<json(int status)>;

  ServerCore() {
    m_server.set_keep_alive_timeout(1);  // bounds how long stop() can wait on an idle client
    m_server.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response&) {
      std::lock_guard<std::mutex> l(m_count_mutex);
      ++m_counts[req.path];
      return httplib::Server::HandlerResponse::Unhandled;
    });
    m_server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
      std::string what = "unknown exception";
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        what = e.what();
      } catch (...) {
      }
      send_json(res, {{"error", "FakeServerError"}, {"detail", what}}, 500);
    });
    m_faults.on_die([this] { m_server.stop(); });
  }

  ~ServerCore() { stop(); }

  httplib::Server& server() { return m_server; }
  FakeFaults& faults() { return m_faults; }
  const FakeFaults& faults() const { return m_faults; }
  int port() const { return m_port; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(m_port); }

  void start() {
    m_port = m_server.bind_to_any_port("127.0.0.1");
    if (m_port <= 0) throw std::runtime_error("fake_webui: cannot bind 127.0.0.1");
    m_thread = std::thread([this] { m_server.listen_after_bind(); });
    // stop() is a no-op until the listen loop runs; wait for it so stop() never hangs.
    for (int i = 0; i < 5000 && !m_server.is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }

  void stop() {
    std::lock_guard<std::mutex> g(m_stop_mutex);
    {
      std::lock_guard<std::mutex> l(m_wait_mutex);
      m_stopping = true;
    }
    m_wait_cv.notify_all();
    m_server.stop();
    if (m_thread.joinable()) m_thread.join();
  }

  int requests(const std::string& path) const {
    std::lock_guard<std::mutex> l(m_count_mutex);
    int n = 0;
    for (const auto& [p, c] : m_counts)
      if (path.empty())
        n += c;
      else if (p == path || (p.size() > path.size() && p.compare(0, path.size(), path) == 0 &&
                             (path.back() == '/' || p[path.size()] == '/')))
        n += c;
    return n;
  }

  /// Applies the faults to one generation request. False: answered (or dropped); return.
  bool gate(const httplib::Request& req, httplib::Response& res, const FailBody& fail_body,
            Hostile* hostile = nullptr) {
    FakeFaults::Decision d = m_faults.next_generation();
    if (hostile) *hostile = d.hostile;
    if (d.die) m_server.stop();  // closes the listening socket; this connection stays up
    double delay = m_faults.delay_s();
    if (delay > 0) {
      std::unique_lock<std::mutex> l(m_wait_mutex);
      m_wait_cv.wait_for(l, std::chrono::duration<double>(delay), [this] { return m_stopping; });
    }
    if (d.verdict == FakeFaults::Verdict::Drop) {
      if (!shutdown_connection(m_port, req.remote_port))
        send_json(res, {{"error", "fake_webui: drop_next could not find the connection"}}, 500);
      else
        res.status = 500;  // never reaches the client: the socket is shut down
      return false;
    }
    if (d.verdict == FakeFaults::Verdict::Fail) {
      send_json(res, fail_body(d.status), d.status);
      return false;
    }
    return true;
  }

  /// Sends `body` one byte per faults().trickle_s() seconds (stop() ends it).
  void send_trickle(httplib::Response& res, std::string body, const std::string& type) {
    res.status = 200;
    auto text = std::make_shared<std::string>(std::move(body));
    const double interval = m_faults.trickle_s();
    res.set_content_provider(text->size(), type, [this, text, interval](size_t offset, size_t, httplib::DataSink& sink) {
      if (offset > 0) {
        std::unique_lock<std::mutex> l(m_wait_mutex);
        if (m_wait_cv.wait_for(l, std::chrono::duration<double>(interval), [this] { return m_stopping; })) return false;
      }
      return sink.write(text->data() + offset, 1);
    });
  }

  /// Sends faults().huge_mb() MB: `prefix`, then 'A' to the end, 64 KiB at a time.
  void send_huge(httplib::Response& res, const std::string& prefix, const std::string& type, bool chunked) {
    res.status = 200;
    const size_t total = size_t(m_faults.huge_mb()) << 20;
    auto piece = [prefix, total](size_t offset, size_t length) {
      static const std::string fill(64 << 10, 'A');
      std::string chunk = offset < prefix.size() ? prefix.substr(offset) : std::string();
      const size_t want = std::min({length, fill.size(), total - offset});
      if (chunk.size() < want) chunk += fill.substr(0, want - chunk.size());
      return chunk;
    };
    if (!chunked) {
      res.set_content_provider(total, type, [piece, total](size_t offset, size_t length, httplib::DataSink& sink) {
        const std::string c = piece(offset, length);
        return sink.write(c.data(), c.size());
      });
      return;
    }
    auto sent = std::make_shared<size_t>(0);
    res.set_chunked_content_provider(type, [piece, total, sent](size_t, httplib::DataSink& sink) {
      if (*sent >= total) {
        sink.done();
        return true;
      }
      const std::string c = piece(*sent, total - *sent);
      *sent += c.size();
      return sink.write(c.data(), c.size());
    });
  }

 private:
  httplib::Server m_server;
  FakeFaults m_faults;
  int m_port = -1;
  std::thread m_thread;
  std::mutex m_stop_mutex;
  std::mutex m_wait_mutex;
  std::condition_variable m_wait_cv;
  bool m_stopping = false;
  mutable std::mutex m_count_mutex;
  std::map<std::string, int> m_counts;
};

/// Field readers with FastAPI-like 422 errors.
struct FieldError : std::runtime_error {
  std::string field;
  FieldError(std::string f, const std::string& msg) : std::runtime_error(msg), field(std::move(f)) {}
};

const json* find_field(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string get_string(const json& body, const char* key, const std::string& def) {
  const json* v = find_field(body, key);
  if (!v) return def;
  if (!v->is_string()) throw FieldError(key, "str type expected");
  return v->get<std::string>();
}

int64_t get_int(const json& body, const char* key, int64_t def) {
  const json* v = find_field(body, key);
  if (!v) return def;
  if (v->is_number_integer()) return v->get<int64_t>();
  if (v->is_number_float() && std::floor(v->get<double>()) == v->get<double>()) return int64_t(v->get<double>());
  throw FieldError(key, "value is not a valid integer");
}

double get_double(const json& body, const char* key, double def) {
  const json* v = find_field(body, key);
  if (!v) return def;
  if (!v->is_number()) throw FieldError(key, "value is not a valid float");
  return v->get<double>();
}

bool get_bool(const json& body, const char* key, bool def) {
  const json* v = find_field(body, key);
  if (!v) return def;
  if (!v->is_boolean()) throw FieldError(key, "value could not be parsed to a boolean");
  return v->get<bool>();
}

json fastapi_422(const std::string& field, const std::string& msg) {
  return {{"detail", json::array({{{"loc", json::array({"body", field})}, {"msg", msg}, {"type", "type_error"}}})}};
}

}  // namespace

// ============================================================================ rendering, bytes

cv::Mat fake_render(const std::string& model_hash, const std::string& prompt, int64_t seed, int width, int height) {
  width = std::max(1, width);
  height = std::max(1, height);
  const uint64_t hm = fnv1a64(model_hash);
  const uint64_t hp = fnv1a64(prompt);
  const uint64_t key = fnv1a64(std::to_string(seed) + "|" + std::to_string(width) + "x" + std::to_string(height),
                               hm ^ (hp * 0x9E3779B97F4A7C15ULL));
  std::mt19937_64 rng(key);
  cv::Mat img(height, width, CV_8UC3);
  // Background: a vertical gradient that depends on the model only.
  const double top[3] = {double(hm & 0xff), double((hm >> 8) & 0xff), double((hm >> 16) & 0xff)};
  const double bottom[3] = {double((hm >> 24) & 0xff), double((hm >> 32) & 0xff), double((hm >> 40) & 0xff)};
  for (int y = 0; y < height; ++y) {
    const double t = height > 1 ? double(y) / (height - 1) : 0.0;
    img.row(y).setTo(cv::Scalar(top[0] + (bottom[0] - top[0]) * t, top[1] + (bottom[1] - top[1]) * t,
                                top[2] + (bottom[2] - top[2]) * t));
  }
  // Shapes: colours from the prompt, places from everything (seed included).
  const int shapes = 4 + int(hp % 4);
  const int extent = std::max(2, std::min(width, height) / 3);
  for (int k = 0; k < shapes; ++k) {
    const uint64_t c = (hp >> ((k * 11) % 48)) ^ (rng() & 0x3f3f3f);
    const cv::Scalar colour(double(c & 0xff), double((c >> 8) & 0xff), double((c >> 16) & 0xff));
    const int cx = int(rng() % uint64_t(width));
    const int cy = int(rng() % uint64_t(height));
    const int r = 1 + int(rng() % uint64_t(extent));
    if (rng() & 1)
      cv::circle(img, {cx, cy}, r, colour, cv::FILLED, cv::LINE_8);
    else
      cv::rectangle(img, cv::Point(cx - r, cy - r / 2), cv::Point(cx + r, cy + r / 2), colour, cv::FILLED, cv::LINE_8);
  }
  return img;
}

std::string fake_base64_encode(const std::string& bytes) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < bytes.size(); i += 3) {
    uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) | uint8_t(bytes[i + 2]);
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += k[v & 63];
  }
  if (i + 1 == bytes.size()) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == bytes.size()) {
    uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8);
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string fake_base64_decode(const std::string& text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  size_t pad = 0;
  for (char c : text) {
    if (c == '\n' || c == '\r') continue;
    if (c == '=') {
      ++pad;
      continue;
    }
    int v = value(c);
    if (v < 0 || pad) throw std::invalid_argument("fake_base64_decode: not base64");
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += char((acc >> bits) & 0xff);
    }
  }
  if (pad > 2) throw std::invalid_argument("fake_base64_decode: bad padding");
  return out;
}

std::map<std::string, std::string> fake_png_text(const std::string& png) {
  if (png.size() < 8 || png.compare(0, 8, k_png_signature, 8) != 0)
    throw std::invalid_argument("fake_png_text: not a PNG");
  std::map<std::string, std::string> out;
  size_t at = 8;
  while (at + 12 <= png.size()) {
    const uint32_t len = read_be32(png, at);
    if (at + 12 + size_t(len) > png.size()) throw std::invalid_argument("fake_png_text: truncated chunk");
    const std::string type = png.substr(at + 4, 4);
    const std::string data = png.substr(at + 8, len);
    at += 12 + size_t(len);
    if (type == "tEXt") {
      auto nul = data.find('\0');
      if (nul != std::string::npos) out[data.substr(0, nul)] = latin1_to_utf8(data.substr(nul + 1));
    } else if (type == "iTXt") {
      auto nul = data.find('\0');
      if (nul == std::string::npos || nul + 3 > data.size() || data[nul + 1] != 0) continue;  // compressed: skip
      auto lang_end = data.find('\0', nul + 3);
      if (lang_end == std::string::npos) continue;
      auto trans_end = data.find('\0', lang_end + 1);
      if (trans_end == std::string::npos) continue;
      out[data.substr(0, nul)] = data.substr(trans_end + 1);
    } else if (type == "IEND") {
      break;
    }
  }
  return out;
}

// ============================================================================ FakeA1111

struct FakeA1111::Impl {
  ServerCore core;
  std::vector<CheckpointInfo> ckpts;
  std::vector<FakeLora> loras;

  mutable std::mutex mutex;
  int current = -1;
  json options = json::object();
  std::vector<json> txt2img_log;
  std::vector<json> options_log;
  std::mt19937_64 random_seeds{std::random_device{}()};

  Impl(std::vector<FakeCheckpoint> c, std::vector<FakeLora> l) : ckpts(to_infos(std::move(c))), loras(std::move(l)) {
    current = ckpts.empty() ? -1 : 0;
    options["sd_vae"] = "Automatic";
    options["CLIP_stop_at_last_layers"] = 1;
    options["samples_format"] = "png";
    options["enable_pnginfo"] = true;
    options["grid_only_if_multiple"] = true;
    routes();
    core.start();
  }
  ~Impl() { core.stop(); }

  int find(const std::string& alias) const {
    for (size_t i = 0; i < ckpts.size(); ++i)
      if (ckpts[i].matches(alias)) return int(i);
    return -1;
  }

  static json fail_body(int status) {
    return {{"error", "HTTPException"},
            {"detail", "fake_webui: injected HTTP " + std::to_string(status)},
            {"body", ""},
            {"errors", ""}};
  }

  json options_json() const {
    json o = options;
    o["sd_model_checkpoint"] = current >= 0 ? json(ckpts[size_t(current)].title) : json(nullptr);
    o["sd_checkpoint_hash"] = current >= 0 ? json(ckpts[size_t(current)].ck.sha256) : json(nullptr);
    o["return_grid"] = core.faults().return_grid();
    return o;
  }

  void routes() {
    auto& s = core.server();
    s.Get("/sdapi/v1/sd-models", [this](const httplib::Request&, httplib::Response& res) {
      json list = json::array();
      for (const auto& c : ckpts)
        list.push_back({{"title", c.title},
                        {"model_name", c.model_name},
                        {"hash", c.hashed ? json(c.hash10) : json(nullptr)},
                        {"sha256", c.hashed ? json(c.ck.sha256) : json(nullptr)},
                        {"filename", "/fake/stable-diffusion-webui/models/Stable-diffusion/" + c.ck.name},
                        {"config", nullptr}});
      send_json(res, list);
    });
    s.Get("/sdapi/v1/options", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard<std::mutex> l(mutex);
      send_json(res, options_json());
    });
    s.Post("/sdapi/v1/options", [this](const httplib::Request& req, httplib::Response& res) {
      json body = parse_body(req.body);
      std::lock_guard<std::mutex> l(mutex);
      options_log.push_back(body);
      if (!body.is_object()) {
        send_json(res, fastapi_422("__root__", "value is not a valid dict"), 422);
        return;
      }
      int ckpt = current;
      if (auto it = body.find("sd_model_checkpoint"); it != body.end() && !it->is_null()) {
        const std::string name = it->is_string() ? it->get<std::string>() : it->dump();
        ckpt = find(name);
        if (ckpt < 0) {
          // A1111 set_config: raise RuntimeError(f"model {checkpoint_name!r} not found") -> 500.
          send_json(
              res,
              {{"error", "RuntimeError"}, {"detail", ""}, {"body", ""}, {"errors", "model '" + name + "' not found"}},
              500);
          return;
        }
      }
      current = ckpt;
      if (ckpt >= 0) ckpts[size_t(ckpt)].hashed = true;  // loading a model hashes its file
      for (const auto& [k, v] : body.items()) {
        if (k == "sd_model_checkpoint") continue;
        if (k == "return_grid" && v.is_boolean()) core.faults().set_return_grid(v.get<bool>());
        options[k] = v;
      }
      send_json(res, nullptr);
    });
    s.Get("/sdapi/v1/loras", [this](const httplib::Request&, httplib::Response& res) {
      json list = json::array();
      for (const auto& l : loras)
        list.push_back({{"name", l.name},
                        {"alias", l.name},
                        {"path", "/fake/stable-diffusion-webui/models/Lora/" + l.name + ".safetensors"},
                        {"metadata", json::object()}});
      send_json(res, list);
    });
    s.Get("/sdapi/v1/samplers", [](const httplib::Request&, httplib::Response& res) {
      json list = json::array();
      for (const char* n : {"DPM++ 2M", "DPM++ SDE", "DPM++ 2M SDE", "Euler a", "Euler", "DDIM", "UniPC"})
        list.push_back({{"name", n}, {"aliases", json::array()}, {"options", json::object()}});
      send_json(res, list);
    });
    s.Get("/sdapi/v1/schedulers", [](const httplib::Request&, httplib::Response& res) {
      json list = json::array();
      for (const char* n : {"Automatic", "Uniform", "Karras", "Exponential", "SGM Uniform"}) {
        std::string name = n;
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return c == ' ' ? '_' : char(std::tolower(c)); });
        list.push_back(
            {{"name", name}, {"label", n}, {"aliases", nullptr}, {"default_rho", -1}, {"need_inner_model", false}});
      }
      send_json(res, list);
    });
    s.Get("/sdapi/v1/sd-vae", [](const httplib::Request&, httplib::Response& res) { send_json(res, json::array()); });
    s.Get("/sdapi/v1/progress", [](const httplib::Request&, httplib::Response& res) {
      send_json(res, {{"progress", 0.0},
                      {"eta_relative", 0.0},
                      {"state", {{"skipped", false}, {"interrupted", false}, {"job", ""}, {"job_count", 0}}},
                      {"current_image", nullptr},
                      {"textinfo", nullptr}});
    });
    s.Post("/sdapi/v1/refresh-checkpoints",
           [](const httplib::Request&, httplib::Response& res) { send_json(res, nullptr); });
    s.Post("/sdapi/v1/txt2img", [this](const httplib::Request& req, httplib::Response& res) { txt2img(req, res); });
  }

  static json default_parameters() {
    return {{"prompt", ""},
            {"negative_prompt", ""},
            {"styles", nullptr},
            {"seed", -1},
            {"subseed", -1},
            {"subseed_strength", 0},
            {"seed_resize_from_h", -1},
            {"seed_resize_from_w", -1},
            {"sampler_name", nullptr},
            {"scheduler", nullptr},
            {"batch_size", 1},
            {"n_iter", 1},
            {"steps", 50},
            {"cfg_scale", 7.0},
            {"width", 512},
            {"height", 512},
            {"restore_faces", nullptr},
            {"tiling", nullptr},
            {"do_not_save_samples", false},
            {"do_not_save_grid", false},
            {"denoising_strength", nullptr},
            {"override_settings", nullptr},
            {"override_settings_restore_afterwards", true},
            {"refiner_checkpoint", nullptr},
            {"enable_hr", false},
            {"firstphase_width", 0},
            {"firstphase_height", 0},
            {"hr_scale", 2.0},
            {"hr_upscaler", nullptr},
            {"hr_second_pass_steps", 0},
            {"hr_resize_x", 0},
            {"hr_resize_y", 0},
            {"hr_checkpoint_name", nullptr},
            {"hr_sampler_name", nullptr},
            {"hr_scheduler", nullptr},
            {"hr_prompt", ""},
            {"hr_negative_prompt", ""},
            {"sampler_index", "Euler"},
            {"script_name", nullptr},
            {"script_args", json::array()},
            {"send_images", true},
            {"save_images", false},
            {"alwayson_scripts", json::object()},
            {"infotext", nullptr}};
  }

  /// "<lora:name:w>" / "<lora:name:te:unet>" names in a prompt, in order.
  static std::vector<std::string> prompt_loras(const std::string& prompt) {
    std::vector<std::string> out;
    size_t at = 0;
    while ((at = prompt.find("<lora:", at)) != std::string::npos) {
      size_t end = prompt.find('>', at);
      if (end == std::string::npos) break;
      std::string inner = prompt.substr(at + 6, end - at - 6);
      out.push_back(inner.substr(0, inner.find(':')));
      at = end + 1;
    }
    return out;
  }

  void txt2img(const httplib::Request& req, httplib::Response& res) {
    json body = parse_body(req.body);
    {
      std::lock_guard<std::mutex> l(mutex);
      txt2img_log.push_back(body);
    }
    Hostile hostile = Hostile::none;
    if (!core.gate(req, res, fail_body, &hostile)) return;
    if (!body.is_object()) {
      send_json(res, fastapi_422("__root__", "value is not a valid dict"), 422);
      return;
    }
    if (hostile == Hostile::error_inside) {
      send_json(res, {{"error", "OutOfMemoryError"},
                      {"detail", ""},
                      {"body", ""},
                      {"errors", "CUDA out of memory. Tried to allocate 2.00 GiB (fake_webui: hostile_next)"}});
      return;
    }
    try {
      generate(body, res, hostile);
    } catch (const FieldError& e) {
      send_json(res, fastapi_422(e.field, e.what()), 422);
    }
  }

  void generate(const json& body, httplib::Response& res, Hostile hostile) {
    const std::string prompt = get_string(body, "prompt", "");
    const std::string negative = get_string(body, "negative_prompt", "");
    int64_t seed = get_int(body, "seed", -1);
    int64_t subseed = get_int(body, "subseed", -1);
    const double subseed_strength = get_double(body, "subseed_strength", 0.0);
    const std::string sampler = get_string(body, "sampler_name", get_string(body, "sampler_index", "Euler"));
    const std::string scheduler = get_string(body, "scheduler", "");
    const int64_t steps = get_int(body, "steps", 50);
    const double cfg = get_double(body, "cfg_scale", 7.0);
    const int64_t width = get_int(body, "width", 512);
    const int64_t height = get_int(body, "height", 512);
    const int64_t batch_size = get_int(body, "batch_size", 1);
    const int64_t n_iter = get_int(body, "n_iter", 1);
    const bool enable_hr = get_bool(body, "enable_hr", false);
    const double hr_scale = get_double(body, "hr_scale", 2.0);
    const std::string hr_upscaler = get_string(body, "hr_upscaler", "Latent");
    const double denoising = get_double(body, "denoising_strength", 0.7);
    const int64_t hr_steps = get_int(body, "hr_second_pass_steps", 0);
    const int64_t hr_resize_x = get_int(body, "hr_resize_x", 0);
    const int64_t hr_resize_y = get_int(body, "hr_resize_y", 0);
    const bool restore = get_bool(body, "override_settings_restore_afterwards", true);
    const bool send_images = get_bool(body, "send_images", true);
    const bool save_images = get_bool(body, "save_images", false);
    json overrides = json::object();
    if (const json* o = find_field(body, "override_settings")) {
      if (!o->is_object()) throw FieldError("override_settings", "value is not a valid dict");
      overrides = *o;
    }
    if (width < 8 || height < 8 || width > 8192 || height > 8192)
      throw FieldError("width", "width and height must be in [8, 8192]");
    if (batch_size < 1 || n_iter < 1 || batch_size * n_iter > 1000)
      throw FieldError("batch_size", "batch_size and n_iter must be >= 1 (and at most 1000 images)");

    std::unique_lock<std::mutex> l(mutex);
    // The model: a known override wins; an unknown one is dropped silently (A1111's trap).
    int model = current;
    if (const json* ck = find_field(overrides, "sd_model_checkpoint")) {
      int found = ck->is_string() ? find(ck->get<std::string>()) : -1;
      if (found >= 0) model = found;
    }
    if (model < 0) {
      send_json(res, {{"error", "RuntimeError"}, {"detail", ""}, {"body", ""}, {"errors", "No checkpoints found"}},
                500);
      return;
    }
    std::string vae = options.value("sd_vae", std::string("Automatic"));
    if (const json* v = find_field(overrides, "sd_vae"); v && v->is_string()) vae = v->get<std::string>();
    int64_t clip_skip = options.value("CLIP_stop_at_last_layers", int64_t(1));
    if (const json* c = find_field(overrides, "CLIP_stop_at_last_layers"); c && c->is_number())
      clip_skip = int64_t(c->get<double>());
    if (model >= 0) ckpts[size_t(model)].hashed = true;
    if (!restore) {
      current = model;
      for (const auto& [k, v] : overrides.items())
        if (k != "sd_model_checkpoint") options[k] = v;
    }
    if (seed == -1) seed = int64_t(random_seeds() % 4294967294ULL);
    if (subseed == -1) subseed = int64_t(random_seeds() % 4294967294ULL);
    l.unlock();

    const CheckpointInfo& ck = ckpts[size_t(model)];
    const std::string wrong = core.faults().wrong_model_hash();
    const std::string reported_hash = wrong.empty() ? ck.hash10 : wrong;
    const bool omit = core.faults().omit_infotext();

    int64_t out_w = width, out_h = height;
    if (enable_hr) {
      if (hr_resize_x == 0 && hr_resize_y == 0) {
        out_w = int64_t(double(width) * hr_scale);
        out_h = int64_t(double(height) * hr_scale);
      } else if (hr_resize_y == 0) {
        out_w = hr_resize_x;
        out_h = hr_resize_x * height / width;
      } else if (hr_resize_x == 0) {
        out_h = hr_resize_y;
        out_w = hr_resize_y * width / height;
      } else {
        out_w = hr_resize_x;
        out_h = hr_resize_y;
      }
    }

    // Lora hashes: configured LoRAs named in the prompt; unknown ones are ignored (A1111 logs).
    std::string lora_hashes;
    for (const auto& name : prompt_loras(prompt)) {
      for (const auto& lora : loras) {
        if (lora.name != name) continue;
        if (lora_hashes.find(name + ": ") == std::string::npos)
          lora_hashes += (lora_hashes.empty() ? "" : ", ") + name + ": " + lora.sha256.substr(0, 12);
      }
    }

    const int64_t count = batch_size * n_iter;
    json all_seeds = json::array(), all_subseeds = json::array(), all_prompts = json::array(),
         all_negatives = json::array(), infotexts = json::array(), images = json::array();
    std::vector<cv::Mat> pixels;
    std::vector<std::string> texts;
    for (int64_t i = 0; i < count; ++i) {
      // processing.py: seeds step per image unless a variation (subseed) strength is set.
      const int64_t s = seed + (subseed_strength == 0.0 ? i : 0);
      all_seeds.push_back(s);
      all_subseeds.push_back(subseed + i);
      all_prompts.push_back(prompt);
      all_negatives.push_back(negative);
      std::vector<std::pair<std::string, std::string>> p;
      p.emplace_back("Steps", std::to_string(steps));
      p.emplace_back("Sampler", sampler);
      if (!scheduler.empty()) p.emplace_back("Schedule type", scheduler);
      p.emplace_back("CFG scale", format_number(cfg));
      p.emplace_back("Seed", std::to_string(s));
      p.emplace_back("Size", std::to_string(width) + "x" + std::to_string(height));
      p.emplace_back("Model hash", reported_hash);
      p.emplace_back("Model", file_stem(ck.ck.name));
      if (vae != "Automatic" && vae != "None" && !vae.empty()) p.emplace_back("VAE", vae);
      if (subseed_strength != 0.0) {
        p.emplace_back("Variation seed", std::to_string(subseed + i));
        p.emplace_back("Variation seed strength", format_number(subseed_strength));
      }
      if (enable_hr) p.emplace_back("Denoising strength", format_number(denoising));
      if (clip_skip > 1) p.emplace_back("Clip skip", std::to_string(clip_skip));
      if (enable_hr) {
        if (hr_resize_x == 0 && hr_resize_y == 0)
          p.emplace_back("Hires upscale", format_number(hr_scale));
        else
          p.emplace_back("Hires resize", std::to_string(out_w) + "x" + std::to_string(out_h));
        if (hr_steps > 0) p.emplace_back("Hires steps", std::to_string(hr_steps));
        p.emplace_back("Hires upscaler", hr_upscaler);
      }
      if (!lora_hashes.empty()) p.emplace_back("Lora hashes", lora_hashes);
      p.emplace_back("Version", "fake-a1111");
      std::string text = prompt;
      if (!negative.empty()) text += "\nNegative prompt: " + negative;
      text += "\n";
      for (size_t k = 0; k < p.size(); ++k) text += (k ? ", " : "") + p[k].first + ": " + quote_value(p[k].second);
      infotexts.push_back(text);
      texts.push_back(text);
      pixels.push_back(fake_render(ck.hash10, prompt, s, int(out_w), int(out_h)));
    }

    int index_of_first_image = 0;
    std::vector<std::pair<cv::Mat, std::string>> out;
    // processing.py: grid only with return_grid, when saving grids (API: save_images) and >= 2 images.
    if (core.faults().return_grid() && save_images && count >= 2) {
      int rows = std::max(1, int(std::lround(std::sqrt(double(count)))));
      rows = std::min<int>(rows, int(count));
      const int cols = int((count + rows - 1) / rows);
      cv::Mat grid(rows * int(out_h), cols * int(out_w), CV_8UC3, cv::Scalar(0, 0, 0));
      for (int64_t i = 0; i < count; ++i)
        pixels[size_t(i)].copyTo(
            grid(cv::Rect(int(i % cols) * int(out_w), int(i / cols) * int(out_h), int(out_w), int(out_h))));
      out.emplace_back(grid, texts[0]);
      infotexts.insert(infotexts.begin(), texts[0]);
      index_of_first_image = 1;
    }
    for (size_t i = 0; i < pixels.size(); ++i) out.emplace_back(pixels[i], texts[i]);
    if (send_images) {
      for (const auto& [img, text] : out) {
        std::vector<std::pair<std::string, std::string>> chunks;
        if (!omit) chunks.emplace_back("parameters", text);
        images.push_back(fake_base64_encode(encode_png(img, chunks)));
      }
    }

    json extra = json::object();
    if (enable_hr) {
      if (hr_resize_x == 0 && hr_resize_y == 0)
        extra["Hires upscale"] = hr_scale;
      else
        extra["Hires resize"] = std::to_string(out_w) + "x" + std::to_string(out_h);
      if (hr_steps > 0) extra["Hires steps"] = hr_steps;
      extra["Hires upscaler"] = hr_upscaler;
    }
    if (!lora_hashes.empty()) extra["Lora hashes"] = lora_hashes;

    json info = {{"prompt", prompt},
                 {"all_prompts", all_prompts},
                 {"negative_prompt", negative},
                 {"all_negative_prompts", all_negatives},
                 {"seed", all_seeds[0]},
                 {"all_seeds", all_seeds},
                 {"subseed", all_subseeds[0]},
                 {"all_subseeds", all_subseeds},
                 {"subseed_strength", subseed_strength},
                 {"width", width},
                 {"height", height},
                 {"sampler_name", sampler},
                 {"cfg_scale", cfg},
                 {"steps", steps},
                 {"batch_size", batch_size},
                 {"restore_faces", false},
                 {"face_restoration_model", nullptr},
                 {"sd_model_name", file_stem(ck.ck.name)},
                 {"sd_model_hash", reported_hash},
                 {"sd_vae_name", vae == "Automatic" || vae == "None" ? json(nullptr) : json(vae)},
                 {"sd_vae_hash", nullptr},
                 {"seed_resize_from_w", -1},
                 {"seed_resize_from_h", -1},
                 {"denoising_strength", enable_hr ? json(denoising) : json(nullptr)},
                 {"extra_generation_params", extra},
                 {"index_of_first_image", index_of_first_image},
                 {"infotexts", infotexts},
                 {"styles", json::array()},
                 {"job_timestamp", "20240101000000"},
                 {"clip_skip", clip_skip},
                 {"is_using_inpainting_conditioning", false},
                 {"version", "fake-a1111"}};
    json parameters = default_parameters();
    for (const auto& [k, v] : body.items()) parameters[k] = v;
    if (hostile == Hostile::wrong_types)
      for (auto& seed : info["all_seeds"]) seed = std::to_string(seed.get<int64_t>());
    if (hostile == Hostile::not_image || hostile == Hostile::truncated_png)
      for (auto& im : images) {
        const std::string png = fake_base64_decode(im.get<std::string>());
        im = fake_base64_encode(hostile == Hostile::not_image ? std::string(k_html_page) : png.substr(0, png.size() / 2));
      }
    const json answer = {{"images", images}, {"parameters", parameters}, {"info", info.dump()}};
    if (hostile == Hostile::trickle) return core.send_trickle(res, answer.dump(), "application/json");
    if (hostile == Hostile::huge || hostile == Hostile::huge_chunked)
      return core.send_huge(res, "{\"images\": [\"", "application/json", hostile == Hostile::huge_chunked);
    send_json(res, answer);
  }
};

FakeA1111::FakeA1111(std::vector<FakeCheckpoint> checkpoints, std::vector<FakeLora> loras)
    : m_impl(std::make_unique<Impl>(std::move(checkpoints), std::move(loras))) {}
FakeA1111::~FakeA1111() = default;
std::string FakeA1111::url() const { return m_impl->core.url(); }
int FakeA1111::port() const { return m_impl->core.port(); }
FakeFaults& FakeA1111::faults() { return m_impl->core.faults(); }
std::vector<nlohmann::json> FakeA1111::txt2img_requests() const {
  std::lock_guard<std::mutex> l(m_impl->mutex);
  return m_impl->txt2img_log;
}
std::vector<nlohmann::json> FakeA1111::options_posts() const {
  std::lock_guard<std::mutex> l(m_impl->mutex);
  return m_impl->options_log;
}
int FakeA1111::requests(const std::string& path) const { return m_impl->core.requests(path); }
std::string FakeA1111::current_model() const {
  std::lock_guard<std::mutex> l(m_impl->mutex);
  return m_impl->current >= 0 ? m_impl->ckpts[size_t(m_impl->current)].ck.name : std::string();
}
bool FakeA1111::set_current_model(const std::string& alias) {
  std::lock_guard<std::mutex> l(m_impl->mutex);
  int i = m_impl->find(alias);
  if (i < 0) return false;
  m_impl->current = i;
  m_impl->ckpts[size_t(i)].hashed = true;
  return true;
}
bool FakeA1111::set_unhashed(const std::string& alias) {
  std::lock_guard<std::mutex> l(m_impl->mutex);
  int i = m_impl->find(alias);
  if (i < 0) return false;
  m_impl->ckpts[size_t(i)].hashed = false;
  return true;
}
void FakeA1111::stop() { m_impl->core.stop(); }

// ============================================================================ FakeComfyUI

namespace {

/// One input of a node class: its type ("MODEL", "INT", ...) or a combo of allowed values.
struct InputSpec {
  std::string name;
  std::string type;         ///< "COMBO" for lists
  bool any_string = false;  ///< COMBO whose list the fake does not know (accepts any string)
};

struct NodeSpec {
  std::string cls;
  std::string display;
  std::string category;
  std::vector<InputSpec> inputs;
  std::vector<std::string> outputs;
  bool output_node = false;
};

const std::vector<std::string>& k_samplers() {
  static const std::vector<std::string> v = {"euler",
                                             "euler_cfg_pp",
                                             "euler_ancestral",
                                             "euler_ancestral_cfg_pp",
                                             "heun",
                                             "heunpp2",
                                             "dpm_2",
                                             "dpm_2_ancestral",
                                             "lms",
                                             "dpm_fast",
                                             "dpm_adaptive",
                                             "dpmpp_2s_ancestral",
                                             "dpmpp_2s_ancestral_cfg_pp",
                                             "dpmpp_sde",
                                             "dpmpp_sde_gpu",
                                             "dpmpp_2m",
                                             "dpmpp_2m_cfg_pp",
                                             "dpmpp_2m_sde",
                                             "dpmpp_2m_sde_gpu",
                                             "dpmpp_3m_sde",
                                             "dpmpp_3m_sde_gpu",
                                             "ddpm",
                                             "lcm",
                                             "ipndm",
                                             "ipndm_v",
                                             "deis",
                                             "res_multistep",
                                             "res_multistep_cfg_pp",
                                             "res_multistep_ancestral",
                                             "res_multistep_ancestral_cfg_pp",
                                             "gradient_estimation",
                                             "er_sde",
                                             "seeds_2",
                                             "seeds_3",
                                             "ddim",
                                             "uni_pc",
                                             "uni_pc_bh2"};
  return v;
}

const std::vector<std::string>& k_schedulers() {
  static const std::vector<std::string> v = {"simple", "sgm_uniform", "karras",           "exponential", "ddim_uniform",
                                             "beta",   "normal",      "linear_quadratic", "kl_optimal"};
  return v;
}

const std::vector<NodeSpec>& k_nodes() {
  static const std::vector<NodeSpec> v = {
      {"CheckpointLoaderSimple", "Load Checkpoint", "loaders", {{"ckpt_name", "COMBO"}}, {"MODEL", "CLIP", "VAE"}},
      {"LoraLoader",
       "Load LoRA",
       "loaders",
       {{"model", "MODEL"},
        {"clip", "CLIP"},
        {"lora_name", "COMBO"},
        {"strength_model", "FLOAT"},
        {"strength_clip", "FLOAT"}},
       {"MODEL", "CLIP"}},
      {"CLIPSetLastLayer",
       "CLIP Set Last Layer",
       "conditioning",
       {{"clip", "CLIP"}, {"stop_at_clip_layer", "INT"}},
       {"CLIP"}},
      {"CLIPTextEncode",
       "CLIP Text Encode (Prompt)",
       "conditioning",
       {{"text", "STRING"}, {"clip", "CLIP"}},
       {"CONDITIONING"}},
      {"EmptyLatentImage",
       "Empty Latent Image",
       "latent",
       {{"width", "INT"}, {"height", "INT"}, {"batch_size", "INT"}},
       {"LATENT"}},
      {"KSampler",
       "KSampler",
       "sampling",
       {{"model", "MODEL"},
        {"seed", "INT"},
        {"steps", "INT"},
        {"cfg", "FLOAT"},
        {"sampler_name", "COMBO"},
        {"scheduler", "COMBO"},
        {"positive", "CONDITIONING"},
        {"negative", "CONDITIONING"},
        {"latent_image", "LATENT"},
        {"denoise", "FLOAT"}},
       {"LATENT"}},
      {"VAELoader", "Load VAE", "loaders", {{"vae_name", "COMBO", true}}, {"VAE"}},
      {"VAEDecode", "VAE Decode", "latent", {{"samples", "LATENT"}, {"vae", "VAE"}}, {"IMAGE"}},
      {"SaveImage", "Save Image", "image", {{"images", "IMAGE"}, {"filename_prefix", "STRING"}}, {}, true},
      {"PreviewImage", "Preview Image", "image", {{"images", "IMAGE"}}, {}, true},
  };
  return v;
}

const NodeSpec* node_spec(const std::string& cls) {
  for (const auto& n : k_nodes())
    if (n.cls == cls) return &n;
  return nullptr;
}

bool is_link(const json& v) {
  return v.is_array() && v.size() == 2 && (v[0].is_string() || v[0].is_number_integer()) && v[1].is_number_integer();
}

std::string link_id(const json& v) {
  return v[0].is_string() ? v[0].get<std::string>() : std::to_string(v[0].get<int64_t>());
}

json comfy_error(const std::string& type, const std::string& message, const std::string& details) {
  return {{"type", type}, {"message", message}, {"details", details}, {"extra_info", json::object()}};
}

struct StoredImage {
  std::string filename, subfolder, type, png;
  Hostile hostile = Hostile::none;  ///< how GET /view sends it
};

struct PromptRun {
  std::string id;
  int number = 0;
  json graph, extra_data;
  std::vector<std::string> outputs_to_execute;
  json outputs = json::object();
  bool ok = true;
  json error;  ///< execution_error message body when !ok
  int polls = 0;
  int64_t timestamp_ms = 0;
  Hostile hostile = Hostile::none;
};

}  // namespace

struct FakeComfyUI::Impl {
  ServerCore core;
  std::vector<CheckpointInfo> ckpts;
  std::vector<FakeLora> loras;

  mutable std::mutex mutex;
  std::vector<json> prompt_log;
  std::map<std::string, PromptRun> runs;
  std::vector<std::string> run_order;
  std::map<std::string, StoredImage> files;  ///< "type\nsubfolder\nfilename"
  std::vector<std::string> stored;
  std::map<std::string, int> counters;  ///< "type\nsubfolder\nname" -> last counter
  int number = 0;
  uint64_t next_id = 1;

  Impl(std::vector<FakeCheckpoint> c, std::vector<FakeLora> l) : ckpts(to_infos(std::move(c))), loras(std::move(l)) {
    routes();
    core.start();
  }
  ~Impl() { core.stop(); }

  std::vector<std::string> combo(const std::string& input) const {
    std::vector<std::string> out;
    if (input == "ckpt_name")
      for (const auto& c : ckpts) out.push_back(c.ck.name);
    if (input == "lora_name")
      for (const auto& l : loras) out.push_back(l.name + ".safetensors");
    if (input == "sampler_name") out = k_samplers();
    if (input == "scheduler") out = k_schedulers();
    return out;
  }

  json object_info(const NodeSpec& n) const {
    json required = json::object();
    json order = json::array();
    for (const auto& in : n.inputs) {
      if (in.type == "COMBO")
        required[in.name] = json::array({in.any_string ? json::array() : json(combo(in.name)), json::object()});
      else
        required[in.name] = json::array({in.type, json::object()});
      order.push_back(in.name);
    }
    return {{"input", {{"required", required}}},
            {"input_order", {{"required", order}}},
            {"output", n.outputs},
            {"output_is_list", std::vector<bool>(n.outputs.size(), false)},
            {"output_name", n.outputs},
            {"name", n.cls},
            {"display_name", n.display},
            {"description", ""},
            {"python_module", "nodes"},
            {"category", n.category},
            {"output_node", n.output_node}};
  }

  static json fail_body(int status) {
    return {{"error", comfy_error("fake_fault", "fake_webui: injected HTTP " + std::to_string(status), "")},
            {"node_errors", json::object()}};
  }

  void routes() {
    auto& s = core.server();
    s.Post("/prompt", [this](const httplib::Request& req, httplib::Response& res) { post_prompt(req, res); });
    s.Get(R"(/history/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard<std::mutex> l(mutex);
      auto it = runs.find(req.matches[1].str());
      if (it == runs.end()) {
        send_json(res, json::object());
        return;
      }
      PromptRun& run = it->second;
      if (run.polls++ < core.faults().history_delay_polls()) {
        send_json(res, json::object());  // still "running"
        return;
      }
      send_json(res, {{run.id, history_entry(run)}});
    });
    s.Get("/history", [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard<std::mutex> l(mutex);
      json all = json::object();
      for (const auto& id : run_order) all[id] = history_entry(runs.at(id));
      send_json(res, all);
    });
    s.Get("/view", [this](const httplib::Request& req, httplib::Response& res) {
      if (!req.has_param("filename")) {
        res.status = 400;
        return;
      }
      const std::string type = req.has_param("type") ? req.get_param_value("type") : "output";
      const std::string sub = req.has_param("subfolder") ? req.get_param_value("subfolder") : "";
      std::lock_guard<std::mutex> l(mutex);
      auto it = files.find(type + "\n" + sub + "\n" + req.get_param_value("filename"));
      if (it == files.end()) {
        res.status = 404;
        return;
      }
      const StoredImage& im = it->second;
      res.set_header("Content-Disposition", "filename=\"" + im.filename + "\"");
      switch (im.hostile) {
        case Hostile::trickle: return core.send_trickle(res, im.png, "image/png");
        case Hostile::huge:
        case Hostile::huge_chunked:
          return core.send_huge(res, im.png.substr(0, 33), "image/png", im.hostile == Hostile::huge_chunked);
        case Hostile::not_image: return res.set_content(k_html_page, "text/html");
        case Hostile::truncated_png: return res.set_content(im.png.substr(0, im.png.size() / 2), "image/png");
        default: res.set_content(im.png, "image/png");
      }
    });
    s.Get("/object_info", [this](const httplib::Request&, httplib::Response& res) {
      json all = json::object();
      for (const auto& n : k_nodes()) all[n.cls] = object_info(n);
      send_json(res, all);
    });
    s.Get(R"(/object_info/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
      json out = json::object();
      if (const NodeSpec* n = node_spec(req.matches[1].str())) out[n->cls] = object_info(*n);
      send_json(res, out);
    });
    s.Get("/system_stats", [](const httplib::Request&, httplib::Response& res) {
      send_json(res, {{"system",
                       {{"os", "posix"},
                        {"ram_total", 0},
                        {"ram_free", 0},
                        {"comfyui_version", "fake"},
                        {"python_version", "fake"},
                        {"pytorch_version", "fake"},
                        {"embedded_python", false},
                        {"argv", json::array({"main.py"})}}},
                      {"devices", json::array({{{"name", "fake"},
                                                {"type", "cpu"},
                                                {"index", nullptr},
                                                {"vram_total", 0},
                                                {"vram_free", 0},
                                                {"torch_vram_total", 0},
                                                {"torch_vram_free", 0}}})}});
    });
    s.Get("/queue", [](const httplib::Request&, httplib::Response& res) {
      send_json(res, {{"queue_running", json::array()}, {"queue_pending", json::array()}});
    });
    s.Post("/interrupt", [](const httplib::Request&, httplib::Response& res) { res.status = 200; });
  }

  json history_entry(const PromptRun& run) const {
    json messages = json::array();
    messages.push_back({"execution_start", {{"prompt_id", run.id}, {"timestamp", run.timestamp_ms}}});
    messages.push_back(
        {"execution_cached", {{"nodes", json::array()}, {"prompt_id", run.id}, {"timestamp", run.timestamp_ms}}});
    if (run.ok)
      messages.push_back({"execution_success", {{"prompt_id", run.id}, {"timestamp", run.timestamp_ms}}});
    else
      messages.push_back({"execution_error", run.error});
    json meta = json::object();
    for (const auto& [node_id, out] : run.outputs.items())
      meta[node_id] = {
          {"node_id", node_id}, {"display_node", node_id}, {"parent_node", nullptr}, {"real_node_id", node_id}};
    json outputs = run.outputs;
    if (run.hostile == Hostile::wrong_types)
      for (auto& [node, o] : outputs.items())
        for (auto& im : o["images"]) im["filename"] = 12345;
    return {{"prompt", json::array({run.number, run.id, run.graph, run.extra_data, run.outputs_to_execute})},
            {"outputs", outputs},
            {"status", {{"status_str", run.ok ? "success" : "error"}, {"completed", run.ok}, {"messages", messages}}},
            {"meta", meta}};
  }

  /// ComfyUI's validate_inputs for one node and (through links) its ancestors. Errors are kept
  /// per node in `errors`; returns whether the node and its ancestors are valid.
  bool validate_node(const json& graph, const std::string& id, std::map<std::string, bool>& done,
                     std::map<std::string, json>& errors) const {
    if (auto it = done.find(id); it != done.end()) return it->second;
    done[id] = false;  // cycles fail
    const json& node = graph.at(id);
    const NodeSpec* spec = node_spec(node.at("class_type").get<std::string>());
    const json inputs = node.contains("inputs") && node["inputs"].is_object() ? node["inputs"] : json::object();
    json reasons = json::array();
    bool valid = true;
    for (const auto& in : spec->inputs) {
      if (!inputs.contains(in.name)) {
        reasons.push_back({{"type", "required_input_missing"},
                           {"message", "Required input is missing"},
                           {"details", in.name},
                           {"extra_info", {{"input_name", in.name}}}});
        continue;
      }
      const json& val = inputs[in.name];
      const bool link_type = in.type != "INT" && in.type != "FLOAT" && in.type != "STRING" && in.type != "COMBO";
      if (is_link(val)) {
        const std::string from = link_id(val);
        if (!graph.contains(from)) {
          reasons.push_back({{"type", "bad_linked_input"},
                             {"message", "Bad linked input, must be a length-2 list of [node_id, slot_index]"},
                             {"details", in.name},
                             {"extra_info", {{"input_name", in.name}, {"received_value", val}}}});
          continue;
        }
        const NodeSpec* from_spec = node_spec(graph[from]["class_type"].get<std::string>());
        const int64_t slot = val[1].get<int64_t>();
        const std::string received =
            slot >= 0 && size_t(slot) < from_spec->outputs.size() ? from_spec->outputs[size_t(slot)] : "";
        const std::string wanted = in.type == "COMBO" ? "COMBO" : in.type;
        if (received != wanted) {
          reasons.push_back(
              {{"type", "return_type_mismatch"},
               {"message", "Return type mismatch between linked nodes"},
               {"details", in.name + ", received_type(" + received + ") mismatch input_type(" + wanted + ")"},
               {"extra_info", {{"input_name", in.name}, {"received_type", received}, {"linked_node", val}}}});
          continue;
        }
        if (!validate_node(graph, from, done, errors)) valid = false;
        continue;
      }
      if (link_type) {
        reasons.push_back({{"type", "bad_linked_input"},
                           {"message", "Bad linked input, must be a length-2 list of [node_id, slot_index]"},
                           {"details", in.name},
                           {"extra_info", {{"input_name", in.name}, {"received_value", val}}}});
        continue;
      }
      if ((in.type == "INT" && !val.is_number()) || (in.type == "FLOAT" && !val.is_number()) ||
          ((in.type == "STRING" || in.type == "COMBO") && !val.is_string())) {
        reasons.push_back({{"type", "invalid_input_type"},
                           {"message", "Failed to convert an input value to a " + in.type + " value"},
                           {"details", in.name + ", " + val.dump()},
                           {"extra_info", {{"input_name", in.name}, {"received_value", val}}}});
        continue;
      }
      if (in.type == "COMBO" && !in.any_string) {
        const auto list = combo(in.name);
        if (std::find(list.begin(), list.end(), val.get<std::string>()) == list.end()) {
          const bool big = list.size() > 20;
          reasons.push_back(
              {{"type", "value_not_in_list"},
               {"message", "Value not in list"},
               {"details", in.name + ": '" + val.get<std::string>() + "' not in " +
                               (big ? "(list of length " + std::to_string(list.size()) + ")" : py_list(list))},
               {"extra_info",
                {{"input_name", in.name},
                 {"input_config", big ? json(nullptr) : json::array({list, json::object()})},
                 {"received_value", val}}}});
        }
      }
    }
    if (!reasons.empty()) {
      errors[id] = reasons;
      valid = false;
    }
    done[id] = valid;
    return valid;
  }

  void post_prompt(const httplib::Request& req, httplib::Response& res) {
    json body = parse_body(req.body);
    {
      std::lock_guard<std::mutex> l(mutex);
      prompt_log.push_back(body);
    }
    Hostile hostile = Hostile::none;
    if (!core.gate(req, res, fail_body, &hostile)) return;
    if (hostile == Hostile::error_inside) {
      send_json(res, {{"error", comfy_error("server_error", "CUDA out of memory", "fake_webui: hostile_next")},
                      {"node_errors", json::object()}});
      return;
    }
    if (!body.is_object() || !body.contains("prompt")) {
      send_json(res,
                {{"error", comfy_error("no_prompt", "No prompt provided", "No prompt provided")},
                 {"node_errors", json::object()}},
                400);
      return;
    }
    const json& graph = body["prompt"];
    if (!graph.is_object()) {
      send_json(res,
                {{"error", comfy_error("invalid_prompt", "Invalid prompt", "prompt is not an object")},
                 {"node_errors", json::object()}},
                400);
      return;
    }
    std::vector<std::string> output_nodes;
    for (const auto& [id, node] : graph.items()) {
      if (!node.is_object() || !node.contains("class_type") || !node["class_type"].is_string()) {
        send_json(res,
                  {{"error",
                    comfy_error("invalid_prompt", "Cannot execute because a node is missing the class_type property.",
                                "Node ID '#" + id + "'")},
                   {"node_errors", json::object()}},
                  400);
        return;
      }
      const std::string cls = node["class_type"].get<std::string>();
      const NodeSpec* spec = node_spec(cls);
      if (!spec) {
        send_json(res,
                  {{"error", comfy_error("invalid_prompt", "Cannot execute because node " + cls + " does not exist.",
                                         "Node ID '#" + id + "'")},
                   {"node_errors", json::object()}},
                  400);
        return;
      }
      if (spec->output_node) output_nodes.push_back(id);
    }
    if (output_nodes.empty()) {
      send_json(
          res,
          {{"error", comfy_error("prompt_no_outputs", "Prompt has no outputs", "")}, {"node_errors", json::object()}},
          400);
      return;
    }
    // execution.validate_prompt: each output validated with its ancestors; the prompt runs when
    // at least one output is good (node_errors then still lists the bad ones).
    std::map<std::string, bool> done;
    std::map<std::string, json> errors;
    json node_errors = json::object();
    std::vector<std::string> good;
    for (const auto& o : output_nodes) {
      std::map<std::string, json> errs;
      if (validate_node(graph, o, done, errs)) {
        good.push_back(o);
        continue;
      }
      for (const auto& [k, v] : errs) errors[k] = v;
      // Errors recorded while validating an earlier output are in `errors` already; attach
      // this output to every failing node it depends on.
      std::set<std::string> ancestors;
      std::vector<std::string> stack = {o};
      while (!stack.empty()) {
        std::string n = stack.back();
        stack.pop_back();
        if (!ancestors.insert(n).second) continue;
        const json inputs = graph[n].value("inputs", json::object());
        for (const auto& [k, v] : inputs.items())
          if (is_link(v) && graph.contains(link_id(v))) stack.push_back(link_id(v));
      }
      for (const auto& n : ancestors) {
        if (!errors.count(n)) continue;
        if (!node_errors.contains(n))
          node_errors[n] = {
              {"errors", errors[n]}, {"dependent_outputs", json::array()}, {"class_type", graph[n]["class_type"]}};
        node_errors[n]["dependent_outputs"].push_back(o);
      }
    }
    if (good.empty()) {
      std::string details;
      for (const auto& [n, e] : node_errors.items())
        for (const auto& r : e["errors"])
          details +=
              (details.empty() ? "" : "\n") + r["message"].get<std::string>() + ": " + r["details"].get<std::string>();
      send_json(
          res,
          {{"error", comfy_error("prompt_outputs_failed_validation", "Prompt outputs failed validation", details)},
           {"node_errors", node_errors}},
          400);
      return;
    }

    std::lock_guard<std::mutex> l(mutex);
    PromptRun run;
    if (body.contains("prompt_id") && body["prompt_id"].is_string()) {
      run.id = body["prompt_id"].get<std::string>();
    } else {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%08x-0000-4000-8000-%012llx", unsigned(core.port()),
                    static_cast<unsigned long long>(next_id++));
      run.id = buf;
    }
    run.number = number++;
    run.graph = graph;
    run.extra_data = body.value("extra_data", json::object());
    if (body.contains("client_id")) run.extra_data["client_id"] = body["client_id"];
    run.outputs_to_execute = good;
    run.hostile = hostile;
    run.timestamp_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
            .count();
    execute(run);
    const std::string id = run.id;
    if (!runs.count(id)) run_order.push_back(id);
    runs[id] = std::move(run);
    send_json(res, {{"prompt_id", id}, {"number", runs[id].number}, {"node_errors", node_errors}});
  }

  /// Follows a link to its node id ("" when the input is not a link).
  static std::string upstream(const json& graph, const std::string& id, const char* input) {
    const json& in = graph[id].value("inputs", json::object());
    if (!in.contains(input) || !is_link(in[input])) return "";
    return link_id(in[input]);
  }

  /// "Runs" the graph: renders the images of each good output node. Caller holds `mutex`.
  void execute(PromptRun& run) {
    const json& g = run.graph;
    const bool omit = core.faults().omit_infotext();
    for (const auto& out_id : run.outputs_to_execute) {
      auto fail = [&](const std::string& node_id, const std::string& msg) {
        run.ok = false;
        run.error = {{"prompt_id", run.id},
                     {"node_id", node_id},
                     {"node_type", g[node_id]["class_type"]},
                     {"executed", json::array()},
                     {"exception_message", "fake_webui: " + msg},
                     {"exception_type", "RuntimeError"},
                     {"traceback", json::array()},
                     {"current_inputs", json::object()},
                     {"current_outputs", json::object()},
                     {"timestamp", run.timestamp_ms}};
      };
      const std::string decode = upstream(g, out_id, "images");
      if (g[decode]["class_type"] != "VAEDecode") return fail(out_id, "images must come from VAEDecode");
      const std::string sampler = upstream(g, decode, "samples");
      if (g[sampler]["class_type"] != "KSampler") return fail(decode, "samples must come from KSampler");
      const json& ks = g[sampler]["inputs"];
      // model: through LoraLoaders to the checkpoint
      std::string lora_tags;
      std::string m = upstream(g, sampler, "model");
      while (g[m]["class_type"] == "LoraLoader") {
        const json& li = g[m]["inputs"];
        lora_tags += " <lora:" + file_stem(li["lora_name"].get<std::string>()) + ":" +
                     format_number(li["strength_model"].get<double>()) + ">";
        m = upstream(g, m, "model");
      }
      if (g[m]["class_type"] != "CheckpointLoaderSimple")
        return fail(sampler, "model must come from CheckpointLoaderSimple");
      const std::string ckpt_name = g[m]["inputs"]["ckpt_name"].get<std::string>();
      const CheckpointInfo* ck = nullptr;
      for (const auto& c : ckpts)
        if (c.ck.name == ckpt_name) ck = &c;
      const std::string pos = upstream(g, sampler, "positive");
      if (g[pos]["class_type"] != "CLIPTextEncode") return fail(sampler, "positive must come from CLIPTextEncode");
      const std::string text = g[pos]["inputs"]["text"].get<std::string>();
      const std::string latent = upstream(g, sampler, "latent_image");
      if (g[latent]["class_type"] != "EmptyLatentImage")
        return fail(sampler, "latent_image must come from EmptyLatentImage");
      const json& li = g[latent]["inputs"];
      // The latent is 1/8 of the image: sizes round down to multiples of 8.
      const int width = std::max(8, int(li["width"].get<double>()) / 8 * 8);
      const int height = std::max(8, int(li["height"].get<double>()) / 8 * 8);
      const int batch = std::clamp(int(li["batch_size"].get<double>()), 1, 64);
      const json& js = ks["seed"];
      const int64_t seed = js.is_number_unsigned()  ? int64_t(js.get<uint64_t>())
                           : js.is_number_integer() ? js.get<int64_t>()
                                                    : int64_t(js.get<double>());

      const bool preview = g[out_id]["class_type"] == "PreviewImage";
      const std::string type = preview ? "temp" : "output";
      std::string prefix = preview ? "ComfyUI_temp" : g[out_id]["inputs"]["filename_prefix"].get<std::string>();
      std::string subfolder, base = prefix;
      if (auto slash = prefix.find_last_of('/'); slash != std::string::npos) {
        subfolder = prefix.substr(0, slash);
        base = prefix.substr(slash + 1);
      }
      json images = json::array();
      for (int i = 0; i < batch; ++i) {
        // Real ComfyUI: one noise tensor for the whole batch from `seed`; the fake: seed + i.
        cv::Mat img = fake_render(ck->hash10, text + lora_tags, seed + i, width, height);
        std::vector<std::pair<std::string, std::string>> chunks;
        if (!omit) {
          chunks.emplace_back("prompt", g.dump());
          if (run.extra_data.contains("extra_pnginfo") && run.extra_data["extra_pnginfo"].is_object())
            for (const auto& [k, v] : run.extra_data["extra_pnginfo"].items()) chunks.emplace_back(k, v.dump());
        }
        const int counter = ++counters[type + "\n" + subfolder + "\n" + base];
        char name[32];
        std::snprintf(name, sizeof name, "_%05d_.png", counter);
        StoredImage s{base + name, subfolder, type, encode_png(img, chunks), run.hostile};
        images.push_back({{"filename", s.filename}, {"subfolder", s.subfolder}, {"type", s.type}});
        stored.push_back(subfolder.empty() ? s.filename : subfolder + "/" + s.filename);
        files[type + "\n" + subfolder + "\n" + s.filename] = std::move(s);
      }
      run.outputs[out_id] = {{"images", images}};
    }
  }
};

FakeComfyUI::FakeComfyUI(std::vector<FakeCheckpoint> checkpoints, std::vector<FakeLora> loras)
    : m_impl(std::make_unique<Impl>(std::move(checkpoints), std::move(loras))) {}
FakeComfyUI::~FakeComfyUI() = default;
std::string FakeComfyUI::url() const { return m_impl->core.url(); }
int FakeComfyUI::port() const { return m_impl->core.port(); }
FakeFaults& FakeComfyUI::faults() { return m_impl->core.faults(); }
std::vector<nlohmann::json> FakeComfyUI::prompts() const {
  std::lock_guard<std::mutex> l(m_impl->mutex);
  return m_impl->prompt_log;
}
int FakeComfyUI::requests(const std::string& path) const { return m_impl->core.requests(path); }
std::vector<std::string> FakeComfyUI::stored_images() const {
  std::lock_guard<std::mutex> l(m_impl->mutex);
  return m_impl->stored;
}
void FakeComfyUI::stop() { m_impl->core.stop(); }

}  // namespace ghx::test
