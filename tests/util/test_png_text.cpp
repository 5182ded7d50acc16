// PNG text chunks: tEXt / zTXt / iTXt read back as UTF-8; png_set_text splices one chunk after
// IHDR without touching the pixels; corrupt, truncated or non-PNG bytes are ghx::Error.
#include <catch2/catch.hpp>

#include <zlib.h>

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "util/error.h"
#include "util/png.h"
#include "util/png_text.h"

using namespace ghx;

namespace {

/// A small OpenCV-encoded PNG with some structure in it.
std::string sample_png() {
  cv::Mat img(24, 40, CV_8UC3);
  for (int y = 0; y < img.rows; ++y)
    for (int x = 0; x < img.cols; ++x) img.at<cv::Vec3b>(y, x) = cv::Vec3b(uchar(x * 6), uchar(y * 10), uchar((x ^ y) * 7));
  cv::circle(img, {20, 12}, 7, cv::Scalar(250, 250, 10), -1);
  std::vector<uchar> out;
  REQUIRE(cv::imencode(".png", img, out));
  return std::string(out.begin(), out.end());
}

std::string be32(uint32_t v) {
  std::string s;
  for (int shift = 24; shift >= 0; shift -= 8) s.push_back(char((v >> shift) & 0xff));
  return s;
}

/// One chunk with its CRC (zlib's crc32 over type and data).
std::string chunk(const std::string& type, const std::string& data) {
  std::string td = type + data;
  uLong crc = crc32(0L, reinterpret_cast<const Bytef*>(td.data()), uInt(td.size()));
  return be32(uint32_t(data.size())) + td + be32(uint32_t(crc));
}

std::string zlib_compress(const std::string& s) {
  uLongf n = compressBound(uLong(s.size()));
  std::string out(n, '\0');
  REQUIRE(compress2(reinterpret_cast<Bytef*>(&out[0]), &n, reinterpret_cast<const Bytef*>(s.data()), uLong(s.size()), 9) == Z_OK);
  out.resize(n);
  return out;
}

/// Inserts `chunks` right before IEND (the last 12 bytes of an OpenCV PNG).
std::string insert_before_iend(const std::string& png, const std::string& chunks) {
  REQUIRE(png.compare(png.size() - 8, 4, "IEND") == 0);
  return png.substr(0, png.size() - 12) + chunks + png.substr(png.size() - 12);
}

struct ChunkView {
  std::string type;
  std::string data;
};

/// An independent walk over the chunks; checks every CRC.
std::vector<ChunkView> walk(const std::string& png) {
  std::vector<ChunkView> out;
  size_t at = 8;
  while (at + 12 <= png.size()) {
    auto u8 = [&](size_t i) { return uint32_t(static_cast<unsigned char>(png[i])); };
    uint32_t len = (u8(at) << 24) | (u8(at + 1) << 16) | (u8(at + 2) << 8) | u8(at + 3);
    ChunkView c{png.substr(at + 4, 4), png.substr(at + 8, len)};
    std::string td = c.type + c.data;
    uint32_t crc = (u8(at + 8 + len) << 24) | (u8(at + 9 + len) << 16) | (u8(at + 10 + len) << 8) | u8(at + 11 + len);
    CHECK(crc == uint32_t(crc32(0L, reinterpret_cast<const Bytef*>(td.data()), uInt(td.size()))));
    out.push_back(c);
    at += 12 + len;
    if (c.type == "IEND") break;
  }
  return out;
}

int count_keyword(const std::string& png, const std::string& keyword) {
  int n = 0;
  for (const auto& c : walk(png))
    if ((c.type == "tEXt" || c.type == "zTXt" || c.type == "iTXt") && c.data.compare(0, keyword.size() + 1, keyword + '\0') == 0) ++n;
  return n;
}

void require_same_pixels(const std::string& a, const std::string& b) {
  cv::Mat pa = util::decode_image(a, "a"), pb = util::decode_image(b, "b");
  REQUIRE(pa.size() == pb.size());
  REQUIRE(pa.type() == pb.type());
  CHECK(cv::norm(pa, pb, cv::NORM_INF) == 0);
}

const char* k_infotext =
    "a cat, <lora:add_detail:0.6>\n"
    "Negative prompt: lowres\n"
    "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 6, Seed: 1, Size: 512x768, Model hash: 6ce0161689, "
    "Lora hashes: \"add_detail: 7c6bad76eb54\"";

}  // namespace

