// Mirrors src/models/weights.cpp and torch_zip.cpp: WeightFile on torch.save `.pth` archives made
// by tests/models/make_vgg_fixture.py (tests/data/weights/) against their safetensors twins, and
// zips and pickles crafted here byte by byte: zip64 layouts (one really beyond 4 GB, sparse), the
// pickle opcodes torch.save may use, and every refusal (each must name the file, and the key
// where there is one; a malicious GLOBAL must be named and never run).
#include <catch2/catch.hpp>

#include "support.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>

#include "models/style.h"
#include "models/torch_zip.h"
#include "models/weights.h"
#include "util/error.h"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ghx::Error;
using ghx::models::Dtype;
using ghx::models::Vgg19Style;
using ghx::models::WeightFile;
using ghx::models::WeightFormat;

namespace {

using ghx::test::Scratch;
using ghx::test::slurp;
using ghx::test::spit;

std::string fixture(const std::string& name) { return std::string(GHX_TEST_DATA) + "/weights/" + name; }

std::string le(std::uint64_t v, int n) {
  std::string s(static_cast<std::size_t>(n), '\0');
  for (int i = 0; i < n; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

// Expects WeightFile::open(path) to throw a ghx::Error naming the file and containing `what`.
void expect_error(const std::string& path, const std::string& what) {
  INFO(path << ", expecting '" << what << "'");
  REQUIRE_THROWS_MATCHES(WeightFile::open(path), Error,
                         Catch::Matchers::Predicate<Error>(
                             [&](const Error& e) {
                               const std::string m = e.what();
                               UNSCOPED_INFO("message: " << m);
                               return m.find(path) != std::string::npos && m.find(what) != std::string::npos;
                             },
                             "message names " + path + " and '" + what + "'"));
}

// ---- a zip writer shaped like torch.save's (stored entries, data 64-byte aligned) ----

struct ZipItem {
  std::string name;
  std::string data;
  std::uint64_t gap = 0;     // bytes left as a hole before this entry's local header
  std::uint16_t method = 0;  // claimed compression method (the data stays as given)
  bool bad_crc = false;
};

struct Chunk {
  std::uint64_t offset;
  std::string bytes;
};

// zip64: every size and offset goes to zip64 extra fields, plus zip64 end records.
std::vector<Chunk> build_zip(const std::vector<ZipItem>& items, bool zip64) {
  std::vector<Chunk> out;
  std::string central;
  std::uint64_t pos = 0;
  const std::uint64_t sat32 = 0xffffffffu;
  for (const ZipItem& it : items) {
    pos += it.gap;
    const std::uint32_t crc =
        ghx::models::crc32(reinterpret_cast<const unsigned char*>(it.data.data()), it.data.size()) ^
        (it.bad_crc ? 1u : 0u);
    std::string extra;
    if (zip64) extra += le(1, 2) + le(16, 2) + le(it.data.size(), 8) + le(it.data.size(), 8);
    // torch's padding record ("FB") so that the data starts on a 64-byte boundary
    const std::uint64_t unpadded = pos + 30 + it.name.size() + extra.size() + 4;
    const std::uint64_t pad = (64 - unpadded % 64) % 64;
    extra += "FB" + le(pad, 2) + std::string(pad, 'Z');
    std::string local = le(0x04034b50, 4) + le(zip64 ? 45 : 20, 2) + le(0, 2) + le(it.method, 2) + le(0, 2) +
                        le(0x21, 2) + le(crc, 4) + le(zip64 ? sat32 : it.data.size(), 4) +
                        le(zip64 ? sat32 : it.data.size(), 4) + le(it.name.size(), 2) + le(extra.size(), 2) + it.name +
                        extra;
    std::string cextra;
    if (zip64) cextra = le(1, 2) + le(24, 2) + le(it.data.size(), 8) + le(it.data.size(), 8) + le(pos, 8);
    central += le(0x02014b50, 4) + le(zip64 ? 45 : 20, 2) + le(zip64 ? 45 : 20, 2) + le(0, 2) + le(it.method, 2) +
               le(0, 2) + le(0x21, 2) + le(crc, 4) + le(zip64 ? sat32 : it.data.size(), 4) +
               le(zip64 ? sat32 : it.data.size(), 4) + le(it.name.size(), 2) + le(cextra.size(), 2) + le(0, 2) +
               le(0, 2) + le(0, 2) + le(0, 4) + le(zip64 ? sat32 : pos, 4) + it.name + cextra;
    out.push_back({pos, local + it.data});
    pos += local.size() + it.data.size();
  }
  std::string tail = central;
  const std::uint64_t n = items.size();
  if (zip64) {
    const std::uint64_t z = pos + central.size();
    tail += le(0x06064b50, 4) + le(44, 8) + le(45, 2) + le(45, 2) + le(0, 4) + le(0, 4) + le(n, 8) + le(n, 8) +
            le(central.size(), 8) + le(pos, 8);
    tail += le(0x07064b50, 4) + le(0, 4) + le(z, 8) + le(1, 4);
  }
  tail += le(0x06054b50, 4) + le(0, 2) + le(0, 2) + le(zip64 ? 0xffff : n, 2) + le(zip64 ? 0xffff : n, 2) +
          le(zip64 ? sat32 : central.size(), 4) + le(zip64 ? sat32 : pos, 4) + le(0, 2);
  out.push_back({pos, tail});
  return out;
}

std::string flatten(const std::vector<Chunk>& chunks) {
  std::string s;
  for (const Chunk& c : chunks) {
    s.resize(static_cast<std::size_t>(c.offset), '\0');
    s += c.bytes;
  }
  return s;
}

std::string make_zip(const std::vector<ZipItem>& items, bool zip64 = false) { return flatten(build_zip(items, zip64)); }

// ---- pickle pieces, as torch.save writes them (protocol 2) ----

std::string global(const std::string& module, const std::string& name) { return "c" + module + "\n" + name + "\n"; }
std::string str(const std::string& s) { return "X" + le(s.size(), 4) + s; }
std::string binint(std::int64_t v) { return "J" + le(static_cast<std::uint64_t>(v), 4); }
std::string int_tuple(const std::vector<std::int64_t>& v) {
  std::string s = "(";
  for (auto x : v) s += binint(x);
  return s + "t";
}
const std::string k_empty_ordered_dict = global("collections", "OrderedDict") + ")R";

// torch._utils._rebuild_tensor_v2(('storage', torch.<cls>, key, 'cpu', numel), offset, size,
// stride, False, OrderedDict())
std::string tensor(const std::string& storage_cls, const std::string& key, std::int64_t numel, std::int64_t offset,
                   const std::vector<std::int64_t>& size, const std::vector<std::int64_t>& stride) {
  return global("torch._utils", "_rebuild_tensor_v2") + "((" + str("storage") + global("torch", storage_cls) +
         str(key) + str("cpu") + binint(numel) + "tQ" + binint(offset) + int_tuple(size) + int_tuple(stride) + "\x89" +
         k_empty_ordered_dict + "tR";
}

// OrderedDict of the given (key, pickled value) pairs.
std::string state_dict(const std::vector<std::pair<std::string, std::string>>& items) {
  std::string s = std::string("\x80\x02") + k_empty_ordered_dict + "(";
  for (const auto& [k, v] : items) s += str(k) + v;
  return s + "u.";
}

std::string floats(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

// archive/data.pkl + archive/data/<key>... + archive/version
std::string torch_zip(const std::string& pickle, const std::vector<std::pair<std::string, std::string>>& storages,
                      bool zip64 = false) {
  std::vector<ZipItem> items{{"archive/data.pkl", pickle}};
  for (const auto& [k, v] : storages) items.push_back({"archive/data/" + k, v});
  items.push_back({"archive/version", "3\n"});
  return make_zip(items, zip64);
}

const std::vector<float> k_six = {1.f, -2.f, 3.5f, 0.25f, -0.f, 1e-30f};

}  // namespace

TEST_CASE("WeightFile .pth: the same tensors as the safetensors twin, bit for bit, zero-copy", "[models][weights]") {
  const WeightFile pth = WeightFile::open(fixture("tensors.pth"));
  const WeightFile st = WeightFile::open(fixture("tensors.safetensors"));
  REQUIRE(pth.format() == WeightFormat::torch_zip);
  REQUIRE(st.format() == WeightFormat::safetensors);
  const std::vector<std::string> names{"bf16",   "empty",       "f16",   "f32",    "f64",     "i64",
                                       "offset", "offset_head", "param", "scalar", "unit_dim"};
  REQUIRE(pth.names() == names);
  REQUIRE(st.names() == names);
  const unsigned char* begin = pth.mapping()->data();
  const unsigned char* end = begin + pth.mapping()->size();
  for (const std::string& n : names) {
    INFO(n);
    const auto& a = pth.info(n);
    const auto& b = st.info(n);
    REQUIRE(a.dtype == b.dtype);
    REQUIRE(a.shape == b.shape);
    REQUIRE(a.end - a.begin == b.end - b.begin);
    REQUIRE(a.end - a.begin == static_cast<std::size_t>(a.numel()) * ghx::models::dtype_size(a.dtype));
    REQUIRE(std::memcmp(pth.data(n), st.data(n), a.end - a.begin) == 0);
    // Zero-copy: the bytes are the mapped file's.
    REQUIRE(pth.data(n) >= begin);
    REQUIRE(pth.data(n) + (a.end - a.begin) <= end);
  }
  REQUIRE(pth.info("f32").dtype == Dtype::f32);
  REQUIRE(pth.info("f16").dtype == Dtype::f16);
  REQUIRE(pth.info("bf16").dtype == Dtype::bf16);
  REQUIRE(pth.info("f64").dtype == Dtype::f64);
  REQUIRE(pth.info("i64").dtype == Dtype::i64);
  REQUIRE(pth.info("bf16").shape == std::vector<std::int64_t>{3, 2});
  REQUIRE(pth.info("scalar").shape.empty());
  REQUIRE(pth.to_float("scalar") == std::vector<float>{3.5f});
  REQUIRE(pth.info("empty").shape == std::vector<std::int64_t>{0, 3});
  REQUIRE(pth.to_float("empty").empty());
  REQUIRE(pth.info("unit_dim").shape == std::vector<std::int64_t>{1, 5});  // stride (1, 1) is fine
  std::int64_t i64[3];
  std::memcpy(i64, pth.data("i64"), sizeof i64);
  REQUIRE(i64[0] == -3);
  REQUIRE(i64[2] == (std::int64_t{1} << 40));

  // Storage offset: "offset" = base[5:11] and "offset_head" = base[:4] share one storage.
  REQUIRE(pth.data("offset") - pth.data("offset_head") == 5 * 4);
  // torch.save aligns storages to 64 bytes.
  REQUIRE(reinterpret_cast<std::uintptr_t>(pth.data("f32")) % 64 == 0);

  // to_float: identical floats from both formats, for every float dtype.
  for (const char* n : {"f32", "f16", "bf16", "f64", "offset", "param"}) {
    INFO(n);
    const auto a = pth.to_float(n), b = st.to_float(n);
    REQUIRE(a.size() == b.size());
    REQUIRE(std::memcmp(a.data(), b.data(), a.size() * 4) == 0);
  }
  double f64[4];
  std::memcpy(f64, pth.data("f64"), sizeof f64);
  REQUIRE(pth.to_float("f64")[3] == static_cast<float>(f64[3]));
  REQUIRE_THROWS_WITH(pth.to_float("i64"), Contains(fixture("tensors.pth")) && Contains("'i64'"));
  REQUIRE_THROWS_WITH(pth.info("nope"), Contains(fixture("tensors.pth")) && Contains("missing tensor 'nope'"));
  REQUIRE_FALSE(pth.contains("nope"));
  REQUIRE(pth.contains("param"));
}

TEST_CASE("WeightFile .pth: the script's refused files", "[models][weights]") {
  expect_error(fixture("noncontig.pth"), "tensor 'weight_t': not contiguous (size [3, 2], stride [1, 3])");
  expect_error(fixture("legacy.pth"),
               "legacy torch.save format: re-save with torch.save(..., "
               "_use_new_zipfile_serialization=True) or convert to safetensors");
  expect_error(fixture("nested.pth"), "top-level key 'state_dict' holds a dict, not a tensor");
}

TEST_CASE("WeightFile .pth: a malicious GLOBAL is named and never run", "[models][weights]") {
  const Scratch scratch("evil");
  const std::string& dir = scratch.path;
  // The committed files' command would touch ./ghx_pickle_was_executed: run from a scratch cwd.
  {
    struct Cwd {  // restored even when a REQUIRE below throws
      fs::path saved = fs::current_path();
      ~Cwd() { fs::current_path(saved); }
    } cwd;
    fs::current_path(dir);
    expect_error(fixture("evil_os_system.pth"), "refusing global 'os.system'");
    expect_error(fixture("evil_eval.pth"), "refusing global 'builtins.eval'");
  }
  REQUIRE_FALSE(fs::exists(dir + "/ghx_pickle_was_executed"));

  // Crafted here with an absolute marker path; Python's pickle.load would create the file.
  const std::string marker = dir + "/marker";
  const std::string path = dir + "/evil.pth";
  const std::string cmd = "touch " + marker;
  for (const auto& [mod, name] :
       std::vector<std::pair<std::string, std::string>>{{"os", "system"},
                                                        {"posix", "system"},
                                                        {"subprocess", "call"},
                                                        {"builtins", "exec"},
                                                        {"torch", "load"},
                                                        {"torch._utils", "_rebuild_tensor_v3"},
                                                        {"collections", "Counter"}}) {
    spit(path, torch_zip(std::string("\x80\x02") + global(mod, name) + str(cmd) + "\x85R.", {}));
    expect_error(path, "refusing global '" + mod + "." + name + "'");
    // STACK_GLOBAL (protocol 4) is checked the same way.
    spit(path, torch_zip(std::string("\x80\x04") + str(mod) + str(name) + "\x93" + str(cmd) + "\x85R.", {}));
    expect_error(path, "refusing global '" + mod + "." + name + "'");
  }
  // Also when it hides in a value of an otherwise fine state dict.
  spit(path, torch_zip(state_dict({{"w", tensor("FloatStorage", "0", 6, 0, {6}, {1})},
                                   {"x", global("os", "system") + str(cmd) + "\x85R"}}),
                       {{"0", floats(k_six)}}));
  expect_error(path, "refusing global 'os.system'");
  REQUIRE_FALSE(fs::exists(marker));
}

TEST_CASE("WeightFile: safetensors whose header length looks like a pickle's PROTO stay safetensors",
          "[models][weights]") {
  const Scratch scratch("proto_lookalike");
  const std::string path = scratch.path + "/w.safetensors";
  // Header lengths 0x180 .. 0x580 start with the bytes 0x80 0x01 .. 0x80 0x05 (PROTO 1..5).
  for (std::uint64_t len : {0x180u, 0x280u, 0x380u, 0x480u, 0x580u}) {
    INFO("header length " << len);
    std::string header = R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
    header.append(len - header.size(), ' ');
    spit(path, le(len, 8) + header + floats({1.5f, -2.f}));
    const WeightFile w = WeightFile::open(path);
    REQUIRE(w.format() == WeightFormat::safetensors);
    REQUIRE(w.to_float("x") == std::vector<float>{1.5f, -2.f});
  }
}

TEST_CASE("WeightFile .pth: empty, garbage, truncated files are Errors naming the file", "[models][weights]") {
  const Scratch scratch("broken");
  const std::string& dir = scratch.path;
  const std::string path = dir + "/w.pth";
  spit(path, "");
  expect_error(path, "empty file");
  expect_error(dir + "/absent.pth", "cannot open");
  spit(path, "certainly not weights, certainly not a zip either.........");
  expect_error(path, "");
  cv::RNG rng(7);
  std::string noise(4096, '\0');
  for (auto& c : noise) c = static_cast<char>(rng.uniform(0, 256));
  noise[0] = 'x';
  spit(path, noise);
  expect_error(path, "");
  spit(path, "PK\x03\x04" + noise);
  expect_error(path, "no end-of-central-directory record");
  spit(path, std::string("\x80\x02}q\x00.", 6));
  expect_error(path, "legacy torch.save format (a bare pickle)");

  // Every truncation of a real torch.save file, cut anywhere, is refused cleanly.
  const std::string good = slurp(fixture("tensors.pth"));
  REQUIRE_NOTHROW(WeightFile::open(fixture("tensors.pth")));
  for (std::size_t cut = 0; cut < good.size(); cut += (cut < 64 || cut + 64 > good.size()) ? 1 : 37) {
    spit(path, good.substr(0, cut));
    INFO("cut at " << cut);
    expect_error(path, "");
  }
  spit(path, good.substr(0, good.size() - 1));
  expect_error(path, "no end-of-central-directory record");
  // The directory claims more than the file has.
  std::string cut_middle = good.substr(0, 200) + good.substr(good.size() - 600);
  spit(path, cut_middle);
  expect_error(path, "");
  // One flipped byte in data.pkl fails its CRC.
  std::string flipped = good;
  const std::size_t at = flipped.find("_rebuild_tensor_v2");
  REQUIRE(at != std::string::npos);
  flipped[at] ^= 0x20;
  spit(path, flipped);
  expect_error(path, "fails its CRC check");
}

TEST_CASE("WeightFile .pth: crafted archives and pickles", "[models][weights]") {
  const Scratch scratch("crafted");
  const std::string& dir = scratch.path;
  const std::string path = dir + "/w.pth";
  const std::string six = floats(k_six);
  auto one = [&](const std::string& value) { return state_dict({{"w", value}}); };

  SECTION("the basic layout loads, the archive folder name is free") {
    spit(path, make_zip({{"any_name/data.pkl", one(tensor("FloatStorage", "7", 6, 0, {2, 3}, {3, 1}))},
                         {"any_name/data/7", six},
                         {"any_name/version", "3\n"},
                         {"any_name/byteorder", "little"}}));
    const WeightFile w = WeightFile::open(path);
    REQUIRE(w.names() == std::vector<std::string>{"w"});
    REQUIRE(w.info("w").shape == std::vector<std::int64_t>{2, 3});
    REQUIRE(std::memcmp(w.to_float("w").data(), k_six.data(), 24) == 0);
  }
  SECTION("zip64 records and extra fields") {
    spit(path, torch_zip(one(tensor("FloatStorage", "0", 6, 2, {2, 2}, {2, 1})), {{"0", six}}, true));
    const WeightFile w = WeightFile::open(path);
    REQUIRE(w.to_float("w") == std::vector<float>(k_six.begin() + 2, k_six.end()));
  }
  SECTION("every opcode torch.save may use") {
    // collections.OrderedDict via NEWOBJ; MEMOIZE; SHORT_BINSTRING / BINSTRING keys;
    // _rebuild_parameter; a dtype global as storage type; LONG1, BININT2, BININT1 integers;
    // TUPLE3; a 7th (metadata) argument; LONG_BINPUT / LONG_BINGET; _metadata set by BUILD with
    // a float, None, bools, a list (APPEND, APPENDS), DUP and POP.
    std::string p = std::string("\x80\x02") + global("collections", "OrderedDict") + ")\x81\x94(";
    p += std::string("U\x01") + "a";
    p += global("torch._utils", "_rebuild_parameter") + "(";
    p += global("torch._utils", "_rebuild_tensor_v2") + "((" + str("storage") + global("torch", "float32") + str("0") +
         str("cpu") + std::string("\x8a\x01\x06", 3) + "tQ";
    p += std::string("M\x00\x00", 3) + "K\x01K\x02K\x03\x87" + "K\x06" + std::string("\x8a\x01\x03", 3) + "K\x01\x87";
    p += "\x89" + global("collections", "OrderedDict") + ")R" + "N" + "tR";  // 7 arguments
    p += "\x88}tR" + std::string("r\xe8\x03\x00\x00", 5);                    // (tensor, True, {}); memo 1000
    p += std::string("T\x01\x00\x00\x00", 5) + "b" + std::string("j\xe8\x03\x00\x00", 5);
    p += "u";
    p += "}" + str("_metadata") + "](G" + std::string("\x3f\xf8\x00\x00\x00\x00\x00\x00", 8) + "N\x88\x89" + "eK\x07" +
         "2" + "0" + "a" + "s" + "b.";
    spit(path, torch_zip(p, {{"0", six}}));
    const WeightFile w = WeightFile::open(path);
    REQUIRE(w.names() == std::vector<std::string>{"a", "b"});
    for (const char* n : {"a", "b"}) {
      INFO(n);
      REQUIRE(w.info(n).shape == std::vector<std::int64_t>{1, 2, 3});
      REQUIRE(w.info(n).dtype == Dtype::f32);
      REQUIRE(std::memcmp(w.to_float(n).data(), k_six.data(), 24) == 0);
    }
  }
  SECTION("every storage type maps to its dtype") {
    const std::vector<std::pair<std::string, Dtype>> types{
        {"FloatStorage", Dtype::f32},     {"DoubleStorage", Dtype::f64}, {"HalfStorage", Dtype::f16},
        {"BFloat16Storage", Dtype::bf16}, {"LongStorage", Dtype::i64},   {"IntStorage", Dtype::i32},
        {"ShortStorage", Dtype::i16},     {"CharStorage", Dtype::i8},    {"ByteStorage", Dtype::u8},
        {"BoolStorage", Dtype::boolean}};
    for (const auto& [cls, dtype] : types) {
      INFO(cls);
      spit(path, torch_zip(one(tensor(cls, "0", 3, 0, {3}, {1})), {{"0", std::string(24, '\x01')}}));
      const WeightFile w = WeightFile::open(path);
      REQUIRE(w.info("w").dtype == dtype);
      REQUIRE(w.info("w").end - w.info("w").begin == 3 * ghx::models::dtype_size(dtype));
    }
  }
  SECTION("refusals name the file and, where there is one, the key") {
    auto check = [&](const std::string& bytes, const std::string& what) {
      spit(path, bytes);
      expect_error(path, what);
    };
    const std::string ok_pkl = one(tensor("FloatStorage", "0", 6, 0, {6}, {1}));
    check(torch_zip(one(tensor("FloatStorage", "0", 6, 0, {2, 3}, {1, 2})), {{"0", six}}),
          "tensor 'w': not contiguous (size [2, 3], stride [1, 2])");
    check(torch_zip(one(tensor("FloatStorage", "0", 6, 4, {3}, {1})), {{"0", six}}),
          "tensor 'w': storage offset 4 + 3 elements exceed its storage '0' of 6");
    check(torch_zip(one(tensor("FloatStorage", "0", 6, -1, {3}, {1})), {{"0", six}}),
          "tensor 'w': negative storage offset");
    check(torch_zip(one(tensor("FloatStorage", "0", 6, 0, {-1}, {1})), {{"0", six}}), "tensor 'w': negative dimension");
    check(torch_zip(one(tensor("FloatStorage", "0", 7, 0, {6}, {1})), {{"0", six}}),
          "storage '0' holds 24 bytes, 7 elements of F32 need 28");
    check(torch_zip(one(tensor("FloatStorage", "1", 6, 0, {6}, {1})), {{"0", six}}), "storage '1' has no entry data/1");
    check(torch_zip(one(tensor("ComplexFloatStorage", "0", 3, 0, {3}, {1})), {{"0", six}}),
          "refusing global 'torch.ComplexFloatStorage'");
    check(torch_zip(one(global("torch", "FloatStorage")), {}), "top-level key 'w' holds a storage class, not a tensor");
    check(torch_zip(one(str("text")), {}), "top-level key 'w' holds a string, not a tensor");
    check(torch_zip(state_dict({{"w", tensor("FloatStorage", "0", 6, 0, {6}, {1})},
                                {"w", tensor("FloatStorage", "0", 6, 0, {6}, {1})}}),
                    {{"0", six}}),
          "tensor 'w' appears twice");
    check(torch_zip("\x80\x02]K\x01\x61.", {}), "the pickle holds a list");
    check(torch_zip("\x80\x02}K\x01K\x02s.", {}), "a top-level key is an int");
    check(torch_zip("\x80\x06}.", {}), "pickle protocol 6 is not supported");
    check(torch_zip("\x80\x02}\x01.", {}), "unsupported pickle opcode 0x01");
    check(torch_zip("\x80\x02}", {}), "truncated pickle");
    check(torch_zip("\x80\x02s.", {}), "stack underflow");
    check(torch_zip("\x80\x02h\x05.", {}), "memo entry 5 read before it was written");
    check(torch_zip("\x80\x02}}.", {}), "STOP with a malformed stack");
    check(torch_zip(std::string("\x80\x02\x8a\x09") + std::string(9, '\x01') + ".", {}), "does not fit in 64 bits");
    check(make_zip({{"archive/data.pkl", ok_pkl, 0, 8}, {"archive/data/0", six}}), "is compressed");
    check(make_zip({{"archive/data.pkl", ok_pkl}, {"archive/data/0", six, 0, 8}}), "is compressed");
    check(make_zip({{"archive/data.pkl", ok_pkl, 0, 0, true}, {"archive/data/0", six}}),
          "'archive/data.pkl' fails its CRC check");
    check(make_zip({{"archive/data.pkl", ok_pkl}, {"archive/data/0", six}, {"archive/byteorder", "big"}}),
          "archive byteorder is 'big'");
    check(make_zip({{"archive/version", "3\n"}}), "without ARCHIVE/data.pkl: not a torch.save file");
    check(make_zip({{"archive/constants.pkl", "\x80\x02)."}, {"archive/code/x.py", ""}}),
          "a TorchScript archive (torch.jit.save)");
    check(make_zip({{"a/data.pkl", ok_pkl}, {"b/data.pkl", ok_pkl}}), "two pickles");
    // TorchScript modules: only __torch__ classes qualify, their state must be a dict, nesting is bounded
    check(torch_zip("\x80\x02" + global("__torch_evil__", "X") + ")\x81}b.", {}), "refusing global '__torch_evil__.X'");
    check(torch_zip("\x80\x02" + global("__torch__", "M") + ")\x81]b.", {}), "TorchScript module state is a list");
    check(torch_zip("\x80\x02" + global("torch.jit._pickle", "build_intlist") + ")R.", {}),
          "torch.jit._pickle function called without arguments");
    std::string deep = "\x80\x02";
    for (int i = 0; i < 70; ++i) deep += global("__torch__", "M") + ")\x81}(" + str("m");
    deep += "}";  // the innermost module's state... every level then closes its dict and BUILDs
    for (int i = 0; i < 70; ++i) deep += "ub";
    check(torch_zip(deep + ".", {}), "nested more than 64 deep");
    check(make_zip({}), "without ARCHIVE/data.pkl");
  }
}

TEST_CASE("WeightFile .pth: a TorchScript archive's tensors, named by their attribute path", "[models][weights]") {
  // torch.jit.save of nested modules (tests/models/make_clip_fixture.py), as OpenAI's
  // clip.load(jit=True) files are: attributes that are no tensors are skipped.
  const WeightFile jit = WeightFile::open(std::string(GHX_SOURCE_DIR) + "/tests/data/clip/clip_openai.jit.pt");
  const WeightFile pth = WeightFile::open(std::string(GHX_SOURCE_DIR) + "/tests/data/clip/clip_openai.pth");
  std::vector<std::string> want = pth.names();
  want.push_back("transformer.resblocks.0.attn_mask");  // a plain tensor attribute
  std::sort(want.begin(), want.end());
  REQUIRE(jit.names() == want);
  for (const std::string& n : pth.names()) {
    INFO(n);
    REQUIRE(jit.info(n).shape == pth.info(n).shape);
    REQUIRE(jit.to_float(n) == pth.to_float(n));
  }
  REQUIRE(jit.info("transformer.resblocks.0.attn_mask").shape == std::vector<std::int64_t>{4, 4});
}

TEST_CASE("WeightFile .pth: an entry beyond 4 GB (sparse file, zip64)", "[models][weights]") {
  const Scratch scratch("zip64_big");
  const std::string path = scratch.path + "/big.pth";
  const std::uint64_t gap = (std::uint64_t{1} << 32) + 12345;
  const auto chunks = build_zip({{"archive/data.pkl", state_dict({{"w", tensor("FloatStorage", "0", 6, 1, {5}, {1})}})},
                                 {"archive/data/0", floats(k_six), gap},
                                 {"archive/version", "3\n"}},
                                true);
  {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    REQUIRE(fd >= 0);
    for (const Chunk& c : chunks)
      REQUIRE(::pwrite(fd, c.bytes.data(), c.bytes.size(), static_cast<off_t>(c.offset)) ==
              static_cast<ssize_t>(c.bytes.size()));
    ::close(fd);
  }
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  REQUIRE(static_cast<std::uint64_t>(st.st_size) > gap);
  const WeightFile w = WeightFile::open(path);
  REQUIRE(w.info("w").begin > gap);
  REQUIRE(w.to_float("w") == std::vector<float>(k_six.begin() + 1, k_six.end()));
}

TEST_CASE("Vgg19Style from .pth: extra keys ignored, F64 works, missing key and wrong shape named",
          "[models][weights][style]") {
  cv::RNG rng(3);
  cv::Mat img(24, 32, CV_8UC3);
  rng.fill(img, cv::RNG::UNIFORM, 0, 256);
  // tiny_vgg.pth also holds classifier.0.weight/bias, which the loader must not mind.
  REQUIRE(WeightFile::open(fixture("tiny_vgg.pth")).contains("classifier.0.weight"));
  const auto a = Vgg19Style::load(fixture("tiny_vgg.pth"))->grams({img});
  // The same weights stored as float64: converted to float, the same Grams bit for bit.
  REQUIRE(WeightFile::open(fixture("tiny_vgg_f64.pth")).info("features.0.weight").dtype == Dtype::f64);
  const auto b = Vgg19Style::load(fixture("tiny_vgg_f64.pth"))->grams({img});
  REQUIRE(a.size() == 1);
  REQUIRE(a[0].channels == b[0].channels);
  REQUIRE(a[0].grams == b[0].grams);
  REQUIRE(ghx::models::style_loss(a[0], b[0], ghx::models::StyleVariant::ghostreview) == 0.0);

  const std::string missing = fixture("tiny_vgg_missing.pth");
  REQUIRE_THROWS_WITH(Vgg19Style::load(missing), Contains(missing) && Contains("missing tensor 'features.19.bias'"));
  const std::string badshape = fixture("tiny_vgg_badshape.pth");
  REQUIRE_THROWS_WITH(Vgg19Style::load(badshape),
                      Contains(badshape) && Contains("tensor 'features.5.weight'") && Contains("[2, 2, 5, 5]"));
  const std::string evil = fixture("evil_os_system.pth");
  REQUIRE_THROWS_WITH(Vgg19Style::load(evil), Contains(evil) && Contains("os.system"));
  const std::string legacy = fixture("legacy.pth");
  REQUIRE_THROWS_WITH(Vgg19Style::load(legacy), Contains(legacy) && Contains("legacy torch.save"));
}
