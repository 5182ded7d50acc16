#include "dsl/lora.h"

#include <cmath>
#include <cstdlib>
#include <set>

#include "util/strings.h"

namespace ghx::dsl {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

using util::trim;

using util::iequals;

/// A plain decimal number ("0.8", "-1", ".5", "1e-1"), nothing else.
bool parse_number(const std::string& s, double& out) {
  if (s.empty()) return false;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(out)) return false;
  // strtod also reads "inf", "nan" and hex floats: a weight is written in decimal.
  return s.find_first_not_of("0123456789.+-eE") == std::string::npos;
}

/// Parses a tag starting at prompt[pos] == '<'; returns false when it is not a tag.
bool parse_tag(std::string_view prompt, size_t pos, LoraTag& tag) {
  size_t close = prompt.find('>', pos + 1);
  if (close == std::string_view::npos) return false;
  std::string_view inner = prompt.substr(pos + 1, close - pos - 1);
  if (inner.find('<') != std::string_view::npos) return false;  // "<a <lora:x>": the tag starts later
  size_t colon = inner.find(':');
  if (colon == std::string_view::npos || !iequals(trim(inner.substr(0, colon)), "lora")) return false;
  std::vector<std::string> fields;
  std::string_view rest = inner.substr(colon + 1);
  while (true) {
    size_t c = rest.find(':');
    fields.emplace_back(trim(rest.substr(0, c)));
    if (c == std::string_view::npos) break;
    rest.remove_prefix(c + 1);
  }
  if (fields[0].empty()) return false;
  tag.begin = pos;
  tag.end = close + 1;
  tag.name = fields[0];
  tag.params.assign(fields.begin() + 1, fields.end());
  tag.weights.clear();
  for (const auto& p : tag.params) {
    double w = 0;
    if (!parse_number(p, w)) {
      tag.weights.clear();
      break;
    }
    tag.weights.push_back(w);
  }
  return true;
}

/// Replaces every tag for which `fn` returns a replacement; text outside tags is kept as is.
template <typename Fn>
std::string rewrite_tags(const std::string& prompt, Fn fn) {
  std::string out;
  size_t at = 0;
  for (const LoraTag& t : find_lora_tags(prompt)) {
    out.append(prompt, at, t.begin - at);
    std::string repl;
    if (fn(t, repl)) out += repl;
    else out.append(prompt, t.begin, t.end - t.begin);
    at = t.end;
  }
  out.append(prompt, at, std::string::npos);
  return out;
}

std::string describe(const Fixup& f) {
  std::string s = std::string("fixup ") + to_string(f.kind);
  if (f.kind == FixupKind::swap_version) s += " (" + f.from + " -> " + f.to + ")";
  return s;
}

}  // namespace

std::vector<LoraTag> find_lora_tags(std::string_view prompt) {
  std::vector<LoraTag> tags;
  size_t pos = 0;
  while ((pos = prompt.find('<', pos)) != std::string_view::npos) {
    LoraTag t;
    if (parse_tag(prompt, pos, t)) {
      tags.push_back(std::move(t));
      pos = tags.back().end;
    } else {
      ++pos;
    }
  }
  return tags;
}

bool has_lora_tag(std::string_view prompt, std::string_view name) {
  for (const LoraTag& t : find_lora_tags(prompt))
    if (iequals(t.name, name)) return true;
  return false;
}

std::string format_lora_tag(const std::string& name, const LoraTag& shape) {
  std::string s = "<lora:" + name;
  for (size_t i = 0; i < shape.params.size(); ++i)
    s += ":" + (shape.numeric() ? util::shortest_double(shape.weights[i]) : shape.params[i]);
  return s + ">";
}

std::string format_lora_tag(const std::string& name, double weight) {
  return "<lora:" + name + ":" + util::shortest_double(weight) + ">";
}

std::string append_lora_tag(std::string_view prompt, const std::string& tag, double weight) {
  size_t end = prompt.size();
  while (end > 0 && (is_space(prompt[end - 1]) || prompt[end - 1] == ',')) --end;
  std::string out(prompt.substr(0, end));
  if (!out.empty()) out += ", ";
  return out + format_lora_tag(tag, weight);
}

