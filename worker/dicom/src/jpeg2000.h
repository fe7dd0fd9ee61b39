// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// JPEG 2000 pixel data, decoded with OpenJPEG (DCMTK 3.6.7 has no JPEG 2000 codec).
//
// Why OpenJPEG: it is the reference JPEG 2000 decoder that Debian 12 keeps up to date (libopenjp2-7,
// with security fixes), it decodes only what we ask from memory, it is small, and it is what GDCM
// and DCMTK's own (commercial, upstream) JPEG 2000 codec use. GDCM would add a second whole DICOM
// toolkit next to DCMTK for the same OpenJPEG underneath.
//
//   std::vector<uint8_t> frame = DecodeJpeg2000Frame(dataset, 0, 1, pixels, "file.dcm");
//   // rows*cols words of pixels.bits_allocated bits, little endian, laid out like DCMTK's
//   // uncompressed frames: the loader's per-pixel code (Bits Stored, sign, rescale) reads them.
//
// Thread-safe: each call has its own OpenJPEG codec and stream. Every failure is a
// curia::Error(kInvalidArgument) "<name>: ..." with a specific reason; OpenJPEG's own messages
// go into that reason, never to stderr.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <cstdint>
#include <string>
#include <vector>

#include "curia/dicom/series.h"

namespace curia::dicom::internal {

// JPEG 2000 (1.2.840.10008.1.2.4.90, .91) and JPEG 2000 Part 2 multi-component (.92, .93; grey
// images have one component, so no Part 2 multi-component transform applies to them).
bool IsJpeg2000(E_TransferSyntax xfer);

// Decodes frame `frame` (0-based) of the `frames` frames of the encapsulated JPEG 2000 pixel data
// of `ds`. The code stream must have the header's size (Columns x Rows, one component), and each
// value must fit in Bits Stored bits as the code stream signs it (a code stream may be wider than
// Bits Stored, e.g. 16-bit for a 12-bit CT, as long as its values are not). The bit pattern is then
// read with the header's Pixel Representation, as for every other transfer syntax: where a code
// stream's signedness differs from the header (some encoders write unsigned code streams for
// signed images), the header wins, which is also what GDCM's decoded output read by DCMTK,
// pydicom's JPEG 2000 corrections and Horos give.
std::vector<uint8_t> DecodeJpeg2000Frame(DcmDataset& ds, uint32_t frame, uint32_t frames,
                                         const DicomVolume::Pixels& pixels, const std::string& name);

}  // namespace curia::dicom::internal
