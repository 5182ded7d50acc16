// Mirrors src/util/fs.cpp: atomic files, folders replaced as a set, relative paths, file system kinds.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "report/render.h"
#include "support.h"
#include "util/error.h"
#include "util/fs.h"

using namespace ghx;
namespace fs = std::filesystem;

namespace {
std::vector<std::string> names(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

TEST_CASE("write_file_atomic replaces a file whole and leaves no temporary file", "[util][fs]") {
  test::TempDir t;
  util::write_file_atomic(t / "sub/a.txt", "one");
  util::write_file_atomic(t / "sub/a.txt", "two");
  CHECK(util::read_file(t / "sub/a.txt") == "two");
  CHECK(names(t / "sub") == std::vector<std::string>{"a.txt"});
  CHECK_THROWS_AS(util::read_file(t / "absent"), Error);
}

TEST_CASE("replace_dir puts a new set of files in place of the old one", "[util][fs]") {
  test::TempDir t;
  const std::string out = t / "reports/r";
  util::replace_dir(out, [](const std::string& tmp) {
    util::write_file_atomic(tmp + "/a", "1");
    util::write_file_atomic(tmp + "/b", "1");
  });
  CHECK(names(out) == std::vector<std::string>{"a", "b"});
  util::replace_dir(out, [&](const std::string& tmp) {
    CHECK(tmp != out);
    CHECK(util::read_file(out + "/a") == "1");  // the old set stays whole while the new is written
    util::write_file_atomic(tmp + "/a", "2");
    util::write_file_atomic(tmp + "/c", "2");
  });
  CHECK(names(out) == std::vector<std::string>{"a", "c"});  // b is gone: a set, not a merge
  CHECK(util::read_file(out + "/a") == "2");
  CHECK(names(t / "reports") == std::vector<std::string>{"r"});  // no temporary or old folder left

  SECTION("a fill that throws leaves the old set and no temporary folder") {
    CHECK_THROWS_AS(util::replace_dir(out, [](const std::string& tmp) {
                      util::write_file_atomic(tmp + "/a", "3");
                      throw Error("disk full");
                    }),
                    Error);
    CHECK(util::read_file(out + "/a") == "2");
    CHECK(names(t / "reports") == std::vector<std::string>{"r"});
  }
  SECTION("a temporary folder left by a dead process is removed, a live one's kept") {
    pid_t child = fork();
    if (child == 0) _exit(0);
    int st = 0;
    waitpid(child, &st, 0);
    fs::create_directories(t / ("reports/.r.tmp." + std::to_string(child) + ".abcdef"));
    const std::string live = t / ("reports/.r.tmp." + std::to_string(getppid()) + ".abcdef");
    fs::create_directories(live);
    util::replace_dir(out, [](const std::string& tmp) { util::write_file_atomic(tmp + "/a", "4"); });
    CHECK(names(t / "reports") == std::vector<std::string>{".r.tmp." + std::to_string(getppid()) + ".abcdef", "r"});
  }
}

TEST_CASE("a report folder may replace only a folder ghx wrote", "[util][fs][report]") {
  test::TempDir t;
  CHECK_NOTHROW(report::check_report_folder(t / "absent"));
  fs::create_directories(t / "empty");
  CHECK_NOTHROW(report::check_report_folder(t / "empty"));
  util::write_file_atomic(t / "old/results.json", "{}");
  CHECK_NOTHROW(report::check_report_folder(t / "old"));
  util::write_file_atomic(t / "mine/thesis.tex", "years of work");
  CHECK_THROWS_WITH(report::check_report_folder(t / "mine"), Catch::Contains("not a ghx report folder"));
  CHECK_THROWS_WITH(report::check_report_folder(t / "mine/thesis.tex"), Catch::Contains("is a file"));
}

TEST_CASE("relative paths resolve against the file that names them", "[util][fs]") {
  CHECK(util::resolve_relative("experiments/a.toml", "../suites/s.toml") == "suites/s.toml");
  CHECK(util::resolve_relative("experiments/a.toml", "/abs/x") == "/abs/x");
  CHECK(util::resolve_relative("a.toml", "b/./c") == "b/c");
}
