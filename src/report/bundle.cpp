#include "report/bundle.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>

#include "dsl/loader.h"
#include "exec/executor.h"
#include "stats/stats.h"
#include "plan/file_hasher.h"
#include "report/gallery.h"
#include "report/render.h"
#include "report/review_doc.h"
#include "util/error.h"
#include "util/fs.h"
#include "util/hash.h"
#include "util/strings.h"
#include "util/version.h"

namespace ghx::report {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

// ---- shared helpers -------------------------------------------------------------------------

const char* const k_sums = "SHA256SUMS";
const char* const k_manifest = "manifest.json";
const char* const k_declarations = "declarations/";
/// The four files report/ holds, as render() produces them.
const char* const k_report_files[] = {"report/report.md", "report/report.html", "report/results.json",
                                      "report/results.csv"};

/// A name safe as one path component: [A-Za-z0-9._+-] kept, anything else '_'; never "." or "..".
std::string safe_component(const std::string& s) {
  std::string out;
  for (unsigned char c : s)
    out.push_back(std::isalnum(c) || c == '.' || c == '_' || c == '+' || c == '-' ? char(c) : '_');
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

std::string abs_normal(const std::string& p) { return fs::absolute(fs::path(p)).lexically_normal().string(); }


std::vector<std::string> rendered_bytes(const Rendered& r) { return {r.markdown, r.html, r.json, r.csv}; }

// ---- writing ----------------------------------------------------------------------------------

/// One bundled file: its bytes, or (images) the cache key to read them from when written.
struct Source {
  std::string bytes;
  bool from_cache = false;
  plan::StepKey key;
  std::string sha256;
};

class TarWriter {
 public:
  TarWriter(int fd, Compression c) : m_a(archive_write_new()) {
    if (!m_a) throw Error("libarchive: out of memory");
    check(archive_write_set_format_pax_restricted(m_a), "tar format");
    if (c == Compression::gzip) {
      check(archive_write_add_filter_gzip(m_a), "gzip");
      // No time in the gzip header (libarchive never writes a file name there).
      check(archive_write_set_filter_option(m_a, "gzip", "timestamp", nullptr), "gzip option");
    } else if (c == Compression::zstd) {
      check(archive_write_add_filter_zstd(m_a), "zstd");
    }
    check(archive_write_open_fd(m_a, fd), "open");
  }
  ~TarWriter() {
    if (m_a) archive_write_free(m_a);
  }
  void dir(const std::string& path) { header(path, AE_IFDIR, 0755, 0); }
  void file(const std::string& path, const std::string& bytes) {
    header(path, AE_IFREG, 0644, bytes.size());
    if (!bytes.empty() && archive_write_data(m_a, bytes.data(), bytes.size()) != static_cast<la_ssize_t>(bytes.size()))
      throw Error("writing " + path + " into the bundle: " + err());
  }
  void close() {
    check(archive_write_close(m_a), "close");
    archive_write_free(m_a);
    m_a = nullptr;
  }

 private:
  void header(const std::string& path, unsigned type, int perm, size_t size) {
    struct archive_entry* e = archive_entry_new();
    // Raw bytes (the C locale is never changed): non-ASCII names get a pax header marked BINARY.
    archive_entry_set_pathname(e, path.c_str());
    archive_entry_set_filetype(e, type);
    archive_entry_set_perm(e, perm);
    archive_entry_set_size(e, static_cast<la_int64_t>(size));
    archive_entry_set_mtime(e, k_bundle_mtime, 0);
    archive_entry_set_uid(e, 0);
    archive_entry_set_gid(e, 0);
    int r = archive_write_header(m_a, e);
    archive_entry_free(e);
    check(r, path);
  }
  std::string err() const {
    const char* s = archive_error_string(m_a);
    return s ? s : "unknown error";
  }
  void check(int r, const std::string& what) {
    if (r < ARCHIVE_WARN) throw Error("writing the bundle (" + what + "): " + err());
  }
  struct archive* m_a;
};

/// The files a review is declared in: the experiment, its suites, ComfyUI workflows and CLIP
/// config.json files (absolute, normalised). Bundled as byte copies.
std::set<std::string> declaration_files(const dsl::Review& r) {
  std::set<std::string> out;
  auto add = [&](const std::string& p) {
    if (!p.empty()) out.insert(abs_normal(p));
  };
  add(r.file);
  add(r.generation.workflow);
  for (const auto& s : r.sections) {
    if (s.prompts) add(s.prompts->file);
    if (s.styles) add(s.styles->file);
    if (s.loras) add(s.loras->file);
    add(s.generation.workflow);
  }
  // The planner reads a CLIP config for its image size and constants: the same test as plan.cpp.
  for (const auto& [name, m] : r.models.clips)
    if (util::file_exists(m.arch)) add(m.arch);
  return out;
}

/// Every other path the review names (weights, targets, LoRA files, showcase images; folders),
/// relative to the experiment: verify creates them empty to load and plan the declarations.
json declared_paths(const dsl::Review& r, const std::set<std::string>& declarations) {
  std::set<std::string> files, folders;
  auto file = [&](const std::string& p) {
    if (!p.empty() && !declarations.count(abs_normal(p))) files.insert(relative_to_experiment(r.file, p));
  };
  auto folder = [&](const std::string& p) {
    if (!p.empty()) folders.insert(relative_to_experiment(r.file, p));
  };
  for (const auto& c : r.checkpoints) file(c.file);
  for (const auto& [n, m] : r.models.clips) file(m.file);
  for (const auto& [n, m] : r.models.heads) file(m.file);
  if (r.models.vgg19) file(r.models.vgg19->file);
  file(r.models.tokenizer);
  folder(r.generation.import_dir);
  for (const auto& s : r.sections) {
    folder(s.generation.import_dir);
    if (s.styles)
      for (const auto& st : s.styles->styles) {
        folder(st.targets_dir);
        for (const auto& t : st.target_files) file(t);
      }
    if (s.loras)
      for (const auto& l : s.loras->loras) {
        file(l.file);
        for (const auto& sc : l.showcase) file(sc.image);
      }
  }
  return {{"files", files}, {"folders", folders}};
}

/// The deepest folder holding every path.
fs::path common_ancestor(const std::set<std::string>& paths) {
  fs::path common;
  bool first = true;
  for (const auto& p : paths) {
    fs::path dir = fs::path(p).parent_path();
    if (first) {
      common = dir;
      first = false;
      continue;
    }
    fs::path out;
    auto a = common.begin(), b = dir.begin();
    for (; a != common.end() && b != dir.end() && *a == *b; ++a, ++b) out /= *a;
    common = out;
  }
  return common;
}

/// A path that sha256sum writes without escaping and that our verify accepts.
void check_bundle_path(const std::string& p) {
  if (p.find_first_of("\n\r\\") != std::string::npos)
    throw Error("cannot bundle '" + p + "': a newline or backslash in a path name");
}

json os_json() {
  struct utsname u {};
  if (uname(&u) != 0) return {{"sysname", "unknown"}, {"release", "unknown"}, {"machine", "unknown"}};
  return {{"sysname", u.sysname}, {"release", u.release}, {"machine", u.machine}};
}

}  // namespace

std::optional<Compression> compression_from_name(const std::string& file) {
  auto ends = [&](const char* suffix) {
    size_t n = std::strlen(suffix);
    return file.size() > n && file.compare(file.size() - n, n, suffix) == 0;
  };
  if (ends(".tar")) return Compression::none;
  if (ends(".tar.gz") || ends(".tgz")) return Compression::gzip;
  if (ends(".tar.zst") || ends(".tzst")) return Compression::zstd;
  return std::nullopt;
}

std::optional<Compression> parse_compression(const std::string& word) {
  if (word == "none") return Compression::none;
  if (word == "gzip") return Compression::gzip;
  if (word == "zstd") return Compression::zstd;
  return std::nullopt;
}

std::string report_results(const plan::StepKey& key, const plan::Params& params,
                           const std::vector<std::string>& aggregates) {
  // The report executor itself, as `ghx run` runs it: no second copy of what it computes.
  plan::Step step;
  step.kind = plan::StepKind::report;
  step.key = key;
  step.params = params;
  exec::Job job;
  job.step = &step;
  for (const auto& a : aggregates) job.inputs.push_back(&a);
  auto executors = exec::ExecutorSet::builtin();
  exec::Executor* e = executors->get(plan::StepKind::report);
  if (!e) throw Error("no report executor");
  std::vector<exec::Outcome> out;
  e->run({job}, out);
  if (out.size() != 1 || !out[0].ok) throw Error(out.empty() ? "the report executor returned nothing" : out[0].error);
  return out[0].bytes;
}

namespace {

std::string plan_line(const plan::Plan& p, const plan::Step& s) {
  ordered_json params = ordered_json::array(), inputs = ordered_json::array();
  for (const auto& [n, v] : s.params) params.push_back({n, v});
  for (uint32_t i : s.inputs) inputs.push_back(p.steps[i].key.hex());
  // No label: labels show context (target paths as given), which would tie the bytes to the cwd.
  ordered_json o = {{"key", s.key.hex()},
                    {"kind", plan::kind_name(s.kind)},
                    {"version", plan::kind_version(s.kind)},
                    {"params", params},
                    {"inputs", inputs}};
  return o.dump() + "\n";
}

}  // namespace

BundleSummary write_bundle(const dsl::Review& r, const plan::Plan& p, cache::Cache& cache, const std::string& out,
                           const BundleOptions& opts) {
  if (p.report_steps.empty()) throw Error("the plan has no report step");
  BundleSummary sum;
  sum.top = safe_component(r.name + "-v" + r.version);
  std::map<std::string, Source> files;  // path relative to the top folder
  auto add = [&](const std::string& path, std::string bytes) {
    check_bundle_path(path);
    Source s;
    s.sha256 = util::sha256_hex(bytes);
    s.bytes = std::move(bytes);
    files[path] = std::move(s);
  };
  auto cached = [&](const plan::Step& s) -> std::string {
    auto bytes = cache.get(s.key);
    if (!bytes) throw Error("no result in the cache for step " + s.key.hex() + " (" + s.label() + ")");
    return std::move(*bytes);
  };

  // Declarations, at their paths below the common ancestor so relative paths between them hold.
  std::set<std::string> decl = declaration_files(r);
  fs::path base = common_ancestor(decl);
  std::string exp_in_bundle;
  for (const auto& f : decl) {
    std::string rel = fs::path(f).lexically_relative(base).generic_string();
    add(k_declarations + rel, util::read_file(f));
    if (f == abs_normal(r.file)) exp_in_bundle = k_declarations + rel;
  }

  json review = review_document(r, p);
  add("review.json", review.dump(2) + "\n");
  std::string plan_text;
  for (const auto& s : p.steps) plan_text += plan_line(p, s);
  add("plan.jsonl", std::move(plan_text));

  const plan::Step& rep = p.steps[p.report_steps.front()];
  std::string results = cached(rep);
  for (const auto& s : p.steps)
    if (s.kind == plan::StepKind::aggregate) add("results/aggregates/" + s.key.hex() + ".json", cached(s));
  json parsed = json::parse(results);
  Rendered rendered = render(parsed, opts.templates);
  std::vector<std::string> rb = rendered_bytes(rendered);
  for (size_t i = 0; i < rb.size(); ++i) add(k_report_files[i], std::move(rb[i]));
  add("results/results.json", std::move(results));
  // The contact sheets' thumbnails, so that report/report.html shows them; their full images
  // (what the thumbnails link to) only with --with-images.
  for (const std::string& key : gallery_keys(parsed)) {
    plan::StepKey k;
    std::optional<std::string> bytes;
    if (plan::StepKey::from_hex(key, &k)) bytes = cache.get(k);
    if (!bytes) continue;
    GalleryImage g = gallery_image(*bytes, "image " + key);
    add("report/thumbs/" + key + ".png", std::move(g.thumb_png));
    if (opts.with_images) add("report/images/" + key + ".png", std::move(g.full_png));
  }

  // Where the results were computed, from the cache's provenance (no times).
  std::set<std::string> devices, versions;
  for (const auto& s : p.steps)
    if (auto rec = cache.record(s.key); rec && rec->status == 0) {
      devices.insert(rec->provenance.device);
      versions.insert(rec->provenance.tool_version);
    }

  std::vector<std::string> missing_why;  // the first few images the cache lacks, and why
  if (opts.with_images) {
    // Hashed now, read again when written: a review's images need not fit in memory at once.
    for (const auto& s : p.steps) {
      if (s.kind != plan::StepKind::generate) continue;
      auto bytes = cache.get(s.key);
      if (!bytes) {
        ++sum.images_missing;
        if (missing_why.size() < 5) {
          auto rec = cache.record(s.key);
          const std::string* prompt = s.find_context("prompt_id");
          missing_why.push_back(s.key.hex().substr(0, 12) + " (" + (prompt ? *prompt : s.label()) + "): " +
                                (!rec                ? "never computed, or its blob was damaged (then dropped: a run "
                                                         "recomputes it)"
                                 : rec->status == 1 ? "failed: " + rec->error
                                                    : "its blob is unreadable"));
        }
        continue;
      }
      auto ctx = [&](const char* name) {
        const std::string* v = s.find_context(name);
        return safe_component(v ? *v : "");
      };
      std::string id = s.find_context("prompt_id") ? *s.find_context("prompt_id") : "";
      std::replace(id.begin(), id.end(), '#', '_');
      std::string dir = "images/" + ctx("section") + "/" + safe_component(id) + "/";
      std::string name = ctx("checkpoint.name") + "_" + safe_component(s.param("seed"));
      std::string path = dir + name + ".png";
      if (files.count(path)) path = dir + name + "_" + s.key.hex().substr(0, 12) + ".png";
      Source src;
      src.from_cache = true;
      src.key = s.key;
      src.sha256 = util::sha256_hex(*bytes);
      files[path] = std::move(src);
      ++sum.images;
    }
    if (sum.images_missing && !opts.allow_missing) {
      std::string why;
      for (const auto& w : missing_why) why += "\n  " + w;
      if (sum.images_missing > missing_why.size())
        why += "\n  ... and " + std::to_string(sum.images_missing - missing_why.size()) + " more";
      throw Error(std::to_string(sum.images_missing) + (sum.images_missing == 1 ? " image is" : " images are") +
                  " not in the cache, so the bundle would lack " + (sum.images_missing == 1 ? "it" : "them") +
                  "; nothing written:" + why +
                  "\n(run the review again to compute them, or bundle with --allow-missing)");
    }
  }

  json checkpoints = json::array();
  for (const auto& c : review["checkpoints"]) {
    json o = {{"name", c["name"]}, {"identity", c["identity"]}};
    if (c.contains("sha256")) o["sha256"] = c["sha256"], o["autov2"] = c["autov2"];
    checkpoints.push_back(std::move(o));
  }
  json models = json::object();
  for (auto it = review["models"].begin(); it != review["models"].end(); ++it) {
    json o = {{"sha256", (*it)["sha256"]}};
    if (it->contains("autov2")) o["autov2"] = (*it)["autov2"];
    models[it.key()] = std::move(o);
  }
  json manifest = {
      {"format", k_bundle_format},
      {"tool", {{"name", "ghx"}, {"version", GHX_VERSION}, {"git_commit", GHX_GIT_COMMIT}}},
      {"libtorch", opts.libtorch},
      {"devices", devices},
      {"step_tool_versions", versions},
      {"os", os_json()},
      {"experiment", {{"name", r.name}, {"version", r.version}, {"file", exp_in_bundle}}},
      {"checkpoints", checkpoints},
      {"models", models},
      {"declared", declared_paths(r, decl)},
      {"report_key", rep.key.hex()},
      {"steps", p.steps.size()},
      {"with_images", opts.with_images},
      {"images", sum.images},
  };
  add(k_manifest, manifest.dump(2) + "\n");

  std::string sums;
  for (const auto& [path, src] : files) sums += src.sha256 + "  " + path + "\n";
  add(k_sums, std::move(sums));

  // Folders: every ancestor of a file. Byte order of full paths puts a folder before its content.
  std::set<std::string> entries_dirs = {sum.top};
  for (const auto& [path, src] : files)
    for (fs::path d = fs::path(path).parent_path(); !d.empty(); d = d.parent_path())
      entries_dirs.insert(sum.top + "/" + d.generic_string());
  std::map<std::string, const Source*> entries;  // full path -> file (null: folder)
  for (const auto& d : entries_dirs) entries[d] = nullptr;
  for (const auto& [path, src] : files) entries[sum.top + "/" + path] = &src;

  fs::path target(out);
  fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
  std::string tmp = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  int fd = mkstemp(tmp.data());
  if (fd < 0) throw Error(out + ": cannot create a temporary file beside it: " + std::strerror(errno));
  try {
    TarWriter w(fd, opts.compression);
    for (const auto& [path, src] : entries) {
      if (!src) {
        w.dir(path);
      } else if (src->from_cache) {
        auto bytes = cache.get(src->key);
        if (!bytes || util::sha256_hex(*bytes) != src->sha256)
          throw Error("the cached image of step " + src->key.hex() + " changed while bundling");
        w.file(path, *bytes);
      } else {
        w.file(path, src->bytes);
      }
    }
    w.close();
    if (fsync(fd) != 0) throw Error(out + ": fsync: " + std::strerror(errno));
    // mkstemp made it 0600; a bundle is meant to be shared: the usual mode under the umask.
    mode_t mask = ::umask(0);
    ::umask(mask);
    if (::fchmod(fd, 0666 & ~mask) != 0) throw Error(out + ": chmod: " + std::strerror(errno));
    ::close(fd);
    fd = -1;
    if (std::rename(tmp.c_str(), out.c_str()) != 0) throw Error(out + ": rename: " + std::strerror(errno));
    int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);  // the rename itself, durable
    if (dfd >= 0) {
      ::fsync(dfd);
      ::close(dfd);
    }
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  sum.files = files.size();
  sum.bytes = fs::file_size(out);
  sum.sha256 = util::sha256_file_hex(out);
  return sum;
}

// ---- verify -----------------------------------------------------------------------------------

namespace {

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

std::optional<plan::StepKind> kind_from_name(const std::string& name) {
  for (int k = 0; k < plan::k_step_kind_count; ++k)
    if (name == plan::kind_name(static_cast<plan::StepKind>(k))) return static_cast<plan::StepKind>(k);
  return std::nullopt;
}

bool is_hex(const std::string& s, size_t n) {
  return s.size() == n &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

std::string shorten(const std::string& s, size_t n = 80) { return s.size() <= n ? s : s.substr(0, n) + "..."; }

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
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

  void mismatch(const std::string& check, const std::string& entry, const std::string& message) {
    if (++m_count[check] <= k_max_listed) m_res.mismatches.push_back({check, entry, message});
  }

  /// Extracts regular files and folders into <work>/bundle after checking each entry; false
  /// when the file is no archive we read (m_res.unreadable set).
  bool extract(const std::string& file) {
    ArchiveReader ar;
    if (archive_read_open_filename(ar.a, file.c_str(), 1 << 16) != ARCHIVE_OK) {
      m_res.unreadable = true;
      m_res.error = file + ": not a tar archive (" + ar.err() + ")";
      return false;
    }
    m_root = m_work + "/bundle";
    if (::mkdir(m_root.c_str(), 0700) != 0) throw Error(m_root + ": " + std::strerror(errno));
    int64_t n = 0, extracted = 0;
    uint64_t total = 0;
    std::set<std::string> seen;
    std::string last = "(start)";
    std::vector<char> buf(1 << 16);
    for (;;) {
      struct archive_entry* e = nullptr;
      int r = archive_read_next_header(ar.a, &e);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN) {
        if (n == 0) {
          m_res.unreadable = true;
          m_res.error = file + ": not a tar archive (" + ar.err() + ")";
          return false;
        }
        mismatch("archive", last, "the archive is damaged after this entry: " + ar.err());
        break;
      }
      ++n;
      const char* raw = archive_entry_pathname(e);
      if (!raw) raw = archive_entry_pathname_utf8(e);
      std::string name = raw ? raw : "";
      last = name.empty() ? "entry #" + std::to_string(n) : name;
      std::string rel;  // relative to the top folder
      bool is_dir = archive_entry_filetype(e) == AE_IFDIR;
      std::string why = entry_problem(e, name, is_dir, rel);
      if (why.empty() && !seen.insert(rel).second) why = "appears twice in the archive";
      uint64_t size =
          archive_entry_size_is_set(e) ? static_cast<uint64_t>(std::max<la_int64_t>(0, archive_entry_size(e))) : 0;
      if (why.empty() && !is_dir && size > k_max_entry_bytes)
        why = "is " + std::to_string(size) + " bytes, over the limit of " + std::to_string(k_max_entry_bytes) +
              " per file";
      if (why.empty() && !is_dir && total + size > k_max_total_bytes) {
        mismatch("archive", last,
                 "the files add up to more than " + std::to_string(k_max_total_bytes) +
                     " bytes; this entry and the rest were not extracted");
        break;
      }
      if (!why.empty()) {
        mismatch("archive", last, "rejected: " + why + "; not extracted");
        archive_read_data_skip(ar.a);
        continue;
      }
      std::string target = m_root + "/" + m_res.top + (rel.empty() ? "" : "/" + rel);
      std::string problem = make_parents(m_res.top + (rel.empty() ? "" : "/" + rel));
      if (problem.empty() && is_dir && ::mkdir(target.c_str(), 0700) != 0 && !is_folder(target))
        problem = "a file and a folder have the same name";
      if (!problem.empty()) {
        mismatch("archive", last, "rejected: " + problem + "; not extracted");
        archive_read_data_skip(ar.a);
        continue;
      }
      if (is_dir) continue;
      int fd = ::open(target.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0) {
        mismatch("archive", last,
                 std::string("rejected: cannot be created (") + std::strerror(errno) + "); not extracted");
        archive_read_data_skip(ar.a);
        continue;
      }
      bool damaged = false;
      for (;;) {
        la_ssize_t got = archive_read_data(ar.a, buf.data(), buf.size());
        if (got == 0) break;
        if (got < 0) {
          mismatch("archive", last, "the archive is damaged in this entry: " + ar.err());
          damaged = true;
          break;
        }
        total += static_cast<uint64_t>(got);
        for (la_ssize_t off = 0; off < got;) {
          ssize_t w = ::write(fd, buf.data() + off, static_cast<size_t>(got - off));
          if (w < 0) {
            ::close(fd);
            throw Error(target + ": " + std::strerror(errno));
          }
          off += w;
        }
      }
      ::close(fd);
      if (damaged) break;
      m_files.insert(rel);
      ++extracted;
    }
    m_res.checked["entries"] = n;
    m_res.checked["files"] = extracted;
    if (n == 0) {
      m_res.unreadable = true;
      m_res.error = file + ": an empty archive, not a ghx bundle";
      return false;
    }
    return true;
  }

