#pragma once
// Diagnostics of the language layer: every problem found in a file, with its position, so that
// all errors of a file are reported at once ("FILE:LINE:COL: error: ...").
#include <string>
#include <vector>

namespace ghx::dsl {

struct SourcePos {
  std::string file;
  int line = 0;  ///< 1-based; 0 = no position known
  int col = 0;
};

enum class Severity { error, warning };

struct Diagnostic {
  Severity severity = Severity::error;
  SourcePos pos;
  std::string message;
  /// "FILE:LINE:COL: error: MESSAGE" (or "FILE: error: ..." without a position).
  std::string format() const;
};

class Diagnostics {
 public:
  void error(const SourcePos& pos, std::string message);
  void warning(const SourcePos& pos, std::string message);
  bool has_errors() const { return m_errors > 0; }
  size_t error_count() const { return m_errors; }
  const std::vector<Diagnostic>& all() const { return m_items; }
  /// Sorted by file, line, column; one line each.
  std::string format_all() const;

  /// What the diagnosed input was made of, one line each in the order met: every file read with
  /// a hash of its bytes, every path checked to exist, every folder listed. Equal records load
  /// into equal reviews (a run with nothing new relies on it: run/run.h).
  void note_input(std::string line) {
    m_inputs += line;
    m_inputs += '\n';
  }
  const std::string& inputs() const { return m_inputs; }

 private:
  std::string m_inputs;
  std::vector<Diagnostic> m_items;
  size_t m_errors = 0;
};

}  // namespace ghx::dsl
