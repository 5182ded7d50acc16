#include "backends/a1111.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "dsl/lora.h"
#include "backends/answers.h"
#include "backends/http_backend.h"
#include "backends/infotext.h"
#include "models/hashes.h"
#include "plan/plan.h"
#include "util/error.h"
#include "util/png.h"
#include "util/png_text.h"
#include "util/strings.h"

namespace ghx::backends {

using exec::Executor;
using exec::Job;
using exec::Outcome;

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

/// The parameters that make two generate steps share a request: all but the seed.
std::string request_key(const plan::Step& s) { return generation_request_key(s); }

json build_request(const plan::Step& s, int64_t seed, int n) {
  json overrides = {{"sd_model_checkpoint", s.param("checkpoint.server_name")},
                    {"CLIP_stop_at_last_layers", std::stoi(s.param("clip_skip"))}};
  if (!s.param("vae").empty()) overrides["sd_vae"] = s.param("vae");
  json r = {{"prompt", s.param("prompt")},
            {"negative_prompt", s.param("negative_prompt")},
            {"seed", seed},
            {"subseed", -1},
            {"subseed_strength", 0},
            {"sampler_name", s.param("sampler")},
            {"steps", std::stoi(s.param("steps"))},
            {"cfg_scale", std::stod(s.param("cfg_scale"))},
            {"width", std::stoi(s.param("width"))},
            {"height", std::stoi(s.param("height"))},
            {"batch_size", n},
            {"n_iter", 1},
            {"override_settings", overrides},
            {"override_settings_restore_afterwards", false},
            {"send_images", true},
            {"save_images", false}};
  if (const std::string* hs = s.find_param("hires.scale")) {
    r["enable_hr"] = true;
    r["hr_scale"] = std::stod(*hs);
    r["hr_upscaler"] = s.param("hires.upscaler");
    r["denoising_strength"] = std::stod(s.param("hires.denoising_strength"));
    r["hr_second_pass_steps"] = std::stoi(s.param("hires.second_pass_steps"));
  }
  return r;
}

class A1111Executor : public Executor {
 public:
  explicit A1111Executor(BackendOptions o) : m_opts(std::move(o)), m_pools(m_opts.endpoints) {}

  size_t max_batch() const override { return 1024; }
  std::string batch_key(const plan::Step& s) const override { return request_key(s); }
  size_t batch_limit(const plan::Step& first) const override {
    const std::string* b = first.find_context("batch_size");
    return b ? static_cast<size_t>(std::max(1, std::stoi(*b))) : 1;
  }
  std::string device() const override { return "a1111"; }
  std::string status() const override { return m_pools.status(); }

  void run(const std::vector<Job>& jobs, std::vector<Outcome>& out) override {
    out.assign(jobs.size(), Outcome{});
    // Runs of consecutive seeds, at most batch_size long, become one request each.
    std::vector<size_t> order(jobs.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    auto seed_of = [&](size_t i) { return std::stoll(jobs[i].step->param("seed")); };
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return seed_of(a) < seed_of(b); });
    size_t limit = jobs.empty() ? 1 : batch_limit(*jobs[0].step);
    std::vector<size_t> run;
    auto flush = [&] {
      if (!run.empty()) request(jobs, run, out);
      run.clear();
    };
    for (size_t i : order) {
      if (!run.empty() && (seed_of(i) != seed_of(run.back()) + 1 || run.size() >= limit)) flush();
      run.push_back(i);
    }
    flush();
  }

 private:
  /// POSTs with retries. Returns the answer body, or throws with the last failure.
  std::string post_with_retries(EndpointPool& pool, const json& req, int n, std::string* used) {
    HttpCall call;
    call.method = "POST";
    call.path = "/sdapi/v1/txt2img";
    call.what = "POST " + call.path;
    call.body = req.dump();
    call.connect_s = m_opts.connect_timeout_s;
    call.deadline_s = m_opts.timeout_s;
    call.max_body = answer_limit(m_opts, n);
    std::string answer;
    *used = with_retries(pool, m_opts, n, [&](const std::string& url) {
      HttpReply r = http_call(url, call);
      if (r.failure.message.empty()) answer = std::move(r.body);
      return r.failure;
    });
    return answer;
  }

