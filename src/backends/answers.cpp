#include "backends/answers.h"

#include <limits>

#include <nlohmann/json.hpp>

#include "util/error.h"
#include "util/strings.h"

namespace ghx::backends {

namespace {

using nlohmann::json;

[[noreturn]] void malformed(const std::string& what) { throw Error("malformed answer: " + what); }

/// nlohmann's message without its "[json.exception.parse_error.101] " prefix.
std::string plain(const char* what) {
  std::string m = what;
  if (m.rfind("[json.exception.", 0) == 0) {
    const size_t close = m.find("] ");
    if (close != std::string::npos) m = m.substr(close + 2);
  }
  return m;
}

constexpr int k_max_depth = 64;
constexpr size_t k_max_values = size_t(1) << 20;

/// Refuses what would cost far more than its bytes once parsed: nesting deeper than
/// k_max_depth (what is later walked or printed could recurse that deep) and more than
/// k_max_values values (a DOM value costs tens of bytes: "[[],[],...]" would take ~25x the body).
void check_shape(const std::string& text) {
  int depth = 0;
  size_t values = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
      continue;
    }
    switch (c) {
      case '"': in_string = true; break;
      case '[':
      case '{':
        if (++depth > k_max_depth) malformed("nested deeper than " + std::to_string(k_max_depth) + " levels");
        [[fallthrough]];
      case ',':
        if (++values > k_max_values) malformed("more than " + std::to_string(k_max_values) + " values");
        break;
      case ']':
      case '}': --depth; break;
      default: break;
    }
  }
}

json parse_json(const std::string& body) {
  check_shape(body);
  try {
    return json::parse(body);
  } catch (const json::exception& e) {
    malformed("not JSON (" + plain(e.what()) + ")");
  }
}

/// "a string", "an array", ... for messages.
std::string kind(const json& v) {
  const std::string t = v.type_name();
  return (t == "array" || t == "object" ? "an " : "a ") + t;
}

const json& need_object(const json& v, const std::string& path) {
  if (!v.is_object()) malformed((path.empty() ? "the answer" : path) + " is " + kind(v) + ", expected an object");
  return v;
}

const json& need_array(const json& v, const std::string& path) {
  if (!v.is_array()) malformed(path + " is " + kind(v) + ", expected an array");
  return v;
}

const json& member(const json& obj, const std::string& path, const std::string& key) {
  need_object(obj, path);
  auto it = obj.find(key);
  if (it == obj.end()) malformed((path.empty() ? "" : path + ".") + key + " is missing");
  return *it;
}

/// The member, or nullptr when absent or null.
const json* optional(const json& obj, const std::string& key) {
  auto it = obj.find(key);
  return it == obj.end() || it->is_null() ? nullptr : &*it;
}

std::string need_string(const json& v, const std::string& path) {
  if (!v.is_string()) malformed(path + " is " + kind(v) + ", expected a string");
  return v.get<std::string>();
}

/// An optional string member: "" when absent or null.
std::string string_or_empty(const json& obj, const std::string& path, const std::string& key) {
  const json* v = optional(obj, key);
  return v ? need_string(*v, (path.empty() ? "" : path + ".") + key) : "";
}

int64_t need_int(const json& v, const std::string& path) {
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) malformed(path + " is out of range");
    return static_cast<int64_t>(v.get<uint64_t>());
  }
  if (!v.is_number_integer()) malformed(path + " is " + kind(v) + ", expected an integer");
  return v.get<int64_t>();
}

std::string at(const std::string& path, size_t i) { return path + "[" + std::to_string(i) + "]"; }