  void check_sums() {
    auto text = read(k_sums);
    if (!text) {
      mismatch("sums", k_sums, "missing: the bundle has no SHA256SUMS");
      return;
    }
    std::set<std::string> listed;
    int64_t good = 0;
    size_t line_no = 0;
    for (size_t start = 0; start < text->size();) {
      size_t end = text->find('\n', start);
      if (end == std::string::npos) end = text->size();
      std::string line = text->substr(start, end - start);
      start = end + 1;
      ++line_no;
      std::string hex = line.substr(0, 64), path = line.size() > 66 ? line.substr(66) : "";
      bool sep = line.size() > 66 && line[64] == ' ' && (line[65] == ' ' || line[65] == '*');
      if (!is_hex(hex, 64) || !sep || path.empty()) {
        mismatch("sums", k_sums, "line " + std::to_string(line_no) + " is malformed: '" + shorten(line) + "'");
        continue;
      }
      std::transform(hex.begin(), hex.end(), hex.begin(), [](unsigned char c) { return std::tolower(c); });
      if (!listed.insert(path).second) {
        mismatch("sums", path, "listed twice in SHA256SUMS");
        continue;
      }
      if (!m_files.count(path)) {
        mismatch("sums", path, "listed in SHA256SUMS but missing from the bundle");
        continue;
      }
      std::string actual = util::sha256_file_hex(file_path(path));
      if (actual != hex)
        mismatch("sums", path, "checksum mismatch: SHA256SUMS has " + hex + ", the file has " + actual);
      else
        ++good;
    }
    for (const auto& f : m_files)
      if (f != k_sums && !listed.count(f)) mismatch("sums", f, "not listed in SHA256SUMS");
    m_res.checked["sums"] = good;
  }

