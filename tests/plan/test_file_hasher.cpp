// Mirrors src/plan/file_hasher.cpp: SHA-256 of file content, the per-hasher and persistent memos, stat_file, errors.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "plan/file_hasher.h"
#include "support.h"
#include "util/error.h"
#include "util/hash.h"

using namespace ghx;

namespace {

const char* const k_sha_abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
const char* const k_sha_empty = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const char* const k_sha_million_a = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";

/// A memo that matches on the whole FileStat, as the cache's file_hashes table does.
class RecordingMemo : public plan::HashMemo {
 public:
  std::optional<std::string> lookup(const std::string& p, const plan::FileStat& st) override {
    ++lookups;
    auto it = rows.find(p);
    if (it == rows.end() || !(it->second.first == st)) return std::nullopt;
    return it->second.second;
  }
  void store(const std::string& p, const plan::FileStat& st, const std::string& sha) override {
    ++stores;
    rows[p] = {st, sha};
  }
  std::map<std::string, std::pair<plan::FileStat, std::string>> rows;
  int lookups = 0;
  int stores = 0;
};

void set_mtime(const std::string& path, int64_t sec, long nsec) {
  struct timespec ts[2];
  ts[0].tv_sec = 0;
  ts[0].tv_nsec = UTIME_OMIT;
  ts[1].tv_sec = static_cast<time_t>(sec);
  ts[1].tv_nsec = nsec;
  REQUIRE(::utimensat(AT_FDCWD, path.c_str(), ts, 0) == 0);
}

}  // namespace

TEST_CASE("sha256 is the SHA-256 of the file's bytes", "[plan][hasher]") {
  test::TempDir t;
  test::write_text(t / "abc", "abc");
  test::write_text(t / "empty", "");
  test::write_text(t / "million", std::string(1000000, 'a'));
  std::string big;  // more than the 1 MiB read buffer, with every byte value
  for (size_t i = 0; i < 2500000; ++i) big.push_back(static_cast<char>((i * 7 + i / 256) & 0xff));
  test::write_text(t / "big.bin", big);

  plan::FileHasher h(nullptr);
  CHECK(h.sha256(t / "abc") == k_sha_abc);
  CHECK(h.sha256(t / "empty") == k_sha_empty);
  CHECK(h.sha256(t / "million") == k_sha_million_a);
  CHECK(h.sha256(t / "big.bin") == util::sha256_hex(big));
  CHECK(h.files_read() == 4);
}

TEST_CASE("a hasher reads a path once, however it is spelled", "[plan][hasher]") {
  test::TempDir t;
  test::write_text(t / "sub/a.txt", "abc");
  plan::FileHasher h(nullptr);
  CHECK(h.files_read() == 0);
  CHECK(h.sha256(t / "sub/a.txt") == k_sha_abc);
  CHECK(h.sha256(t / "sub/a.txt") == k_sha_abc);
  CHECK(h.sha256(t / "sub/./a.txt") == k_sha_abc);
  CHECK(h.sha256(t / "sub/../sub/a.txt") == k_sha_abc);
  CHECK(h.files_read() == 1);

  // Within one hasher (one plan) a path keeps the content first read; a new hasher reads again.
  test::write_text(t / "sub/a.txt", "abcd");
  CHECK(h.sha256(t / "sub/a.txt") == k_sha_abc);
  CHECK(h.files_read() == 1);
  plan::FileHasher fresh(nullptr);
  CHECK(fresh.sha256(t / "sub/a.txt") == util::sha256_hex("abcd"));
  CHECK(fresh.files_read() == 1);
}

TEST_CASE("the memo is asked by absolute path and stat, and a hit is not read", "[plan][hasher]") {
  test::TempDir t;
  test::write_text(t / "model.bin", "abc");
  RecordingMemo memo;

  plan::FileHasher first(&memo);
  CHECK(first.sha256(t / "x/../model.bin") == k_sha_abc);  // normalised before the memo sees it
  CHECK(first.files_read() == 1);
  REQUIRE(memo.rows.size() == 1);
  REQUIRE(memo.rows.count(t / "model.bin") == 1);
  const auto& row = memo.rows.at(t / "model.bin");
  CHECK(row.first == plan::stat_file(t / "model.bin"));
  CHECK(row.first.size == 3);
  CHECK(row.second == k_sha_abc);

  plan::FileHasher second(&memo);
  CHECK(second.sha256(t / "model.bin") == k_sha_abc);
  CHECK(second.files_read() == 0);
  CHECK(memo.stores == 1);

  // The hasher trusts a hit: a row for this exact stat is returned without reading the file.
  memo.rows[t / "model.bin"].second = std::string(64, 'f');
  plan::FileHasher third(&memo);
  CHECK(third.sha256(t / "model.bin") == std::string(64, 'f'));
  CHECK(third.files_read() == 0);
  CHECK(third.sha256(t / "model.bin") == std::string(64, 'f'));  // and keeps it for the process
  CHECK(memo.lookups == 3);
}

