#pragma once
// LoRA tags inside prompts and the [[fixup]] rules that repair showcase prompts (docs/language.md,
// "Rewriting rules"). Pure text functions: the same suite gives the same prompts everywhere.
// Owns: finding <lora:...> tags, writing them back in canonical form, applying the rules of a
// suite in order and recording which rule changed what, and NoTM's (checkpoint, LoRA) pairs.
// Never: touches files; text outside a tag is never changed.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "dsl/diagnostics.h"
#include "dsl/review.h"

namespace ghx::dsl {

/// One `<lora:NAME>`, `<lora:NAME:W>` or `<lora:NAME:TE:UNET>` found in a prompt.
struct LoraTag {
  size_t begin = 0, end = 0;        ///< byte range [begin, end) in the prompt
  std::string name;                 ///< trimmed, as written
  std::vector<std::string> params;  ///< the fields after the name, trimmed, as written
  std::vector<double> weights;      ///< params as numbers (empty when one is not a plain number)
  bool numeric() const { return weights.size() == params.size(); }
  /// `<lora:NAME>`, `<lora:NAME:W>` or `<lora:NAME:TE:UNET>` with plain numbers: the forms that
  /// say only how strongly the text encoder and the UNet are changed (what a ComfyUI LoraLoader
  /// takes); not A1111's named (`te=`) or `dyn` forms.
  bool plain_weights() const { return numeric() && params.size() <= 2; }
};

/// Every tag of `prompt` in order. Spaces around ':' and inside the brackets are tolerated and
/// "lora" matches ignoring case. `<lora:>` (no name) and unclosed brackets are plain text.
std::vector<LoraTag> find_lora_tags(std::string_view prompt);

/// The tag as A1111 reads tags (`<lora:NAME:P...>`: lowercase `lora`, no spaces).
std::string a1111_form(const LoraTag& tag);
/// true when A1111 reads this tag of `prompt`: it is written exactly in a1111_form (the webui
/// silently ignores anything else).
bool a1111_reads(std::string_view prompt, const LoraTag& tag);

/// true when `prompt` has a tag whose name equals `name` ignoring (ASCII) case.
bool has_lora_tag(std::string_view prompt, std::string_view name);

/// `<lora:NAME:W>` / `<lora:NAME:TE:UNET>` with weights in shortest round-trip form; a tag
/// whose parameters are not plain numbers keeps them as written.
std::string format_lora_tag(const std::string& name, const LoraTag& shape);
std::string format_lora_tag(const std::string& name, double weight);

/// Appends `, <lora:TAG:W>` after `prompt` with its trailing spaces and commas trimmed.
std::string append_lora_tag(std::string_view prompt, const std::string& tag, double weight);

/// A showcase prompt after the suite's rules.
struct FixedPrompt {
  std::string original;
  std::string final_text;
  std::vector<std::string> rules;  ///< kinds of the rules that changed it, in the order applied
};

/// Applies every prompt-rewriting [[fixup]] of `suite`, in the order written, to one showcase
/// of `lora`. `changed[i]` is set when rule i changed this prompt (sized to suite.fixups).
FixedPrompt apply_fixups(const Suite& suite, const Lora& lora, const Showcase& showcase,
                         std::vector<bool>* changed = nullptr);

/// NoTM: the (checkpoint name, LoRA id) pairs left out of `*_notm` scores: every LoRA's
/// `made_with` names that are checkpoints under test, when the suite has exclude_made_with.
std::vector<std::pair<std::string, std::string>> notm_exclusions(const Suite& suite,
                                                                 const std::vector<std::string>& checkpoints);

/// Warns (FILE:LINE:COL) for every rule of `suite` that changes no prompt (rewriting rules) or
/// excludes no (checkpoint, LoRA) pair of this review (exclude_made_with).
void warn_unused_fixups(const Suite& suite, const std::vector<std::string>& checkpoints, Diagnostics& diags);

/// Warns for every tag left in a final showcase prompt that is not written the way A1111 reads
/// tags (`<lora:NAME:W>`: lowercase `lora`, no spaces): the webui would silently ignore it.
void warn_unreadable_tags(const Suite& suite, Diagnostics& diags);

}  // namespace ghx::dsl