  /// plan.jsonl, parsed once for the results and keys checks; malformed lines are mismatches.
  void parse_plan() {
    auto text = read("plan.jsonl");
    if (!text) {
      mismatch("keys", "plan.jsonl", "missing");
      return;
    }
    int line_no = 0;
    for (size_t start = 0; start < text->size();) {
      size_t end = text->find('\n', start);
      if (end == std::string::npos) end = text->size();
      std::string line = text->substr(start, end - start);
      start = end + 1;
      PlanLine pl;
      pl.line = ++line_no;
      try {
        json j = json::parse(line);
        pl.key = j.at("key").get<std::string>();
        auto kind = kind_from_name(j.at("kind").get<std::string>());
        if (!kind) throw Error("unknown step kind '" + j.at("kind").get<std::string>() + "'");
        pl.kind = *kind;
        pl.version = j.at("version").get<int>();
        for (const auto& p : j.at("params")) {
          if (!p.is_array() || p.size() != 2) throw Error("a parameter is not a [name, value] pair");
          pl.params.emplace_back(p[0].get<std::string>(), p[1].get<std::string>());
        }
        for (const auto& k : j.at("inputs")) pl.inputs.push_back(k.get<std::string>());
        if (!is_hex(pl.key, 32)) throw Error("key '" + shorten(pl.key, 40) + "' is not 32 hex digits");
        plan::Step step;  // its label from the parameters (the context is not bundled)
        step.kind = pl.kind;
        step.params = pl.params;
        pl.label = step.label();
        pl.ok = true;
      } catch (const std::exception& e) {
        mismatch("keys", "plan.jsonl", "line " + std::to_string(pl.line) + " is malformed: " + e.what());
      }
      m_plan.push_back(std::move(pl));
    }
  }

