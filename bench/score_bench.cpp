// ghx_bench_score: the ghx side of the scoring benchmark (bench/score_bench.sh; the PyTorch side
// is bench/score_bench.py, which also writes the weights and inputs this reads).
// Usage: ghx_bench_score DIR METRIC THREADS [RESULTS_FILE]
//   DIR      bench/out (holds inputs/inputs.json and the weights it names)
//   METRIC   style | clip_preprocess | clip_image | clip_text | head
//   THREADS  libtorch intra-op threads (models::set_torch_threads, before loading); OpenBLAS's
//            own pool follows OPENBLAS_NUM_THREADS, which the script sets
//   RESULTS_FILE  optional: the outputs as little-endian float64, for score_bench.py compare
// Prints one JSON line: items, seconds, items/s, load seconds, peak RSS of the process
// (getrusage ru_maxrss, loading included) and of the timed part alone (VmHWM after resetting it
// through /proc/self/clear_refs right before the timed part), and the timed part's user / sys CPU
// seconds and minor page faults (getrusage before and after), and how many cores other processes
// kept busy meanwhile (others_cores: /proc/stat's busy time less ours, over the wall time).
// Timed: only the work, through ghx's public model interfaces, after loading and one warm-up
// call on the first batch; work that takes less than a second (clip_preprocess, head) is repeated
// until a second has passed. Images are decoded (cv::imread) before the clock starts, as the
// PyTorch side decodes them with PIL before its clock starts.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <iterator>
#include <memory>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "models/clip.h"
#include "models/clip_preprocess.h"
#include "models/heads.h"
#include "models/style.h"

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;
constexpr double k_min_timed_s = 1.0;  // work shorter than this is repeated (both sides)
namespace m = ghx::models;

// Floating-point operations per item (a multiply-add is 2), counting the useful work only.
// VGG19 features[:29] (conv1_1 .. conv5_1, 3x3, padding 1; 2x2 pools after convs 2, 4, 8, 12):
// the convolutions and the Gram matrices of the ghostreview layers (conv1_1, 2_1, 3_1, 4_1, 5_1).
double vgg19_flops(int h, int w) {
  const int cout[13] = {64, 64, 128, 128, 256, 256, 256, 256, 512, 512, 512, 512, 512};
  const bool pool_after[13] = {false, true, false, true, false, false, false, true, false, false, false, true, false};
  const bool gram[13] = {true, false, true, false, true, false, false, false, true, false, false, false, true};
  double macs = 0;
  int cin = 3;
  double hw = static_cast<double>(h) * w;
  for (int i = 0; i < 13; ++i) {
    macs += hw * cin * cout[i] * 9;
    if (gram[i]) macs += static_cast<double>(cout[i]) * cout[i] * hw;
    cin = cout[i];
    if (pool_after[i]) hw /= 4;
  }
  return 2 * macs;
}

// A pre-LN transformer tower over n tokens: QKV and output projections, the MLP, attention.
double tower_flops(const m::ClipTowerConfig& t, double n) {
  const double wd = t.width, mlp = t.mlp > 0 ? t.mlp : 4.0 * t.width;
  return 2 * t.layers * (4 * n * wd * wd + 2 * n * wd * mlp + 2 * n * n * wd);
}

double clip_image_flops(const m::ClipConfig& c) {
  const double patches = static_cast<double>(c.image_size / c.patch_size) * (c.image_size / c.patch_size);
  const double embed = 2 * patches * 3.0 * c.patch_size * c.patch_size * c.vision.width;
  return embed + tower_flops(c.vision, patches + 1) + 2.0 * c.vision.width * c.projection_dim;
}

// Per text: its tokens up to and with the end token (the padding ghx adds is not counted).
double clip_text_flops(const m::ClipConfig& c, double tokens) {
  return tower_flops(c.text, tokens) + 2.0 * c.text.width * c.projection_dim;
}

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

long vm_hwm_kb() {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
  return -1;
}

bool reset_hwm() {
  std::ofstream out("/proc/self/clear_refs");
  if (!out) return false;
  out << "5";
  out.flush();
  return static_cast<bool>(out);
}

/// Busy CPU seconds of the whole machine so far (/proc/stat: all but idle and iowait).
double cpu_busy_s() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  long long v[8] = {};
  in >> cpu;
  for (long long& x : v) in >> x;
  const long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
  return static_cast<double>(busy) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double tv_s(const timeval& t) { return static_cast<double>(t.tv_sec) + 1e-6 * static_cast<double>(t.tv_usec); }

long peak_rss_kb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

std::string blas_library() {
  std::ifstream in("/proc/self/maps");
  std::string line;
  while (std::getline(in, line))
    if (line.find("libopenblas") != std::string::npos || line.find("libblas") != std::string::npos)
      return line.substr(line.find('/'));
  return "?";
}

template <typename T>
std::vector<T> read_raw(const std::string& path, std::size_t count) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  std::vector<T> v(count);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(count * sizeof(T)));
  if (!in) throw std::runtime_error(path + ": too short");
  return v;
}

