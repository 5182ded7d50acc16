#pragma once
// Contact sheets' files: for every image a report's gallery names (by generate step key), the
// full image as images/<key>.png and a thumbnail as thumbs/<key>.png in the report folder (and
// in bundles, report/thumbs/ always, report/images/ with --with-images).
// Same images => same bytes (OpenCV, fixed PNG settings; thumbnails by area averaging).
// Fails: gallery_image throws ghx::Error on undecodable bytes; write_gallery returns the number
// of images it could not write (absent from the cache, undecodable): the page then shows a
// broken link for them, never a crash.
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace ghx::report {

constexpr int k_thumbnail_side = 160;  ///< longest side of a thumbnail, in pixels

/// The generate step keys (hex) the results' contact sheets show, sorted, each once. Keys that
/// are not 32 hex digits are left out (they could not name a file safely).
std::vector<std::string> gallery_keys(const nlohmann::json& results);

struct GalleryImage {
  std::string full_png;   ///< the image as PNG (PNG input is kept byte for byte)
  std::string thumb_png;  ///< at most k_thumbnail_side pixels on its longest side
};
GalleryImage gallery_image(const std::string& bytes, const std::string& what);

using ImageSource = std::function<std::optional<std::string>(const std::string& key_hex)>;

/// Writes the gallery's images into `out_dir`; returns how many failed. Keys whose two files
/// exist in `previous` (the folder this one replaces) are linked from there (copied where links
/// fail): a generate key names one image, so a re-run decodes and encodes nothing.
size_t write_gallery(const nlohmann::json& results, const std::string& out_dir, const ImageSource& source,
                     const std::string& previous = "");

}  // namespace ghx::report
