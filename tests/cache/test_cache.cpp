// Mirrors src/cache/: index + blob store, corruption handling, verify, gc, format version.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <atomic>
#include <thread>

#include <SQLiteCpp/SQLiteCpp.h>

#include <filesystem>

#include "cache/cache.h"
#include "support.h"
#include "util/error.h"
#include "util/fs.h"

using namespace ghx;
namespace fs = std::filesystem;

namespace {
plan::StepKey key(int i) { return plan::step_key(plan::StepKind::metric, {{"i", std::to_string(i)}}, {}); }
cache::Provenance prov() { return {"ghx test", 0.5, "cpu"}; }

/// Flips a byte of the blob that holds `k`'s result.
void corrupt(cache::Cache& c, const plan::StepKey& k) {
  auto rec = c.record(k);
  REQUIRE(rec);
  std::string path = c.dir() + "/objects/" + rec->blob.substr(0, 2) + "/" + rec->blob.substr(2);
  std::string data = test::read_text(path);
  data[0] ^= 0x20;
  test::write_text(path, data);
}
}  // namespace

TEST_CASE("results round-trip with provenance", "[cache]") {
  test::TempDir t;
  auto c = cache::Cache::open(t / "c");
  c->put(key(1), "metric", "hello", prov());
  CHECK(c->get(key(1)) == std::optional<std::string>("hello"));
  CHECK_FALSE(c->get(key(2)));
  CHECK(c->done_keys().count(key(1)) == 1);
  auto rec = c->record(key(1));
  REQUIRE(rec);
  CHECK(rec->provenance.device == "cpu");
  CHECK(rec->provenance.tool_version == "ghx test");
  CHECK(rec->kind == "metric");
  // content addressed: the blob's name is its content hash, under objects/ab/
  CHECK(fs::exists(t.path() + "/c/objects/" + rec->blob.substr(0, 2) + "/" + rec->blob.substr(2)));
  // survives reopening
  c.reset();
  auto c2 = cache::Cache::open(t / "c");
  CHECK(c2->get(key(1)) == std::optional<std::string>("hello"));
}

TEST_CASE("failures are recorded but are not results", "[cache]") {
  test::TempDir t;
  auto c = cache::Cache::open(t / "c");
  c->put_failure(key(3), "generate", "server said 500", prov());
  CHECK(c->done_keys().empty());
  CHECK(c->record(key(3))->error == "server said 500");
  c->put(key(3), "generate", "ok now", prov());
  CHECK(c->done_keys().count(key(3)) == 1);
}

TEST_CASE("a corrupt blob is a miss, never data", "[cache]") {
  test::TempDir t;
  auto c = cache::Cache::open(t / "c");
  std::vector<std::string> warnings;
  c->set_warning_sink([&](const std::string& w) { warnings.push_back(w); });
  c->put(key(1), "metric", "payload one", prov());
  corrupt(*c, key(1));
  CHECK_FALSE(c->get(key(1)));
  CHECK(warnings.size() == 1);
  CHECK(c->done_keys().count(key(1)) == 0);  // dropped: it will be recomputed
}

TEST_CASE("verify finds corrupt and missing blobs, --repair drops them", "[cache]") {
  test::TempDir t;
  auto c = cache::Cache::open(t / "c");
  for (int i = 0; i < 5; ++i) c->put(key(i), "metric", "payload " + std::to_string(i), prov());
  corrupt(*c, key(1));
  auto rec = c->record(key(3));
  fs::remove(t.path() + "/c/objects/" + rec->blob.substr(0, 2) + "/" + rec->blob.substr(2));
  cache::VerifyReport v = c->verify(cache::Repair::no);
  CHECK(v.checked == 5);
  REQUIRE(v.bad.size() == 2);
  CHECK(c->done_keys().size() == 5);
  v = c->verify(cache::Repair::yes);
  CHECK(v.repaired == 2);
  CHECK(c->done_keys().size() == 3);
  CHECK(c->verify(cache::Repair::no).bad.empty());
}

TEST_CASE("gc removes unreferenced blobs, temporary files and failure rows", "[cache]") {
  test::TempDir t;
  auto c = cache::Cache::open(t / "c");
  c->put(key(1), "metric", "kept", prov());
  c->put_failure(key(2), "metric", "boom", prov());
  cache::BlobStore store(t / "c/objects");
  std::string orphan = store.put("nobody points here");
  test::write_text(t / "c/objects/ab/.cdef.tmp.123456", "half a write");
  cache::GcReport g = c->gc();
  CHECK(g.orphan_blobs == 1);
  CHECK(g.temp_files == 1);
  CHECK(g.failed_rows == 1);
  CHECK(store.check(orphan) == cache::BlobStatus::missing);
  CHECK(c->get(key(1)) == std::optional<std::string>("kept"));
}

