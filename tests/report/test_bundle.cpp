// Review bundles through the binary (report/bundle.h, cli/bundle_cmd.h): the same review
// bundled twice is the same bytes; verify passes on a fresh bundle and names precisely what is
// wrong in a tampered one; hostile archive entries are rejected without a byte written outside
// verify's temporary folder.
#include <catch2/catch.hpp>

#include <archive.h>
#include <archive_entry.h>

#include <filesystem>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "report/bundle.h"
#include "support.h"
#include "util/hash.h"

using namespace ghx;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

/// An archive entry as the tests write it: 'f' file, 'd' folder, 'l' symlink and 'h' hard link
/// (to `bytes`), 'c' character device.
struct Entry {
  std::string path;
  char type = 'f';
  std::string bytes;
};

/// Writes `entries` as they are (no checks, no sorting): the tests' hostile archives.
void write_tar(const std::string& out, const std::vector<Entry>& entries) {
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  REQUIRE(archive_write_open_filename(a, out.c_str()) == ARCHIVE_OK);
  for (const auto& e : entries) {
    struct archive_entry* ae = archive_entry_new();
    archive_entry_set_pathname(ae, e.path.c_str());
    archive_entry_set_mtime(ae, 0, 0);
    switch (e.type) {
      case 'd':
        archive_entry_set_filetype(ae, AE_IFDIR), archive_entry_set_perm(ae, 0755);
        break;
      case 'l':
        archive_entry_set_filetype(ae, AE_IFLNK), archive_entry_set_symlink(ae, e.bytes.c_str());
        break;
      case 'h':
        archive_entry_set_filetype(ae, AE_IFREG), archive_entry_set_hardlink(ae, e.bytes.c_str());
        break;
      case 'c':
        archive_entry_set_filetype(ae, AE_IFCHR), archive_entry_set_rdev(ae, 0x0103);
        break;
      default:
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, 0644);
        archive_entry_set_size(ae, static_cast<la_int64_t>(e.bytes.size()));
    }
    REQUIRE(archive_write_header(a, ae) >= ARCHIVE_WARN);
    if (e.type == 'f' && !e.bytes.empty()) archive_write_data(a, e.bytes.data(), e.bytes.size());
    archive_entry_free(ae);
  }
  archive_write_close(a);
  archive_write_free(a);
}

/// The files and folders under `root`/`top`, sorted, as entries named `top/...`.
std::vector<Entry> entries_of(const std::string& root, const std::string& top) {
  std::map<std::string, Entry> sorted;
  sorted[top] = {top, 'd', ""};
  for (const auto& e : fs::recursive_directory_iterator(root + "/" + top)) {
    std::string rel = top + "/" + fs::relative(e.path(), root + "/" + top).generic_string();
    sorted[rel] = e.is_directory() ? Entry{rel, 'd', ""} : Entry{rel, 'f', test::read_text(e.path().string())};
  }
  std::vector<Entry> out;
  for (auto& [p, e] : sorted) out.push_back(std::move(e));
  return out;
}

/// SHA256SUMS for every file under `dir` but itself, as bundle writes it.
std::string sums_of(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.is_regular_file())
      files[fs::relative(e.path(), dir).generic_string()] = util::sha256_file_hex(e.path().string());
  std::string out;
  for (const auto& [p, sha] : files)
    if (p != "SHA256SUMS") out += sha + "  " + p + "\n";
  return out;
}

std::string ghx_bin() { return GHX_BINARY; }

/// The small review, run once for every test of this file (its cache is reused read-only).
struct RunReview {
  test::TempDir dir;
  std::string exp;
  RunReview() {
    exp = test::write_small_review(dir.path());
    auto r = test::run_command("cd " + dir.path() + " && " + ghx_bin() + " run experiment.toml --json 2>&1");
    if (r.code != 0) FAIL("ghx run: " << r.out);
  }
};

RunReview& review() {
  static RunReview r;
  return r;
}

/// `ghx verify FILE` with TMPDIR set to `tmp` (created); its exit code and output.
test::CommandResult verify(const std::string& file, const std::string& tmp, const std::string& flags = "") {
  fs::create_directories(tmp);
  return test::run_command("TMPDIR=" + tmp + " " + ghx_bin() + " verify " + file + " " + flags + " 2>&1");
}