/// A 200 whose body is the server's error object (A1111's handle_exception writes
/// {"error": type, "detail": ..., "body": ..., "errors": str(e)}; ComfyUI's {"error": {type,
/// message, details}}): throws "the server reported an error: ...". Otherwise returns.
void reported_error(const json& j, const char* answer_key) {
  if (!j.is_object() || j.contains(answer_key)) return;
  const json* e = optional(j, "error");
  if (!e) return;
  std::string msg;
  auto add = [&](const json* v) {
    if (!v) return;
    const std::string t = v->is_string() ? v->get<std::string>() : (v->is_primitive() ? v->dump() : "(" + kind(*v) + ")");
    if (t.empty()) return;
    msg += (msg.empty() ? "" : ": ") + util::printable_prefix(t, 300);
  };
  if (e->is_object()) {
    add(optional(*e, "type"));
    add(optional(*e, "message"));
    add(optional(*e, "details"));
  } else {
    add(e);
    add(optional(j, "detail"));
    add(optional(j, "errors"));
  }
  throw Error("the server reported an error: " + (msg.empty() ? std::string("(no message)") : msg));
}

}  // namespace

Txt2ImgAnswer parse_txt2img_answer(const std::string& body) {
  const json ans = parse_json(body);
  reported_error(ans, "images");
  const json& images = need_array(member(ans, "", "images"), "images");
  const json& info_field = member(ans, "", "info");
  json info_parsed;
  if (info_field.is_string()) {
    check_shape(info_field.get_ref<const std::string&>());
    try {
      info_parsed = json::parse(info_field.get<std::string>());
    } catch (const json::exception& e) {
      malformed("info is not JSON (" + plain(e.what()) + ")");
    }
  }
  const json& info = need_object(info_field.is_string() ? info_parsed : info_field, "info");
  Txt2ImgAnswer out;
  int64_t first = 0;
  if (const json* f = optional(info, "index_of_first_image")) first = need_int(*f, "info.index_of_first_image");
  if (first < 0 || static_cast<uint64_t>(first) > images.size())
    malformed("info.index_of_first_image is " + std::to_string(first) + " for " + std::to_string(images.size()) + " images");
  for (size_t i = static_cast<size_t>(first); i < images.size(); ++i) out.images.push_back(need_string(images[i], at("images", i)));
  const json& seeds = need_array(member(info, "info", "all_seeds"), "info.all_seeds");
  for (size_t i = 0; i < seeds.size(); ++i) out.seeds.push_back(need_int(seeds[i], at("info.all_seeds", i)));
  if (const json* t = optional(info, "infotexts")) {
    need_array(*t, "info.infotexts");
    for (size_t i = static_cast<size_t>(first); i < t->size(); ++i) out.infotexts.push_back(need_string((*t)[i], at("info.infotexts", i)));
  }
  out.model_name = string_or_empty(info, "info", "sd_model_name");
  out.model_hash = string_or_empty(info, "info", "sd_model_hash");
  return out;
}

std::vector<ServerModel> parse_sd_models(const std::string& body) {
  const json j = parse_json(body);
  reported_error(j, "");
  const json& list = need_array(j, "the answer");
  std::vector<ServerModel> out;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string p = at("", i);
    const json& m = need_object(list[i], p);
    ServerModel s;
    s.title = string_or_empty(m, p, "title");
    s.model_name = string_or_empty(m, p, "model_name");
    s.hash = string_or_empty(m, p, "hash");
    s.sha256 = string_or_empty(m, p, "sha256");
    s.filename = string_or_empty(m, p, "filename");
    out.push_back(std::move(s));
  }
  return out;
}

std::string parse_prompt_answer(const std::string& body) {
  const json j = parse_json(body);
  reported_error(j, "prompt_id");
  const std::string id = need_string(member(j, "", "prompt_id"), "prompt_id");
  if (id.empty() || id.size() > 200 || id.find_first_of("/?#%\\ ") != std::string::npos || id != util::printable_prefix(id, 200))
    malformed("prompt_id '" + util::printable_prefix(id, 60) + "' is not an id");
  return id;
}