TEST_CASE("an unknown format version or a foreign database is refused", "[cache]") {
  test::TempDir t;
  {
    auto c = cache::Cache::open(t / "c");
  }
  {
    SQLite::Database db(t / "c/ghx.db", SQLite::OPEN_READWRITE);
    db.exec("UPDATE meta SET value = '99' WHERE name = 'format_version'");
  }
  CHECK_THROWS_WITH(cache::Cache::open(t / "c"), Catch::Contains("cache format version 99 is not supported"));
  fs::create_directories(t / "d");
  {
    SQLite::Database db(t / "d/ghx.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    db.exec("CREATE TABLE something(x)");
  }
  CHECK_THROWS_WITH(cache::Cache::open(t / "d"), Catch::Contains("not a ghx cache"));
}

TEST_CASE("an index row naming no blob address never reaches outside objects/", "[cache]") {
  // A damaged or edited ghx.db: the blob column must be treated as corrupt, not as a path
  // (get, verify --repair and gc used to read and delete "objects/../../victim").
  test::TempDir t;
  test::write_text(t / "victim", "not the cache's");
  {
    auto c = cache::Cache::open(t / "c");
    c->put(key(1), "metric", "one", prov());
    c->put(key(2), "metric", "two", prov());
    c->put(key(3), "metric", "three", prov());
  }
  {
    SQLite::Database db(t / "c/ghx.db", SQLite::OPEN_READWRITE);
    SQLite::Statement u(db, "UPDATE steps SET blob = ? WHERE key = ?");
    u.bind(1, "../../victim");
    u.bind(2, key(1).hex());
    u.exec();
    db.exec("UPDATE steps SET blob = '' WHERE key = '" + key(2).hex() + "'");
    db.exec("UPDATE steps SET blob = NULL WHERE key = '" + key(3).hex() + "'");
  }
  auto c = cache::Cache::open(t / "c");
  c->set_warning_sink([](const std::string&) {});
  cache::VerifyReport v = c->verify(cache::Repair::yes);
  CHECK(v.bad.size() == 3);
  CHECK(v.repaired == 3);
  CHECK(test::read_text(t / "victim") == "not the cache's");
  CHECK_FALSE(c->get(key(1)));
  c->gc();
  CHECK(test::read_text(t / "victim") == "not the cache's");
  cache::BlobStore store(t / "c/objects");
  std::string got;
  CHECK(store.get("../../victim", &got) == cache::BlobStatus::corrupt);
  CHECK_FALSE(store.remove("../../victim"));
  CHECK(fs::exists(t / "victim"));
}

TEST_CASE("blob writes leave no temporary files", "[cache]") {
  test::TempDir t;
  cache::BlobStore store(t / "objects");
  for (int i = 0; i < 20; ++i) store.put("blob " + std::to_string(i));
  std::vector<std::string> addrs, temps;
  store.scan(&addrs, &temps);
  CHECK(addrs.size() == 20);
  CHECK(temps.empty());
  std::string got;
  CHECK(store.get(addrs[0], &got) == cache::BlobStatus::ok);
}

TEST_CASE("a format 1 index is upgraded in place, provenance metadata is kept", "[cache]") {
  test::TempDir t;
  {
    auto c = cache::Cache::open(t / "c");
    c->put(key(1), "metric", "old result", prov());
  }
  {  // make it what format 1 was: no meta column, version 1
    SQLite::Database db(t / "c/ghx.db", SQLite::OPEN_READWRITE);
    db.exec("ALTER TABLE steps DROP COLUMN meta");
    db.exec("UPDATE meta SET value = '1' WHERE name = 'format_version'");
  }
  auto c = cache::Cache::open(t / "c");
  CHECK(c->get(key(1)) == std::optional<std::string>("old result"));
  c->put(key(2), "generate", "png", prov(), "{\"endpoint\":\"http://127.0.0.1:7860\"}");
  CHECK(c->record(key(2))->meta == "{\"endpoint\":\"http://127.0.0.1:7860\"}");
  CHECK(c->record(key(1))->meta.empty());
  SQLite::Database db(t / "c/ghx.db", SQLite::OPEN_READONLY);
  CHECK(db.execAndGet("SELECT value FROM meta WHERE name = 'format_version'").getString() == "2");
}

TEST_CASE("file-hash memo: size, mtime, ctime, inode and device must all match", "[cache]") {
  test::TempDir t;
  auto c = cache::Cache::open(t / "c");
  plan::FileStat st;
  st.size = 10, st.mtime_ns = 1000, st.ctime_ns = 2000, st.inode = 7, st.device = 3;
  c->store("/x/model.safetensors", st, std::string(64, 'a'));
  CHECK(c->lookup("/x/model.safetensors", st) == std::string(64, 'a'));
  for (int field = 0; field < 5; ++field) {
    plan::FileStat other = st;
    if (field == 0) other.size = 11;
    if (field == 1) other.mtime_ns = 1001;
    if (field == 2) other.ctime_ns = 2001;  // rewritten, old mtime put back
    if (field == 3) other.inode = 8;
    if (field == 4) other.device = 4;       // the same inode number on another filesystem
    INFO("field " << field);
    CHECK_FALSE(c->lookup("/x/model.safetensors", other));
  }
}

TEST_CASE("file-hash memo: a file rewritten with its old mtime is hashed again", "[cache]") {
  test::TempDir t;
  auto c = cache::Cache::open(t / "c");
  const std::string f = t / "w.bin";
  test::write_text(f, "aaaa");
  plan::FileHasher h1(c.get());
  const std::string first = h1.sha256(f);
  struct stat before {};
  REQUIRE(::stat(f.c_str(), &before) == 0);
  // same size, same inode, mtime restored (touch -r / rsync -t): only ctime tells (file times
  // tick with the kernel's coarse clock: wait past one tick)
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  { std::fstream out(f, std::ios::in | std::ios::out | std::ios::binary); out << "bbbb"; }
  const struct timespec times[2] = {before.st_atim, before.st_mtim};
  REQUIRE(::utimensat(AT_FDCWD, f.c_str(), times, 0) == 0);
  struct stat after {};
  REQUIRE(::stat(f.c_str(), &after) == 0);
  REQUIRE(after.st_mtim.tv_nsec == before.st_mtim.tv_nsec);
  REQUIRE(after.st_ino == before.st_ino);
  plan::FileHasher h2(c.get());
  REQUIRE((after.st_ctim.tv_sec != before.st_ctim.tv_sec || after.st_ctim.tv_nsec != before.st_ctim.tv_nsec));
  CHECK(h2.sha256(f) != first);
  CHECK(h2.files_read() == 1);
}

TEST_CASE("a failure never overwrites a success (another run may have stored one)", "[cache]") {
  test::TempDir t;
  auto a = cache::Cache::open(t / "c");
  auto b = cache::Cache::open(t / "c");  // a second process's connection
  a->put(key(7), "generate", "the image", prov());
  b->put_failure(key(7), "generate", "timed out", prov());
  auto rec = a->record(key(7));
  REQUIRE(rec);
  CHECK(rec->status == 0);
  CHECK(a->get(key(7)) == std::string("the image"));
  // a failure still replaces an older failure, and a success replaces a failure
  b->put_failure(key(8), "generate", "first", prov());
  b->put_failure(key(8), "generate", "second", prov());
  CHECK(a->record(key(8))->error == "second");
  a->put(key(8), "generate", "fine", prov());
  CHECK(b->record(key(8))->status == 0);
}

TEST_CASE("a format 1 index opened by several processes at once is upgraded once", "[cache]") {
  for (int round = 0; round < 5; ++round) {
    test::TempDir t;
    {
      auto c = cache::Cache::open(t / "c");
      c->put(key(1), "metric", "old result", prov());
    }
    {
      SQLite::Database db(t / "c/ghx.db", SQLite::OPEN_READWRITE);
      db.exec("ALTER TABLE steps DROP COLUMN meta");
      db.exec("UPDATE meta SET value = '1' WHERE name = 'format_version'");
    }
    std::vector<std::thread> openers;
    std::atomic<int> ok{0};
    std::vector<std::string> errors(6);
    for (int i = 0; i < 6; ++i)
      openers.emplace_back([&, i] {
        try {
          auto c = cache::Cache::open(t / "c");
          if (c->get(key(1)) == std::optional<std::string>("old result")) ++ok;
        } catch (const std::exception& e) {
          errors[size_t(i)] = e.what();
        }
      });
    for (auto& th : openers) th.join();
    for (const auto& e : errors) CHECK(e == "");
    CHECK(ok == 6);
    SQLite::Database db(t / "c/ghx.db", SQLite::OPEN_READONLY);
    CHECK(db.execAndGet("SELECT value FROM meta WHERE name = 'format_version'").getString() == "2");
    CHECK(db.execAndGet("SELECT count(*) FROM pragma_table_info('steps') WHERE name = 'meta'").getInt() == 1);
  }
}

TEST_CASE("a file-hash memo without ctime and device is extended, its rows hashed again", "[cache]") {
  test::TempDir t;
  {
    auto c = cache::Cache::open(t / "c");
    plan::FileStat st;
    st.size = 1;
    c->store("/x", st, std::string(64, 'b'));
  }
  {  // the memo as it was before ctime and device
    SQLite::Database db(t / "c/ghx.db", SQLite::OPEN_READWRITE);
    db.exec("ALTER TABLE file_hashes DROP COLUMN ctime_ns");
    db.exec("ALTER TABLE file_hashes DROP COLUMN dev");
  }
  auto c = cache::Cache::open(t / "c");
  plan::FileStat st;
  st.size = 1;
  CHECK(c->lookup("/x", st) == std::string(64, 'b'));  // ctime 0 and device 0 as stored: a real file never matches
  st.ctime_ns = 5;
  CHECK_FALSE(c->lookup("/x", st));
}

// ---- step claims (cooperating runs) -----------------------------------------------------------

namespace {
/// Adds a `runs` row and a claim on `k` for a holder that is not this process.
void foreign_claim(const std::string& dir, const plan::StepKey& k, const std::string& local, int64_t pid,
                   int64_t heartbeat_age_ms) {
  SQLite::Database db(dir + "/ghx.db", SQLite::OPEN_READWRITE);
  db.setBusyTimeout(5000);
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::system_clock::now().time_since_epoch()).count();
  SQLite::Statement r(db, "INSERT INTO runs VALUES ('other:1', 'otherhost', ?, ?, 42, ?, ?)");
  r.bind(1, local);
  r.bind(2, pid);
  r.bind(3, now - heartbeat_age_ms);
  r.bind(4, now - heartbeat_age_ms);
  r.exec();
  SQLite::Statement c(db, "INSERT INTO claims VALUES (?, 'other:1', ?)");
  c.bind(1, k.hex());
  c.bind(2, now);
  c.exec();
}
int64_t count(const std::string& dir, const std::string& sql) {
  SQLite::Database db(dir + "/ghx.db", SQLite::OPEN_READONLY);
  SQLite::Statement q(db, sql);
  q.executeStep();
  return q.getColumn(0).getInt64();
}
}  // namespace