  void check_results() {
    auto results = read("results/results.json");
    if (!results) mismatch("results", "results/results.json", "missing");
    const PlanLine* rep = nullptr;
    std::map<std::string, const PlanLine*> by_key;
    for (const auto& pl : m_plan)
      if (pl.ok) {
        by_key.emplace(pl.key, &pl);
        if (pl.kind == plan::StepKind::report && !rep) rep = &pl;
      }
    if (!rep) {
      mismatch("results", "plan.jsonl", "no report step: the results cannot be recomputed");
      return;
    }
    std::vector<std::string> aggs;
    std::set<std::string> used;
    bool complete = true;
    for (const auto& key : rep->inputs) {
      std::string rel = "results/aggregates/" + key + ".json";
      used.insert(rel);
      auto text = read(rel);
      if (!text) {
        mismatch("results", rel, "missing: an input of the report step");
        complete = false;
        continue;
      }
      json agg;
      try {
        agg = json::parse(*text);
      } catch (const std::exception& e) {
        mismatch("results", rel, std::string("not JSON: ") + e.what());
        complete = false;
        continue;
      }
      aggs.push_back(*text);
      auto it = by_key.find(key);
      if (it == by_key.end() || it->second->kind != plan::StepKind::aggregate) {
        mismatch("results", rel, "is no aggregate step of plan.jsonl");
        continue;
      }
      check_aggregate(*it->second, agg, *text, rel);
    }
    for (const auto& f : m_files)
      if (f.rfind("results/aggregates/", 0) == 0 && !used.count(f))
        mismatch("results", f, "is not an input of the report step");
    m_res.checked["aggregates"] = static_cast<int64_t>(aggs.size());
    if (!complete || !results) return;
    try {
      plan::StepKey key;
      plan::StepKey::from_hex(rep->key, &key);
      std::string again = report_results(key, rep->params, aggs);
      if (again != *results) again = as_built_by_bundle(again, *results);
      if (again != *results) {
        // Name the fields that differ: "provenance" alone means another ghx build made them.
        std::string fields;
        try {
          json a = json::parse(again), b = json::parse(*results);
          std::set<std::string> names;
          for (const json* o : {&a, &b})
            if (o->is_object())
              for (auto it = o->begin(); it != o->end(); ++it) names.insert(it.key());
          for (const auto& n : names)
            if (!a.contains(n) || !b.contains(n) || a[n] != b[n]) fields += (fields.empty() ? "" : ", ") + n;
        } catch (const std::exception&) {
          fields = "(not JSON)";
        }
        mismatch("results", "results/results.json",
                 "differs from the statistics recomputed from results/aggregates/" +
                     (fields.empty() ? std::string(" (formatting)") : " in: " + fields));
      } else {
        m_res.checked["results"] = 1;
      }
    } catch (const std::exception& e) {
      mismatch("results", "results/results.json", std::string("cannot recompute the statistics: ") + e.what());
    }
  }

