#include "exec/progress.h"

#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "util/strings.h"

namespace ghx::exec {

ConsoleProgress::ConsoleProgress(FILE* out, bool smart, double plain_interval_s)
    : m_out(out), m_smart(smart), m_interval(plain_interval_s) {}

bool ConsoleProgress::is_smart_terminal(FILE* f) {
  const char* term = std::getenv("TERM");
  return isatty(fileno(f)) && !(term && std::strcmp(term, "dumb") == 0);
}

void ConsoleProgress::start(int64_t total) {
  std::lock_guard<std::mutex> lock(m_mu);
  m_total = total;
  m_done = 0;
  m_t0 = m_last = std::chrono::steady_clock::now();
}

void ConsoleProgress::advance(int64_t n, const std::string& what) {
  std::lock_guard<std::mutex> lock(m_mu);
  m_done += n;
  m_what = what;
  auto now = std::chrono::steady_clock::now();
  double since = std::chrono::duration<double>(now - m_last).count();
  if ((m_smart && since >= 0.1) || (!m_smart && since >= m_interval)) {
    m_last = now;
    print(false);
  }
}

void ConsoleProgress::finish() {
  std::lock_guard<std::mutex> lock(m_mu);
  if (m_total > 0) print(true);
}

void ConsoleProgress::print(bool final_line) {
  double el = std::chrono::duration<double>(std::chrono::steady_clock::now() - m_t0).count();
  double rate = el > 0 ? static_cast<double>(m_done) / el : 0;
  std::string line = "[" + std::to_string(m_done) + "/" + std::to_string(m_total) + "] ";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f/s", rate);
  line += buf;
  if (final_line) {
    line += " in " + util::human_duration(el);
  } else {
    line += " ETA " + (rate > 0 ? util::human_duration(static_cast<double>(m_total - m_done) / rate) : "?");
    line += " " + m_what;
  }
  if (m_smart) {
    if (line.size() > 100) line.resize(100);
    std::fprintf(m_out, "\r\033[K%s%s", line.c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(m_out, "%s\n", line.c_str());
  }
  std::fflush(m_out);
}

}  // namespace ghx::exec
