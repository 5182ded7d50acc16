#pragma once
// Markdown for the report files and `ghx diff --md`: one escaping for every text that comes from
// a TOML, a CSV or a server and lands in a table cell or a line.
#include <string>

namespace ghx::report {

/// A table cell in Markdown: `\ | < > * _ ` [ ] &` backslash-escaped (a '|' would end the cell,
/// `<lora:x:1>` read as HTML or an autolink, `_` and `*` as emphasis, `&lt;` as an entity), line
/// breaks (\n, \r\n, \r) as <br>.
std::string md_escape(const std::string& s);

}  // namespace ghx::report
