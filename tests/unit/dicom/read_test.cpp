// SPDX-License-Identifier: GPL-3.0-or-later
// ReadStudyInstanceUid, the node's stored-instance callback's reader: the same UID as DCMTK's full
// read for every file of the corpora (every transfer syntax, with and without meta header), and
// nothing, without a crash, for bytes the structure check refuses.
#include "curia/dicom/read.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <gtest/gtest.h>

#include "curia/dicom/series.h"
#include "curia/dicom/structure_check.h"
#include "hostile_dicom.h"
#include "test_support.h"

namespace curia::dicom {
namespace {

std::optional<std::string> Uid(const std::string& bytes) {
  return ReadStudyInstanceUid(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

TEST(ReadStudyInstanceUid, AgreesWithDcmtksFullReadOnEveryFileOfTheCorpora) {
  QuietDcmtkLogging();
  int compared = 0, with_uid = 0;
  for (const std::string& path : test::DicomCorpusFiles()) {
    DcmFileFormat file;
    if (file.loadFile(OFFilename(path.c_str()), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect).bad()) continue;
    // (Two pydicom files store it with another VR, which DCMTK prints in hex; compared where it is UI.)
    DcmElement* element = nullptr;
    if (file.getDataset()->findAndGetElement(DCM_StudyInstanceUID, element).good() && element->ident() != EVR_UI) continue;
    OFString full;
    std::string expected;
    if (file.getDataset()->findAndGetOFStringArray(DCM_StudyInstanceUID, full).good()) expected = full.c_str();
    while (!expected.empty() && (expected.back() == ' ' || expected.back() == '\0')) expected.pop_back();
    EXPECT_EQ(Uid(test::ReadFile(path)).value_or(""), expected) << path;
    ++compared;
    if (!expected.empty()) ++with_uid;
  }
  EXPECT_GT(compared, 150);
  EXPECT_GT(with_uid, 100);
}

TEST(ReadStudyInstanceUid, BareDatasetsEveryEncodingAndRefusedBytes) {
  for (const auto encoding : {test::NestingOptions::kExplicitLittle, test::NestingOptions::kImplicitLittle,
                              test::NestingOptions::kExplicitBig}) {
    for (const bool meta : {true, false}) {
      test::NestingOptions options;
      options.encoding = encoding;
      options.meta = meta;
      options.study_uid = "1.2.3.4." + std::to_string(static_cast<int>(encoding)) + (meta ? ".1" : ".0");
      EXPECT_EQ(Uid(test::NestedSequenceFile(kMaxSequenceDepth, options)), options.study_uid) << options.study_uid;
      // One level too deep: refused before DCMTK sees it (the callback then asks Orthanc instead).
      EXPECT_EQ(Uid(test::NestedSequenceFile(kMaxSequenceDepth + 1, options)), std::nullopt) << options.study_uid;
    }
  }
  EXPECT_EQ(Uid(""), std::nullopt);
  EXPECT_EQ(Uid("not DICOM at all"), std::nullopt);
  EXPECT_EQ(ReadStudyInstanceUid(nullptr, 0), std::nullopt);
}

}  // namespace
}  // namespace curia::dicom
