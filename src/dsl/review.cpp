#include "dsl/review.h"

namespace ghx::dsl {

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

}  // namespace ghx::dsl
