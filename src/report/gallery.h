#pragma once
// Contact sheets' files: for every image a report's gallery names (by generate step key), the
// full image as images/<key>.png and a thumbnail as thumbs/<key>.png in the report folder.
// Same images => same bytes (OpenCV, fixed PNG settings; thumbnails by area averaging).
// Fails: returns the number of images it could not write (absent from the cache, undecodable);
// the page then shows a broken link for them, never a crash.
#include <functional>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace ghx::report {

constexpr int k_thumbnail_side = 160;  ///< longest side of a thumbnail, in pixels

using ImageSource = std::function<std::optional<std::string>(const std::string& key_hex)>;

/// Writes the gallery's images into `out_dir`; returns how many failed.
size_t write_gallery(const nlohmann::json& results, const std::string& out_dir, const ImageSource& source);

}  // namespace ghx::report
