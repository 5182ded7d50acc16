#pragma once
// How generation backends reach their servers: the command-line options every backend reads
// (backends/backends.h is the folder's contract and includes this).
#include <string>
#include <vector>

namespace ghx::backends {

/// Upper bounds of BackendOptions::timeout_s (a week) and max_image_mb.
constexpr double k_max_deadline_s = 7 * 86400;
constexpr double k_max_image_mb = 4096;

/// How generation backends reach their servers (command-line options; not in step keys).
struct BackendOptions {
  std::vector<std::string> endpoints;  ///< --endpoint: replaces the review's endpoints when set
  double timeout_s = 600;              ///< deadline of one generation request, whole answer included
  double connect_timeout_s = 10;
  int retries = 4;                     ///< further attempts after connection errors and 5xx
  double backoff_s = 0.5;              ///< delay before the first retry, doubled each time
  double max_image_mb = 64;            ///< --max-image-mb: a larger image (as sent) fails its step
};

}  // namespace ghx::backends