/// A fresh bundle of the small review, extracted under `into`; returns the top folder's path.
std::string fresh_extracted(const test::TempDir& t, const std::string& into) {
  auto& rv = review();
  std::string tar = t / "fresh.tar";
  auto r =
      test::run_command("cd " + rv.dir.path() + " && " + ghx_bin() + " bundle experiment.toml -o " + tar + " 2>&1");
  REQUIRE(r.code == 0);
  fs::create_directories(into);
  REQUIRE(test::run_command("tar -xf " + tar + " -C " + into).code == 0);
  return into + "/small-v1";
}

}  // namespace

TEST_CASE("compression follows the bundle's file name", "[bundle]") {
  CHECK(report::compression_from_name("a.tar") == report::Compression::none);
  CHECK(report::compression_from_name("x/a.tar.gz") == report::Compression::gzip);
  CHECK(report::compression_from_name("a.tgz") == report::Compression::gzip);
  CHECK(report::compression_from_name("a.tar.zst") == report::Compression::zstd);
  CHECK_FALSE(report::compression_from_name("a.zip"));
  CHECK_FALSE(report::compression_from_name(".tar.gz.bak"));
  CHECK(report::parse_compression("zstd") == report::Compression::zstd);
  CHECK_FALSE(report::parse_compression("xz"));
}

TEST_CASE("the same review bundled twice is the same bytes, and verifies", "[bundle]") {
  auto& rv = review();
  test::TempDir t;
  for (const char* ext : {".tar", ".tar.gz", ".tar.zst"}) {
    DYNAMIC_SECTION("compression " << ext) {
      std::string a = t / (std::string("a") + ext), b = t / (std::string("b") + ext), c = t / (std::string("c") + ext);
      auto r =
          test::run_command("cd " + rv.dir.path() + " && " + ghx_bin() + " bundle experiment.toml -o " + a + " 2>&1");
      REQUIRE(r.code == 0);
      CHECK(r.out.find("small-v1/") != std::string::npos);
      // Another working folder, the experiment named by an absolute path.
      r = test::run_command("cd / && " + ghx_bin() + " bundle " + rv.exp + " --cache " + rv.dir.path() + "/cache -o " +
                            b + " 2>&1");
      REQUIRE(r.code == 0);
      // The report folder is not read: removing it changes nothing.
      fs::remove_all(rv.dir / "reports");
      r = test::run_command("cd " + rv.dir.path() + " && " + ghx_bin() + " bundle experiment.toml -o " + c + " 2>&1");
      REQUIRE(r.code == 0);
      std::string bytes = test::read_text(a);
      CHECK(bytes.size() > 1000);
      CHECK(bytes == test::read_text(b));
      CHECK(bytes == test::read_text(c));

      auto v = verify(a, t / "tmp");
      INFO(v.out);
      CHECK(v.code == 0);
      CHECK(v.out.find("ok") != std::string::npos);
      CHECK(fs::is_empty(t / "tmp"));  // the temporary folder is gone
    }
  }
}

