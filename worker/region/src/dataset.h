// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Private dcmdata helpers of the region readers: reading the object (through the structure check),
// attributes, coded concepts, and the header facts PeekRegionObject reports.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "curia/region/region.h"

namespace curia::region::internal {

inline constexpr const char* kSegSopClass = "1.2.840.10008.5.1.4.1.1.66.4";
// Label Map Segmentation Storage (Supplement 243, DICOM 2024): a SEG dcmseg 3.6.7 cannot read.
inline constexpr const char* kLabelMapSegSopClass = "1.2.840.10008.5.1.4.1.1.66.7";
inline constexpr const char* kRtStructSopClass = "1.2.840.10008.5.1.4.1.1.481.3";

// The object, parsed by DCMTK after dicom::ReadBytes' structure check. Throws curia::Error.
std::unique_ptr<DcmFileFormat> ReadObject(const dicom::IInstanceSource& source, const std::string& id);
std::unique_ptr<DcmFileFormat> ReadObjectBytes(const std::string& bytes, const std::string& name);

std::string GetString(DcmItem& item, const DcmTagKey& tag);
std::optional<long> GetInt(DcmItem& item, const DcmTagKey& tag);
// Every value of a numeric (DS, FD, FL, IS, US...) attribute; empty when absent. A value that is
// not a finite number makes the whole result nullopt.
std::optional<std::vector<double>> GetNumbers(DcmItem& item, const DcmTagKey& tag);
// The items of a sequence (none when absent).
std::vector<DcmItem*> Items(DcmItem& item, const DcmTagKey& sequence);
// The first item of a code sequence as a Code (empty when absent).
Code GetCode(DcmItem& item, const DcmTagKey& sequence);

// What PeekRegionObject reports, from the parsed dataset. Throws curia::Error(kInvalidArgument)
// "<name>: ..." when it is neither a SEG nor an RTSTRUCT.
RegionObjectInfo Describe(DcmDataset& ds, const std::string& name);

// True when dcmseg (3.6.7) can decode this transfer syntax: native, deflated or RLE.
bool SegDecodable(E_TransferSyntax xfer);

}  // namespace curia::region::internal