TEST_CASE("png_text: an ASCII text round-trips as tEXt right after IHDR, pixels untouched", "[png_text]") {
  std::string png = sample_png();
  REQUIRE(util::is_png(png));
  CHECK(util::png_text_chunks(png, "sample").empty());

  std::string out = util::png_set_text(png, "parameters", k_infotext, "sample");
  auto chunks = walk(out);
  REQUIRE(chunks.size() == walk(png).size() + 1);
  CHECK(chunks[0].type == "IHDR");
  CHECK(chunks[1].type == "tEXt");
  CHECK(chunks[1].data == std::string("parameters") + '\0' + k_infotext);
  CHECK(chunks.back().type == "IEND");

  auto text = util::png_text_chunks(out, "out");
  REQUIRE(text.size() == 1);
  CHECK(text.at("parameters") == k_infotext);
  require_same_pixels(png, out);
  // Deterministic bytes; and every chunk but the new one is copied as it was.
  CHECK(util::png_set_text(png, "parameters", k_infotext, "sample") == out);
  std::string without = out.substr(0, 33) + out.substr(33 + 12 + chunks[1].data.size());
  CHECK(without == png);
}

TEST_CASE("png_text: setting a keyword again replaces it, other keywords stay", "[png_text]") {
  std::string png = util::png_set_text(sample_png(), "parameters", "first", "p");
  png = util::png_set_text(png, "Software", "ghx", "p");
  png = util::png_set_text(png, "parameters", "second", "p");
  CHECK(count_keyword(png, "parameters") == 1);
  auto text = util::png_text_chunks(png, "p");
  CHECK(text.size() == 2);
  CHECK(text.at("parameters") == "second");
  CHECK(text.at("Software") == "ghx");
  require_same_pixels(sample_png(), png);

  // An existing zTXt or iTXt with the keyword is removed as well.
  std::string z = insert_before_iend(sample_png(), chunk("zTXt", std::string("parameters") + '\0' + '\0' + zlib_compress("old")) +
                                                       chunk("iTXt", std::string("parameters") + '\0' + '\0' + '\0' + "en" + '\0' + '\0' + "older"));
  CHECK(count_keyword(z, "parameters") == 2);
  std::string replaced = util::png_set_text(z, "parameters", "new", "z");
  CHECK(count_keyword(replaced, "parameters") == 1);
  CHECK(util::png_text_chunks(replaced, "z").at("parameters") == "new");
}

TEST_CASE("png_text: non-ASCII text is written as uncompressed UTF-8 iTXt", "[png_text]") {
  const std::string text = "caf\xc3\xa9 au lait \xf0\x9f\x8e\xa8, \xe6\xa1\x9c\nNegative prompt: \xc3\xa9t\xc3\xa9";
  std::string png = sample_png();
  std::string out = util::png_set_text(png, "parameters", text, "utf8");
  auto chunks = walk(out);
  REQUIRE(chunks[1].type == "iTXt");
  CHECK(chunks[1].data == std::string("parameters") + std::string(5, '\0') + text);
  CHECK(util::png_text_chunks(out, "utf8").at("parameters") == text);
  require_same_pixels(png, out);

  // A Latin-1 keyword is stored as Latin-1 and read back as UTF-8.
  std::string k = util::png_set_text(png, "R\xc3\xa9sum\xc3\xa9", "ok", "k");
  CHECK(walk(k)[1].data == std::string("R\xe9sum\xe9") + '\0' + "ok");
  CHECK(util::png_text_chunks(k, "k").at("R\xc3\xa9sum\xc3\xa9") == "ok");
}

TEST_CASE("png_text: reads Latin-1 tEXt, zTXt and compressed iTXt, later chunks win", "[png_text]") {
  std::string png = insert_before_iend(
      sample_png(),
      chunk("tEXt", std::string("Comment") + '\0' + "na\xefve") +
          chunk("zTXt", std::string("parameters") + '\0' + '\0' + zlib_compress("zipped, caf\xe9\nSteps: 20")) +
          chunk("iTXt", std::string("Title") + '\0' + '\x01' + '\0' + "fr" + '\0' + "Titre" + '\0' +
                            zlib_compress("\xf0\x9f\x98\x80 \xc3\xa9")) +
          chunk("tEXt", std::string("Comment") + '\0' + "later"));
  auto text = util::png_text_chunks(png, "crafted");
  CHECK(text.size() == 3);
  CHECK(text.at("parameters") == "zipped, caf\xc3\xa9\nSteps: 20");
  CHECK(text.at("Title") == "\xf0\x9f\x98\x80 \xc3\xa9");
  CHECK(text.at("Comment") == "later");
  // Bytes after IEND are ignored when reading and kept when splicing.
  std::string trailing = png + "trailing";
  CHECK(util::png_text_chunks(trailing, "t").size() == 3);
  std::string spliced = util::png_set_text(trailing, "parameters", "x", "t");
  CHECK(spliced.substr(spliced.size() - 8) == "trailing");
  CHECK(util::png_text_chunks(spliced, "t").at("parameters") == "x");
}