TEST_CASE("bundle refuses what it cannot do", "[bundle]") {
  auto& rv = review();
  test::TempDir t;
  std::string base = "cd " + rv.dir.path() + " && " + ghx_bin() + " bundle experiment.toml ";
  SECTION("an existing output without --force") {
    test::write_text(t / "x.tar", "keep me");
    CHECK(test::run_command(base + "-o " + t / "x.tar" + " 2>&1").code == 2);
    CHECK(test::read_text(t / "x.tar") == "keep me");
    CHECK(test::run_command(base + "-o " + t / "x.tar" + " --force 2>&1").code == 0);
    CHECK(test::read_text(t / "x.tar") != "keep me");
  }
  SECTION("a name without a known compression, unless --compress says") {
    CHECK(test::run_command(base + "-o " + t / "x.bin" + " 2>&1").code == 2);
    CHECK(test::run_command(base + "-o " + t / "x.bin --compress gzip 2>&1").code == 0);
    CHECK(verify(t / "x.bin", t / "tmp").code == 0);
  }
  SECTION("a server review whose checkpoint identities are unknown here") {
    test::write_small_review(t.path());
    std::string exp = test::read_text(t / "experiment.toml");
    exp.replace(exp.find("backend = \"synthetic\""), 21, "backend = \"a1111\"\nendpoints = [\"http://127.0.0.1:9\"]");
    test::write_text(t / "experiment.toml", exp);
    auto r = test::run_command("cd " + t.path() + " && " + ghx_bin() + " bundle experiment.toml -o x.tar 2>&1");
    CHECK(r.code == 2);
    CHECK(r.out.find("reports/small-v1/review.json, which is missing") != std::string::npos);
  }
  SECTION("a review that was not run") {
    test::write_small_review(t.path());
    auto r = test::run_command("cd " + t.path() + " && " + ghx_bin() + " bundle experiment.toml -o x.tar 2>&1");
    CHECK(r.code == 2);
    r = test::run_command("cd " + t.path() + " && mkdir -p cache && " + ghx_bin() +
                          " plan experiment.toml >/dev/null 2>&1 && " + ghx_bin() +
                          " bundle experiment.toml -o x.tar 2>&1");
    CHECK(r.code == 2);
    CHECK(r.out.find("run `ghx run experiment.toml` first (") != std::string::npos);
    CHECK(r.out.find("steps not cached)") != std::string::npos);
    CHECK_FALSE(fs::exists(t / "x.tar"));
  }
}

TEST_CASE("a bundle whose weights lie above its declarations verifies", "[bundle]") {
  // The VGG weights two folders above the experiment: verify's placeholders must still land
  // inside its own folder (the declarations are copied that many folders deep).
  test::TempDir t;
  std::string dir = t / "reviews/small";
  std::string exp = test::write_small_review(dir);
  fs::rename(dir + "/models", t / "weights");
  std::string text = test::read_text(exp);
  text.replace(text.find("models/vgg19.safetensors"), 24, "../../weights/vgg19.safetensors");
  test::write_text(exp, text);
  auto r = test::run_command("cd " + dir + " && " + ghx_bin() + " run experiment.toml 2>&1 && " + ghx_bin() +
                             " bundle experiment.toml -o " + t / "w.tar 2>&1");
  INFO(r.out);
  REQUIRE(r.code == 0);
  auto v = verify(t / "w.tar", t / "tmp");
  INFO(v.out);
  CHECK(v.code == 0);
  CHECK(v.out.find("re-derived from the declarations") != std::string::npos);
  CHECK(fs::is_empty(t / "tmp"));
}

TEST_CASE("bundle --with-images carries every generated image", "[bundle]") {
  auto& rv = review();
  test::TempDir t;
  auto r = test::run_command("cd " + rv.dir.path() + " && " + ghx_bin() + " bundle experiment.toml --with-images -o " +
                             t / "i.tar.gz" + " 2>&1");
  REQUIRE(r.code == 0);
  CHECK(r.out.find("(12 images)") != std::string::npos);  // 3 style prompts x 2 checkpoints x 2 seeds
  REQUIRE(test::run_command("tar -xzf " + t / "i.tar.gz" + " -C " + t.path()).code == 0);
  std::string png = test::read_text(t / "small-v1/images/style/anime_0/alpha_7.png");
  CHECK(png.substr(1, 3) == "PNG");
  CHECK(verify(t / "i.tar.gz", t / "tmp").code == 0);
}

