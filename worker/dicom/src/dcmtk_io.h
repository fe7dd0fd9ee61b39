// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Private DCMTK helpers of the loader: reading an instance, reading attributes (also from
// functional groups), and the transfer syntaxes DCMTK decodes.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <memory>
#include <optional>
#include <string>

#include "curia/dicom/instance_source.h"
#include "curia/dicom/read.h"
#include "curia/dicom/series.h"

namespace curia::dicom::internal {

// Reads an instance. `lazy`: for files, values above 4 KB (pixel data) stay in the file until
// used. Throws curia::Error(kInvalidArgument) "<name>: ..." for unreadable, truncated or corrupt
// files.
std::unique_ptr<DcmFileFormat> ReadInstance(const IInstanceSource& source, const std::string& id, bool lazy);
// The same from bytes (a transcoded instance): curia/dicom/read.h.
using dicom::ReadBytes;

std::string GetString(DcmItem& item, const DcmTagKey& tag);
std::optional<double> GetDouble(DcmItem& item, const DcmTagKey& tag, unsigned long pos = 0);
// Values of a multi-valued numeric attribute; empty when absent or short.
std::vector<double> GetDoubles(DcmItem& item, const DcmTagKey& tag, size_t count);
std::optional<long> GetInt(DcmItem& item, const DcmTagKey& tag);

// An attribute that may sit in a functional group macro of an enhanced multi-frame image: looked
// for in the frame's Per-frame Functional Groups item, then the Shared one, then at the top level.
std::vector<double> GetFrameDoubles(DcmDataset& ds, long frame, const DcmTagKey& macro, const DcmTagKey& tag,
                                    size_t count);

// Transfer syntaxes whose pixel data the loader decodes: native and deflate, JPEG, JPEG-LS and
// RLE with DCMTK's registered decoders, JPEG 2000 with OpenJPEG (jpeg2000.h).
bool Decodable(E_TransferSyntax xfer);
// What a refusal of any other transfer syntax says after its name.
inline constexpr const char* kDecodableText =
    "no decoder for it here (uncompressed, deflate, JPEG, JPEG-LS, RLE and JPEG 2000 are decoded)";
std::string XferText(E_TransferSyntax xfer);  // "JPEG 2000 (1.2.840.10008.1.2.4.91)"

}  // namespace curia::dicom::internal
