// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// DICOM bytes into DCMTK, safely: the structure check (structure_check.h) first, so that DCMTK
// 3.6.7's recursive parser never sees what could crash it, then DCMTK's reader (a file with its meta
// header, else a bare dataset). Every place that parses DICOM bytes (the loader, the SR rendering,
// the web UI's previews) reads through here.
//
//   std::unique_ptr<DcmFileFormat> file = curia::dicom::ReadBytes(bytes, "the SR");
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

class DcmFileFormat;

namespace curia::dicom {

// Throws curia::Error(kInvalidArgument) "<name>: ..." for bytes refused by the structure check or
// unreadable, truncated or corrupt.
std::unique_ptr<DcmFileFormat> ReadBytes(const std::string& bytes, const std::string& name);

// The StudyInstanceUID (0020,000D) of DICOM bytes (a file with its meta header, else a bare
// dataset), found by the structure check's walk (DatasetElementValue), without DCMTK: nullopt when
// the bytes are refused or the element is absent or empty. For the node's stored-instance callback,
// where Orthanc's simplified JSON of every instance, made and parsed again only for this one value,
// cost a few percent of a C-STORE (docs/performance.md).
std::optional<std::string> ReadStudyInstanceUid(const uint8_t* data, size_t size);

}  // namespace curia::dicom
