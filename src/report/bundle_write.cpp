// write_bundle: the deterministic tar of a finished review (report/bundle.h).
#include "report/bundle.h"
#include "report/bundle_parts.h"


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
using namespace bundle_detail;

namespace {

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

}  // namespace ghx::report
