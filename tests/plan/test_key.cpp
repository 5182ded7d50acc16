// Mirrors src/plan/key.cpp: the tagged step-key encoding of docs/cache-keys.md, its XXH3-128, and what moves a key.
#include <catch2/catch.hpp>

#include <xxhash.h>

#include <cstdint>
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "plan/key.h"

using namespace ghx;

namespace {

const plan::StepKind k_all_kinds[] = {plan::StepKind::generate,  plan::StepKind::target_features,
                                      plan::StepKind::image_features, plan::StepKind::metric,
                                      plan::StepKind::aggregate, plan::StepKind::report,
                                      plan::StepKind::text_features};

// One field as docs/cache-keys.md writes it: a tag byte, a 4-byte little-endian length, the bytes.
std::string field(char tag, const std::string& bytes) {
  std::string out(1, tag);
  const uint32_t n = static_cast<uint32_t>(bytes.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return out + bytes;
}

// The 16 raw bytes of a key: the bytes its 32 hex digits spell.
std::string raw_bytes(const plan::StepKey& k) {
  const std::string hex = k.hex();
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) out.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

// The encoding rebuilt from the documentation, independently of key.cpp.
std::string documented_input(const std::string& kind, int version, const plan::Params& params,
                             const std::vector<plan::StepKey>& inputs) {
  std::string b = field('S', "ghx-step-key/1") + field('K', kind) + field('V', std::to_string(version));
  for (const auto& [n, v] : params) b += field('N', n) + field('P', v);
  b += field('I', std::to_string(inputs.size()));
  for (const auto& k : inputs) b += "k" + raw_bytes(k);
  return b;
}

std::string xxh3_hex(const std::string& bytes) {
  XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return buf;
}

plan::StepKey key_of(const plan::Params& params, const std::vector<plan::StepKey>& inputs = {},
                     plan::StepKind kind = plan::StepKind::metric) {
  return plan::step_key(kind, params, inputs);
}

}  // namespace

TEST_CASE("kind names are the documented ones and versions are pinned", "[plan][key]") {
  const char* names[] = {"generate", "target_features", "image_features", "metric",
                         "aggregate", "report",          "text_features"};
  REQUIRE(plan::k_step_kind_count == 7);
  for (int i = 0; i < plan::k_step_kind_count; ++i) CHECK(std::string(plan::kind_name(k_all_kinds[i])) == names[i]);
  // Bumping a version re-keys every cached result of that kind: update this only on purpose.
  const int versions[] = {2, 3, 5, 2, 1, 3, 4};
  for (int i = 0; i < plan::k_step_kind_count; ++i) CHECK(plan::kind_version(k_all_kinds[i]) == versions[i]);
  CHECK(plan::k_key_schema == 1);
}

TEST_CASE("step_key_input is the tagged encoding, byte for byte", "[plan][key]") {
  // Written out by hand: S, K, V, one N/P pair, I = 0; each tag + 4-byte LE length + bytes.
  static const char k_expected[] = "S\x0e\0\0\0" "ghx-step-key/1"
                                   "K\x09\0\0\0" "aggregate"
                                   "V\x01\0\0\0" "1"
                                   "N\x01\0\0\0" "a"
                                   "P\x01\0\0\0" "b"
                                   "I\x01\0\0\0" "0";
  const std::string expected(k_expected, sizeof k_expected - 1);
  REQUIRE(expected.size() == 57);
  CHECK(plan::step_key_input(plan::StepKind::aggregate, {{"a", "b"}}, {}) == expected);

  // A bigger case against the encoding rebuilt from docs/cache-keys.md.
  const plan::StepKey in1 = key_of({{"i", "1"}});
  const plan::StepKey in2 = key_of({{"i", "2"}});
  const plan::Params params = {{"prompt", "anime girl"}, {"seed", "7"}, {"empty", ""}};
  for (plan::StepKind kind : k_all_kinds)
    CHECK(plan::step_key_input(kind, params, {in1, in2}) ==
          documented_input(plan::kind_name(kind), plan::kind_version(kind), params, {in1, in2}));
}

TEST_CASE("lengths are 4-byte little-endian and values may hold any byte", "[plan][key]") {
  std::string value(300, 'x');  // 300 = 0x012c: the low byte comes first
  value[10] = '\0';
  value[20] = 'P';
  const std::string s = plan::step_key_input(plan::StepKind::generate, {{"prompt", value}}, {});
  CHECK(s.find(std::string("P\x2c\x01\0\0", 5) + value) != std::string::npos);
  CHECK(s == documented_input("generate", plan::kind_version(plan::StepKind::generate), {{"prompt", value}}, {}));
}

TEST_CASE("input keys enter as k and their 16 raw bytes, high half first", "[plan][key]") {
  plan::StepKey in;
  in.hi = 0x0102030405060708ull;
  in.lo = 0x090a0b0c0d0e0f10ull;
  static const char k_tail[] = "I\x01\0\0\0" "1"
                               "k\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10";
  const std::string tail(k_tail, sizeof k_tail - 1);
  REQUIRE(tail.size() == 23);
  const std::string s = plan::step_key_input(plan::StepKind::metric, {{"metric", "style_loss"}}, {in});
  REQUIRE(s.size() > tail.size());
  CHECK(s.substr(s.size() - tail.size()) == tail);
}

TEST_CASE("step_key is XXH3-128 of the encoding, as 32 hex digits", "[plan][key]") {
  const plan::StepKey in = key_of({{"x", "y"}});
  const plan::Params params = {{"checkpoint", "sha256:abc"}, {"seed", "42"}};
  const std::string encoding =
      documented_input("generate", plan::kind_version(plan::StepKind::generate), params, {in});
  const plan::StepKey k = plan::step_key(plan::StepKind::generate, params, {in});
  CHECK(k.hex() == xxh3_hex(encoding));
  XXH128_hash_t h = XXH3_128bits(encoding.data(), encoding.size());
  CHECK(k.hi == h.high64);
  CHECK(k.lo == h.low64);
  CHECK(k.hex().size() == 32);
  CHECK(k.hex().find_first_not_of("0123456789abcdef") == std::string::npos);
  CHECK(k == plan::step_key(plan::StepKind::generate, params, {in}));  // deterministic
}

TEST_CASE("a value cannot run into its neighbour", "[plan][key]") {
  const std::vector<plan::Params> cases = {
      {{"ab", "c"}},
      {{"a", "bc"}},
      {{"abc", ""}},
      {{"", "abc"}},
      {{"x", "y"}},
      {{"y", "x"}},
      {{"a", "b"}, {"c", "d"}},
      {{"a", "b" + field('N', "c") + field('P', "d")}},  // a value forging the next pair
      {{"a", "bcd"}},
      {{"", ""}},
      {},
  };
  std::set<std::string> keys;
  for (const auto& p : cases) keys.insert(key_of(p).hex());
  CHECK(keys.size() == cases.size());
}

TEST_CASE("every name, value, order, kind and input moves the key", "[plan][key]") {
  const plan::StepKey a = key_of({{"i", "a"}});
  const plan::StepKey b = key_of({{"i", "b"}});
  const plan::Params base = {{"metric", "style_loss"}, {"variant", "gram"}};
  const plan::StepKey k = key_of(base, {a, b});

  CHECK(k != key_of({{"metric", "style_loss"}, {"variantx", "gram"}}, {a, b}));  // a name
  CHECK(k != key_of({{"metric", "style_loss"}, {"variant", "gram2"}}, {a, b}));  // a value
  CHECK(k != key_of({{"variant", "gram"}, {"metric", "style_loss"}}, {a, b}));   // the order
  CHECK(k != key_of({{"metric", "style_loss"}}, {a, b}));                        // one fewer
  CHECK(k != key_of(base, {b, a}));                                              // input order
  CHECK(k != key_of(base, {a}));                                                 // one input fewer
  CHECK(k != key_of(base, {a, b, b}));                                           // one more
  CHECK(k != key_of(base, {}));
  plan::StepKey b2 = b;
  b2.lo ^= 1;  // one bit of one input
  CHECK(k != key_of(base, {a, b2}));
  CHECK(k == key_of(base, {a, b}));

  std::set<std::string> by_kind;
  for (plan::StepKind kind : k_all_kinds) by_kind.insert(plan::step_key(kind, base, {a, b}).hex());
  CHECK(by_kind.size() == static_cast<size_t>(plan::k_step_kind_count));
}

TEST_CASE("a key's hex reads back with Digest128::from_hex", "[plan][key]") {
  const plan::StepKey k = key_of({{"seed", "1"}});
  plan::StepKey back;
  REQUIRE(util::Digest128::from_hex(k.hex(), &back));
  CHECK(back == k);
  const std::string hex = k.hex();
  CHECK_FALSE(util::Digest128::from_hex(hex.substr(1), &back));  // 31 digits
  CHECK_FALSE(util::Digest128::from_hex(hex + "0", &back));      // 33 digits
  CHECK_FALSE(util::Digest128::from_hex("g" + hex.substr(1), &back));
  CHECK_FALSE(util::Digest128::from_hex("", &back));
}

TEST_CASE("Params: interned names and values read back in order, equal params compare equal", "[plan][key]") {
  plan::Params p = {{"prompt", "a cat"}, {"seed", "7"}};
  p.emplace_back("prompt", std::string("a cat, ") + "again");  // a repeated name, a built value
  REQUIRE(p.size() == 3);
  std::vector<std::string> seen;
  for (const auto& [n, v] : p) seen.push_back(n + "=" + v);
  CHECK(seen == std::vector<std::string>{"prompt=a cat", "seed=7", "prompt=a cat, again"});
  CHECK(p[1].second == "7");
  CHECK(&p[0].first == &p[2].first);  // one copy of "prompt"
  CHECK(&util::intern("a cat") == &p[0].second);
  plan::Params q = {{"prompt", "a cat"}, {"seed", "7"}, {"prompt", "a cat, again"}};
  CHECK(p == q);
  q.set(1, "8");
  CHECK(p != q);
  CHECK(q[1].second == "8");
  CHECK(plan::step_key(plan::StepKind::generate, p, {}) != plan::step_key(plan::StepKind::generate, q, {}));
  q.pop_back();
  CHECK(q.size() == 2);
  CHECK(util::interned(util::intern_id("")) == "");
}

TEST_CASE("KeySet: every key inserted is found, no other, growth keeps them, the zero key too", "[plan][key]") {
  plan::KeySet s;
  CHECK(s.empty());
  std::vector<plan::StepKey> keys;
  for (int i = 0; i < 5000; ++i) keys.push_back(key_of({{"i", std::to_string(i)}}));
  for (size_t i = 0; i < keys.size(); i += 2) CHECK(s.insert(keys[i]));
  CHECK_FALSE(s.insert(keys[0]));  // already there
  CHECK(s.size() == 2500);
  size_t found = 0, wrong = 0;
  for (size_t i = 0; i < keys.size(); ++i) {
    if (i % 2 == 0) found += s.count(keys[i]);
    else wrong += s.count(keys[i]);
  }
  CHECK(found == 2500);
  CHECK(wrong == 0);
  CHECK(s.count(plan::StepKey{}) == 0);
  CHECK(s.insert(plan::StepKey{}));
  CHECK(s.count(plan::StepKey{}) == 1);
  CHECK(s.size() == 2501);
  plan::KeySet r;
  r.reserve(100);
  for (int i = 0; i < 100; ++i) r.insert(keys[i]);
  CHECK(r.size() == 100);
  CHECK(r.count(keys[99]) == 1);
}
