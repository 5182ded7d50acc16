// The report as a reader sees it: headless Chromium (Debian's `chromium`, installed by
// scripts/setup.sh --test) renders report.html of a real run, in the light and the dark colour
// scheme; the screenshots must show a page (not blank), with the charts and contact sheets'
// images loaded from the report folder. And every table fits a laptop's 1000 px window, on the
// demo review grown to nine checkpoints, some with very long names.
#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "support.h"
#include "util/fs.h"

using namespace ghx;
namespace fs = std::filesystem;

namespace {

std::string chromium() {
  if (const char* c = std::getenv("GHX_CHROMIUM")) return c;
  return "/usr/bin/chromium";
}

/// Screenshot of `page` at 1280 x `height`; returns the image (empty on failure).
cv::Mat screenshot(const std::string& page, const std::string& png, int height, bool dark) {
  std::string cmd = chromium() + " --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run" +
                    (dark ? " --force-dark-mode" : "") + " --window-size=1280," + std::to_string(height) +
                    " --screenshot=" + png + " file://" + page + " >/dev/null 2>&1";
  test::run_command(cmd);
  return cv::imread(png, cv::IMREAD_COLOR);
}

/// Share of pixels that differ clearly from the page background (the top-left pixel).
double ink(const cv::Mat& img) {
  cv::Vec3b bg = img.at<cv::Vec3b>(0, 0);
  size_t n = 0;
  for (int y = 0; y < img.rows; ++y)
    for (int x = 0; x < img.cols; ++x) {
      cv::Vec3b p = img.at<cv::Vec3b>(y, x);
      if (std::abs(p[0] - bg[0]) + std::abs(p[1] - bg[1]) + std::abs(p[2] - bg[2]) > 60) ++n;
    }
  return static_cast<double>(n) / (static_cast<double>(img.rows) * img.cols);
}

}  // namespace

TEST_CASE("report.html in headless Chromium: not blank, light and dark, images load", "[report][chromium]") {
  INFO("needs " << chromium() << ": run scripts/setup.sh --test (or set GHX_CHROMIUM)");
  REQUIRE(util::file_exists(chromium()));
  test::TempDir t;
  std::string exp = test::write_small_review(t.path());
  auto run = test::run_command("cd " + t.path() + " && " + GHX_BINARY + " run " + exp + " --cache cache --out rep 2>&1");
  INFO(run.out);
  REQUIRE(run.code == 0);
  std::string page = fs::absolute(t / "rep/report.html").string();

  // Every thumbnail and full image the page links to is in the report folder.
  std::string html = test::slurp(page);
  size_t imgs = 0;
  for (size_t p = html.find("src=\"thumbs/"); p != std::string::npos; p = html.find("src=\"thumbs/", p + 1), ++imgs) {
    std::string rel = html.substr(p + 5, html.find('"', p + 5) - p - 5);
    CHECK(util::file_exists(t / ("rep/" + rel)));
  }
  CHECK(imgs == 6);  // 3 style prompts x 2 checkpoints
  CHECK(html.find("<svg") != std::string::npos);

  cv::Mat light = screenshot(page, t / "light.png", 2400, false);
  REQUIRE_FALSE(light.empty());
  CHECK(light.cols == 1280);
  CHECK(light.at<cv::Vec3b>(0, 0)[1] > 200);  // light background
  double light_ink = ink(light);
  CHECK(light_ink > 0.02);  // text, tables, bars and thumbnails: far from blank
  CHECK(light_ink < 0.6);

  cv::Mat dark = screenshot(page, t / "dark.png", 2400, true);
  REQUIRE_FALSE(dark.empty());
  CHECK(dark.at<cv::Vec3b>(0, 0)[1] < 60);  // dark background, text still there
  CHECK(ink(dark) > 0.02);

  // The contact sheet's thumbnails are drawn: the synthetic images are colourful, while the page
  // is grey apart from the blue chart bars (hue ~108 of 180); count strongly coloured pixels of
  // other hues.
  cv::Mat hsv;
  cv::cvtColor(light, hsv, cv::COLOR_BGR2HSV);
  size_t colourful = 0;
  for (int y = 0; y < hsv.rows; ++y)
    for (int x = 0; x < hsv.cols; ++x) {
      cv::Vec3b p = hsv.at<cv::Vec3b>(y, x);
      colourful += p[1] > 120 && p[2] > 60 && std::abs(static_cast<int>(p[0]) - 108) > 15;
    }
  CHECK(colourful > 6 * 32 * 32 / 4);  // a good part of six 32 x 32 thumbnails
}

