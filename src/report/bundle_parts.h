#pragma once
// Inside report/bundle.h, shared by its three rooms: bundle_write.cpp (write_bundle and the tar
// writer), bundle_extract.cpp (the safe extraction of a bundle into a temporary folder) and
// bundle_verify.cpp (the checks of `ghx verify`). Not a contract: nothing outside report/bundle*
// includes it.
#include <archive.h>
#include <archive_entry.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "plan/file_hasher.h"
#include "plan/plan.h"
#include "report/bundle.h"
#include "report/render.h"
#include "util/error.h"

namespace ghx::report::bundle_detail {

namespace fs = std::filesystem;
using nlohmann::json;

// ---- shared helpers -------------------------------------------------------------------------

inline const char* const k_sums = "SHA256SUMS";
inline const char* const k_manifest = "manifest.json";
inline const char* const k_declarations = "declarations/";
/// The four files report/ holds, as render() produces them.
inline const char* const k_report_files[] = {"report/report.md", "report/report.html", "report/results.json",
                                      "report/results.csv"};

/// A name safe as one path component: [A-Za-z0-9._+-] kept, anything else '_'; never "." or "..".
inline std::string safe_component(const std::string& s) {
  std::string out;
  for (unsigned char c : s)
    out.push_back(std::isalnum(c) || c == '.' || c == '_' || c == '+' || c == '-' ? char(c) : '_');
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

inline std::string abs_normal(const std::string& p) { return fs::absolute(fs::path(p)).lexically_normal().string(); }


inline std::vector<std::string> rendered_bytes(const Rendered& r) { return {r.markdown, r.html, r.json, r.csv}; }

/// Mismatches listed per check; past it they are counted in one last line.
constexpr size_t k_max_listed = 50;
/// How far above the declarations' folder a declared path may point (placeholders go there).
constexpr int k_max_escape = 32;

/// A mkdtemp folder, removed with its content at scope exit (it never holds a link: remove_all
/// cannot leave it).
class TempFolder {
 public:
  TempFolder() {
    std::string t = (fs::temp_directory_path() / "ghx_verify_XXXXXX").string();
    if (!mkdtemp(t.data())) throw Error("cannot create a temporary folder: " + std::string(std::strerror(errno)));
    m_path = t;
  }
  ~TempFolder() {
    std::error_code ec;
    fs::remove_all(m_path, ec);
  }
  const std::string& path() const { return m_path; }

 private:
  std::string m_path;
};

class ArchiveReader {
 public:
  ArchiveReader() : a(archive_read_new()) {
    if (!a) throw Error("libarchive: out of memory");
    archive_read_support_filter_gzip(a);
    archive_read_support_filter_zstd(a);
    archive_read_support_format_tar(a);
  }
  ~ArchiveReader() { archive_read_free(a); }
  std::string err() const {
    const char* s = archive_error_string(a);
    return s ? s : "unknown error";
  }
  struct archive* a;
};

struct PlanLine {
  int line = 0;
  bool ok = false;
  std::string key;
  plan::StepKind kind = plan::StepKind::generate;
  int version = 0;
  std::string label;
  plan::Params params;
  std::vector<std::string> inputs;
};

inline std::optional<plan::StepKind> kind_from_name(const std::string& name) {
  for (int k = 0; k < plan::k_step_kind_count; ++k)
    if (name == plan::kind_name(static_cast<plan::StepKind>(k))) return static_cast<plan::StepKind>(k);
  return std::nullopt;
}

inline bool is_hex(const std::string& s, size_t n) {
  return s.size() == n &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

inline std::string shorten(const std::string& s, size_t n = 80) { return s.size() <= n ? s : s.substr(0, n) + "..."; }

inline std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  for (size_t p = s.find(from); p != std::string::npos; p = s.find(from, p + to.size())) s.replace(p, from.size(), to);
  return s;
}

/// Answers the SHA-256 of the placeholders from review.json: planning needs no weights.
class BundledHashes : public plan::HashMemo {
 public:
  std::map<std::string, std::string> sha;  // absolute normalised path -> sha256
  std::optional<std::string> lookup(const std::string& abs_path, const plan::FileStat&) override {
    auto it = sha.find(abs_path);
    if (it == sha.end()) return std::nullopt;
    return it->second;
  }
  void store(const std::string&, const plan::FileStat&, const std::string&) override {}
};

class Verifier {
 public:
  Verifier(VerifyResult& res, std::string templates, std::string work)
      : m_res(res), m_templates(std::move(templates)), m_work(std::move(work)) {}

  void mismatch(const std::string& check, const std::string& entry, const std::string& message);

  /// Extracts regular files and folders into <work>/bundle after checking each entry; false
  /// when the file is no archive we read (m_res.unreadable set).
  bool extract(const std::string& file);

  void check_sums();

  /// plan.jsonl, parsed once for the results and keys checks; malformed lines are mismatches.
  void parse_plan();

  void check_results();

  /// results.json names the ghx build and libtorch that computed it (provenance.tool, .libtorch):
  /// another build recomputes the same statistics under its own names. Those two fields are
  /// taken from the bundle (a note says so); anything else that differs stays a mismatch.
  std::string as_built_by_bundle(const std::string& again, const std::string& bundled);

  void check_report();

  void check_keys();

  void check_manifest();

 private:
  /// An aggregate's file must be what its step's parameters (section, metric, variant, one row
  /// per image, NoTM pairs) give with the file's values: the values alone are not re-derivable.
  void check_aggregate(const PlanLine& pl, const json& agg, const std::string& text, const std::string& rel);

  /// Why an entry may not be extracted ("" = fine); sets `rel`, its path below the top folder.
  std::string entry_problem(struct archive_entry* e, const std::string& name, bool is_dir, std::string& rel);

  static bool is_folder(const std::string& p);

  /// Creates the folders above `rel` (below m_root), one at a time; "" or the problem.
  std::string make_parents(const std::string& rel);

  std::string file_path(const std::string& rel) const { return m_root + "/" + m_res.top + "/" + rel; }

  std::optional<std::string> read(const std::string& rel) const;

  /// Reports the difference of two key sets: counts, then the first few keys of each side.
  void compare_keys(const std::string& what, const std::set<std::string>& other, const std::set<std::string>& in_plan,
                    const plan::Plan* derived);

  /// Loads and plans the bundled declarations, every other file an empty placeholder whose
  /// SHA-256 review.json gives; compares the keys with plan.jsonl and the review with review.json.
  void rederive(const json& review, const std::string& review_text);

 public:
  void finish();

 private:
  VerifyResult& m_res;
  std::string m_templates, m_work, m_root;
  std::string m_decl;             // where rederive() put the declarations (shown as "declarations")
  std::set<std::string> m_files;  // extracted regular files, relative to the top folder
  std::vector<PlanLine> m_plan;
  std::map<std::string, size_t> m_count;
};

}  // namespace ghx::report::bundle_detail
