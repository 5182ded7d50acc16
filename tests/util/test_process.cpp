// Mirrors src/util/process.cpp: who this process is, and whether another one still runs (what
// the cache's step claims rely on to tell a live holder from a dead one).
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <climits>
#include <fstream>
#include <sstream>
#include <string>

#include "util/process.h"

using ghx::util::process_alive;
using ghx::util::self_process;

namespace {

// Field 22 of /proc/PID/stat (start time in clock ticks), read here independently: the command
// name (field 2) is in parentheses and may hold spaces, so count from the last ')'.
int64_t start_of(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(all.substr(all.rfind(')') + 2));
  std::string field;
  for (int i = 3; i <= 22; ++i) rest >> field;
  return std::stoll(field);
}

}  // namespace

TEST_CASE("self_process: host, pid and start time as the kernel tells them", "[util][process]") {
  const auto& me = self_process();
  char host[HOST_NAME_MAX + 1] = {};
  REQUIRE(gethostname(host, sizeof host) == 0);
  CHECK(me.host == host);
  CHECK(me.pid == getpid());
  CHECK(me.start == start_of(getpid()));
  CHECK(me.start > 0);
  CHECK_FALSE(me.local.empty());
  CHECK(&self_process() == &me);  // computed once
}

TEST_CASE("process_alive: this process yes, a reaped child, or a pid with another start, no", "[util][process]") {
  const auto& me = self_process();
  CHECK(process_alive(me.pid, me.start));
  CHECK_FALSE(process_alive(me.pid, me.start + 1));  // the pid reused by another process
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    pause();
    _exit(0);
  }
  const int64_t child_start = start_of(child);
  CHECK(process_alive(child, child_start));
  kill(child, SIGKILL);
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  CHECK_FALSE(process_alive(child, child_start));  // gone (reaped)
  CHECK_FALSE(process_alive(0, 0));
  CHECK_FALSE(process_alive(-1, 0));
}

TEST_CASE("wall_ms is the wall clock in milliseconds", "[util][process]") {
  const auto sys = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  const int64_t w = ghx::util::wall_ms();
  CHECK(w >= sys - 1000);
  CHECK(w <= sys + 1000);
}