  /// results.json names the ghx build and libtorch that computed it (provenance.tool, .libtorch):
  /// another build recomputes the same statistics under its own names. Those two fields are
  /// taken from the bundle (a note says so); anything else that differs stays a mismatch.
  std::string as_built_by_bundle(const std::string& again, const std::string& bundled) {
    try {
      json a = json::parse(again), b = json::parse(bundled);
      if (!a.contains("provenance") || !b.contains("provenance") || !b["provenance"].is_object()) return again;
      std::string note;
      for (const char* f : {"tool", "libtorch"}) {
        if (!b["provenance"].contains(f) || a["provenance"].value(f, json()) == b["provenance"][f]) continue;
        note += std::string(note.empty() ? "" : ", ") + f + " " + b["provenance"][f].dump() +
                " (this ghx: " + a["provenance"].value(f, json()).dump() + ")";
        a["provenance"][f] = b["provenance"][f];
      }
      std::string out = a.dump();
      if (!note.empty() && out == bundled)
        m_res.notes.push_back("results/results.json was computed by another build: " + note +
                              "; the statistics recomputed here are identical");
      return out;
    } catch (const std::exception&) {
      return again;
    }
  }

  void check_report() {
    auto results = read("results/results.json");
    if (!results) return;  // reported by check_results
    Rendered r;
    try {
      r = render(json::parse(*results), m_templates);
    } catch (const std::exception& e) {
      mismatch("report", "results/results.json", std::string("cannot render the report from it: ") + e.what());
      return;
    }
    std::vector<std::string> want = rendered_bytes(r);
    int64_t good = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      auto have = read(k_report_files[i]);
      if (!have)
        mismatch("report", k_report_files[i], "missing");
      else if (*have != want[i])
        mismatch("report", k_report_files[i], "differs from the report rendered from results/results.json");
      else
        ++good;
    }
    m_res.checked["report_files"] = good;
  }

