// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Small DICOM instances made in memory for loader tests, with DCMTK.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace curia::test {

struct SyntheticImage {
  std::string modality = "CT";
  std::string series_uid = "1.2.826.0.1.3680043.10.1234.1";
  std::string study_uid = "1.2.826.0.1.3680043.10.1234.2";
  std::string sop_uid = "1.2.826.0.1.3680043.10.1234.3.1";
  int rows = 4, cols = 3, frames = 1;
  int bits_allocated = 16, bits_stored = 16, high_bit = 15, pixel_representation = 1;
  std::string photometric = "MONOCHROME2";
  std::array<double, 6> iop = {1, 0, 0, 0, 1, 0};
  std::vector<std::array<double, 3>> positions = {{0, 0, 0}};  // one per frame (enhanced when frames > 1)
  double slope = 1, intercept = 0;
  std::vector<uint16_t> pixels;  // rows * cols * frames stored words (for bits_allocated 16)
  bool truncate_pixels = false;  // drop the last bytes of the pixel data
  std::string transfer_syntax;   // empty: explicit little endian
  // With a transfer_syntax: the encapsulated fragments (e.g. real JPEG 2000 code streams) and the
  // Basic Offset Table's entries; no fragments: one that is not a real code stream.
  std::vector<std::string> fragments;
  std::vector<uint32_t> offset_table;
  std::string patient_name = "DOE^JANE";
  std::string character_set;     // e.g. "ISO_IR 100"
};

// A complete DICOM file (preamble, meta header, dataset).
std::string MakeInstance(const SyntheticImage& image);

}  // namespace curia::test
