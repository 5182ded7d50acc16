// Mirrors src/cache/merge.cpp: `ghx cache merge` (Cache::merge_from).
#include <catch2/catch.hpp>

#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>

#include "cache/cache.h"
#include "support.h"
#include "util/error.h"

using namespace ghx;
namespace fs = std::filesystem;

namespace {

plan::StepKey key_of(plan::StepKind kind, const std::string& name) { return plan::step_key(kind, {{"n", name}}, {}); }
const plan::StepKey g1 = key_of(plan::StepKind::generate, "g1");
const plan::StepKey g2 = key_of(plan::StepKind::generate, "g2");
const plan::StepKey f1 = key_of(plan::StepKind::image_features, "f1");  // from g1
const plan::StepKey m1 = key_of(plan::StepKind::metric, "m1");          // from f1 and t
const plan::StepKey t = key_of(plan::StepKind::target_features, "t");

cache::Provenance from(std::initializer_list<plan::StepKey> inputs) {
  cache::Provenance p{"ghx test", 0.25, "cpu", {}};
  for (const auto& k : inputs) p.inputs += (p.inputs.empty() ? "" : " ") + k.hex();
  return p;
}

/// A shard's cache: the chain of `g` (image bytes `image`) plus the shared target.
void fill(cache::Cache& c, const std::string& image, const plan::StepKey& g = g1) {
  c.put(t, "target_features", "target", from({}));
  c.put(g, "generate", image, from({}));
  if (g == g1) {
    c.put(f1, "image_features", "features of " + image, from({g1}));
    c.put(m1, "metric", "metric of " + image, from({f1, t}));
  }
}

int64_t rows(const std::string& dir) {
  SQLite::Database db(dir + "/ghx.db", SQLite::OPEN_READONLY);
  return db.execAndGet("SELECT count(*) FROM steps").getInt64();
}

}  // namespace

TEST_CASE("merge: copies what the destination lacks, re-hashed, idempotent", "[cache][merge]") {
  test::TempDir d;
  {
    auto a = cache::Cache::open(d / "a");
    fill(*a, "image one");
    auto b = cache::Cache::open(d / "b");
    fill(*b, "image two", g2);
    b->put_failure(key_of(plan::StepKind::generate, "g3"), "generate", "server said no", from({}));
  }
  auto dest = cache::Cache::open(d / "dest");
  cache::MergeReport r = dest->merge_from({d / "a", d / "b"});
  CHECK(r.copied == 5);  // t, g1, f1, m1, g2 (t once)
  CHECK(r.rows == 6);
  CHECK(r.failures_left == 1);
  CHECK(r.choices.empty());
  CHECK(dest->get(m1) == std::optional<std::string>("metric of image one"));
  CHECK(dest->get(g2) == std::optional<std::string>("image two"));
  CHECK(dest->record(f1)->provenance.inputs == g1.hex());  // provenance kept, inputs too
  CHECK(dest->record(f1)->provenance.duration_s == 0.25);
  CHECK(rows(d / "dest") == 5);  // the failure is not merged: the next run retries it
  cache::MergeReport again = dest->merge_from({d / "a", d / "b"});
  CHECK(again.copied == 0);
  CHECK(again.present == 5);
  CHECK(rows(d / "dest") == 5);
  CHECK(dest->verify(cache::Repair::no).bad.empty());
}

TEST_CASE("merge: different images of one generation keep one, whatever the order, its dependents go with it",
          "[cache][merge]") {
  test::TempDir d;
  {
    auto a = cache::Cache::open(d / "a");
    fill(*a, "image A");
    auto b = cache::Cache::open(d / "b");
    fill(*b, "image B");
  }
  std::optional<std::string> kept_image;
  for (auto order : {std::vector<std::string>{d / "a", d / "b"}, std::vector<std::string>{d / "b", d / "a"}}) {
    fs::remove_all(d / "dest");
    auto dest = cache::Cache::open(d / "dest");
    cache::MergeReport r = dest->merge_from(order);
    REQUIRE(r.choices.size() == 1);
    CHECK(r.choices[0].key == g1.hex());
    CHECK(r.dependents_left == 2);  // the losing source's f1 and m1 were made from its image
    auto img = dest->get(g1);
    REQUIRE(img);
    if (kept_image) CHECK(*img == *kept_image);  // the same image for either order
    kept_image = img;
    // The features and metric beside it were made from that very image.
    CHECK(dest->get(f1) == std::optional<std::string>("features of " + *img));
    CHECK(dest->get(m1) == std::optional<std::string>("metric of " + *img));
    CHECK(r.choices[0].kept == (*img == "image A" ? d / "a" : d / "b"));
  }
  // The destination's own image is kept over any source's.
  fs::remove_all(d / "dest");
  auto dest = cache::Cache::open(d / "dest");
  const std::string other = *kept_image == "image A" ? "image B" : "image A";
  dest->put(g1, "generate", other, from({}));
  cache::MergeReport r = dest->merge_from({d / "a", d / "b"});
  REQUIRE(r.choices.size() == 1);
  CHECK(r.choices[0].kept == "DEST");
  CHECK(dest->get(g1) == std::optional<std::string>(other));
  CHECK(dest->get(f1) == std::optional<std::string>("features of " + other));
}

