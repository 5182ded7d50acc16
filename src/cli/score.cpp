// `ghx score style|aesthetic|clip`: scores image files given on the command line, for users
// who already have images. A file that is not an image is an error for that file only (exit 1
// at the end); a bad model file is exit 2.
#include "cli/score.h"

#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "exec/scoring.h"
#include "models/clip_preprocess.h"
#include "models/heads.h"
#include "models/style.h"
#include "models/tokenizer.h"
#include "util/error.h"
#include "util/png.h"
#include "util/strings.h"

namespace ghx::cli {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;

/// Expands folders into their image files (sorted); files are kept as given.
std::vector<std::string> expand(const std::vector<std::string>& paths) {
  std::vector<std::string> out;
  for (const auto& p : paths) {
    std::error_code ec;
    if (!fs::is_directory(p, ec)) {
      out.push_back(p);
      continue;
    }
    std::vector<std::string> inside;
    for (const auto& e : fs::directory_iterator(p, ec)) {
      std::string ext = e.path().extension().string();
      for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (ext == ".png" || ext == ".jpg" || ext == ".jpeg" || ext == ".webp") inside.push_back(e.path().string());
    }
    std::sort(inside.begin(), inside.end());
    if (inside.empty()) throw Error(p + ": folder holds no png/jpg/webp image");
    out.insert(out.end(), inside.begin(), inside.end());
  }
  return out;
}

std::pair<int, int> parse_size(const std::string& s) {
  auto x = s.find('x');
  try {
    if (x != std::string::npos) {
      int w = std::stoi(s.substr(0, x)), h = std::stoi(s.substr(x + 1));
      if (w >= 16 && h >= 16 && w <= 4096 && h <= 4096) return {w, h};
    }
  } catch (const std::exception&) {
  }
  throw Error("--size must be WIDTHxHEIGHT between 16 and 4096, not '" + s + "'");
}

/// Decodes every image; a failure is reported and leaves a null entry.
std::vector<cv::Mat> read_images(const std::vector<std::string>& paths, int* failures) {
  std::vector<cv::Mat> out;
  for (const auto& p : paths) {
    try {
      out.push_back(util::read_image(p));
    } catch (const std::exception& e) {
      std::cerr << "ghx: error: " << e.what() << "\n";
      out.emplace_back();
      ++*failures;
    }
  }
  return out;
}

int finish(const json& scores, const std::string& metric, bool as_json, int failures) {
  if (as_json) {
    std::cout << json({{"scores", scores}}).dump(2) << "\n";
  } else {
    for (const auto& s : scores) {
      std::cout << s["image"].get<std::string>() << "\t" << metric << " " << util::shortest_double(s[metric].get<double>())
                << "\n";
      if (s.contains("per_target"))
        for (const auto& t : s["per_target"])
          std::cout << "  " << t["target"].get<std::string>() << "\t" << util::shortest_double(t[metric].get<double>())
                    << "\n";
    }
  }
  return failures ? 1 : 0;
}

}  // namespace

int score_style(const ScoreArgs& a) {
  auto [w, h] = parse_size(a.size);
  if (a.variant != "ghostreview" && a.variant != "normalized")
    throw Error("--variant must be 'ghostreview' or 'normalized', not '" + a.variant + "'");
  models::StyleVariant v = a.variant == "normalized" ? models::StyleVariant::normalized : models::StyleVariant::ghostreview;
  const models::StyleLayers& layers = models::style_layers(a.layers);
  std::vector<std::string> targets = expand(a.targets);
  std::unique_ptr<models::Vgg19Style> vgg = models::Vgg19Style::load(a.vgg19);
  int target_failures = 0;
  std::vector<cv::Mat> timgs = read_images(targets, &target_failures);
  if (target_failures) throw Error("a --target is not a readable image");
  std::vector<cv::Mat> prepared;
  for (const auto& m : timgs) prepared.push_back(exec::prepare_for_vgg(m, w, h));
  std::vector<models::GramSet> tgrams = vgg->grams(prepared, layers);

  int failures = 0;
  std::vector<std::string> images = expand(a.images);
  std::vector<cv::Mat> imgs = read_images(images, &failures);
  std::vector<size_t> ok;
  std::vector<cv::Mat> batch;
  for (size_t i = 0; i < images.size(); ++i) {
    if (imgs[i].empty()) continue;
    ok.push_back(i);
    batch.push_back(exec::prepare_for_vgg(imgs[i], w, h));
  }
  std::vector<models::GramSet> grams = batch.empty() ? std::vector<models::GramSet>{} : vgg->grams(batch, layers);
  json scores = json::array();
  for (size_t k = 0; k < ok.size(); ++k) {
    json per = json::array();
    double sum = 0;
    for (size_t t = 0; t < targets.size(); ++t) {
      double l = models::style_loss(grams[k], tgrams[t], v);
      sum += l;
      per.push_back({{"target", targets[t]}, {"style_loss", l}});
    }
    json s = {{"image", images[ok[k]]}, {"style_loss", sum / static_cast<double>(targets.size())}};
    if (targets.size() > 1) s["per_target"] = per;
    scores.push_back(s);
  }
  return finish(scores, "style_loss", a.json, failures);
}

int score_clip_family(const ScoreArgs& a, bool aesthetic) {
  std::unique_ptr<models::ClipModel> clip = exec::load_clip(a.clip, a.arch, a.layout, a.activation);
  const models::ClipConfig& cfg = clip->config();
  std::unique_ptr<models::ScoreHead> head;
  std::vector<float> text;
  if (aesthetic) {
    head = models::ScoreHead::load(a.head);
  } else {
    if (a.clip_variant != "raw" && a.clip_variant != "hessel" && a.clip_variant != "x100")
      throw Error("--variant must be 'raw', 'hessel' or 'x100', not '" + a.clip_variant + "'");
    auto tok = models::ClipTokenizer::load(a.tokenizer);
    models::TokenizedText t = tok->encode(a.prompt, cfg.context);
    text = clip->encode_texts({t.ids}, {t.eot_index}).at(0);
  }
  int failures = 0;
  std::vector<std::string> images = expand(a.images);
  std::vector<cv::Mat> imgs = read_images(images, &failures);
  const std::string metric = aesthetic ? "aesthetic" : "clip_score";
  std::vector<size_t> ok;
  std::vector<std::vector<float>> pixels;
  for (size_t i = 0; i < images.size(); ++i) {
    if (imgs[i].empty()) continue;
    ok.push_back(i);
    pixels.push_back(models::clip_preprocess(imgs[i], cfg.image_size, cfg.mean, cfg.std));
  }
  std::vector<models::ImageEmbedding> emb = pixels.empty() ? std::vector<models::ImageEmbedding>{} : clip->encode_images(pixels);
  json scores = json::array();
  for (size_t k = 0; k < ok.size(); ++k) {
    const models::ImageEmbedding& e = emb[k];
    double v;
    if (aesthetic) v = head->score({head->input() == models::HeadInput::projected ? e.projected : e.pooled}).at(0);
    else v = exec::clip_score_value(exec::cosine(e.projected, text), a.clip_variant);
    scores.push_back({{"image", images[ok[k]]}, {metric, v}});
  }
  return finish(scores, metric, a.json, failures);
}

}  // namespace ghx::cli