cv::Mat read_bgr(const std::string& path) {
  cv::Mat m = cv::imread(path, cv::IMREAD_COLOR);
  if (m.empty()) throw std::runtime_error(path + ": cannot decode");
  return m;
}

void write_results(const std::string& path, const std::vector<double>& v) {
  if (path.empty()) return;
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(v.data()), static_cast<std::streamsize>(v.size() * sizeof(double)));
  if (!out) throw std::runtime_error(path + ": cannot write");
}

template <typename It>
std::vector<typename std::iterator_traits<It>::value_type> slice(It b, It e) {
  return {b, e};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4 || argc > 5) {
    std::cerr << "usage: ghx_bench_score DIR style|clip_preprocess|clip_image|clip_text|head|gemm THREADS [RESULTS]\n";
    return 2;
  }
  const std::string dir = argv[1], metric = argv[2], results_path = argc == 5 ? argv[4] : "";
  const int threads = std::stoi(argv[3]);
  try {
    json man;
    {
      std::ifstream in(dir + "/inputs/inputs.json");
      if (!in) throw std::runtime_error(dir + "/inputs/inputs.json: missing (run score_bench.py prepare)");
      in >> man;
    }
    auto at = [&](const std::string& rel) { return dir + "/" + rel; };
    const json& w = man["weights"];

    std::size_t items = 0;
    double flops = 0;  // per run of `work`
    std::function<void()> warm, work, collect = [] {};  // collect: outputs -> results, untimed
    std::vector<double> results;
    std::vector<m::ImageEmbedding> image_out;
    std::vector<std::vector<float>> text_out;
    int torch_threads = 0;
    const auto t_load = Clock::now();

    // Loaded models and inputs live here, outside the branches, so that they outlive `work`.
    std::unique_ptr<m::Vgg19Style> vgg;
    std::unique_ptr<m::ClipModel> clip;
    std::unique_ptr<m::ScoreHead> head;
    std::vector<cv::Mat> images, targets;
    std::vector<std::vector<float>> pixels, embeddings;
    std::vector<std::vector<int32_t>> ids;
    std::vector<int32_t> eot;
    m::ClipConfig clip_cfg;

    if (metric == "gemm") {
      // The peak the models' rates are read against: libtorch's own float32 GEMM, same threads.
      torch_threads = m::set_torch_threads(threads);
      const int n = 2048;
      rusage g0{}, g1{};
      getrusage(RUSAGE_SELF, &g0);
      const double c0 = cpu_busy_s();
      const auto s0 = Clock::now();
      const double blas = m::gemm_gflops(n, 2.0, false), onednn = m::gemm_gflops(n, 2.0, true);
      const double gflops = std::max(blas, onednn);
      const double secs = since(s0), c1 = cpu_busy_s();
      getrusage(RUSAGE_SELF, &g1);
      const double own = tv_s(g1.ru_utime) - tv_s(g0.ru_utime) + tv_s(g1.ru_stime) - tv_s(g0.ru_stime);
      std::cout << json({{"side", "ghx"}, {"metric", "gemm"}, {"threads", torch_threads}, {"n", n},
                         {"gflops", gflops}, {"gflops_blas", blas}, {"gflops_onednn", onednn}, {"items", 1}, {"seconds", secs}, {"items_per_s", gflops},
                         {"peak_mb", peak_rss_kb() / 1024.0}, {"others_cores", std::max(0.0, (c1 - c0) - own) / secs},
                         {"torch", m::torch_description()}, {"blas", blas_library()}})
                       .dump()
                << std::endl;
      return 0;
    } else if (metric == "style") {
      torch_threads = m::set_torch_threads(threads);
      vgg = m::Vgg19Style::load(at(w["vgg19"]));
      // Decoded and in RGB before the clock, as exec/scoring.cpp's prepare_for_vgg hands them
      // (the files are already 512x512: no resize).
      for (const auto& key : {"images", "targets"})
        for (const auto& p : man["style"][key]) {
          cv::Mat rgb;
          cv::cvtColor(read_bgr(at(p)), rgb, cv::COLOR_BGR2RGB);
          (std::string(key) == "images" ? images : targets).push_back(rgb);
        }
      items = images.size() + targets.size();
      for (const auto* set : {&images, &targets})
        for (const cv::Mat& im : *set) flops += vgg19_flops(im.rows, im.cols);
      warm = [&] { vgg->grams(slice(images.begin(), images.begin() + std::min<std::size_t>(4, images.size()))); };
      work = [&] {
        const std::vector<m::GramSet> gi = vgg->grams(images), gt = vgg->grams(targets);
        results.clear();
        for (const auto& a : gi)
          for (const auto& b : gt) results.push_back(m::style_loss(a, b, m::StyleVariant::ghostreview));
      };
    } else if (metric == "clip_preprocess") {
      clip_cfg = m::clip_config(at(w["clip_config"]));
      for (const auto& p : man["clip"]["images"]) images.push_back(read_bgr(at(p)));
      items = images.size();
      warm = [&] { m::clip_preprocess(images[0], clip_cfg.image_size, clip_cfg.mean, clip_cfg.std); };
      work = [&] {
        pixels.clear();
        for (const cv::Mat& im : images)
          pixels.push_back(m::clip_preprocess(im, clip_cfg.image_size, clip_cfg.mean, clip_cfg.std));
      };
      collect = [&] {
        for (const auto& px : pixels) results.insert(results.end(), px.begin(), px.end());
      };
    } else if (metric == "clip_image" || metric == "clip_text") {
      torch_threads = m::set_torch_threads(threads);
      clip_cfg = m::clip_config(at(w["clip_config"]));
      clip = m::ClipModel::load(at(w["clip"]), clip_cfg);
      if (metric == "clip_image") {
        // Preprocessed before the clock (its own metric: clip_preprocess).
        for (const auto& p : man["clip"]["images"])
          pixels.push_back(m::clip_preprocess(read_bgr(at(p)), clip_cfg.image_size, clip_cfg.mean, clip_cfg.std));
        items = pixels.size();
        flops = static_cast<double>(items) * clip_image_flops(clip_cfg);
        warm = [&] { clip->encode_images(slice(pixels.begin(), pixels.begin() + std::min<std::size_t>(2, pixels.size()))); };
        work = [&] { image_out = clip->encode_images(pixels); };
        collect = [&] {
          for (const auto& x : image_out) results.insert(results.end(), x.projected.begin(), x.projected.end());
        };
      } else {
        const json& t = man["texts"];
        const std::size_t n = t["count"], ctx = t["context"];
        const std::vector<int32_t> flat = read_raw<int32_t>(at(t["ids"]), n * ctx);
        eot = read_raw<int32_t>(at(t["eot"]), n);
        for (std::size_t i = 0; i < n; ++i) ids.emplace_back(flat.begin() + i * ctx, flat.begin() + (i + 1) * ctx);
        items = n;
        for (int32_t e : eot) flops += clip_text_flops(clip_cfg, static_cast<double>(e) + 1);
        warm = [&] {
          clip->encode_texts(slice(ids.begin(), ids.begin() + 2), slice(eot.begin(), eot.begin() + 2));
        };
        work = [&] { text_out = clip->encode_texts(ids, eot); };
        collect = [&] {
          for (const auto& x : text_out) results.insert(results.end(), x.begin(), x.end());
        };
      }
    } else if (metric == "head") {
      head = m::ScoreHead::load(at(w["head"]));
      const json& e = man["embeddings"];
      const std::size_t n = e["count"], dim = e["dim"];
      const std::vector<float> flat = read_raw<float>(at(e["file"]), n * dim);
      for (std::size_t i = 0; i < n; ++i) embeddings.emplace_back(flat.begin() + i * dim, flat.begin() + (i + 1) * dim);
      items = n;
      warm = [&] { head->score(slice(embeddings.begin(), embeddings.begin() + std::min<std::size_t>(8, n))); };
      work = [&] { results = head->score(embeddings); };
    } else {
      std::cerr << "ghx_bench_score: unknown metric '" << metric << "'\n";
      return 2;
    }

    const double load_s = since(t_load);
    warm();
    const bool hwm_ok = reset_hwm();
    rusage r0{}, r1{};
    getrusage(RUSAGE_SELF, &r0);
    const double b0 = cpu_busy_s();
    const auto t0 = Clock::now();
    std::size_t repeats = 0;
    do {  // short work is repeated up to k_min_timed_s, as on the PyTorch side
      work();
      ++repeats;
    } while (since(t0) < k_min_timed_s);
    const double seconds = since(t0);
    const double b1 = cpu_busy_s();
    getrusage(RUSAGE_SELF, &r1);
    const double own = tv_s(r1.ru_utime) - tv_s(r0.ru_utime) + tv_s(r1.ru_stime) - tv_s(r0.ru_stime);
    const long fwd_peak = hwm_ok ? vm_hwm_kb() : -1;
    collect();
    write_results(results_path, results);

    json out = {{"side", "ghx"},
                {"metric", metric},
                {"threads", torch_threads ? torch_threads : threads},
                {"items", items * repeats},
                {"repeats", repeats},
                {"seconds", seconds},
                {"items_per_s", static_cast<double>(items * repeats) / seconds},
                {"gflops", flops > 0 ? json(flops * static_cast<double>(repeats) / seconds / 1e9) : json(nullptr)},
                {"load_s", load_s},
                {"peak_mb", peak_rss_kb() / 1024.0},
                {"fwd_peak_mb", fwd_peak > 0 ? json(fwd_peak / 1024.0) : json(nullptr)},
                {"user_s", tv_s(r1.ru_utime) - tv_s(r0.ru_utime)},
                {"sys_s", tv_s(r1.ru_stime) - tv_s(r0.ru_stime)},
                {"minor_faults", r1.ru_minflt - r0.ru_minflt},
                {"others_cores", std::max(0.0, (b1 - b0) - own) / seconds},
                {"blas", blas_library()},
                {"omp_wait_policy", std::getenv("OMP_WAIT_POLICY") ? std::getenv("OMP_WAIT_POLICY") : ""}};
    if (torch_threads) out["torch"] = m::torch_description();
    std::cout << out.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "ghx_bench_score: " << e.what() << "\n";
    return 1;
  }
}
