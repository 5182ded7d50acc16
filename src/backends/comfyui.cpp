#include "backends/comfyui.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <unistd.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "dsl/lora.h"
#include "backends/answers.h"
#include "backends/http_backend.h"
#include "backends/infotext.h"
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

struct SamplerPair {
  const char* a1111;
  const char* sampler;
  const char* scheduler;
};

const SamplerPair k_samplers[] = {
    {"Euler a", "euler_ancestral", "normal"},
    {"Euler", "euler", "normal"},
    {"Heun", "heun", "normal"},
    {"LMS", "lms", "normal"},
    {"LMS Karras", "lms", "karras"},
    {"DPM2", "dpm_2", "normal"},
    {"DPM2 Karras", "dpm_2", "karras"},
    {"DPM2 a", "dpm_2_ancestral", "normal"},
    {"DPM2 a Karras", "dpm_2_ancestral", "karras"},
    {"DPM++ 2S a", "dpmpp_2s_ancestral", "normal"},
    {"DPM++ 2S a Karras", "dpmpp_2s_ancestral", "karras"},
    {"DPM++ 2M", "dpmpp_2m", "normal"},
    {"DPM++ 2M Karras", "dpmpp_2m", "karras"},
    {"DPM++ SDE", "dpmpp_sde", "normal"},
    {"DPM++ SDE Karras", "dpmpp_sde", "karras"},
    {"DPM++ 2M SDE", "dpmpp_2m_sde", "normal"},
    {"DPM++ 2M SDE Karras", "dpmpp_2m_sde", "karras"},
    {"DPM++ 2M SDE Exponential", "dpmpp_2m_sde", "exponential"},
    {"DPM++ 3M SDE", "dpmpp_3m_sde", "normal"},
    {"DPM++ 3M SDE Karras", "dpmpp_3m_sde", "karras"},
    {"DPM fast", "dpm_fast", "normal"},
    {"DPM adaptive", "dpm_adaptive", "normal"},
    {"DDIM", "ddim", "ddim_uniform"},
    {"UniPC", "uni_pc", "normal"},
    {"LCM", "lcm", "normal"},
};

const std::set<std::string> k_numeric = {"seed", "steps", "cfg", "width", "height", "batch_size"};

/// The value of each placeholder for one step (strings; numeric ones parsed when whole).
std::map<std::string, std::string> placeholder_values(const plan::Step& s) {
  auto [sampler, scheduler] = comfyui_sampler(s.param("sampler"));
  std::string prompt;
  comfyui_loras(s.param("prompt"), &prompt);  // the tags become LoraLoader nodes
  return {{"checkpoint", s.param("checkpoint.server_name")},
          {"prompt", prompt},
          {"negative", s.param("negative_prompt")},
          {"seed", s.param("seed")},
          {"steps", s.param("steps")},
          {"cfg", s.param("cfg_scale")},
          {"sampler", sampler},
          {"scheduler", scheduler},
          {"width", s.param("width")},
          {"height", s.param("height")},
          {"batch_size", "1"}};  // one image per request: see comfyui.h
}

json number_of(const std::string& v) {
  if (v.find_first_of(".eE") != std::string::npos) return std::stod(v);
  return std::stoll(v);
}

/// Replaces placeholders in one string, in one pass (a prompt containing "{{seed}}" stays text).
std::string fill_text(const std::string& in, const std::map<std::string, std::string>& values,
                      std::set<std::string>& used) {
  std::string out;
  size_t i = 0;
  while (i < in.size()) {
    size_t open = in.find("{{", i);
    if (open == std::string::npos) break;
    size_t close = in.find("}}", open + 2);
    if (close == std::string::npos) break;
    std::string name = in.substr(open + 2, close - open - 2);
    auto it = values.find(name);
    if (it == values.end()) throw Error("workflow template: unknown placeholder {{" + name + "}}");
    used.insert(name);
    out += in.substr(i, open - i) + it->second;
    i = close + 2;
  }
  return out + in.substr(std::min(i, in.size()));
}