TEST_CASE("a claimed step is busy for others until stored or given back", "[cache][claims]") {
  test::TempDir t;
  auto a = cache::Cache::open(t / "c");
  auto b = cache::Cache::open(t / "c");
  using CS = cache::ClaimState;
  CHECK(a->claim({key(1), key(2), key(3)}) == std::vector<CS>{CS::mine, CS::mine, CS::mine});
  CHECK(b->claim({key(1), key(2), key(3), key(4)}) == std::vector<CS>{CS::busy, CS::busy, CS::busy, CS::mine});
  CHECK(a->claim({key(1)}) == std::vector<CS>{CS::mine});  // a holder may claim again
  a->put(key(1), "metric", "one", prov());       // stored: done for everyone
  a->put_failure(key(2), "metric", "boom", prov());  // failed: given back, another run may try
  CHECK(b->claim({key(1), key(2), key(3)}) == std::vector<CS>{CS::done, CS::mine, CS::busy});
  a.reset();  // closing gives back every claim (key 3) and the runs row
  CHECK(b->claim({key(3)}) == std::vector<CS>{CS::mine});
  CHECK(count(t / "c", "SELECT count(*) FROM runs") == 1);
  b->release_claims();
  CHECK(count(t / "c", "SELECT count(*) FROM claims") == 0);
  CHECK(count(t / "c", "SELECT count(*) FROM runs") == 0);
}

