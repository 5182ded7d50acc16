#include "report/gallery.h"

#include <algorithm>
#include <set>

#include <opencv2/imgproc.hpp>

#include "util/fs.h"
#include "util/png.h"

namespace ghx::report {

size_t write_gallery(const nlohmann::json& results, const std::string& out_dir, const ImageSource& source) {
  std::set<std::string> keys;
  for (const auto& sec : results.value("gallery", nlohmann::json::array()))
    for (const auto& row : sec["rows"])
      for (const auto& k : row["images"]) keys.insert(k.get<std::string>());
  size_t failed = 0;
  for (const std::string& key : keys) {
    // Step keys are hex digits only: they cannot name a path outside the report folder.
    if (key.find_first_not_of("0123456789abcdef") != std::string::npos) {
      ++failed;
      continue;
    }
    try {
      std::optional<std::string> bytes = source(key);
      if (!bytes) {
        ++failed;
        continue;
      }
      cv::Mat img = util::decode_image(*bytes, "image " + key);
      static const std::string k_png_magic = "\x89PNG\r\n\x1a\n";
      util::write_file_atomic(out_dir + "/images/" + key + ".png",
                              bytes->compare(0, 8, k_png_magic) == 0 ? *bytes : util::encode_png(img));
      double f = static_cast<double>(k_thumbnail_side) / std::max(img.cols, img.rows);
      cv::Mat thumb = img;
      if (f < 1)
        cv::resize(img, thumb, cv::Size(std::max(1, static_cast<int>(img.cols * f + 0.5)), std::max(1, static_cast<int>(img.rows * f + 0.5))),
                   0, 0, cv::INTER_AREA);
      util::write_file_atomic(out_dir + "/thumbs/" + key + ".png", util::encode_png(thumb));
    } catch (const std::exception&) {
      ++failed;
    }
  }
  return failed;
}

}  // namespace ghx::report
