// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// An 8-bit RGB raster (top row first) and its PNG encoding (libpng's simplified write API).
//
//   Image img(640, 480);                        // white
//   img.DrawLine(10, 10, 200, 120, kBlack, 2);  // pixel coordinates, x right, y down
//   WritePng(img, "out/roc.png");               // atomic: a reader never sees half a file
//
// Units: pixels. Drawing outside the image is clipped silently.
// Thread safety: a value type; concurrent reads are safe.
#include <cstdint>
#include <string>
#include <vector>

namespace curia::report {

struct Rgb {
  std::uint8_t r = 0, g = 0, b = 0;
  bool operator==(const Rgb& o) const { return r == o.r && g == o.g && b == o.b; }
  bool operator!=(const Rgb& o) const { return !(*this == o); }
};

inline constexpr Rgb kWhite{255, 255, 255};
inline constexpr Rgb kBlack{0, 0, 0};

class Image {
 public:
  // Throws curia::Error (kInvalidArgument) unless 1 <= width, height <= 16384.
  Image(int width, int height, Rgb background = kWhite);

  int width() const { return width_; }
  int height() const { return height_; }
  Rgb At(int x, int y) const;  // throws curia::Error (kInvalidArgument) outside the image
  void Set(int x, int y, Rgb c);  // ignored outside the image
  // The rectangle [x0, x1) x [y0, y1), clipped.
  void FillRect(int x0, int y0, int x1, int y1, Rgb c);
  // A straight line between pixel centres (Bresenham), `thickness` pixels wide (a square brush).
  void DrawLine(int x0, int y0, int x1, int y1, Rgb c, int thickness = 1);
  // r, g, b per pixel, rows top to bottom.
  const std::vector<std::uint8_t>& samples() const { return samples_; }

 private:
  int width_, height_;
  std::vector<std::uint8_t> samples_;
};

// The image as a PNG file's bytes (8-bit RGB, no interlacing). Throws curia::Error (kInternal)
// with libpng's message if libpng fails.
std::string EncodePng(const Image& image);
// EncodePng written to `path` atomically. Throws curia::Error naming the path.
void WritePng(const Image& image, const std::string& path);

}  // namespace curia::report
