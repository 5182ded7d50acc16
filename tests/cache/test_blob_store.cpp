// Mirrors src/cache/blob_store.cpp: content addresses, the objects/ab/cdef… layout, verified reads, removal and scan.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <xxhash.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "cache/blob_store.h"
#include "support.h"
#include "util/error.h"
#include "util/fs.h"

using namespace ghx;
namespace fs = std::filesystem;

namespace {

// The address computed independently of the store: XXH3-128 of the bytes, high half first.
std::string xxh3_hex(const std::string& bytes) {
  XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx", static_cast<unsigned long long>(h.high64),
                static_cast<unsigned long long>(h.low64));
  return buf;
}

std::vector<std::string> names_in(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path().filename().string());
  std::sort(out.begin(), out.end());
  return out;
}

uint64_t inode_of(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<uint64_t>(st.st_ino);
}

}  // namespace

TEST_CASE("put names a blob by the XXH3-128 of its bytes, in objects/ab/cdef…", "[cache][blob]") {
  test::TempDir t;
  cache::BlobStore s(t / "objects");
  CHECK(s.dir() == t / "objects");
  const std::string data("result\0bytes", 12);
  const std::string addr = s.put(data);
  CHECK(addr == xxh3_hex(data));
  const std::string path = t / "objects/" + addr.substr(0, 2) + "/" + addr.substr(2);
  CHECK(s.path_of(addr) == path);
  CHECK(test::read_text(path) == data);
  // The write went through a temporary file that is gone: the folder holds the blob alone.
  CHECK(names_in(t / "objects/" + addr.substr(0, 2)) == std::vector<std::string>{addr.substr(2)});

  std::string out;
  REQUIRE(s.get(addr, &out) == cache::BlobStatus::ok);
  CHECK(out == data);
  CHECK(s.check(addr) == cache::BlobStatus::ok);

  const std::string empty_addr = s.put("");
  CHECK(empty_addr == xxh3_hex(""));
  out = "sentinel";
  REQUIRE(s.get(empty_addr, &out) == cache::BlobStatus::ok);
  CHECK(out.empty());
}

TEST_CASE("put is idempotent and rewrites only a damaged blob", "[cache][blob]") {
  test::TempDir t;
  cache::BlobStore s(t / "objects");
  const std::string addr = s.put("same bytes");
  const std::string path = s.path_of(addr);
  const uint64_t inode = inode_of(path);
  CHECK(s.put("same bytes") == addr);
  CHECK(inode_of(path) == inode);  // an intact blob is not written again

  test::write_text(path, "same bytez");  // damaged in place
  REQUIRE(s.check(addr) == cache::BlobStatus::corrupt);
  CHECK(s.put("same bytes") == addr);
  CHECK(inode_of(path) != inode);  // replaced whole by a rename, not written in place
  std::string out;
  REQUIRE(s.get(addr, &out) == cache::BlobStatus::ok);
  CHECK(out == "same bytes");
}

TEST_CASE("get reports a missing blob and never returns damaged bytes", "[cache][blob]") {
  test::TempDir t;
  cache::BlobStore s(t / "objects");
  std::string out = "sentinel";
  CHECK(s.get(xxh3_hex("never stored"), &out) == cache::BlobStatus::missing);
  CHECK(s.check(xxh3_hex("never stored")) == cache::BlobStatus::missing);
  CHECK(out == "sentinel");

  const std::string data = "a blob of some length, to flip and to truncate";
  const std::string addr = s.put(data);
  const std::string path = s.path_of(addr);

  SECTION("a flipped byte") {
    std::string bad = data;
    bad[5] ^= 0x01;
    test::write_text(path, bad);
  }
  SECTION("a truncated file") { test::write_text(path, data.substr(0, data.size() - 1)); }
  SECTION("an empty file") { test::write_text(path, ""); }
  SECTION("extra bytes") { test::write_text(path, data + "\n"); }

  CHECK(s.get(addr, &out) == cache::BlobStatus::corrupt);
  CHECK(out == "sentinel");
  CHECK(s.check(addr) == cache::BlobStatus::corrupt);
  CHECK(util::file_exists(path));  // reported, never deleted by the store on its own
}