  void check_keys() {
    std::map<std::string, const PlanLine*> seen;
    int64_t good = 0;
    for (const auto& pl : m_plan) {
      if (!pl.ok) continue;
      std::string where = "line " + std::to_string(pl.line) + " (" + pl.label + ")";
      if (!seen.emplace(pl.key, &pl).second) {
        mismatch("keys", "plan.jsonl", where + ": key " + pl.key + " appears twice");
        continue;
      }
      std::vector<plan::StepKey> ins;
      bool inputs_ok = true;
      for (const auto& k : pl.inputs) {
        plan::StepKey d;
        if (!seen.count(k) || !plan::StepKey::from_hex(k, &d)) {
          mismatch("keys", "plan.jsonl", where + ": input " + shorten(k, 40) + " is not an earlier step");
          inputs_ok = false;
          continue;
        }
        ins.push_back(d);
      }
      if (pl.version != plan::kind_version(pl.kind)) {
        mismatch("keys", "plan.jsonl",
                 where + ": made by " + plan::kind_name(pl.kind) + " implementation v" + std::to_string(pl.version) +
                     ", this ghx has v" + std::to_string(plan::kind_version(pl.kind)) +
                     ": its key cannot be recomputed");
        continue;
      }
      if (!inputs_ok) continue;
      std::string again = plan::step_key(pl.kind, pl.params, ins).hex();
      if (again != pl.key)
        mismatch("keys", "plan.jsonl",
                 where + ": key " + pl.key + " does not match its parameters and inputs (they give " + again + ")");
      else
        ++good;
    }
    m_res.checked["steps"] = good;

    auto review_text = read("review.json");
    json review;
    try {
      if (!review_text) throw Error("missing");
      review = json::parse(*review_text);
      if (!review.is_object()) throw Error("not a JSON object");
    } catch (const std::exception& e) {
      mismatch("keys", "review.json", std::string("unreadable: ") + e.what());
      return;
    }
    std::set<std::string> in_review;
    if (review.contains("keys") && review["keys"].is_array())
      for (const auto& k : review["keys"])
        if (k.is_string()) in_review.insert(k.get<std::string>());
    std::set<std::string> in_plan;
    for (const auto& [k, pl] : seen) in_plan.insert(k);
    compare_keys("review.json", in_review, in_plan, nullptr);
    rederive(review, *review_text);
  }

  void check_manifest() {
    json m, review;
    try {
      auto text = read(k_manifest);
      if (!text) throw Error("missing");
      m = json::parse(*text);
      if (!m.is_object()) throw Error("not a JSON object");
      auto rtext = read("review.json");
      if (!rtext) return;  // reported by check_keys
      review = json::parse(*rtext);
      if (!review.is_object()) return;  // reported by check_keys
    } catch (const std::exception& e) {
      mismatch("manifest", k_manifest, std::string("unreadable: ") + e.what());
      return;
    }
    if (m.value("format", 0) != k_bundle_format)
      mismatch("manifest", k_manifest,
               "bundle format " + m.value("format", json(nullptr)).dump() + ", this ghx reads " +
                   std::to_string(k_bundle_format));
    if (m.contains("tool") && m["tool"].is_object()) {
      std::string v = m["tool"].value("version", "?"), c = m["tool"].value("git_commit", "?");
      if (v != GHX_VERSION || c != GHX_GIT_COMMIT)
        m_res.notes.push_back(std::string("made by ghx ") + v + " (" + c + "), checked by ghx " + GHX_VERSION + " (" +
                              GHX_GIT_COMMIT +
                              "): a report template or step implementation that changed in between "
                              "shows as a mismatch");
    }
    int64_t good = 0;
    auto same = [&](const std::string& what, const json& a, const json& b, const char* field) {
      json va = a.is_object() && a.contains(field) ? a[field] : json(nullptr);
      json vb = b.is_object() && b.contains(field) ? b[field] : json(nullptr);
      if (va != vb)
        mismatch("manifest", k_manifest, what + ": " + field + " " + va.dump() + ", review.json has " + vb.dump());
      else
        ++good;
    };
    json mc = m.value("checkpoints", json::array()), rc = review.value("checkpoints", json::array());
    if (!mc.is_array() || !rc.is_array() || mc.size() != rc.size()) {
      mismatch("manifest", k_manifest, "its checkpoints are not review.json's");
    } else {
      for (size_t i = 0; i < mc.size(); ++i) {
        std::string what = "checkpoint " + rc[i].value("name", json(nullptr)).dump();
        for (const char* f : {"name", "identity", "sha256", "autov2"}) same(what, mc[i], rc[i], f);
      }
    }
    json mm = m.value("models", json::object()), rm = review.value("models", json::object());
    std::set<std::string> names;
    for (const json* o : {&mm, &rm})
      if (o->is_object())
        for (auto it = o->begin(); it != o->end(); ++it) names.insert(it.key());
    for (const auto& n : names) {
      json a = mm.is_object() && mm.contains(n) ? mm[n] : json(nullptr);
      json b = rm.is_object() && rm.contains(n) ? rm[n] : json(nullptr);
      if (a.is_null() || b.is_null()) {
        mismatch("manifest", k_manifest, "model '" + n + "' is in only one of manifest.json and review.json");
        continue;
      }
      for (const char* f : {"sha256", "autov2"}) same("model '" + n + "'", a, b, f);
    }
    m_res.checked["hashes"] = good;
  }

 private:
  /// An aggregate's file must be what its step's parameters (section, metric, variant, one row
  /// per image, NoTM pairs) give with the file's values: the values alone are not re-derivable.
  void check_aggregate(const PlanLine& pl, const json& agg, const std::string& text, const std::string& rel) {
    plan::Step step;
    step.kind = pl.kind;
    step.params = pl.params;
    try {
      auto rows = step.params_named("row");
      if (!agg.is_object() || !agg.contains("rows") || !agg["rows"].is_array() || agg["rows"].size() != rows.size())
        throw Error("its rows are not its step's rows");
      std::vector<stats::AggregateRow> out;
      for (size_t i = 0; i < rows.size(); ++i) {
        std::vector<std::string> f = plan::split_fields(*rows[i]);
        if (f.size() != 4) throw Error("malformed row parameter");
        const json& v = agg["rows"][i];
        if (!v.is_array() || v.size() != 5 || !(v[4].is_number() || v[4].is_null())) throw Error("malformed row");
        out.push_back({f[0], f[1], f[2], f[3], v[4].is_null() ? std::nan("") : v[4].get<double>()});
      }
      std::vector<std::pair<std::string, std::string>> notm;
      for (const std::string* e : step.params_named("notm_exclude")) {
        auto sep = e->find(plan::k_field_sep);
        notm.emplace_back(e->substr(0, sep), sep == std::string::npos ? "" : e->substr(sep + 1));
      }
      bool has_notm = step.find_param("notm") != nullptr;
      if (stats::aggregate_json(step.param("section"), step.param("metric"), step.param("variant"), out,
                               has_notm ? &notm : nullptr)
              .dump() != text)
        throw Error("its section, metric, variant, rows or NoTM pairs differ");
    } catch (const std::exception& e) {
      mismatch("results", rel, std::string("does not match its step in plan.jsonl: ") + e.what());
    }
  }

