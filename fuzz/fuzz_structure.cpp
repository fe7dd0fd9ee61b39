// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: the structure check that runs before DCMTK parses DICOM bytes. Whatever it
// lets through, DCMTK must parse without crashing (both readers the loader uses: a file with meta
// header, and a bare dataset); the check itself must never crash, loop or recurse, nor its walk that
// reads the study UID of every instance the node receives (ReadStudyInstanceUid).
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dctk.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "curia/dicom/read.h"
#include "curia/dicom/series.h"
#include "curia/dicom/structure_check.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  curia::dicom::QuietDcmtkLogging();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = (curia::dicom::QuietDcmtkLogging(), true);  // also for the replay runner
  (void)quiet;
  const std::optional<std::string> uid = curia::dicom::ReadStudyInstanceUid(data, size);
  if (curia::dicom::CheckStructure(data, size)) {
    if (uid) __builtin_trap();  // a UID only from bytes the check lets through
    return 0;  // refused: DCMTK never sees it
  }
  DcmFileFormat file;
  DcmInputBufferStream in;
  in.setBuffer(data, static_cast<offile_off_t>(size));
  in.setEos();
  file.transferInit();
  file.read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  file.transferEnd();
  return 0;
}