TEST_CASE("an address that is not 32 lowercase hex digits names no file", "[cache][blob]") {
  test::TempDir t;
  cache::BlobStore s(t / "objects");
  const std::string good = xxh3_hex("x");
  CHECK(cache::BlobStore::valid_address(good));
  std::string upper = good;
  std::transform(upper.begin(), upper.end(), upper.begin(), [](unsigned char c) { return char(std::toupper(c)); });
  REQUIRE(upper != good);
  const std::string traversal = "../../../../../../../../etc/pass";
  REQUIRE(traversal.size() == 32);
  for (const std::string& bad : {upper, traversal, good.substr(1), good + "0", std::string(),
                                 "g" + good.substr(1), good.substr(0, 2) + "/" + good.substr(3)}) {
    CAPTURE(bad);
    CHECK_FALSE(cache::BlobStore::valid_address(bad));
    CHECK_THROWS_WITH(s.path_of(bad), Catch::Contains("'" + bad + "'") && Catch::Contains("not a blob address"));
    std::string out = "sentinel";
    CHECK(s.get(bad, &out) == cache::BlobStatus::corrupt);
    CHECK(out == "sentinel");
    CHECK_FALSE(s.remove(bad));
  }

  // A file where the uppercase address would point, holding bytes whose (lowercase) address it
  // spells: get() still calls it corrupt and remove() leaves it, so the file system is not consulted.
  const std::string planted = t / "objects/" + upper.substr(0, 2) + "/" + upper.substr(2);
  test::write_text(planted, "x");
  std::string out;
  CHECK(s.get(upper, &out) == cache::BlobStatus::corrupt);
  CHECK(out.empty());
  CHECK_FALSE(s.remove(upper));
  CHECK(util::file_exists(planted));
}

TEST_CASE("remove deletes one blob and reports whether it did", "[cache][blob]") {
  test::TempDir t;
  cache::BlobStore s(t / "objects");
  const std::string a = s.put("blob a");
  const std::string b = s.put("blob b");
  CHECK(s.remove(a));
  CHECK_FALSE(util::file_exists(s.path_of(a)));
  CHECK(s.check(a) == cache::BlobStatus::missing);
  CHECK(s.check(b) == cache::BlobStatus::ok);
  CHECK_FALSE(s.remove(a));  // nothing left to remove
}

TEST_CASE("scan lists blobs and stray temporary files, nothing else", "[cache][blob]") {
  test::TempDir t;
  cache::BlobStore s(t / "objects");
  std::vector<std::string> addrs, temps;
  s.scan(&addrs, &temps);  // no objects folder yet
  CHECK(addrs.empty());
  CHECK(temps.empty());

  std::vector<std::string> want = {s.put("one"), s.put("two"), s.put("three")};
  std::sort(want.begin(), want.end());
  s.scan(&addrs, &temps);
  std::sort(addrs.begin(), addrs.end());
  CHECK(addrs == want);
  CHECK(temps.empty());  // put() left no temporary file behind

  // An interrupted write, a foreign file, a 3-digit folder whose name + file is 32 hex digits,
  // and a file at the top of objects/.
  const std::string tmp = s.dir() + "/" + want[0].substr(0, 2) + "/." + want[0].substr(2) + ".tmp.Ab12Cd";
  test::write_text(tmp, "half a blo");
  test::write_text(s.dir() + "/zz/not-a-blob", "?");
  test::write_text(s.dir() + "/abc/" + std::string(29, 'd'), "?");
  test::write_text(s.dir() + "/stray", "?");

  addrs.clear();
  s.scan(&addrs, &temps);
  std::sort(addrs.begin(), addrs.end());
  CHECK(addrs == want);
  REQUIRE(temps.size() == 1);
  CHECK(fs::equivalent(temps[0], tmp));

  std::vector<std::string> only_temps;
  s.scan(nullptr, &only_temps);  // either list may be left out
  CHECK(only_temps.size() == 1);
}

TEST_CASE("a write that cannot be made throws an error naming the blob's path", "[cache][blob]") {
  test::TempDir t;
  test::write_text(t / "objects", "a file where the objects folder should be");
  cache::BlobStore s(t / "objects");
  const std::string addr = xxh3_hex("payload");
  CHECK_THROWS_AS(s.put("payload"), Error);
  CHECK_THROWS_WITH(s.put("payload"), Catch::Contains(s.path_of(addr)));
}