FixedPrompt apply_fixups(const Suite& suite, const Lora& lora, const Showcase& sc, std::vector<bool>* changed) {
  FixedPrompt fp;
  fp.original = sc.prompt;
  std::string text = sc.prompt;
  if (changed) changed->assign(suite.fixups.size(), false);
  for (size_t i = 0; i < suite.fixups.size(); ++i) {
    const Fixup& f = suite.fixups[i];
    std::string next = text;
    switch (f.kind) {
      case FixupKind::swap_version:
        next = rewrite_tags(text, [&](const LoraTag& t, std::string& repl) {
          if (!iequals(t.name, f.from)) return false;
          repl = format_lora_tag(f.to, t);
          return true;
        });
        break;
      case FixupKind::default_weight:
        next = rewrite_tags(text, [&](const LoraTag& t, std::string& repl) {
          if (!t.params.empty()) return false;
          repl = format_lora_tag(t.name, f.weight);
          return true;
        });
        if (!has_lora_tag(next, lora.tag)) next = append_lora_tag(next, lora.tag, f.weight);
        break;
      case FixupKind::add_missing_tags:
        for (const LoraUse& u : sc.uses) {
          const Lora* other = suite.lora(u.lora);
          if (other && !has_lora_tag(next, other->tag))
            next = append_lora_tag(next, other->tag, u.weight.value_or(suite.lora_default_weight));
        }
        break;
      case FixupKind::exclude_made_with: break;  // changes scores, not prompts
    }
    if (next != text) {
      fp.rules.push_back(to_string(f.kind));
      if (changed) (*changed)[i] = true;
      text = std::move(next);
    }
  }
  fp.final_text = std::move(text);
  return fp;
}

std::vector<std::pair<std::string, std::string>> notm_exclusions(const Suite& suite,
                                                                 const std::vector<std::string>& checkpoints) {
  std::vector<std::pair<std::string, std::string>> out;
  bool active = false;
  for (const Fixup& f : suite.fixups) active |= f.kind == FixupKind::exclude_made_with;
  if (!active) return out;
  for (const std::string& c : checkpoints)
    for (const Lora& l : suite.loras)
      for (const std::string& m : l.made_with)
        if (m == c) {
          out.emplace_back(c, l.id);
          break;
        }
  return out;
}

std::string a1111_form(const LoraTag& tag) {
  std::string s = "<lora:" + tag.name;
  for (const auto& p : tag.params) s += ":" + p;
  return s + ">";
}

bool a1111_reads(std::string_view prompt, const LoraTag& tag) {
  return prompt.substr(tag.begin, tag.end - tag.begin) == a1111_form(tag);
}

void warn_unreadable_tags(const Suite& suite, Diagnostics& diags) {
  for (const Lora& l : suite.loras)
    for (const Showcase& sc : l.showcase) {
      if (sc.skip) continue;
      std::string text = apply_fixups(suite, l, sc).final_text;
      for (const LoraTag& t : find_lora_tags(text))
        if (!a1111_reads(text, t))
          diags.warning(sc.pos, "LoRA '" + l.id + "': tag '" + text.substr(t.begin, t.end - t.begin) +
                                    "' is not written as A1111 reads tags ('" + a1111_form(t) +
                                    "'); the webui would ignore it (fix the prompt, or let a rule rewrite it)");
    }
}

void warn_unused_fixups(const Suite& suite, const std::vector<std::string>& checkpoints, Diagnostics& diags) {
  std::vector<bool> used(suite.fixups.size(), false), changed;
  for (const Lora& l : suite.loras)
    for (const Showcase& sc : l.showcase) {
      if (sc.skip) continue;
      apply_fixups(suite, l, sc, &changed);
      for (size_t i = 0; i < used.size(); ++i) used[i] = used[i] || changed[i];
    }
  bool excludes = !notm_exclusions(suite, checkpoints).empty();
  for (size_t i = 0; i < suite.fixups.size(); ++i) {
    const Fixup& f = suite.fixups[i];
    if (f.kind == FixupKind::exclude_made_with) {
      if (!excludes)
        diags.warning(f.pos, describe(f) + " excludes nothing: no LoRA's made_with names a checkpoint under test");
    } else if (!used[i]) {
      diags.warning(f.pos, describe(f) + " changed no prompt of suite '" + suite.name + "'");
    }
  }
}

}  // namespace ghx::dsl
