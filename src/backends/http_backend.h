#pragma once
// Pieces shared by the HTTP generation backends (a1111.cpp, comfyui.cpp).
// Owns: one HTTP exchange with an overall deadline and a body limit (http_call); the endpoint pool (one request in flight per
// endpoint, shared by the runner's workers; an endpoint that fails to answer three times in a row
// is dropped while the others go on); the retry loop (exponential backoff on connection errors
// and 5xx, 4xx final); the key that makes generate steps share a request.
// Fails: with_retries throws ghx::Error naming the endpoint and the last failure.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <condition_variable>
#include <optional>
#include <string>
#include <vector>

#include "backends/options.h"
#include "exec/executor.h"

namespace httplib {
class Client;
class Result;
}  // namespace httplib

namespace ghx::backends {

/// "http://host:port" -> "host:port" (for messages).
std::string host_of(const std::string& url);

/// Endpoints shared by the workers: one request in flight per endpoint; dead ones dropped.
class EndpointPool {
 public:
  explicit EndpointPool(std::vector<std::string> urls);
  /// Blocks until an endpoint is free; std::nullopt when none is alive.
  std::optional<std::string> acquire();
  /// `connection_failed`: no answer at all. Three in a row and the endpoint is dropped.
  void release(const std::string& url, bool connection_failed, int images, double seconds);
  /// "127.0.0.1:7860 0.80 img/s, 127.0.0.1:7861 dead"
  std::string status() const;

 private:
  static constexpr int k_dead_after = 3;
  struct Endpoint {
    std::string url;
    bool busy = false;
    bool dead = false;
    int failures = 0;  ///< connection failures in a row
    int images = 0;
    double seconds = 0;
  };
  mutable std::mutex m_mu;
  std::condition_variable m_cv;
  std::vector<Endpoint> m_eps;
};

/// One pool per endpoint list: BackendOptions::endpoints when set, else the step's context
/// "endpoints" (space-separated).
class EndpointPools {
 public:
  explicit EndpointPools(std::vector<std::string> override_endpoints)
      : m_override(std::move(override_endpoints)) {}
  EndpointPool& pool_for(const plan::Step& s);
  std::string status() const;  ///< every pool's status, "; "-separated

 private:
  std::vector<std::string> m_override;
  mutable std::mutex m_mu;
  std::map<std::string, std::unique_ptr<EndpointPool>> m_pools;
};

/// What one attempt against one endpoint came to. An empty `message` means success.
struct HttpFailure {
  bool connection = false;  ///< no answer at all (refused, reset, timeout)
  int status = 0;           ///< HTTP status when there was an answer
  std::string message;      ///< "host:port: ..." ; "" = success
};

/// One exchange with a server. A hostile or broken server cannot hold a worker past the deadline
/// nor make ghx keep a long body: `deadline_s` bounds the whole exchange (connect, send, status
/// line, headers, body; a server that trickles 1 byte a second is cut off at the deadline, not
/// at each read), and `max_body` bounds the body (reading stops at the first byte past it).
/// Not bounded but by the deadline: the status line and headers (cpp-httplib reads them whole).
struct HttpCall {
  std::string method = "GET";  ///< "GET" or "POST"
  std::string path;            ///< with its query string
  std::string body;            ///< POST body, sent as application/json
  std::string what;            ///< the request in messages ("POST /prompt"); "" for none
  double connect_s = 10;
  double deadline_s = 600;
  size_t max_body = 16u << 20;
};

/// What an exchange came to. `failure.message` is "" when the status is 200 and the body came
/// whole. Failure kinds: no answer, or no complete answer by the deadline (connection = true:
/// retried); an answer over max_body (status 0, connection false: final); any status but 200
/// (`status` and the start of the body in the message; `body` holds the answer).
struct HttpReply {
  HttpFailure failure;
  int status = 0;
  std::string body;
};
HttpReply http_call(const std::string& url, const HttpCall& call);

/// The most pixels an image from a server may have (8192 x 8192); checked before decoding.
constexpr uint64_t k_max_image_pixels = uint64_t(1) << 26;

/// The longest answer read for a request of `images` images: 1 MiB of JSON and, per image,
/// options.max_image_mb as base64 (4/3 of it).
size_t answer_limit(const BackendOptions& options, int images);

/// "12.5 MB" for messages.
std::string megabytes(size_t bytes);

/// Runs `attempt(url)` on a free endpoint of `pool`, again after connection failures and 5xx
/// (up to options.retries more times, sleeping backoff_s, doubled each time); a 4xx is final.
/// `attempt` may throw ghx::Error for a final failure (the endpoint is released first).
/// `images`: counted for the endpoint's img/s on success. Returns the endpoint that succeeded.
std::string with_retries(EndpointPool& pool, const BackendOptions& options, int images,
                         const std::function<HttpFailure(const std::string& url)>& attempt);

/// The parameters that make two generate steps share a request: all but the seed (+ endpoints).
std::string generation_request_key(const plan::Step& s);

/// Splits "a b  c" at spaces.
std::vector<std::string> split_spaces(const std::string& s);

}  // namespace ghx::backends