void fill_node(json& v, const std::map<std::string, std::string>& values, std::set<std::string>& used) {
  if (v.is_string()) {
    const std::string& s = v.get_ref<const std::string&>();
    if (s.size() > 4 && s.compare(0, 2, "{{") == 0 && s.compare(s.size() - 2, 2, "}}") == 0) {
      std::string name = s.substr(2, s.size() - 4);
      if (k_numeric.count(name) && name.find("{{") == std::string::npos) {
        used.insert(name);
        v = number_of(values.at(name));
        return;
      }
    }
    v = fill_text(s, values, used);
  } else if (v.is_array() || v.is_object()) {
    for (auto& e : v) fill_node(e, values, used);
  }
}

/// A server's list for a message: at most 20 names, then how many more.
std::string listing(const std::vector<std::string>& names) {
  if (names.empty()) return "nothing";
  std::vector<std::string> shown(names.begin(), names.begin() + std::min<size_t>(names.size(), 20));
  return util::join(shown, ", ") + (names.size() > 20 ? ", ... (" + std::to_string(names.size() - 20) + " more)" : "");
}

/// "style/foo.safetensors" -> "foo".
std::string file_stem(const std::string& name) {
  const size_t slash = name.find_last_of("/\\");
  const std::string base = slash == std::string::npos ? name : name.substr(slash + 1);
  const size_t dot = base.rfind('.');
  return dot == std::string::npos || dot == 0 ? base : base.substr(0, dot);
}

/// Chains one LoraLoader per LoRA after the template's checkpoint loader and moves every MODEL
/// and CLIP link that read the loader onto the end of the chain.
void chain_loras(json& g, const std::vector<ComfyLora>& loras) {
  std::vector<std::string> loaders;
  long long top = 0;
  for (const auto& [id, n] : g.items()) {
    if (n.is_object() && n.value("class_type", "") == "CheckpointLoaderSimple") loaders.push_back(id);
    if (!id.empty() && id.size() < 18 && std::all_of(id.begin(), id.end(), [](char c) { return c >= '0' && c <= '9'; }))
      top = std::max(top, std::stoll(id));
  }
  if (loaders.size() != 1)
    throw Error("workflow template: <lora:...> tags need exactly one CheckpointLoaderSimple node to chain LoraLoader "
                "nodes after (found " + std::to_string(loaders.size()) + ")");
  const std::string ck = loaders[0];
  std::string prev = ck;
  std::set<std::string> added;
  for (const ComfyLora& l : loras) {
    std::string id;
    do id = std::to_string(++top);
    while (g.contains(id));
    g[id] = {{"class_type", "LoraLoader"},
             {"inputs",
              {{"lora_name", l.lora_name},
               {"strength_model", l.strength_model},
               {"strength_clip", l.strength_clip},
               {"model", json::array({prev, 0})},
               {"clip", json::array({prev, 1})}}},
             {"_meta", {{"title", "ghx: <lora:" + l.tag + ">"}}}};
    prev = id;
    added.insert(id);
  }
  for (auto& [id, n] : g.items()) {
    if (added.count(id) || !n.is_object() || !n.contains("inputs") || !n["inputs"].is_object()) continue;
    for (auto& [name, v] : n["inputs"].items())
      if (v.is_array() && v.size() == 2 && v[0] == ck && (v[1] == 0 || v[1] == 1)) v[0] = prev;
  }
}

std::string client_id() {
  static std::atomic<uint64_t> counter{0};
  auto now = std::chrono::system_clock::now().time_since_epoch().count();
  return "ghx-" + std::to_string(getpid()) + "-" + std::to_string(now) + "-" + std::to_string(++counter);
}

/// The LoraLoader nodes ghx added to a submitted graph, for the provenance meta.
json loras_meta(const json& graph) {
  json out = json::array();
  for (const auto& [id, n] : graph.items())
    if (n.is_object() && n.value("class_type", "") == "LoraLoader" && n.contains("_meta") &&
        n["_meta"].value("title", "").rfind("ghx: ", 0) == 0)
      out.push_back({{"node", id},
                     {"lora_name", n["inputs"]["lora_name"]},
                     {"strength_model", n["inputs"]["strength_model"]},
                     {"strength_clip", n["inputs"]["strength_clip"]},
                     {"verified", "by name only: listed by /object_info/LoraLoader (ComfyUI reports no LoRA hash)"}});
  return out;
}

class ComfyUIExecutor : public Executor {
 public:
  explicit ComfyUIExecutor(BackendOptions o) : m_opts(std::move(o)), m_pools(m_opts.endpoints) {}

