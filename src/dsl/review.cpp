#include "dsl/review.h"

namespace ghx::dsl {

bool is_head_metric(const std::string& m) { return m == "aesthetic" || m == "rating" || m == "artifacts"; }
bool is_preference_metric(const std::string& m) { return m == "hpsv2" || m == "pickscore"; }

const char* to_string(StyleLossVariant v) {
  return v == StyleLossVariant::ghostreview ? "ghostreview" : "normalized";
}

const char* to_string(ClipScoreVariant v) {
  switch (v) {
    case ClipScoreVariant::raw: return "raw";
    case ClipScoreVariant::hessel: return "hessel";
    case ClipScoreVariant::x100: return "x100";
  }
  return "raw";
}

const char* to_string(FixupKind k) {
  switch (k) {
    case FixupKind::swap_version: return "swap_version";
    case FixupKind::default_weight: return "default_weight";
    case FixupKind::add_missing_tags: return "add_missing_tags";
    case FixupKind::exclude_made_with: return "exclude_made_with";
  }
  return "default_weight";
}

}  // namespace ghx::dsl