  /// Why an entry may not be extracted ("" = fine); sets `rel`, its path below the top folder.
  std::string entry_problem(struct archive_entry* e, const std::string& name, bool is_dir, std::string& rel) {
    if (name.empty()) return "it has no name";
    if (const char* link = archive_entry_hardlink(e)) return std::string("it is a hard link (to ") + link + ")";
    switch (archive_entry_filetype(e)) {
      case AE_IFREG:
      case AE_IFDIR:
        break;
      case AE_IFLNK: {
        const char* to = archive_entry_symlink(e);
        return std::string("it is a symbolic link (to ") + (to ? to : "?") + ")";
      }
      case AE_IFCHR:
      case AE_IFBLK:
        return "it is a device";
      case AE_IFIFO:
        return "it is a FIFO";
      case AE_IFSOCK:
        return "it is a socket";
      default:
        return "it is not a regular file or folder";
    }
    if (name.size() > 4096) return "its name is over 4096 bytes";
    if (name[0] == '/') return "its path is absolute";
    std::vector<std::string> parts = util::split(name, '/');
    if (is_dir && parts.size() > 1 && parts.back().empty()) parts.pop_back();
    for (const auto& p : parts) {
      if (p == "..") return "its path has a '..' component";
      if (p.empty() || p == ".") return "its path is not a plain relative path";
    }
    if (m_res.top.empty()) {
      if (!is_dir && parts.size() == 1) return "a file where the bundle's top folder belongs";
      m_res.top = parts[0];
    } else if (parts[0] != m_res.top) {
      return "it lies outside the top folder '" + m_res.top + "/'";
    }
    if (!is_dir && parts.size() == 1) return "a file where the bundle's top folder belongs";
    rel.clear();
    for (size_t i = 1; i < parts.size(); ++i) rel += (i > 1 ? "/" : "") + parts[i];
    return "";
  }

  static bool is_folder(const std::string& p) {
    struct stat st {};
    return ::lstat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
  }

