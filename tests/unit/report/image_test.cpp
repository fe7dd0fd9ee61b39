// SPDX-License-Identifier: GPL-3.0-or-later
// The raster and its PNG encoding, decoded back with libpng; the bitmap font.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "curia/config/error.h"
#include "curia/report/font.h"
#include "curia/report/image.h"
#include "decode_png.h"

namespace curia::report {
namespace {

std::uint32_t Packed(Rgb c) { return (std::uint32_t{c.r} << 16) | (std::uint32_t{c.g} << 8) | c.b; }

TEST(ReportImage, PngDecodesBackToTheSamePixels) {
  Image img(37, 23, {10, 20, 30});
  img.Set(0, 0, {255, 0, 0});
  img.Set(36, 22, {0, 255, 0});
  img.FillRect(5, 5, 9, 8, {1, 2, 3});
  img.DrawLine(0, 22, 36, 0, {200, 100, 50}, 1);
  const test::DecodedPng d = test::DecodePngBytes(EncodePng(img));
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.width, 37u);
  EXPECT_EQ(d.height, 23u);
  for (int y = 0; y < img.height(); ++y) {
    for (int x = 0; x < img.width(); ++x) {
      ASSERT_EQ(d.At(x, y), Packed(img.At(x, y))) << x << ", " << y;
    }
  }
  EXPECT_EQ(d.At(0, 0), 0xff0000u);
  EXPECT_EQ(d.At(36, 22), 0x00ff00u);
  EXPECT_EQ(d.At(36, 0), 0xc86432u);  // the line's ends
  EXPECT_EQ(d.At(0, 22), 0xc86432u);
  EXPECT_EQ(d.At(6, 6), 0x010203u);
  EXPECT_EQ(d.At(20, 20), 0x0a141eu);
}

TEST(ReportImage, LinesReachBothEndsAndClipAtTheBorder) {
  Image img(50, 40);
  img.DrawLine(3, 4, 45, 30, kBlack, 1);
  EXPECT_EQ(img.At(3, 4), kBlack);
  EXPECT_EQ(img.At(45, 30), kBlack);
  // Every column between the ends has exactly one black pixel (a 1-pixel Bresenham line, |slope| < 1).
  for (int x = 3; x <= 45; ++x) {
    int black = 0;
    for (int y = 0; y < 40; ++y) black += img.At(x, y) == kBlack;
    EXPECT_EQ(black, 1) << "column " << x;
  }
  img.DrawLine(-100, -100, 200, 200, {9, 9, 9}, 3);  // clipped, no crash
  EXPECT_EQ(img.At(20, 20), (Rgb{9, 9, 9}));
  EXPECT_EQ(img.At(21, 20), (Rgb{9, 9, 9}));  // 3 pixels wide
  EXPECT_THROW(img.At(50, 0), Error);
  EXPECT_THROW(Image(0, 10), Error);
}

TEST(ReportImage, WritePngWritesTheFile) {
  const std::string dir = ::testing::TempDir() + "/report_image_test";
  std::filesystem::create_directories(dir);
  Image img(8, 4, {0, 0, 255});
  WritePng(img, dir + "/a.png");
  std::ifstream in(dir + "/a.png", std::ios::binary);
  std::stringstream bytes;
  bytes << in.rdbuf();
  const test::DecodedPng d = test::DecodePngBytes(bytes.str());
  ASSERT_TRUE(d.ok) << d.error;
  EXPECT_EQ(d.At(7, 3), 0x0000ffu);
  EXPECT_THROW(WritePng(img, dir + "/no/such/folder/a.png"), Error);
  std::filesystem::remove_all(dir);
}

TEST(ReportFont, EveryPrintableCharacterHasItsOwnGlyph) {
  std::set<std::string> seen;
  for (int c = 32; c <= 126; ++c) {
    ASSERT_TRUE(HasGlyph(static_cast<char>(c))) << "no glyph for '" << static_cast<char>(c) << "'";
    std::string bits;
    for (int row = 0; row < kGlyphHeight; ++row) {
      for (int col = 0; col < kGlyphWidth; ++col) bits += GlyphPixel(static_cast<char>(c), col, row) ? '#' : '.';
    }
    EXPECT_TRUE(seen.insert(bits).second) << "'" << static_cast<char>(c) << "' looks like another character";
    if (c != ' ') {
      EXPECT_NE(bits.find('#'), std::string::npos) << "'" << static_cast<char>(c) << "' is blank";
    }
    // Capitals and digits sit on the baseline (row 6) and never use the descender rows.
    if ((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      EXPECT_EQ(bits.substr(7 * kGlyphWidth).find('#'), std::string::npos) << static_cast<char>(c);
      EXPECT_NE(bits.substr(6 * kGlyphWidth, kGlyphWidth).find('#'), std::string::npos) << static_cast<char>(c);
    }
  }
  // Descenders where they belong.
  for (char c : std::string("gjpqy,;")) {
    bool below = false;
    for (int col = 0; col < kGlyphWidth; ++col) below = below || GlyphPixel(c, col, 7) || GlyphPixel(c, col, 8);
    EXPECT_TRUE(below) << c;
  }
  EXPECT_FALSE(HasGlyph('\t'));
  // Outside printable ASCII: drawn as '?'.
  for (int row = 0; row < kGlyphHeight; ++row) {
    for (int col = 0; col < kGlyphWidth; ++col) EXPECT_EQ(GlyphPixel('\x01', col, row), GlyphPixel('?', col, row));
  }
}

TEST(ReportFont, TextIsDrawnWhereItsGlyphsSayHorizontallyAndRotated) {
  EXPECT_EQ(TextWidth("", 2), 0);
  EXPECT_EQ(TextWidth("AB", 1), 11);
  EXPECT_EQ(TextWidth("AB", 3), 33);
  Image img(60, 40);
  DrawText(img, 4, 5, "T1", kBlack, 2);
  // 'T': its top row is full, its stem in column 2; each font pixel is a 2 x 2 block.
  for (int col = 0; col < 5; ++col) EXPECT_EQ(img.At(4 + 2 * col + 1, 5 + 1), kBlack) << col;
  EXPECT_EQ(img.At(4 + 2 * 2, 5 + 2 * 6), kBlack);
  EXPECT_EQ(img.At(4, 5 + 2 * 6), kWhite);
  // '1' starts one advance later: its bottom row is ".###." (columns 1-3).
  EXPECT_EQ(img.At(4 + 12 + 2 * 1, 5 + 2 * 6), kBlack);
  EXPECT_EQ(img.At(4 + 12, 5 + 2 * 6), kWhite);

  // Rotated: "L" read bottom to top; its stem (column 0) is the bottom row of the box, its foot
  // (row 6) the right-hand column.
  Image v(20, 20);
  DrawText(v, 2, 3, "L", kBlack, 1, true);
  for (int row = 0; row < 7; ++row) EXPECT_EQ(v.At(2 + row, 3 + 4), kBlack) << row;  // column 0 at y = 3 + 5 - 1
  for (int col = 0; col < 5; ++col) EXPECT_EQ(v.At(2 + 6, 3 + 4 - col), kBlack) << col;
  EXPECT_EQ(v.At(2, 3), kWhite);
}

}  // namespace
}  // namespace curia::report
