#include "report/markdown.h"

#include <string_view>

namespace ghx::report {

std::string md_escape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '\r' && i + 1 < s.size() && s[i + 1] == '\n') continue;
    if (c == '\n' || c == '\r')
      out += "<br>";
    else if (std::string_view("\\|<>*_`[]&").find(c) != std::string_view::npos)
      out += '\\', out += c;
    else
      out += c;
  }
  return out;
}

}  // namespace ghx::report