TEST_CASE("a new size, mtime or ctime misses the memo and the file is read again", "[plan][hasher]") {
  test::TempDir t;
  const std::string p = t / "ckpt.safetensors";
  test::write_text(p, "abc");
  set_mtime(p, 1700000000, 123456789);
  RecordingMemo memo;
  {
    plan::FileHasher h(&memo);
    CHECK(h.sha256(p) == k_sha_abc);
  }
  CHECK(memo.rows.at(p).first.mtime_ns == 1700000000123456789LL);

  SECTION("size") {
    test::write_text(p, "abcd");
    set_mtime(p, 1700000000, 123456789);
    plan::FileHasher h(&memo);
    CHECK(h.sha256(p) == util::sha256_hex("abcd"));
    CHECK(h.files_read() == 1);
    CHECK(memo.rows.at(p).first.size == 4);
  }
  SECTION("mtime alone") {
    set_mtime(p, 1700000005, 123456789);
    plan::FileHasher h(&memo);
    CHECK(h.sha256(p) == k_sha_abc);
    CHECK(h.files_read() == 1);
    CHECK(memo.rows.at(p).first.mtime_ns == 1700000005123456789LL);
  }
  SECTION("a same-size rewrite that put the old mtime back (touch -r)") {
    const plan::FileStat before = plan::stat_file(p);
    plan::FileStat after;
    for (int i = 0; i < 200; ++i) {  // until the clock behind ctime has ticked
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      test::write_text(p, "abd");
      set_mtime(p, 1700000000, 123456789);
      after = plan::stat_file(p);
      if (after.ctime_ns != before.ctime_ns) break;
    }
    REQUIRE(after.ctime_ns != before.ctime_ns);
    REQUIRE(after.size == before.size);
    REQUIRE(after.mtime_ns == before.mtime_ns);
    REQUIRE(after.inode == before.inode);
    plan::FileHasher h(&memo);
    CHECK(h.sha256(p) == util::sha256_hex("abd"));
    CHECK(h.files_read() == 1);
  }
  CHECK(memo.stores == 2);
}

TEST_CASE("stat_file reports size, times and identity", "[plan][hasher]") {
  test::TempDir t;
  test::write_text(t / "a", "12345");
  test::write_text(t / "b", "1");
  set_mtime(t / "a", 1600000000, 42);
  const plan::FileStat a = plan::stat_file(t / "a");
  const plan::FileStat b = plan::stat_file(t / "b");
  CHECK(a.size == 5);
  CHECK(b.size == 1);
  CHECK(a.mtime_ns == 1600000000000000042LL);
  CHECK(a.ctime_ns > 0);
  CHECK(a.inode != b.inode);
  CHECK(a.device == b.device);
  CHECK_FALSE(a == b);
  CHECK(a == plan::stat_file(t / "a"));
}

TEST_CASE("a missing file or a folder is an error naming the path, and nothing is memoised", "[plan][hasher]") {
  test::TempDir t;
  RecordingMemo memo;
  plan::FileHasher h(&memo);
  const std::string missing = t / "no-such-model.safetensors";
  CHECK_THROWS_AS(h.sha256(missing), Error);
  CHECK_THROWS_WITH(h.sha256(missing), Catch::Contains(missing));
  CHECK_THROWS_WITH(plan::stat_file(missing), Catch::Contains(missing));

  test::write_text(t / "dir/inside", "x");
  CHECK_THROWS_AS(h.sha256(t / "dir"), Error);
  CHECK_THROWS_WITH(h.sha256(t / "dir"), Catch::Contains(t / "dir"));

  CHECK(h.files_read() == 0);
  CHECK(memo.stores == 0);
  CHECK(memo.rows.empty());

  // A failure is not remembered: once the file exists it is hashed.
  test::write_text(missing, "abc");
  CHECK(h.sha256(missing) == k_sha_abc);
  CHECK(h.files_read() == 1);
}