TEST_CASE("verify names each tampered file of a bundle", "[bundle]") {
  test::TempDir t;
  std::string top = fresh_extracted(t, t / "x");
  std::string tar = t / "tampered.tar";
  // The extracted bundle tarred again (with SHA256SUMS made to match when `resum`) and verified.
  auto retar = [&](bool resum, const std::string& flags = "") {
    if (resum) test::write_text(top + "/SHA256SUMS", sums_of(top));
    write_tar(tar, entries_of(t / "x", "small-v1"));
    return verify(tar, t / "tmp", flags);
  };

  SECTION("a flipped byte") {
    std::string md = test::read_text(top + "/report/report.md");
    md[md.size() / 2] ^= 0x01;
    test::write_text(top + "/report/report.md", md);
    auto v = retar(false);
    INFO(v.out);
    CHECK(v.code == 3);
    CHECK(v.out.find("[sums] report/report.md: checksum mismatch") != std::string::npos);
    CHECK(v.out.find("[report] report/report.md: differs") != std::string::npos);
  }
  SECTION("an edited result, SHA256SUMS regenerated") {
    json results = json::parse(test::read_text(top + "/results/results.json"));
    REQUIRE(results["checkpoints"].size() == 2);
    std::swap(results["checkpoints"][0]["rank"], results["checkpoints"][1]["rank"]);
    test::write_text(top + "/results/results.json", results.dump());
    auto v = retar(true, "--json");
    INFO(v.out);
    CHECK(v.code == 3);
    json j = json::parse(v.out);
    CHECK(j["ok"] == false);
    std::set<std::string> named;
    for (const auto& m : j["mismatches"])
      named.insert(m["check"].get<std::string>() + " " + m["entry"].get<std::string>());
    CHECK(named.count("results results/results.json"));
    CHECK(named.count("report report/report.md"));
    CHECK(named.count("report report/results.json"));
    for (const auto& m : j["mismatches"]) CHECK(m["check"] != "sums");  // the sums were made to match
  }
  SECTION("a missing file") {
    std::string agg;
    for (const auto& e : fs::directory_iterator(top + "/results/aggregates")) agg = e.path().filename().string();
    REQUIRE(!agg.empty());
    fs::remove(top + "/results/aggregates/" + agg);
    auto v = retar(false);
    INFO(v.out);
    CHECK(v.code == 3);
    CHECK(v.out.find("[sums] results/aggregates/" + agg + ": listed in SHA256SUMS but missing") != std::string::npos);
    CHECK(v.out.find("[results] results/aggregates/" + agg + ": missing") != std::string::npos);
  }
  SECTION("a declaration edited: its step keys are re-derived") {
    std::string exp = test::read_text(top + "/declarations/experiment.toml");
    exp.replace(exp.find("seed = 7"), 8, "seed = 8");
    test::write_text(top + "/declarations/experiment.toml", exp);
    auto v = retar(true);
    INFO(v.out);
    CHECK(v.code == 3);
    CHECK(v.out.find("[keys] plan.jsonl: the plan re-derived from declarations/ has") != std::string::npos);
    CHECK(v.out.find("only in plan.jsonl: ") != std::string::npos);
  }
  SECTION("a step's parameter edited in plan.jsonl") {
    std::string plan = test::read_text(top + "/plan.jsonl");
    size_t at = plan.find("[\"seed\",\"7\"]");
    REQUIRE(at != std::string::npos);
    plan.replace(at, 12, "[\"seed\",\"9\"]");
    test::write_text(top + "/plan.jsonl", plan);
    auto v = retar(true);
    INFO(v.out);
    CHECK(v.code == 3);
    CHECK(v.out.find("does not match its parameters and inputs") != std::string::npos);
  }
  SECTION("manifest.json and review.json hold JSON that is no object") {
    // Used to end verify with "internal error: [json.exception.type_error.306] ..." (exit 2).
    for (const char* f : {"manifest.json", "review.json"}) {
      test::write_text(top + "/" + f, "1e308\n");
      auto v = retar(true);
      INFO(f << ": " << v.out);
      CHECK(v.code == 3);
      CHECK(v.out.find(std::string(f) + ": unreadable: not a JSON object") != std::string::npos);
      CHECK(v.out.find("internal error") == std::string::npos);
    }
  }
  SECTION("the report step's bootstrap count edited in plan.jsonl") {
    // The recomputed statistics size their replicate arrays from this count: 2^62 replicates
    // (x 3 checkpoints wraps to a few bytes) used to write past them.
    std::string plan = test::read_text(top + "/plan.jsonl");
    const std::string from = "[\"statistics.bootstrap\",\"";
    size_t at = plan.find(from);
    REQUIRE(at != std::string::npos);
    size_t end = plan.find('"', at + from.size());
    plan.replace(at + from.size(), end - at - from.size(), "6148914691236517206");
    test::write_text(top + "/plan.jsonl", plan);
    auto v = retar(true);
    INFO(v.out);
    CHECK(v.code == 3);
    CHECK(v.out.find("cannot recompute the statistics: statistics: bootstrap = 6148914691236517206 is out of range") !=
          std::string::npos);
  }
}