TEST_CASE("claims of a dead or silent run are taken over", "[cache][claims]") {
  test::TempDir t;
  using CS = cache::ClaimState;
  auto c = cache::Cache::open(t / "c");
  const auto local = [] {
    // this machine's `local` (boot id + pid namespace), as the cache writes it
    std::ifstream f("/proc/sys/kernel/random/boot_id");
    std::string s;
    std::getline(f, s);
    struct stat ns {};
    stat("/proc/self/ns/pid", &ns);
    return s + "/" + std::to_string(ns.st_ino);
  }();
  SECTION("another machine, beating its heart: busy") {
    foreign_claim(t / "c", key(1), "elsewhere", 1, 0);
    CHECK(c->claim({key(1)}) == std::vector<CS>{CS::busy});
  }
  SECTION("another machine, silent longer than the timeout: taken over") {
    foreign_claim(t / "c", key(1), "elsewhere", 1, 61000);
    CHECK(c->claim({key(1)}) == std::vector<CS>{CS::mine});
    CHECK(count(t / "c", "SELECT count(*) FROM runs WHERE holder = 'other:1'") == 0);  // reaped
  }
  SECTION("the timeout is GHX_CLAIM_TIMEOUT's") {
    foreign_claim(t / "c", key(1), "elsewhere", 1, 3000);
    CHECK(c->claim({key(1)}) == std::vector<CS>{CS::busy});
    c->set_claim_timeout_ms(2000);
    CHECK(c->claim({key(1)}) == std::vector<CS>{CS::mine});
  }
  SECTION("this machine, its process gone: taken over at once") {
    pid_t child = fork();
    if (child == 0) _exit(0);
    int st = 0;
    waitpid(child, &st, 0);
    foreign_claim(t / "c", key(1), local, child, 0);
    CHECK(c->claim({key(1)}) == std::vector<CS>{CS::mine});
  }
  SECTION("this machine, its pid now another process's: taken over") {
    foreign_claim(t / "c", key(1), local, getpid(), 0);  // start time 42 is not this process's
    CHECK(c->claim({key(1)}) == std::vector<CS>{CS::mine});
  }
}