  size_t max_batch() const override { return 1; }
  std::string batch_key(const plan::Step& s) const override { return generation_request_key(s); }
  size_t batch_limit(const plan::Step&) const override { return 1; }  // one image per request
  std::string device() const override { return "comfyui"; }
  std::string status() const override { return m_pools.status(); }

  void run(const std::vector<Job>& jobs, std::vector<Outcome>& out) override {
    out.assign(jobs.size(), Outcome{});
    for (size_t i = 0; i < jobs.size(); ++i) {
      try {
        generate(*jobs[i].step, out[i]);
      } catch (const std::exception& e) {
        out[i] = Outcome{};
        out[i].error = e.what();
      }
    }
  }

 private:
  const json& workflow(const plan::Step& s) {
    const std::string* path = s.find_context("workflow.path");
    if (!path || path->empty()) throw Error("comfyui: the step has no workflow template");
    std::lock_guard<std::mutex> lock(m_mu);
    auto it = m_workflows.find(*path);
    if (it != m_workflows.end()) return it->second;
    std::ifstream f(*path, std::ios::binary);
    if (!f) throw Error("comfyui: cannot read workflow " + *path);
    std::stringstream ss;
    ss << f.rdbuf();
    json w;
    try {
      w = json::parse(ss.str());
    } catch (const std::exception& e) {
      throw Error("comfyui: workflow " + *path + " is not JSON: " + e.what());
    }
    if (!w.is_object() || w.contains("nodes"))
      throw Error("comfyui: workflow " + *path + " is not in API format (use ComfyUI's \"Save (API)\")");
    return m_workflows.emplace(*path, std::move(w)).first->second;
  }

  /// The choices an endpoint lists for one node input (GET /object_info/NODE:
  /// NODE.input.required.INPUT[0]), cached per endpoint and node: the checkpoints
  /// (CheckpointLoaderSimple ckpt_name) and LoRA files (LoraLoader lora_name) it has.
  HttpFailure node_choices(const std::string& url, const std::string& node, const std::string& input,
                           std::vector<std::string>& names) {
    const std::string memo = url + " " + node;
    {
      std::lock_guard<std::mutex> lock(m_mu);
      auto it = m_choices.find(memo);
      if (it != m_choices.end()) {
        names = it->second;
        return {};
      }
    }
    HttpCall call;
    call.path = "/object_info/" + node;
    call.what = "GET " + call.path;
    call.connect_s = call.deadline_s = m_opts.connect_timeout_s;
    HttpReply r = http_call(url, call);
    if (!r.failure.message.empty()) return r.failure;
    try {
      names = parse_node_choices(r.body, node, input);
    } catch (const std::exception& e) {
      throw Error(host_of(url) + ": " + call.what + ": " + e.what());
    }
    std::lock_guard<std::mutex> lock(m_mu);
    m_choices[memo] = names;
    return {};
  }