TEST_CASE("merge: a deterministic step with two results is a hard error, and nothing is merged", "[cache][merge]") {
  test::TempDir d;
  {
    auto a = cache::Cache::open(d / "a");
    fill(*a, "image");
    auto b = cache::Cache::open(d / "b");
    fill(*b, "image");
    b->put(t, "target_features", "another target", from({}));  // other numerics, say
  }
  auto dest = cache::Cache::open(d / "dest");
  try {
    dest->merge_from({d / "a", d / "b"});
    FAIL("no error");
  } catch (const Error& e) {
    std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find(t.hex()) != std::string::npos);
    CHECK(msg.find("target_features") != std::string::npos);
    CHECK(msg.find("nothing was merged") != std::string::npos);
  }
  CHECK(rows(d / "dest") == 0);
}

TEST_CASE("merge: damaged sources and wrong folders", "[cache][merge]") {
  test::TempDir d;
  {
    auto a = cache::Cache::open(d / "a");
    fill(*a, "image");
  }
  // A corrupt blob in a source is not copied (the next run recomputes the step).
  {
    SQLite::Database db(d / "a/ghx.db", SQLite::OPEN_READONLY);
    std::string blob = db.execAndGet("SELECT blob FROM steps WHERE kind = 'metric'").getString();
    test::write_text(d / "a/objects/" + blob.substr(0, 2) + "/" + blob.substr(2), "tampered");
  }
  auto dest = cache::Cache::open(d / "dest");
  cache::MergeReport r = dest->merge_from({d / "a"});
  CHECK(r.corrupt_left == 1);
  CHECK(r.copied == 3);
  CHECK_FALSE(dest->get(m1));
  CHECK(dest->verify(cache::Repair::no).bad.empty());
  // Not a cache, the destination itself: refused, no folder made.
  CHECK_THROWS_WITH(dest->merge_from({d / "absent"}), Catch::Contains("not a ghx cache"));
  CHECK_FALSE(fs::exists(d / "absent"));
  CHECK_THROWS_WITH(dest->merge_from({d / "dest"}), Catch::Contains("destination cache itself"));
}

TEST_CASE("merge: a success replaces the destination's failure row", "[cache][merge]") {
  test::TempDir d;
  {
    auto a = cache::Cache::open(d / "a");
    fill(*a, "image");
  }
  auto dest = cache::Cache::open(d / "dest");
  dest->put_failure(m1, "metric", "it failed here", from({}));
  cache::MergeReport r = dest->merge_from({d / "a"});
  CHECK(r.copied == 4);
  CHECK(dest->get(m1) == std::optional<std::string>("metric of image"));
  CHECK(dest->record(m1)->status == 0);
}

TEST_CASE("merge: an image that cannot be read is no candidate, rows made from it stay out", "[cache][merge]") {
  test::TempDir d;
  {
    auto a = cache::Cache::open(d / "a");
    fill(*a, "image A");
    auto b = cache::Cache::open(d / "b");
    fill(*b, "image B");
  }
  // Damage the image with the smaller hash: the other one must be kept, with its own rows.
  auto blob_of = [&](const std::string& dir) {
    SQLite::Database db(dir + "/ghx.db", SQLite::OPEN_READONLY);
    return db.execAndGet("SELECT blob FROM steps WHERE kind = 'generate'").getString();
  };
  const std::string ba = blob_of(d / "a"), bb = blob_of(d / "b");
  const std::string bad_dir = ba < bb ? d / "a" : d / "b";
  const std::string good_image = ba < bb ? "image B" : "image A";
  const std::string bad_blob = std::min(ba, bb);
  test::write_text(bad_dir + "/objects/" + bad_blob.substr(0, 2) + "/" + bad_blob.substr(2), "tampered");
  auto dest = cache::Cache::open(d / "dest");
  cache::MergeReport r = dest->merge_from({d / "a", d / "b"});
  CHECK(r.corrupt_left == 1);
  CHECK(dest->get(g1) == std::optional<std::string>(good_image));
  CHECK(dest->get(f1) == std::optional<std::string>("features of " + good_image));
  CHECK(dest->get(m1) == std::optional<std::string>("metric of " + good_image));
}
