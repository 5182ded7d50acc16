// A damaged cache index through the binary: one clear error (never "internal error"), exit 2,
// and the cache usable again (the damaged row dropped, the report recomputed the same).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>

#include <SQLiteCpp/SQLiteCpp.h>

#include "support.h"

using namespace ghx;

namespace {

test::CommandResult run(const test::TempDir& t) {
  return test::run_command("cd " + t.path() + " && " + GHX_BINARY + " run experiment.toml --json 2>err.txt");
}

}  // namespace

TEST_CASE("run with a report row pointing at another step's data: one error, then recomputed", "[cli][cache]") {
  test::TempDir t;
  test::write_small_review(t.path());
  REQUIRE(run(t).code == 0);
  const std::string before = test::read_text(t / "reports/small-v1/results.json");
  {
    // An intact blob of another kind (a generated PNG): the hash check passes, the reader must not.
    SQLite::Database db(t / "cache/ghx.db", SQLite::OPEN_READWRITE);
    db.exec("UPDATE steps SET blob = (SELECT blob FROM steps WHERE kind = 'generate' LIMIT 1) WHERE kind = 'report'");
  }
  // A run with nothing new leaves an intact report folder alone and so never reads the report
  // result: without the folder, it must.
  std::filesystem::remove_all(t / "reports/small-v1");
  test::CommandResult second = run(t);
  const std::string err = test::read_text(t / "err.txt");
  INFO(err);
  CHECK(second.code == 2);
  CHECK(err.find("is not a results document (a damaged index): dropped it; run again") != std::string::npos);
  CHECK(err.find("internal error") == std::string::npos);
  CHECK(run(t).code == 0);
  CHECK(test::read_text(t / "reports/small-v1/results.json") == before);
}

TEST_CASE("run on a malformed ghx.db: one error naming the database, never an internal error", "[cli][cache]") {
  test::TempDir t;
  test::write_small_review(t.path());
  REQUIRE(run(t).code == 0);
  namespace fs = std::filesystem;
  for (const char* side : {"/cache/ghx.db-wal", "/cache/ghx.db-shm"}) fs::remove(t.path() + side);
  const std::string good = test::read_text(t / "cache/ghx.db");
  REQUIRE(good.size() > 8192);
  // The last leaf page of the steps table, which every run reads (its done keys).
  int64_t steps_leaf = 0;
  {
    SQLite::Database db(t / "cache/ghx.db", SQLite::OPEN_READONLY);
    steps_leaf = db.execAndGet("SELECT max(pageno) FROM dbstat WHERE name = 'steps' AND pagetype = 'leaf'").getInt64();
    REQUIRE(db.execAndGet("PRAGMA page_size").getInt64() == 4096);
  }
  REQUIRE(steps_leaf > 1);
  // Every page after the first (found when the cache opens), or only that leaf page (found by
  // a later query: the steps table's b-tree is garbage there).
  const bool all_after_first = GENERATE(true, false);
  std::string bad = good;
  const size_t start = all_after_first ? 4096 : static_cast<size_t>(steps_leaf - 1) * 4096;
  const size_t len = all_after_first ? good.size() - start : 4096;
  bad.replace(start, len, std::string(len, 'A'));
  test::write_text(t / "cache/ghx.db", bad);
  // A run with nothing new answers from its record and reads no step row (run/run.h
  // unchanged_run); a run that reads them (one with work to do) is what this checks.
  ::setenv("GHX_RUN_SHORTCUT", "0", 1);
  test::CommandResult r = run(t);
  ::unsetenv("GHX_RUN_SHORTCUT");
  const std::string err = test::read_text(t / "err.txt");
  INFO(err);
  CHECK(r.code == 2);
  CHECK(err.find("ghx: error: ") != std::string::npos);
  CHECK(err.find("malformed") != std::string::npos);
  CHECK(err.find("internal error") == std::string::npos);
}
