// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A small 5x7 bitmap font for the text burned into key images: upper-case letters, digits and
// punctuation (lower case is drawn upper case; other characters as '?'; UTF-8 dashes as '-').
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace curia::dicomsr::internal {

inline constexpr int kGlyphWidth = 5;
inline constexpr int kGlyphHeight = 7;
inline constexpr int kAdvance = 6;     // glyph plus one column of space
inline constexpr int kLineHeight = 10; // glyph plus three rows of space

// Characters of `text` as drawn (after upper-casing and replacements).
std::string Printable(const std::string& utf8);
int64_t TextWidth(const std::string& utf8, int scale);
// Draws into an interleaved RGB image of width x height; pixels outside are clipped.
void DrawText(std::vector<uint8_t>& rgb, int64_t width, int64_t height, int64_t x, int64_t y, const std::string& utf8,
              int scale, std::array<uint8_t, 3> colour);

}  // namespace curia::dicomsr::internal
