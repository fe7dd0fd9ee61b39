// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A PNG file decoded by libpng (the reader browsers use), for tests of the figures we write. Header
// only: a test that includes it links PNG::PNG.
#include <png.h>

#include <cstdint>
#include <string>
#include <vector>

namespace curia::test {

struct DecodedPng {
  bool ok = false;
  std::string error;
  std::uint32_t width = 0, height = 0;
  std::vector<std::uint8_t> rgb;  // 3 samples a pixel, top row first
  // The pixel's r, g, b (0 outside the image).
  std::uint32_t At(std::uint32_t x, std::uint32_t y) const {
    if (x >= width || y >= height) return 0;
    const std::size_t i = (static_cast<std::size_t>(y) * width + x) * 3;
    return (std::uint32_t{rgb[i]} << 16) | (std::uint32_t{rgb[i + 1]} << 8) | rgb[i + 2];
  }
};

inline DecodedPng DecodePngBytes(const std::string& bytes) {
  DecodedPng d;
  if (bytes.size() < 8 || bytes.compare(0, 8, std::string("\x89PNG\r\n\x1a\n", 8)) != 0) {
    d.error = "no PNG signature";
    return d;
  }
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, bytes.data(), bytes.size())) {
    d.error = image.message;
    return d;
  }
  image.format = PNG_FORMAT_RGB;
  d.width = image.width;
  d.height = image.height;
  d.rgb.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, d.rgb.data(), 0, nullptr)) {
    d.error = image.message;
    return d;
  }
  d.ok = true;
  return d;
}

}  // namespace curia::test