TEST_CASE("verify rejects bundle entries that would leave its folder", "[bundle]") {
  test::TempDir t;
  std::string top = fresh_extracted(t, t / "x");
  std::vector<Entry> entries = entries_of(t / "x", "small-v1");
  std::string tar = t / "evil.tar";
  std::string tmp = t / "tmp";  // verify's TMPDIR: its folder lands in here
  fs::create_directories(t / "outside");

  SECTION("a '..' entry") {
    // From verify's extraction folder (tmp/ghx_verify_*/bundle) three levels up is t itself.
    entries.push_back({"../../../evil_dotdot", 'f', "gotcha"});
    entries.push_back({"small-v1/../../evil_dotdot2", 'f', "gotcha"});
    write_tar(tar, entries);
    auto v = verify(tar, tmp);
    INFO(v.out);
    CHECK(v.code == 3);
    CHECK(v.out.find("../../../evil_dotdot: rejected: its path has a '..' component") != std::string::npos);
    CHECK(v.out.find("small-v1/../../evil_dotdot2: rejected") != std::string::npos);
    CHECK_FALSE(fs::exists(t / "evil_dotdot"));
    CHECK_FALSE(fs::exists(t / "evil_dotdot2"));
  }
  SECTION("an absolute entry") {
    std::string target = t / "outside/evil_abs";
    entries.push_back({target, 'f', "gotcha"});
    write_tar(tar, entries);
    auto v = verify(tar, tmp);
    INFO(v.out);
    CHECK(v.code == 3);
    CHECK(v.out.find(target + ": rejected: its path is absolute") != std::string::npos);
    CHECK_FALSE(fs::exists(target));
  }
  SECTION("a symlink, then a file written through it") {
    entries.push_back({"small-v1/evil_link", 'l', t / "outside"});
    entries.push_back({"small-v1/evil_link/pwned", 'f', "gotcha"});
    write_tar(tar, entries);
    auto v = verify(tar, tmp);
    INFO(v.out);
    CHECK(v.code == 3);
    CHECK(v.out.find("small-v1/evil_link: rejected: it is a symbolic link (to " + t / "outside" + ")") !=
          std::string::npos);
    CHECK(v.out.find("evil_link/pwned: not listed in SHA256SUMS") != std::string::npos);  // inside verify's folder
    CHECK(fs::is_empty(t / "outside"));
  }
  SECTION("a hard link, a device, a duplicate, an entry beside the top folder") {
    entries.push_back({"small-v1/evil_hard", 'h', "/etc/passwd"});
    entries.push_back({"small-v1/evil_dev", 'c', ""});
    entries.push_back({"small-v1/review.json", 'f', "{}"});
    entries.push_back({"other/file", 'f', "x"});
    write_tar(tar, entries);
    auto v = verify(tar, tmp);
    INFO(v.out);
    CHECK(v.code == 3);
    CHECK(v.out.find("small-v1/evil_hard: rejected: it is a hard link (to /etc/passwd)") != std::string::npos);
    CHECK(v.out.find("small-v1/evil_dev: rejected: it is a device") != std::string::npos);
    CHECK(v.out.find("small-v1/review.json: rejected: appears twice") != std::string::npos);
    CHECK(v.out.find("other/file: rejected: it lies outside the top folder 'small-v1/'") != std::string::npos);
  }
  // Whatever was rejected, verify removed its temporary folder.
  CHECK(fs::is_empty(tmp));
}

TEST_CASE("verify of a bundle that is no tar exits 2", "[bundle]") {
  test::TempDir t;
  test::write_text(t / "garbage.tar", std::string(3000, 'g') + "not a tar at all");
  auto v = verify(t / "garbage.tar", t / "tmp");
  CHECK(v.code == 2);
  CHECK(v.out.find("not a tar archive") != std::string::npos);
  CHECK(verify(t / "missing.tar", t / "tmp").code == 2);
  CHECK(fs::is_empty(t / "tmp"));
}