  void generate(const plan::Step& s, Outcome& out) {
    if (s.find_param("hires.scale"))
      throw Error("comfyui: hires fix is not supported by this backend (build it into the workflow)");
    const std::string server_name = s.param("checkpoint.server_name");
    const bool has_loras = !comfyui_loras(s.param("prompt")).empty();  // also checks the tags
    const std::string cid = client_id();
    json req;
    if (!has_loras) req = {{"prompt", fill_comfyui_workflow(workflow(s), s)}, {"client_id", cid}};
    const int64_t seed = std::stoll(s.param("seed"));

    std::string prompt_id, png, filename, subfolder, type;
    auto t0 = Clock::now();
    std::string url = with_retries(m_pools.pool_for(s), m_opts, 1, [&](const std::string& u) -> HttpFailure {
      // 1. the checkpoint must be one the server lists (ComfyUI reports no model hash)
      std::vector<std::string> names;
      if (HttpFailure f = node_choices(u, "CheckpointLoaderSimple", "ckpt_name", names); !f.message.empty()) return f;
      if (std::find(names.begin(), names.end(), server_name) == names.end())
        throw Error(host_of(u) + ": checkpoint '" + server_name + "' is not on the server (CheckpointLoaderSimple lists: " +
                    listing(names) + ")");
      // 2. the LoRAs by file name on this endpoint, then submit
      if (has_loras) {
        std::vector<std::string> files;
        if (HttpFailure f = node_choices(u, "LoraLoader", "lora_name", files); !f.message.empty()) return f;
        try {
          req = {{"prompt", fill_comfyui_workflow(workflow(s), s, &files)}, {"client_id", cid}};
        } catch (const Error& e) {
          throw Error(host_of(u) + ": " + e.what());
        }
      }
      HttpCall call;
      call.connect_s = m_opts.connect_timeout_s;
      call.method = "POST";
      call.path = "/prompt";
      call.what = "POST /prompt";
      call.body = req.dump();
      call.deadline_s = m_opts.timeout_s;
      HttpReply r = http_call(u, call);
      if (r.status == 400)
        throw Error(host_of(u) + ": ComfyUI rejected the workflow: " + comfyui_validation_message(r.body));
      if (!r.failure.message.empty()) return r.failure;
      try {
        prompt_id = parse_prompt_answer(r.body);
      } catch (const std::exception& e) {
        throw Error(host_of(u) + ": POST /prompt: " + e.what());
      }
      // 3. poll the history until the outputs appear, for at most timeout_s in all
      HistoryEntry entry;
      double interval = 0.05;
      const auto deadline = Clock::now() + std::chrono::duration<double>(m_opts.timeout_s);
      auto left = [&] { return std::chrono::duration<double>(deadline - Clock::now()).count(); };
      auto no_result = [&] {
        return Error(host_of(u) + ": no result for prompt " + prompt_id + " after " +
                     util::shortest_double(m_opts.timeout_s) + " s");
      };
      call = HttpCall{};
      call.connect_s = m_opts.connect_timeout_s;
      call.path = "/history/" + prompt_id;
      call.what = "GET /history";
      for (;;) {
        call.deadline_s = std::max(left(), 0.001);
        HttpReply h = http_call(u, call);
        if (h.failure.connection && left() <= 0) throw no_result();  // cut by the deadline: final
        if (!h.failure.message.empty()) return h.failure;
        try {
          entry = parse_history(h.body, prompt_id);
        } catch (const std::exception& e) {
          throw Error(host_of(u) + ": GET /history: " + e.what());
        }
        if (entry.state == HistoryEntry::State::failed)
          throw Error(host_of(u) + ": prompt " + prompt_id + " failed: " + entry.error);
        if (entry.state == HistoryEntry::State::done) break;
        if (left() < interval) throw no_result();
        std::this_thread::sleep_for(std::chrono::duration<double>(interval));
        interval = std::min(1.0, interval * 2);
      }
      // 4. the one image (saved outputs preferred over previews)
      if (entry.images.size() != 1)
        throw Error(host_of(u) + ": prompt " + prompt_id + " made " + std::to_string(entry.images.size()) +
                    " images, expected 1 (the workflow's batch_size must be \"{{batch_size}}\")");
      filename = entry.images[0].filename;
      subfolder = entry.images[0].subfolder;
      type = entry.images[0].type;
      call.path = httplib::append_query_params("/view", {{"filename", filename}, {"subfolder", subfolder}, {"type", type}});
      call.what = "GET /view " + util::printable_prefix(filename, 100);
      call.deadline_s = m_opts.timeout_s;
      call.max_body = answer_limit(m_opts, 1);
      HttpReply v = http_call(u, call);
      if (!v.failure.message.empty()) return v.failure;
      png = std::move(v.body);
      return {};
    });
    util::check_png(png, host_of(url) + ": " + util::printable_prefix(filename, 100), k_max_image_pixels);
    Infotext t = infotext_of_step(s);
    t.set("Model", server_name);
    const std::string infotext = t.format();
    png = util::png_set_text(png, "parameters", infotext, "image from " + host_of(url));
    auto [sampler_name, scheduler] = comfyui_sampler(s.param("sampler"));
    json meta = {{"backend", "comfyui"},
                 {"endpoint", url},
                 {"request", req},
                 {"one_image_per_request", "batch_size 1: ComfyUI draws a batch's noise from one seed"},
                 {"answer",
                  {{"prompt_id", prompt_id},
                   {"filename", filename},
                   {"subfolder", subfolder},
                   {"type", type},
                   {"seed", seed},
                   {"infotext", infotext}}},
                 {"sampler", {{"a1111", s.param("sampler")}, {"sampler_name", sampler_name}, {"scheduler", scheduler}}},
                 {"workflow", {{"path", s.param("workflow.path")}, {"sha256", s.param("workflow.sha256")}}},
                 {"loras", loras_meta(req["prompt"])},
                 {"checkpoint",
                  {{"identity", s.param("checkpoint")},
                   {"server_name", server_name},
                   {"verified", "by name only: listed by /object_info/CheckpointLoaderSimple (ComfyUI reports no model hash)"}}}};
    out.bytes = std::move(png);
    out.ok = true;
    out.meta = meta.dump();
    out.device = url;
    out.duration_s = std::chrono::duration<double>(Clock::now() - t0).count();
  }