TEST_CASE("png_text: corrupt, truncated and non-PNG bytes are errors naming the source", "[png_text]") {
  std::string png = util::png_set_text(sample_png(), "parameters", "hello", "p");
  auto fails = [](const std::string& bytes, const std::string& fragment) {
    CHECK_THROWS_WITH(util::png_text_chunks(bytes, "img.png"), Catch::Contains("img.png") && Catch::Contains(fragment));
    CHECK_THROWS_AS(util::png_set_text(bytes, "parameters", "x", "img.png"), Error);
  };
  SECTION("not a PNG") {
    CHECK_FALSE(util::is_png("GIF89a..."));
    CHECK_FALSE(util::is_png(""));
    fails("GIF89a and more bytes here", "not a PNG");
    fails("", "not a PNG");
    std::vector<uchar> jpg;
    cv::imencode(".jpg", cv::Mat(8, 8, CV_8UC3, cv::Scalar(1, 2, 3)), jpg);
    fails(std::string(jpg.begin(), jpg.end()), "not a PNG");
  }
  SECTION("CRC mismatch in the text chunk") {
    std::string bad = png;
    bad[33 + 8 + 11] ^= 0x20;  // 'h' of "hello" -> 'H'
    fails(bad, "CRC");
  }
  SECTION("CRC mismatch in IDAT") {
    std::string bad = png;
    size_t idat = bad.find("IDAT");
    REQUIRE(idat != std::string::npos);
    bad[idat + 6] ^= 0x01;
    fails(bad, "CRC");
  }
  SECTION("truncated") {
    fails(png.substr(0, png.size() - 6), "truncated");
    fails(png.substr(0, png.size() / 2), "truncated");
    fails(png.substr(0, 8), "truncated");
    fails(png.substr(0, png.size() - 12), "truncated");  // no IEND
  }
  SECTION("a text chunk with a bad payload") {
    fails(insert_before_iend(sample_png(), chunk("tEXt", "no keyword terminator")), "tEXt");
    // Reading decodes every text chunk; png_set_text only needs their keywords and copies the
    // chunks of other keywords as they are.
    auto read_fails = [](const std::string& bytes, const std::string& fragment) {
      CHECK_THROWS_WITH(util::png_text_chunks(bytes, "img.png"), Catch::Contains("img.png") && Catch::Contains(fragment));
      std::string out;
      CHECK_NOTHROW(out = util::png_set_text(bytes, "parameters", "x", "img.png"));
      CHECK(out.size() == bytes.size() + 12 + 11 + 1);
    };
    read_fails(insert_before_iend(sample_png(), chunk("zTXt", std::string("k") + '\0' + '\0' + "not zlib data")), "zTXt");
    read_fails(insert_before_iend(sample_png(), chunk("zTXt", std::string("k") + '\0' + '\0' + zlib_compress("cut short").substr(0, 6))), "zTXt");
    read_fails(insert_before_iend(sample_png(), chunk("iTXt", std::string("k") + '\0' + '\0' + '\0' + '\0' + '\0' + "\xff\xfe")), "UTF-8");
    // The same payload under the keyword being set is simply replaced.
    std::string own = insert_before_iend(sample_png(), chunk("zTXt", std::string("parameters") + '\0' + '\0' + "not zlib"));
    CHECK(util::png_text_chunks(util::png_set_text(own, "parameters", "x", "own"), "own").at("parameters") == "x");
  }
}

TEST_CASE("png_text: invalid keywords and texts are refused", "[png_text]") {
  std::string png = sample_png();
  CHECK_THROWS_AS(util::png_set_text(png, "", "x", "p"), Error);
  CHECK_THROWS_AS(util::png_set_text(png, std::string(80, 'k'), "x", "p"), Error);
  CHECK_THROWS_AS(util::png_set_text(png, " lead", "x", "p"), Error);
  CHECK_THROWS_AS(util::png_set_text(png, "two  spaces", "x", "p"), Error);
  CHECK_THROWS_AS(util::png_set_text(png, "emoji \xf0\x9f\x8e\xa8", "x", "p"), Error);
  CHECK_THROWS_AS(util::png_set_text(png, "parameters", std::string("nul\0inside", 10), "p"), Error);
  CHECK_THROWS_AS(util::png_set_text(png, "parameters", "bad \xff utf-8", "p"), Error);
  CHECK_NOTHROW(util::png_set_text(png, std::string(79, 'k'), "", "p"));
}
