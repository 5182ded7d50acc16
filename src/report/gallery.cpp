#include "report/gallery.h"

#include <algorithm>
#include <filesystem>
#include <set>

#include <opencv2/imgproc.hpp>

#include "util/fs.h"
#include "util/png.h"

namespace ghx::report {

std::vector<std::string> gallery_keys(const nlohmann::json& results) {
  std::set<std::string> keys;
  for (const auto& sec : results.value("gallery", nlohmann::json::array()))
    for (const auto& row : sec.value("rows", nlohmann::json::array()))
      for (const auto& k : row.value("images", nlohmann::json::array())) {
        if (!k.is_string()) continue;
        std::string key = k.get<std::string>();
        if (key.size() == 32 && key.find_first_not_of("0123456789abcdef") == std::string::npos) keys.insert(key);
      }
  return {keys.begin(), keys.end()};
}

GalleryImage gallery_image(const std::string& bytes, const std::string& what) {
  cv::Mat img = util::decode_image(bytes, what);
  static const std::string k_png_magic = "\x89PNG\r\n\x1a\n";
  GalleryImage g;
  g.full_png = bytes.compare(0, 8, k_png_magic) == 0 ? bytes : util::encode_png(img);
  double f = static_cast<double>(k_thumbnail_side) / std::max(img.cols, img.rows);
  cv::Mat thumb = img;
  if (f < 1)
    cv::resize(img, thumb,
               cv::Size(std::max(1, static_cast<int>(img.cols * f + 0.5)), std::max(1, static_cast<int>(img.rows * f + 0.5))),
               0, 0, cv::INTER_AREA);
  g.thumb_png = util::encode_png(thumb);
  return g;
}

namespace fs = std::filesystem;

namespace {

/// Links (or copies) `from` to `to`; false if neither works.
bool link_or_copy(const std::string& from, const std::string& to) {
  std::error_code ec;
  fs::create_directories(fs::path(to).parent_path(), ec);
  fs::create_hard_link(from, to, ec);
  if (!ec) return true;
  ec.clear();
  return fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec) && !ec;
}

}  // namespace

size_t write_gallery(const nlohmann::json& results, const std::string& out_dir, const ImageSource& source,
                     const std::string& previous) {
  size_t failed = 0;
  for (const std::string& key : gallery_keys(results)) {
    const std::string img = "/images/" + key + ".png", thumb = "/thumbs/" + key + ".png";
    if (util::file_exists(out_dir + img) && util::file_exists(out_dir + thumb)) continue;
    // A generate key names one image: files written for it before are that image (they are
    // written atomically), so a re-run decodes and encodes nothing.
    if (!previous.empty() && util::file_exists(previous + img) && util::file_exists(previous + thumb) &&
        link_or_copy(previous + img, out_dir + img) && link_or_copy(previous + thumb, out_dir + thumb))
      continue;
    try {
      std::optional<std::string> bytes = source(key);
      if (!bytes) {
        ++failed;
        continue;
      }
      GalleryImage g = gallery_image(*bytes, "image " + key);
      util::write_file_atomic(out_dir + "/images/" + key + ".png", g.full_png);
      util::write_file_atomic(out_dir + "/thumbs/" + key + ".png", g.thumb_png);
    } catch (const std::exception&) {
      ++failed;
    }
  }
  return failed;
}

}  // namespace ghx::report
