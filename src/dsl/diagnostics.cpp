#include "dsl/diagnostics.h"

#include <algorithm>

namespace ghx::dsl {

std::string Diagnostic::format() const {
  std::string s = pos.file;
  if (pos.line > 0) s += ":" + std::to_string(pos.line) + ":" + std::to_string(pos.col);
  s += severity == Severity::error ? ": error: " : ": warning: ";
  s += message;
  return s;
}

void Diagnostics::error(const SourcePos& pos, std::string message) {
  m_items.push_back({Severity::error, pos, std::move(message)});
  ++m_errors;
}

void Diagnostics::warning(const SourcePos& pos, std::string message) {
  m_items.push_back({Severity::warning, pos, std::move(message)});
}

std::string Diagnostics::format_all() const {
  std::vector<const Diagnostic*> v;
  for (const auto& d : m_items) v.push_back(&d);
  std::stable_sort(v.begin(), v.end(), [](const Diagnostic* a, const Diagnostic* b) {
    if (a->pos.file != b->pos.file) return a->pos.file < b->pos.file;
    if (a->pos.line != b->pos.line) return a->pos.line < b->pos.line;
    return a->pos.col < b->pos.col;
  });
  std::string out;
  for (const auto* d : v) out += d->format() + "\n";
  return out;
}

}  // namespace ghx::dsl
