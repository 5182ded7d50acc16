// Mirrors src/exec/progress.cpp: done/total, rate and ETA while a run goes on; one line redrawn
// in place on a terminal, plain lines (at most every few seconds) elsewhere, a last line with
// the time taken.
#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "exec/progress.h"

using ghx::exec::ConsoleProgress;

namespace {

/// What `fn` printed through a ConsoleProgress writing to a temporary file.
template <typename Fn>
std::string printed(bool smart, double interval_s, Fn fn) {
  FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  {
    ConsoleProgress p(f, smart, interval_s);
    fn(p);
  }
  std::fflush(f);
  std::rewind(f);
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
  std::fclose(f);
  return out;
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("progress in a log: a plain line per interval with done/total, rate, ETA and what", "[exec][progress]") {
  const std::string out = printed(false, 0.0, [](ConsoleProgress& p) {
    p.start(4);
    p.advance(1, "generate");
    p.advance(2, "image_features");
    p.advance(1, "metric");
    p.finish();
  });
  CHECK(out.find("[1/4] ") == 0);
  CHECK(out.find(" ETA ") != std::string::npos);
  CHECK(out.find(" generate\n") != std::string::npos);
  CHECK(out.find("[3/4] ") != std::string::npos);
  CHECK(out.find(" image_features\n") != std::string::npos);
  CHECK(out.find("/s") != std::string::npos);
  CHECK(out.find("\033") == std::string::npos);  // no terminal codes in a log
  CHECK(count(out, "\n") == 4);                   // three updates and the last line
  const std::string last = out.substr(out.rfind("[4/4]"));
  CHECK(last.find(" in ") != std::string::npos);  // the last line says the time taken, no ETA
  CHECK(last.find("ETA") == std::string::npos);
}

TEST_CASE("progress in a log: nothing between intervals, the last line always", "[exec][progress]") {
  const std::string out = printed(false, 3600.0, [](ConsoleProgress& p) {
    p.start(3);
    for (int i = 0; i < 3; ++i) p.advance(1, "metric");
    p.finish();
  });
  CHECK(count(out, "\n") == 1);
  CHECK(out.find("[3/3] ") == 0);
}

TEST_CASE("progress on a terminal: one line redrawn in place, at most 100 columns", "[exec][progress]") {
  const std::string what(300, 'w');
  const std::string out = printed(true, 5.0, [&](ConsoleProgress& p) {
    p.start(10);
    p.advance(1, what);  // within 0.1 s of the start: not drawn
    std::this_thread::sleep_for(std::chrono::milliseconds(120));
    p.advance(1, what);  // drawn
    p.finish();
  });
  CHECK(count(out, "\r\033[K") == 2);  // the update and the last line, each over the line before
  CHECK(count(out, "\n") == 1);        // only the last line ends the line
  CHECK(out.find("[2/10] ") != std::string::npos);
  const size_t a = out.find("\r\033[K") + 4, b = out.find("\r\033[K", a);
  CHECK(b - a <= 100);  // the long step name is cut
}

TEST_CASE("progress: nothing for an empty run, a file is not a smart terminal", "[exec][progress]") {
  CHECK(printed(false, 0.0, [](ConsoleProgress& p) {
          p.start(0);
          p.finish();
        }).empty());
  FILE* f = std::tmpfile();
  REQUIRE(f != nullptr);
  CHECK_FALSE(ConsoleProgress::is_smart_terminal(f));
  std::fclose(f);
}
