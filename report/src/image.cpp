// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/report/image.h"

#ifndef CURIA_REPORT_NO_PNG
#include <png.h>
#endif

#include <algorithm>
#include <cstdlib>

#include "curia/config/error.h"
#include "curia/config/json.h"

namespace curia::report {

Image::Image(int width, int height, Rgb background) : width_(width), height_(height) {
  if (width < 1 || height < 1 || width > 16384 || height > 16384) {
    throw Error(ErrorCode::kInvalidArgument,
                "image size " + std::to_string(width) + " x " + std::to_string(height) + " is outside 1..16384");
  }
  samples_.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3);
  for (std::size_t i = 0; i < samples_.size(); i += 3) {
    samples_[i] = background.r;
    samples_[i + 1] = background.g;
    samples_[i + 2] = background.b;
  }
}

Rgb Image::At(int x, int y) const {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) {
    throw Error(ErrorCode::kInvalidArgument, "pixel (" + std::to_string(x) + ", " + std::to_string(y) +
                                                 ") is outside the " + std::to_string(width_) + " x " +
                                                 std::to_string(height_) + " image");
  }
  const std::size_t i = (static_cast<std::size_t>(y) * static_cast<std::size_t>(width_) + static_cast<std::size_t>(x)) * 3;
  return {samples_[i], samples_[i + 1], samples_[i + 2]};
}

void Image::Set(int x, int y, Rgb c) {
  if (x < 0 || y < 0 || x >= width_ || y >= height_) return;
  const std::size_t i = (static_cast<std::size_t>(y) * static_cast<std::size_t>(width_) + static_cast<std::size_t>(x)) * 3;
  samples_[i] = c.r;
  samples_[i + 1] = c.g;
  samples_[i + 2] = c.b;
}

void Image::FillRect(int x0, int y0, int x1, int y1, Rgb c) {
  x0 = std::max(x0, 0);
  y0 = std::max(y0, 0);
  x1 = std::min(x1, width_);
  y1 = std::min(y1, height_);
  for (int y = y0; y < y1; ++y) {
    for (int x = x0; x < x1; ++x) Set(x, y, c);
  }
}

void Image::DrawLine(int x0, int y0, int x1, int y1, Rgb c, int thickness) {
  const int before = (thickness - 1) / 2;  // the brush covers [p - before, p - before + thickness)
  const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
  const int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
  int err = dx + dy;
  for (;;) {
    FillRect(x0 - before, y0 - before, x0 - before + thickness, y0 - before + thickness, c);
    if (x0 == x1 && y0 == y1) break;
    const int e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x0 += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y0 += sy;
    }
  }
}

std::string EncodePng(const Image& image) {
#ifdef CURIA_REPORT_NO_PNG
  (void)image;
  throw Error(ErrorCode::kUnavailable,
              "PNG: this curia was built without libpng (a model-only build on a machine without its "
              "headers), so it writes no figures; install libpng-dev and rebuild");
#else
  png_image png{};
  png.version = PNG_IMAGE_VERSION;
  png.width = static_cast<png_uint_32>(image.width());
  png.height = static_cast<png_uint_32>(image.height());
  png.format = PNG_FORMAT_RGB;
  png_alloc_size_t size = 0;
  // First call: the size needed; second: the bytes.
  if (!png_image_write_to_memory(&png, nullptr, &size, 0, image.samples().data(), 0, nullptr)) {
    throw Error(ErrorCode::kInternal, std::string("PNG: libpng: ") + png.message);
  }
  std::string out(size, '\0');
  if (!png_image_write_to_memory(&png, out.data(), &size, 0, image.samples().data(), 0, nullptr)) {
    throw Error(ErrorCode::kInternal, std::string("PNG: libpng: ") + png.message);
  }
  out.resize(size);
  return out;
#endif
}

void WritePng(const Image& image, const std::string& path) { config::WriteFileAtomic(path, {EncodePng(image)}); }

}  // namespace curia::report
