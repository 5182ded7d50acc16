#include "util/process.h"

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace ghx::util {

namespace {

std::string read_line(const std::string& path) {
  std::ifstream f(path);
  std::string s;
  std::getline(f, s);
  return s;
}

/// Field 22 of /proc/PID/stat (starttime); 0 if the process does not exist or has exited (a
/// zombie, state Z or X, is dead: it computes nothing). The command name (field 2) may hold
/// spaces and parentheses: count fields after the last ')'.
int64_t start_ticks(int64_t pid) {
  std::string s = read_line("/proc/" + std::to_string(pid) + "/stat");
  size_t close = s.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream in(s.substr(close + 1));
  std::string field;
  for (int i = 3; i <= 22; ++i) {
    if (!(in >> field)) return 0;
    if (i == 3 && (field == "Z" || field == "X")) return 0;
  }
  return std::strtoll(field.c_str(), nullptr, 10);
}

}  // namespace

const ProcessIdentity& self_process() {
  static const ProcessIdentity id = [] {
    ProcessIdentity p;
    char host[256] = {0};
    if (gethostname(host, sizeof host - 1) == 0) p.host = host;
    struct stat ns {};
    std::string pidns = stat("/proc/self/ns/pid", &ns) == 0 ? std::to_string(ns.st_ino) : "";
    p.local = read_line("/proc/sys/kernel/random/boot_id") + "/" + pidns;
    p.pid = static_cast<int64_t>(getpid());
    p.start = start_ticks(p.pid);
    return p;
  }();
  return id;
}

bool process_alive(int64_t pid, int64_t start) {
  if (pid <= 0) return false;
  int64_t s = start_ticks(pid);
  return s != 0 && s == start;
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace ghx::util
