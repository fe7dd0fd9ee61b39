// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// DICOM bytes into DCMTK, safely: the structure check (structure_check.h) first, so that DCMTK
// 3.6.7's recursive parser never sees what could crash it, then DCMTK's reader (a file with its meta
// header, else a bare dataset). Every place that parses DICOM bytes (the loader, the SR rendering,
// the web UI's previews) reads through here.
//
//   std::unique_ptr<DcmFileFormat> file = curia::dicom::ReadBytes(bytes, "the SR");
#include <memory>
#include <string>

class DcmFileFormat;

namespace curia::dicom {

// Throws curia::Error(kInvalidArgument) "<name>: ..." for bytes refused by the structure check or
// unreadable, truncated or corrupt.
std::unique_ptr<DcmFileFormat> ReadBytes(const std::string& bytes, const std::string& name);

}  // namespace curia::dicom