TEST_CASE("gc keeps the temporary files a live run may be writing", "[cache][claims]") {
  test::TempDir t;
  auto run = cache::Cache::open(t / "c");
  auto gcer = cache::Cache::open(t / "c");
  fs::create_directories(t.path() + "/c/objects/ab");
  const std::string old_tmp = t.path() + "/c/objects/ab/.old.tmp.1";
  test::write_text(old_tmp, "left by a crash long ago");
  // a temporary file from before any live run began (mtime one hour back)
  struct timespec times[2] = {{time(nullptr) - 3600, 0}, {time(nullptr) - 3600, 0}};
  REQUIRE(utimensat(AT_FDCWD, old_tmp.c_str(), times, 0) == 0);
  run->claim({key(1)});  // the run registers before it writes
  const std::string tmp = t.path() + "/c/objects/ab/.cdef.tmp.XXXXXX";
  test::write_text(tmp, "half a blob");
  cache::GcReport g = gcer->gc();
  CHECK(g.live_runs == 1);
  CHECK(g.temp_files == 1);
  CHECK(g.temp_files_kept == 1);
  CHECK(fs::exists(tmp));
  CHECK_FALSE(fs::exists(old_tmp));
  run.reset();  // the run ended: its leftovers are garbage now
  g = gcer->gc();
  CHECK(g.live_runs == 0);
  CHECK(g.temp_files == 1);
  CHECK_FALSE(fs::exists(tmp));
}

TEST_CASE("network file systems are told from local ones", "[cache][sharing]") {
  CHECK(util::network_fs_name(0x6969) == "NFS");
  CHECK(util::network_fs_name(0xFF534D42) == "CIFS");
  CHECK(util::network_fs_name(0xFE534D42) == "SMB2");
  CHECK(util::network_fs_name(0x65735546) == "FUSE");
  CHECK(util::network_fs_name(0xEF53) == "");      // ext4
  CHECK(util::network_fs_name(0x01021994) == "");  // tmpfs
  CHECK(util::network_fs_name(0x794C7630) == "");  // overlayfs (containers)
  test::TempDir t;
  CHECK(util::network_fs_of(t.path()) == "");  // the test's own folder is local here
  auto c = cache::Cache::open(t / "c");
  CHECK(c->sharing() == cache::Sharing::shared);
}

TEST_CASE("an exclusive cache serves one process at a time and says so", "[cache][sharing]") {
  test::TempDir t;
  {
    auto seed = cache::Cache::open(t / "c");  // a WAL cache made on a local disk first
    seed->put(key(1), "metric", "kept", prov());
  }
  auto a = cache::Cache::open(t / "c", cache::Sharing::exclusive);
  CHECK(a->sharing() == cache::Sharing::exclusive);
  CHECK(a->get(key(1)) == std::optional<std::string>("kept"));
  a->put(key(2), "metric", "two", prov());
  CHECK_FALSE(fs::exists(t.path() + "/c/ghx.db-shm"));  // no shared memory index
  try {
    cache::Cache::open(t / "c", cache::Sharing::exclusive);
    FAIL("a second process opened an exclusive cache");
  } catch (const Error& e) {
    CHECK_THAT(e.what(), Catch::Contains("in use by another ghx process"));
  }
  a.reset();
  auto b = cache::Cache::open(t / "c");  // back to shared once the holder is gone
  CHECK(b->get(key(2)) == std::optional<std::string>("two"));
}
