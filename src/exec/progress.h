#pragma once
// Progress reporting. A terminal (stderr is a tty, TERM not "dumb") gets one line redrawn in
// place: "[412/9000] 12.3/s ETA 11m40s image_features". Anything else (a log, CI) gets a plain
// line at most every few seconds and at the end. NO_COLOR is honoured (no colour is used).
#include <chrono>
#include <cstdio>
#include <mutex>
#include <string>

namespace ghx::exec {

class Progress {
 public:
  virtual ~Progress() = default;
  virtual void start(int64_t total) = 0;
  virtual void advance(int64_t n, const std::string& what) = 0;
  virtual void finish() = 0;
};

/// Prints nothing (tests, --quiet).
class NullProgress : public Progress {
 public:
  void start(int64_t) override {}
  void advance(int64_t, const std::string&) override {}
  void finish() override {}
};

class ConsoleProgress : public Progress {
 public:
  /// `smart`: redraw in place; decided by the caller (see is_smart_terminal()).
  ConsoleProgress(FILE* out, bool smart, double plain_interval_s = 5.0);
  void start(int64_t total) override;
  void advance(int64_t n, const std::string& what) override;
  void finish() override;
  static bool is_smart_terminal(FILE* f);

 private:
  void print(bool final_line);
  FILE* m_out;
  bool m_smart;
  double m_interval;
  int64_t m_total = 0;
  int64_t m_done = 0;
  std::string m_what;
  std::chrono::steady_clock::time_point m_t0, m_last;
  std::mutex m_mu;
};

}  // namespace ghx::exec