  void request(const std::vector<Job>& jobs, const std::vector<size_t>& idx, std::vector<Outcome>& out) {
    const plan::Step& first = *jobs[idx[0]].step;
    const int64_t seed0 = std::stoll(first.param("seed"));
    const int n = static_cast<int>(idx.size());
    json req = build_request(first, seed0, n);
    auto t0 = Clock::now();
    auto fail_all = [&](const std::string& why) {
      for (size_t i : idx) out[i].error = why;
    };
    std::string url, body;
    try {
      body = post_with_retries(m_pools.pool_for(first), req, n, &url);
    } catch (const std::exception& e) {
      fail_all(e.what());
      return;
    }
    double per_image = std::chrono::duration<double>(Clock::now() - t0).count() / n;
    const std::string host = host_of(url);
    Txt2ImgAnswer ans;
    try {
      ans = parse_txt2img_answer(body);
    } catch (const std::exception& e) {
      fail_all(host + ": " + e.what());
      return;
    }
    body.clear();
    body.shrink_to_fit();
    const std::string& got_hash = ans.model_hash;
    std::string want_hash = expected_autov2(first.param("checkpoint"));
    if (!want_hash.empty() && got_hash.compare(0, want_hash.size(), want_hash) != 0) {
      fail_all(host + " generated with model " + (ans.model_name.empty() ? "?" : ans.model_name) + " [" + got_hash +
               "], not the requested " + first.param("checkpoint.server_name") + " [" + want_hash + "]");
      return;
    }
    if (ans.images.size() < static_cast<size_t>(n) || ans.seeds.size() < static_cast<size_t>(n)) {
      fail_all(host + ": malformed answer: " + std::to_string(ans.images.size()) + " images and " +
               std::to_string(ans.seeds.size()) + " seeds for " + std::to_string(n) + " asked for");
      return;
    }
    for (int k = 0; k < n; ++k) {
      const size_t i = idx[static_cast<size_t>(k)];
      const std::string what = host + ": image " + std::to_string(k);
      try {
        const int64_t want_seed = seed0 + k;
        const int64_t got_seed = ans.seeds[static_cast<size_t>(k)];
        if (got_seed != want_seed)
          throw Error(what + " has seed " + std::to_string(got_seed) + ", expected " + std::to_string(want_seed));
        std::string png;
        try {
          png = util::base64_decode(ans.images[static_cast<size_t>(k)]);
        } catch (const std::exception& e) {
          throw Error(what + " is not base64: " + e.what());
        }
        util::check_png(png, what, k_max_image_pixels);
        std::string infotext = static_cast<size_t>(k) < ans.infotexts.size() ? ans.infotexts[static_cast<size_t>(k)] : "";
        auto chunks = util::png_text_chunks(png, what);
        if (!chunks.count("parameters")) {
          if (infotext.empty()) infotext = make_infotext(*jobs[i].step, got_hash, ans.model_name);
          png = util::png_set_text(png, "parameters", infotext, what);
        } else {
          infotext = chunks["parameters"];
        }
        std::vector<std::map<std::string, std::string>> loras;
        const std::string lora_problem = a1111_check_loras(
            *jobs[i].step, infotext, [](const std::string& f) { return a1111_lora_hash(f).lora; }, &loras);
        if (!lora_problem.empty()) throw Error(host + ": " + lora_problem);
        json meta = {{"backend", "a1111"},
                     {"endpoint", url},
                     {"request", req},
                     {"answer",
                      {{"sd_model_name", ans.model_name},
                       {"sd_model_hash", got_hash},
                       {"seed", got_seed},
                       {"index", k},
                       {"infotext", infotext}}},
                     {"checkpoint", {{"identity", first.param("checkpoint")}, {"autov2", want_hash}}}};
        if (!loras.empty()) meta["loras"] = loras;
        out[i].bytes = std::move(png);
        out[i].ok = true;
        out[i].meta = meta.dump();
        out[i].device = url;
        out[i].duration_s = per_image;
      } catch (const std::exception& e) {
        out[i] = Outcome{};
        out[i].error = e.what();
      }
    }
  }

  static std::string make_infotext(const plan::Step& s, const std::string& hash, const std::string& model_name) {
    Infotext t = infotext_of_step(s);
    if (!hash.empty()) t.set("Model hash", hash);
    t.set("Model", model_name.empty() ? s.param("checkpoint.server_name") : model_name);
    return t.format();
  }

  BackendOptions m_opts;
  EndpointPools m_pools;
};

}  // namespace

LoraFileHashes a1111_lora_hash(const std::string& path) {
  static std::mutex mu;
  static std::map<std::string, LoraFileHashes> memo;
  {
    std::lock_guard<std::mutex> lock(mu);
    auto it = memo.find(path);
    if (it != memo.end()) return it->second;
  }
  const models::ModelHashes h = models::hash_model_file(path);
  LoraFileHashes v{h.lora ? *h.lora : h.sha256.substr(0, 12), h.sha256};
  std::lock_guard<std::mutex> lock(mu);
  return memo[path] = v;
}

namespace {

/// A LoRA's name as A1111 writes it in "Lora hashes" (extra_networks_lora.py: mentioned_name
/// without ':' and ',').
std::string written(const std::string& name) {
  std::string n;
  for (char c : name)
    if (c != ':' && c != ',') n += c;
  return n;
}

}  // namespace