  BackendOptions m_opts;
  EndpointPools m_pools;
  std::mutex m_mu;
  std::map<std::string, json> m_workflows;                   ///< path -> template
  std::map<std::string, std::vector<std::string>> m_choices;  ///< "endpoint node" -> its input's choices
};

}  // namespace

std::unique_ptr<Executor> make_comfyui_executor(const BackendOptions& options) {
  return std::make_unique<ComfyUIExecutor>(options);
}

std::pair<std::string, std::string> comfyui_sampler(const std::string& a1111_name) {
  std::vector<std::string> known;
  for (const auto& p : k_samplers) {
    if (a1111_name == p.a1111) return {p.sampler, p.scheduler};
    known.push_back(p.a1111);
  }
  throw Error("comfyui: no ComfyUI sampler/scheduler known for sampler '" + a1111_name + "' (known: " +
              util::join(known, ", ") + ")");
}

std::vector<ComfyLora> comfyui_loras(const std::string& prompt, std::string* stripped) {
  std::vector<ComfyLora> out;
  std::string rest;
  size_t at = 0;
  for (const dsl::LoraTag& t : dsl::find_lora_tags(prompt)) {
    if (!t.plain_weights())
      throw Error("comfyui: LoRA tag '" + prompt.substr(t.begin, t.end - t.begin) +
                  "': a LoraLoader takes <lora:NAME>, <lora:NAME:W> or <lora:NAME:TE:UNET> with plain numbers");
    ComfyLora l;
    l.tag = t.name;
    if (t.weights.size() == 1) l.strength_model = l.strength_clip = t.weights[0];
    if (t.weights.size() == 2) {
      l.strength_clip = t.weights[0];
      l.strength_model = t.weights[1];
    }
    out.push_back(std::move(l));
    rest += prompt.substr(at, t.begin - at);
    at = t.end;
  }
  if (stripped) *stripped = rest + prompt.substr(at);
  return out;
}

std::string comfyui_lora_name(const std::string& tag, const std::vector<std::string>& names) {
  for (bool exact : {true, false}) {
    std::vector<std::string> hits;
    for (const auto& n : names)
      if (exact ? file_stem(n) == tag : util::iequals(file_stem(n), tag)) hits.push_back(n);
    if (hits.size() == 1) return hits[0];
    if (hits.size() > 1) throw Error("LoRA '" + tag + "' is ambiguous: the server lists " + util::join(hits, ", "));
  }
  throw Error("LoRA '" + tag + "' is not on the server (LoraLoader lists: " + listing(names) + ")");
}

json fill_comfyui_workflow(const json& workflow, const plan::Step& step, const std::vector<std::string>* lora_names) {
  json g = workflow;
  std::set<std::string> used;
  fill_node(g, placeholder_values(step), used);
  for (const char* need : {"checkpoint", "prompt", "seed"})
    if (!used.count(need)) throw Error(std::string("workflow template: no {{") + need + "}} placeholder");
  std::vector<ComfyLora> loras = comfyui_loras(step.param("prompt"));
  if (!loras.empty()) {
    for (ComfyLora& l : loras) l.lora_name = lora_names ? comfyui_lora_name(l.tag, *lora_names) : l.tag + ".safetensors";
    chain_loras(g, loras);
  }
  return g;
}

std::vector<std::string> probe_comfyui(const std::vector<std::string>& urls, double timeout_s,
                                       std::vector<std::string>* errors) {
  std::vector<std::string> alive;
  for (const auto& u : urls) {
    HttpCall call;
    call.path = "/system_stats";
    call.what = "GET /system_stats";
    call.connect_s = call.deadline_s = timeout_s;
    HttpFailure f = http_call(u, call).failure;
    if (f.message.empty()) alive.push_back(u);
    else if (errors) errors->push_back(f.message);
  }
  return alive;
}

}  // namespace ghx::backends
