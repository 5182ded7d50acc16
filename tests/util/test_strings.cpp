// Mirrors src/util/strings.cpp.
#include <catch2/catch.hpp>

#include "util/error.h"
#include "util/strings.h"

using namespace ghx;

TEST_CASE("base64 round trips and rejects garbage", "[util]") {
  for (std::string s : {std::string(""), std::string("f"), std::string("fo"), std::string("foo"),
                        std::string("\x00\xff\x10 binary", 10)}) {
    CHECK(util::base64_decode(util::base64_encode(s)) == s);
  }
  CHECK(util::base64_encode("foobar") == "Zm9vYmFy");
  CHECK(util::base64_decode("Zm9vYg==") == "foob");
  CHECK(util::base64_decode("data:image/png;base64,Zm9v\n") == "foo");
  CHECK_THROWS_AS(util::base64_decode("abc"), Error);
  CHECK_THROWS_AS(util::base64_decode("a!c="), Error);
}

TEST_CASE("numbers print the same everywhere", "[util]") {
  CHECK(util::shortest_double(0.8) == "0.8");
  CHECK(util::shortest_double(1.0) == "1");
  CHECK(util::shortest_float(0.48145466f) == "0.48145467");
  CHECK(util::fixed_double(-0.00001, 3) == "0.000");
  CHECK(util::closest_match("stpes", {"steps", "seed", "width"}) == "steps");
  CHECK(util::closest_match("zzzzzz", {"steps", "seed"}).empty());
}

TEST_CASE("split keeps empty parts, iequals ignores ASCII case only", "[util]") {
  CHECK(util::split("a,,b", ',') == std::vector<std::string>{"a", "", "b"});
  CHECK(util::split("", ',') == std::vector<std::string>{""});
  CHECK(util::split("a,", ',') == std::vector<std::string>{"a", ""});
  CHECK(util::iequals("Moxin_10", "mOXIN_10"));
  CHECK_FALSE(util::iequals("moxin", "moxin_"));
  CHECK_FALSE(util::iequals("\xc3\x89", "\xc3\xa9"));  // É vs é: not ASCII, compared as bytes
}
