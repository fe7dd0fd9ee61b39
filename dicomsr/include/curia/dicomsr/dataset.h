// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Small DCMTK helpers for code that builds DICOM datasets (the SR and SC writers here, the phantom
// series writer in phantom/): every DCMTK condition is checked and a failure throws curia::Error
// with what was being done.
//
//   DcmFileFormat file;
//   Put(*file.getDataset(), DCM_Modality, "CT");
//   std::string bytes = ToBytes(file);   // meta header + explicit VR little endian
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/ofstd/ofcond.h>

#include <string>

#include "curia/config/error.h"

namespace curia::dicomsr {

inline void Check(const OFCondition& cond, const std::string& what) {
  if (cond.bad()) throw Error(ErrorCode::kInternal, what + ": " + cond.text());
}

void Put(DcmItem& item, const DcmTagKey& tag, const std::string& value);
// Now, as DICOM date (YYYYMMDD) and time (HHMMSS), local time.
void Now(std::string& date, std::string& time);
// The whole file (meta header validated) as explicit VR little endian bytes.
std::string ToBytes(DcmFileFormat& file);

}  // namespace curia::dicomsr
