// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A 5 x 9 bitmap font of our own for printable ASCII (32..126): capitals and digits 7 pixels high,
// lower case with descenders in rows 7 and 8; one blank column between characters. Enough for axis
// labels, ticks, titles and legends of the report figures. Characters outside printable ASCII are
// drawn as '?'.
//
//   DrawText(img, 20, 10, "AUROC 0.91", kBlack, 2);              // top-left corner, scale 2
//   DrawText(img, 5, 300, "Sensitivity", kBlack, 2, true);       // rotated, reads bottom to top
//
// Units: pixels; a character takes kGlyphAdvance * scale pixels along the line and
// kGlyphHeight * scale across it. Thread safety: pure functions (the table is constant).
#include <string>

#include "curia/report/image.h"

namespace curia::report {

inline constexpr int kGlyphWidth = 5;
inline constexpr int kGlyphHeight = 9;
inline constexpr int kGlyphAdvance = kGlyphWidth + 1;

// Whether pixel (col, row) of the character's glyph is set; col in [0, 5), row in [0, 9).
bool GlyphPixel(char c, int col, int row);
// Whether the font has a glyph of its own for c (printable ASCII).
bool HasGlyph(char c);

// Width of `text` along its line, in pixels.
int TextWidth(const std::string& text, int scale);

// Draws `text` with its top-left corner at (x, y). vertical: rotated 90 degrees counter-clockwise
// (reading bottom to top), occupying [x, x + kGlyphHeight * scale) x [y, y + TextWidth) with the
// first character at the bottom.
void DrawText(Image& image, int x, int y, const std::string& text, Rgb color, int scale = 1, bool vertical = false);

}  // namespace curia::report
