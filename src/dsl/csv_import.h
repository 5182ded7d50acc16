#pragma once
// Imports GhostReview's CSV prompt files as suite TOML (`ghx suite import`, docs/language.md).
// Columns Prompt, NegativePrompt and Skip make [[prompt]] tables; rows with a LoRA value make
// [[lora]] tables with one [[lora.showcase]] per row, Add naming the other LoRAs of the image.
// Owns: an RFC 4180 reader that keeps positions, the column mapping, id assignment, and TOML
// text that dsl::load_suite reads back to the same prompts, byte-identical for the same input.
// Fails: never throws for bad input; every problem is a Diagnostic "FILE:LINE:COL" at the
// physical line and column where the offending field starts, all of a file's problems at once.
// Never: writes files (cli/suite_import.h does), creates or checks the showcase images.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dsl/diagnostics.h"

namespace ghx::dsl {

struct CsvField {
  std::string text;  ///< unquoted: doubled quotes undone, CRLF inside quotes read as "\n"
  SourcePos pos;     ///< where the field starts (its opening quote, if quoted)
};

struct CsvRecord {
  std::vector<CsvField> fields;
  SourcePos pos;  ///< the record's first physical line, column 1
};

/// RFC 4180 records, the header row included. Accepts CRLF, LF or CR line ends, skips a UTF-8
/// BOM, drops blank records (every field empty or spaces). Like Python's csv module, a quote is
/// special only at the start of a field, and text after a closing quote is kept. Errors (then
/// std::nullopt): an unterminated quoted field, a NUL byte, invalid UTF-8. Columns count code
/// points.
std::optional<std::vector<CsvRecord>> parse_csv(std::string_view text, const std::string& file, Diagnostics& d);

/// The suite a CSV file becomes.
struct CsvImport {
  std::string toml;  ///< the suite file's text
  size_t prompts = 0;
  size_t loras = 0;
  size_t showcase = 0;
  /// The showcase images the suite names ("targets/loras/<id>/<n>.png", relative to the suite
  /// file), in the order written: the user supplies them.
  std::vector<std::string> images;
};

/// Converts CSV text; `file` names it in diagnostics and in the header comment (its file name
/// only, so that the output does not depend on where the CSV lies). Unknown columns are warnings.
std::optional<CsvImport> import_csv_text(std::string_view text, const std::string& file, const std::string& suite_name,
                                         Diagnostics& d);

/// Reads `path` and converts it; an unreadable file is an error without position.
std::optional<CsvImport> import_csv(const std::string& path, const std::string& suite_name, Diagnostics& d);

/// A TOML basic string: quotes around, backslash, quote and control characters escaped
/// (newline as \n), UTF-8 kept as is.
std::string toml_quote(std::string_view s);

}  // namespace ghx::dsl