  /// Creates the folders above `rel` (below m_root), one at a time; "" or the problem.
  std::string make_parents(const std::string& rel) {
    std::string cur = m_root;
    std::vector<std::string> parts = util::split(rel, '/');
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      cur += "/" + parts[i];
      if (::mkdir(cur.c_str(), 0700) != 0 && !is_folder(cur)) return "a file and a folder have the same name";
    }
    return "";
  }

  std::string file_path(const std::string& rel) const { return m_root + "/" + m_res.top + "/" + rel; }

  std::optional<std::string> read(const std::string& rel) const {
    if (!m_files.count(rel)) return std::nullopt;
    return util::read_file(file_path(rel));
  }

  /// Reports the difference of two key sets: counts, then the first few keys of each side.
  void compare_keys(const std::string& what, const std::set<std::string>& other, const std::set<std::string>& in_plan,
                    const plan::Plan* derived) {
    std::vector<std::string> only_other, only_plan;
    std::set_difference(other.begin(), other.end(), in_plan.begin(), in_plan.end(), std::back_inserter(only_other));
    std::set_difference(in_plan.begin(), in_plan.end(), other.begin(), other.end(), std::back_inserter(only_plan));
    if (only_other.empty() && only_plan.empty()) return;
    std::string entry = derived ? "plan.jsonl" : what;
    mismatch("keys", entry,
             what + " has " + std::to_string(other.size()) + " step keys, plan.jsonl " +
                 std::to_string(in_plan.size()) + ": " + std::to_string(only_other.size()) + " only in " + what + ", " +
                 std::to_string(only_plan.size()) + " only in plan.jsonl");
    auto label_in_plan = [&](const std::string& k) {
      for (const auto& pl : m_plan)
        if (pl.ok && pl.key == k) return pl.label;
      return std::string("?");
    };
    auto label_derived = [&](const std::string& k) {
      plan::StepKey d;
      if (!derived || !plan::StepKey::from_hex(k, &d)) return std::string("?");
      const plan::Step* s = derived->find(d);
      return s ? replace_all(s->label(), m_decl, "declarations") : std::string("?");
    };
    for (size_t i = 0; i < only_other.size() && i < 5; ++i)
      mismatch("keys", entry, "only in " + what + ": " + only_other[i] + " (" + label_derived(only_other[i]) + ")");
    for (size_t i = 0; i < only_plan.size() && i < 5; ++i)
      mismatch("keys", entry, "only in plan.jsonl: " + only_plan[i] + " (" + label_in_plan(only_plan[i]) + ")");
  }

  /// Loads and plans the bundled declarations, every other file an empty placeholder whose
  /// SHA-256 review.json gives; compares the keys with plan.jsonl and the review with review.json.
  void rederive(const json& review, const std::string& review_text) {
    auto fail = [&](const std::string& entry, const std::string& why) {
      mismatch("keys", entry, "cannot re-derive the plan from declarations/: " + why);
    };
    json manifest;
    try {
      auto text = read(k_manifest);
      if (!text) throw Error("missing");
      manifest = json::parse(*text);
    } catch (const std::exception& e) {
      return fail(k_manifest, std::string("manifest.json unreadable: ") + e.what());
    }
    std::string exp;
    if (manifest.contains("experiment") && manifest["experiment"].is_object() &&
        manifest["experiment"].contains("file") && manifest["experiment"]["file"].is_string())
      exp = manifest["experiment"]["file"].get<std::string>();
    if (exp.rfind(k_declarations, 0) != 0 || !m_files.count(exp))
      return fail(k_manifest, "its experiment file '" + exp + "' is not in declarations/");
    fs::path exp_rel(exp.substr(std::strlen(k_declarations)));
    fs::path exp_dir = exp_rel.parent_path();

    // Placeholders: (path relative to the experiment, is a folder, sha256 or "").
    struct Placeholder {
      std::string path;
      bool folder;
      std::string sha;
    };
    std::vector<Placeholder> holders;
    if (review.contains("files") && review["files"].is_object())
      for (auto it = review["files"].begin(); it != review["files"].end(); ++it)
        holders.push_back({it.key(), false, it->is_string() ? it->get<std::string>() : ""});
    if (manifest.contains("declared") && manifest["declared"].is_object()) {
      const json& d = manifest["declared"];
      for (const char* kind : {"files", "folders"})
        if (d.contains(kind) && d[kind].is_array())
          for (const auto& p : d[kind])
            if (p.is_string()) holders.push_back({p.get<std::string>(), std::string(kind) == "folders", ""});
    }
    // Declared paths may point above the declarations' folder (weights kept elsewhere): the
    // declarations go that many folders deep, so every placeholder still lands inside.
    int depth = 0;
    for (const auto& h : holders) {
      fs::path n = (exp_dir / h.path).lexically_normal();
      int up = 0;
      for (const auto& part : n) {
        if (part != "..") break;
        ++up;
      }
      if (fs::path(h.path).is_absolute() || up > k_max_escape)
        return fail("review.json", "path " + h.path + " leaves the bundle");
      depth = std::max(depth, up);
    }
    fs::path area = fs::path(m_work) / "rederive";
    fs::path decl = area;
    for (int i = 0; i < depth; ++i) decl /= "up" + std::to_string(i);
    std::error_code ec;
    fs::create_directories(decl, ec);
    fs::copy(file_path("declarations"), decl, fs::copy_options::recursive, ec);
    if (ec) return fail("declarations/", "cannot copy them: " + ec.message());
    std::string area_prefix = area.string() + "/";
    m_decl = decl.string();
    BundledHashes memo;
    std::set<std::string> placeholders;
    for (const auto& h : holders) {
      fs::path target = (decl / exp_dir / h.path).lexically_normal();
      if (target.string().rfind(area_prefix, 0) != 0)
        return fail("review.json", "path " + h.path + " leaves the bundle");
      if (h.folder) {
        fs::create_directories(target, ec);
      } else {
        fs::create_directories(target.parent_path(), ec);
        if (!ec && !fs::exists(target, ec)) {
          std::ofstream(target.string(), std::ios::binary).flush();
          placeholders.insert(target.string());
        }
        // A bundled declaration (a CLIP config.json) is hashed for real, never answered.
        if (!h.sha.empty() && placeholders.count(target.string())) memo.sha[target.string()] = h.sha;
      }
      if (ec) return fail("review.json", "cannot create a placeholder for " + h.path + ": " + ec.message());
    }

    std::string exp_path = (decl / exp_rel).lexically_normal().string();
    auto diagnostics = [&](const dsl::Diagnostics& d) {
      std::string s;
      size_t shown = 0;
      for (const auto& x : d.all())
        if (x.severity == dsl::Severity::error && shown++ < 3) s += (s.empty() ? "" : "; ") + x.format();
      return replace_all(s, decl.string(), "declarations");
    };
    dsl::Diagnostics d;
    std::optional<dsl::Review> r;
    try {
      r = dsl::load_review(exp_path, d);
    } catch (const std::exception& e) {
      return fail(exp, e.what());
    }
    if (!r) return fail(exp, diagnostics(d));
    // A checkpoint without a file is identified as the run identified it (a server's hash).
    if (review.contains("checkpoints") && review["checkpoints"].is_array())
      for (auto& c : r->checkpoints) {
        if (!c.file.empty() || !c.sha256.empty()) continue;
        for (const auto& rc : review["checkpoints"])
          if (rc.value("name", "") == c.name && rc.contains("identity") && rc["identity"].is_string() &&
              rc["identity"].get<std::string>().rfind("backend_name:", 0) != 0)
            c.server_identity = rc["identity"].get<std::string>();
      }
    // Model steps were keyed with the numerics of the machine that ran them (models/numerics.h):
    // re-derive with those, not this machine's.
    for (const auto& pl : m_plan) {
      for (const auto& [name, value] : pl.params)
        if (name == "numerics") r->numerics = value;
      if (!r->numerics.empty()) break;
    }
    plan::FileHasher hasher(&memo);
    std::optional<plan::Plan> p;
    try {
      p = plan::build_plan(*r, hasher, d);
    } catch (const std::exception& e) {
      return fail(exp, e.what());
    }
    if (!p) return fail(exp, diagnostics(d));
    m_res.checked["rederived_steps"] = static_cast<int64_t>(p->steps.size());
    std::set<std::string> derived, in_plan;
    for (const auto& s : p->steps) derived.insert(s.key.hex());
    for (const auto& pl : m_plan)
      if (pl.ok) in_plan.insert(pl.key);
    compare_keys("the plan re-derived from declarations/", derived, in_plan, &*p);

    json again = review_document(*r, *p);
    if (again.dump(2) + "\n" != review_text) {
      std::vector<std::string> fields;
      std::set<std::string> names;
      for (const json* o : {static_cast<const json*>(&again), &review})
        for (auto it = o->begin(); it != o->end(); ++it) names.insert(it.key());
      for (const auto& n : names)
        if (!again.contains(n) || !review.contains(n) || again[n] != review[n]) fields.push_back(n);
      mismatch("keys", "review.json",
               "differs from the review re-derived from declarations/" +
                   (fields.empty() ? std::string(" (formatting)") : " in: " + util::join(fields, ", ")));
    }
  }

 public:
  void finish() {
    for (const auto& [check, n] : m_count)
      if (n > k_max_listed)
        m_res.mismatches.push_back(
            {check, "", std::to_string(n - k_max_listed) + " more mismatches of this check not listed"});
  }

 private:
  VerifyResult& m_res;
  std::string m_templates, m_work, m_root;
  std::string m_decl;             // where rederive() put the declarations (shown as "declarations")
  std::set<std::string> m_files;  // extracted regular files, relative to the top folder
  std::vector<PlanLine> m_plan;
  std::map<std::string, size_t> m_count;
};

}  // namespace

VerifyResult verify_bundle(const std::string& file, const std::string& templates) {
  VerifyResult res;
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) {
    res.unreadable = true;
    res.error = file + ": not a file";
    return res;
  }
  TempFolder tmp;
  Verifier v(res, templates, tmp.path());
  if (!v.extract(file)) return res;
  // A check that meets a shape it did not expect (a hand-made bundle) reports it as a mismatch
  // of that check; the other checks still run, and verify still exits 3, not with an error.
  auto guarded = [&](const char* check, const char* entry, auto&& f) {
    try {
      f();
    } catch (const std::exception& e) {
      v.mismatch(check, entry, std::string("cannot be checked: ") + e.what());
    }
  };
  guarded("sums", k_sums, [&] { v.check_sums(); });
  guarded("keys", "plan.jsonl", [&] { v.parse_plan(); });
  guarded("results", "results/results.json", [&] { v.check_results(); });
  guarded("report", "results/results.json", [&] { v.check_report(); });
  guarded("keys", "review.json", [&] { v.check_keys(); });
  guarded("manifest", k_manifest, [&] { v.check_manifest(); });
  v.finish();
  return res;
}

}  // namespace ghx::report