namespace {

// Appended to a copy of report.html: after layout, every table's box, whether its scroll box
// (div.scroll) would scroll, and the widest cell content that overflows its cell.
const char* k_measure = R"(<script>
window.addEventListener('load', () => {
  const vw = document.documentElement.clientWidth;
  const tables = [...document.querySelectorAll('table')].map(t => {
    const r = t.getBoundingClientRect(), box = t.closest('div.scroll');
    let overflow = 0;
    for (const c of t.querySelectorAll('td, th')) overflow = Math.max(overflow, c.scrollWidth - c.clientWidth);
    return {head: t.querySelector('tr').textContent.slice(0, 80), width: r.width, right: r.right,
            scrolls: box ? box.scrollWidth > box.clientWidth : false, overflow: overflow};
  });
  const pre = document.createElement('pre');
  pre.id = 'ghx-measure';
  pre.textContent = JSON.stringify({viewport: vw, page: document.documentElement.scrollWidth, tables: tables});
  document.body.appendChild(pre);
});
</script>)";

nlohmann::json measure(const std::string& page, int width) {
  std::string html = test::slurp(page);
  const size_t end = html.rfind("</body>");
  REQUIRE(end != std::string::npos);
  const std::string probe = page + ".measure.html";
  test::spit(probe, html.substr(0, end) + k_measure + html.substr(end));
  auto dump = test::run_command(chromium() + " --headless --no-sandbox --disable-gpu --no-first-run --window-size=" +
                                std::to_string(width) + ",900 --virtual-time-budget=3000 --dump-dom file://" + probe +
                                " 2>/dev/null");
  const std::string open = "<pre id=\"ghx-measure\">";
  const size_t a = dump.out.find(open), b = dump.out.find("</pre>", a);
  INFO(dump.out.substr(0, 400));
  REQUIRE(a != std::string::npos);
  std::string text = dump.out.substr(a + open.size(), b - a - open.size());
  for (auto [from, to] : {std::pair<const char*, const char*>{"&quot;", "\""}, {"&lt;", "<"}, {"&gt;", ">"}, {"&amp;", "&"}})
    for (size_t p = text.find(from); p != std::string::npos; p = text.find(from, p + 1)) text.replace(p, std::strlen(from), to);
  return nlohmann::json::parse(text);
}

}  // namespace

TEST_CASE("report.html: every table fits a 1000 px window, long names wrap", "[report][chromium]") {
  INFO("needs " << chromium() << ": run scripts/setup.sh --test (or set GHX_CHROMIUM)");
  REQUIRE(util::file_exists(chromium()));
  test::TempDir t;
  fs::copy(std::string(GHX_SOURCE_DIR) + "/experiments", t / "experiments", fs::copy_options::recursive);
  fs::copy(std::string(GHX_SOURCE_DIR) + "/suites", t / "suites", fs::copy_options::recursive);
  REQUIRE(test::run_command("cd " + t.path() + " && " + GHX_BINARY + " models tiny models/tiny").code == 0);
  std::string toml = test::read_text(t / "experiments/demo.toml");
  std::string more;
  for (const char* n : {"realistic_vision_v51_hyper_inpainting_fp16_pruned_emaonly_by_someone_with_a_long_name",
                        "juggernaut_xl_v9_rundiffusion_photo_2_lightning_4s", "epicrealism_natural_sin_rc1_vae",
                        "cyberrealistic_v42", "majicmix_realistic_v7", "absolutereality_v181"})
    more += std::string("[[checkpoint]]\nname = \"") + n + "\"\nbackend_name = \"" + n + ".safetensors\"\n\n";
  const size_t at = toml.find("[models]");
  REQUIRE(at != std::string::npos);
  test::write_text(t / "experiments/wide.toml", toml.substr(0, at) + more + toml.substr(at));
  auto run = test::run_command("cd " + t.path() + " && " + GHX_BINARY + " run experiments/wide.toml --out rep 2>&1");
  INFO(run.out);
  REQUIRE(run.code == 0);
  const std::string page = fs::absolute(t / "rep/report.html").string();
  for (int width : {1000, 1400}) {
    const nlohmann::json m = measure(page, width);
    const double vw = m.at("viewport").get<double>();
    INFO("window " << width << " px, viewport " << vw << " px");
    CHECK(m.at("page").get<double>() <= vw);  // no horizontal scrolling of the page
    REQUIRE(m.at("tables").size() >= 20);     // ranking, metrics, sections, gaps, sheets, provenance
    for (const auto& table : m.at("tables")) {
      INFO("table: " << table.at("head").get<std::string>() << " (" << table.at("width").get<double>() << " px)");
      CHECK(table.at("right").get<double>() <= vw);
      CHECK_FALSE(table.at("scrolls").get<bool>());
      CHECK(table.at("overflow").get<double>() <= 1);
    }
  }
  // Numbers for people: style losses on their own scale, said once, 4 significant digits.
  const std::string html = test::slurp(page);
  CHECK(html.find("style_loss (×10⁶)") != std::string::npos);
  CHECK(html.find("e+0") == std::string::npos);
}