HistoryEntry parse_history(const std::string& body, const std::string& prompt_id) {
  const json j = parse_json(body);
  need_object(j, "");
  HistoryEntry out;
  auto it = j.find(prompt_id);
  if (it == j.end()) return out;  // not finished yet
  const std::string p = prompt_id;
  const json& entry = need_object(*it, p);
  if (const json* st = optional(entry, "status")) {
    need_object(*st, p + ".status");
    if (string_or_empty(*st, p + ".status", "status_str") == "error") {
      out.state = HistoryEntry::State::failed;
      out.error = "execution error";
      if (const json* msgs = optional(*st, "messages")) {
        need_array(*msgs, p + ".status.messages");
        for (const json& m : *msgs)
          if (m.is_array() && m.size() == 2 && m[0] == "execution_error" && m[1].is_object())
            if (const json* em = optional(m[1], "exception_message"); em && em->is_string())
              out.error = util::printable_prefix(em->get<std::string>(), 500);
      }
      return out;
    }
  }
  const json* outputs = optional(entry, "outputs");
  if (outputs) need_object(*outputs, p + ".outputs");
  if (!outputs || outputs->empty()) {
    const json* st = optional(entry, "status");
    const json* done = st ? optional(*st, "completed") : nullptr;
    if (done && done->is_boolean() && done->get<bool>()) {
      out.state = HistoryEntry::State::failed;
      out.error = "finished without outputs";
    }
    return out;
  }
  std::vector<ComfyImage> saved, temp;
  for (const auto& [node, o] : outputs->items()) {
    const std::string op = p + ".outputs." + util::printable_prefix(node, 40);
    need_object(o, op);
    const json* imgs = optional(o, "images");
    if (!imgs) continue;
    need_array(*imgs, op + ".images");
    for (size_t i = 0; i < imgs->size(); ++i) {
      const std::string ip = at(op + ".images", i);
      const json& im = need_object((*imgs)[i], ip);
      ComfyImage c;
      c.filename = need_string(member(im, ip, "filename"), ip + ".filename");
      if (c.filename.empty()) malformed(ip + ".filename is empty");
      c.subfolder = string_or_empty(im, ip, "subfolder");
      c.type = string_or_empty(im, ip, "type");
      if (c.type.empty()) c.type = "output";
      (c.type == "output" ? saved : temp).push_back(std::move(c));
    }
  }
  out.state = HistoryEntry::State::done;
  out.images = saved.empty() ? std::move(temp) : std::move(saved);
  return out;
}

std::vector<std::string> parse_node_choices(const std::string& body, const std::string& node, const std::string& input) {
  const json j = parse_json(body);
  need_object(j, "");
  if (!j.contains(node)) throw Error("the server has no " + node + " node");
  const std::string p = node + ".input.required." + input;
  const json& required = member(member(member(j, "", node), node, "input"), node + ".input", "required");
  const json& spec = need_array(member(required, node + ".input.required", input), p);
  if (spec.empty()) malformed(p + " is empty");
  const json& list = need_array(spec[0], p + "[0]");
  std::vector<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) names.push_back(need_string(list[i], at(p + "[0]", i)));
  return names;
}

std::string comfyui_validation_message(const std::string& body) {
  try {
    const json j = json::parse(body);
    std::string msg;
    auto text = [](const json& o, const char* key) {
      const json* v = o.is_object() ? optional(o, key) : nullptr;
      return v && v->is_string() ? util::printable_prefix(v->get<std::string>(), 300) : std::string();
    };
    if (const json* ne = j.is_object() ? optional(j, "node_errors") : nullptr; ne && ne->is_object()) {
      for (const auto& [node, e] : ne->items()) {
        const json* errs = e.is_object() ? optional(e, "errors") : nullptr;
        if (!errs || !errs->is_array()) continue;
        for (const json& err : *errs) {
          if (!msg.empty()) msg += "; ";
          const std::string cls = text(e, "class_type"), details = text(err, "details");
          msg += "node " + util::printable_prefix(node, 40) + " (" + (cls.empty() ? "?" : cls) + "): " + text(err, "message") +
                 (details.empty() ? "" : ": " + details);
        }
      }
    }
    if (msg.empty())
      if (const json* e = j.is_object() ? optional(j, "error") : nullptr; e && e->is_object()) {
        const std::string details = text(*e, "details");
        msg = text(*e, "message") + (details.empty() ? "" : ": " + details);
      }
    return msg.empty() ? util::printable_prefix(body, 300) : msg;
  } catch (const std::exception&) {
    return util::printable_prefix(body, 300);
  }
}

}  // namespace ghx::backends