std::vector<PromptLora> a1111_prompt_loras(const plan::Step& s) {
  std::vector<PromptLora> out;
  const std::string& prompt = s.param("prompt");
  for (const dsl::LoraTag& t : dsl::find_lora_tags(prompt)) {
    if (!dsl::a1111_reads(prompt, t)) continue;
    const std::string n = written(t.name);
    if (std::any_of(out.begin(), out.end(), [&](const PromptLora& l) { return l.name == n; })) continue;
    PromptLora l{n, ""};
    for (const auto& [k, v] : s.context)
      if (k == "lora.file") {
        std::vector<std::string> f = plan::split_fields(v);
        if (f.size() == 2 && written(f[0]) == n) l.file = f[1];
      }
    out.push_back(std::move(l));
  }
  return out;
}

std::string a1111_check_loras(const plan::Step& s, const std::string& infotext,
                              const std::function<std::string(const std::string&)>& file_hash,
                              std::vector<std::map<std::string, std::string>>* checked) {
  const std::vector<PromptLora> loras = a1111_prompt_loras(s);
  const auto text = Infotext::parse(infotext);
  const std::map<std::string, std::string> shown = text ? text->lora_hashes() : std::map<std::string, std::string>{};
  // Tags in the negative prompt may be applied too (newer webuis read them there): not extra.
  std::set<std::string> asked;
  for (const PromptLora& l : loras) asked.insert(l.name);
  const std::string* negative = s.find_param("negative_prompt");
  if (negative)
    for (const dsl::LoraTag& t : dsl::find_lora_tags(*negative)) asked.insert(written(t.name));
  for (const auto& [name, hash] : shown)
    if (!asked.count(name))
      return "the server applied LoRA '" + name + "' [" + hash + "], which the prompt does not load (A1111's setting " +
             "\"Add network to prompt\" (sd_lora) adds one to every prompt)";
  for (const PromptLora& l : loras) {
    auto it = shown.find(l.name);
    if (it == shown.end())
      return "LoRA '" + l.name + "' was not applied: the image's infotext has no \"Lora hashes\" entry for it (A1111 " +
             "generates without a LoRA it cannot find: is it in the server's models/Lora folder? The entries are also " +
             "missing when the setting \"Add Lora hashes to infotext\" is off)";
    std::map<std::string, std::string> c = {{"name", l.name}, {"hash", it->second}, {"verified", "applied (the review names no file)"}};
    if (!l.file.empty()) {
      const std::string want = file_hash(l.file);
      if (!util::iequals(it->second, want))
        return "LoRA '" + l.name + "': the server used a file with LoRA hash " + it->second + ", the review's " + l.file +
               " has " + want + " (another version of the LoRA on the server?)";
      c["file"] = l.file;
      c["verified"] = "LoRA hash of the review's file";
    }
    if (checked) checked->push_back(std::move(c));
  }
  return "";
}

std::unique_ptr<Executor> make_a1111_executor(const BackendOptions& options) {
  return std::make_unique<A1111Executor>(options);
}

std::vector<ServerModel> a1111_models(const std::string& url, double timeout_s) {
  HttpCall call;
  call.path = "/sdapi/v1/sd-models";
  call.what = "GET " + call.path;
  call.connect_s = call.deadline_s = timeout_s;
  HttpReply r = http_call(url, call);
  if (!r.failure.message.empty()) throw Error(r.failure.message);
  try {
    return parse_sd_models(r.body);
  } catch (const std::exception& e) {
    throw Error(host_of(url) + ": " + call.what + ": " + e.what());
  }
}

void a1111_load_model(const std::string& url, const std::string& title, double connect_timeout_s, double timeout_s) {
  HttpCall call;
  call.method = "POST";
  call.path = "/sdapi/v1/options";
  call.what = "loading '" + title + "' (POST " + call.path + ")";
  call.body = json{{"sd_model_checkpoint", title}}.dump();
  call.connect_s = connect_timeout_s;
  call.deadline_s = timeout_s;
  HttpReply r = http_call(url, call);
  if (!r.failure.message.empty()) throw Error(r.failure.message);
}

std::vector<std::string> probe_a1111(const std::vector<std::string>& urls, double timeout_s,
                                     std::vector<std::string>* errors) {
  std::vector<std::string> alive;
  for (const auto& u : urls) {
    try {
      a1111_models(u, timeout_s);
      alive.push_back(u);
    } catch (const std::exception& e) {
      if (errors) errors->push_back(e.what());
    }
  }
  return alive;
}

std::string expected_autov2(const std::string& identity) {
  if (identity.rfind("sha256:", 0) == 0) return identity.substr(7, 10);
  if (identity.rfind("autov2:", 0) == 0) return identity.substr(7, 10);
  return "";
}

}  // namespace ghx::backends
