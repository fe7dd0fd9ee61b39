// SPDX-License-Identifier: GPL-3.0-or-later
// The web UI's server side: the embedded files, the BMP encoder, key images from DICOM, the
// configuration warnings. The pages themselves are tested in Chromium (tests/browser).
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <gtest/gtest.h>

#include <string>

#include "curia/config/error.h"
#include "hostile_dicom.h"
#include "internal.h"

namespace curia::node::internal {
namespace {

uint32_t Le(const std::string& b, size_t at, int bytes) {
  uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(b[at + i])) << (8 * i);
  return v;
}

std::string Text(const UiFile* f) { return std::string(reinterpret_cast<const char*>(f->data), f->size); }

TEST(UiFiles, EveryPageIsEmbeddedWithItsType) {
  for (const char* name : {"index.html", "app.js", "style.css", "explorer.js"}) {
    const UiFile* f = FindUiFile(name);
    ASSERT_NE(f, nullptr) << name;
    EXPECT_GT(f->size, 100u) << name;
  }
  EXPECT_EQ(std::string(FindUiFile("index.html")->content_type), "text/html; charset=utf-8");
  EXPECT_EQ(std::string(FindUiFile("app.js")->content_type), "text/javascript; charset=utf-8");
  EXPECT_EQ(std::string(FindUiFile("style.css")->content_type), "text/css; charset=utf-8");
  EXPECT_EQ(FindUiFile("../node.cpp"), nullptr);
  EXPECT_EQ(ExplorerScript(), Text(FindUiFile("explorer.js")));
}

TEST(UiFiles, ScriptsNeverInsertHtml) {
  // Data reaches the pages as text nodes only (a DICOM string may hold HTML).
  for (const char* name : {"app.js", "explorer.js"}) {
    const std::string js = Text(FindUiFile(name));
    for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", ".html(", "eval("}) {
      EXPECT_EQ(js.find(sink), std::string::npos) << name << " uses " << sink;
    }
  }
}

TEST(Bmp, HeaderRowOrderAndPadding) {
  // 2 x 2: top row red, green; bottom row blue, white. Rows padded to 8 bytes, bottom row first.
  const std::string rgb("\xff\x00\x00\x00\xff\x00\x00\x00\xff\xff\xff\xff", 12);
  const std::string bmp = EncodeBmp(2, 2, rgb);
  ASSERT_EQ(bmp.size(), 54u + 16u);
  EXPECT_EQ(bmp.substr(0, 2), "BM");
  EXPECT_EQ(Le(bmp, 2, 4), 70u);
  EXPECT_EQ(Le(bmp, 10, 4), 54u);
  EXPECT_EQ(Le(bmp, 18, 4), 2u);
  EXPECT_EQ(Le(bmp, 22, 4), 2u);
  EXPECT_EQ(Le(bmp, 28, 2), 24u);
  EXPECT_EQ(bmp.substr(54, 8), std::string("\xff\x00\x00\xff\xff\xff\x00\x00", 8));  // blue, white (BGR), pad
  EXPECT_EQ(bmp.substr(62, 8), std::string("\x00\x00\xff\x00\xff\x00\x00\x00", 8));  // red, green
  EXPECT_THROW(EncodeBmp(2, 2, rgb.substr(1)), Error);
  EXPECT_THROW(EncodeBmp(0, 2, ""), Error);
}

std::string MakeImage(const char* photometric, Uint16 samples, Uint16 bits, const std::string& pixels, Uint16 rows,
                      Uint16 cols) {
  DcmFileFormat file;
  DcmDataset& ds = *file.getDataset();
  ds.putAndInsertString(DCM_SOPClassUID, UID_SecondaryCaptureImageStorage);
  ds.putAndInsertString(DCM_SOPInstanceUID, "1.2.3.4");
  ds.putAndInsertUint16(DCM_Rows, rows);
  ds.putAndInsertUint16(DCM_Columns, cols);
  ds.putAndInsertUint16(DCM_SamplesPerPixel, samples);
  ds.putAndInsertString(DCM_PhotometricInterpretation, photometric);
  if (samples == 3) ds.putAndInsertUint16(DCM_PlanarConfiguration, 0);
  ds.putAndInsertUint16(DCM_BitsAllocated, bits);
  ds.putAndInsertUint16(DCM_BitsStored, bits);
  ds.putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(bits - 1));
  ds.putAndInsertUint16(DCM_PixelRepresentation, 0);
  ds.putAndInsertUint8Array(DCM_PixelData, reinterpret_cast<const Uint8*>(pixels.data()), pixels.size());
  file.validateMetaInfo(EXS_LittleEndianExplicit);
  std::string out(1 << 16, '\0');
  DcmOutputBufferStream stream(&out[0], out.size());
  file.transferInit();
  EXPECT_TRUE(file.write(stream, EXS_LittleEndianExplicit, EET_ExplicitLength, nullptr).good());
  file.transferEnd();
  void* buffer = nullptr;
  offile_off_t length = 0;
  stream.flushBuffer(buffer, length);
  out.resize(static_cast<size_t>(length));
  return out;
}

TEST(Bmp, FromDicomRgbAndMonochrome) {
  const std::string rgb("\x01\x02\x03\x04\x05\x06", 6);  // 1 row, 2 columns
  const std::string bmp = DicomImageToBmp(MakeImage("RGB", 3, 8, rgb, 1, 2));
  ASSERT_EQ(bmp.size(), 54u + 8u);
  EXPECT_EQ(bmp.substr(54, 6), std::string("\x03\x02\x01\x06\x05\x04", 6));
  const std::string mono = DicomImageToBmp(MakeImage("MONOCHROME1", 1, 8, std::string("\x00\xff", 2), 1, 2));
  EXPECT_EQ(mono.substr(54, 6), std::string("\xff\xff\xff\x00\x00\x00", 6));
  EXPECT_THROW(DicomImageToBmp(MakeImage("MONOCHROME2", 1, 16, std::string(4, '\0'), 1, 2)), Error);
  EXPECT_THROW(DicomImageToBmp("not DICOM"), Error);
  // Bytes nested deeper than DCMTK 3.6.7 parses safely are refused before it sees them.
  try {
    DicomImageToBmp(test::NestedSequenceFile(100000, {}));
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("the image: refused before parsing: sequence nesting deeper than", 0), 0u) << e.what();
  }
}

TEST(Warnings, NamesWhatToLookAt) {
  config::CuriaSettings settings;
  worker::ModelInfo model;
  model.devices = {"cpu"};
  model.demo = true;
  std::vector<std::string> w = ConfigurationWarnings(settings, model);
  ASSERT_EQ(w.size(), 2u);
  EXPECT_NE(w[0].find("DEMO"), std::string::npos);
  EXPECT_NE(w[1].find("no routing rule"), std::string::npos);

  model.demo = false;
  config::RuleSettings rule;
  rule.name = "head-ct";
  rule.path = "$.Curia.Rules[0]";
  rule.tasks = {"ich"};
  settings.rules.push_back(rule);
  settings.model.devices = {"cuda:0"};
  w = ConfigurationWarnings(settings, model);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0], "rule \"head-ct\" ($.Curia.Rules[0]) has no destination: its results stay in the node");
  EXPECT_EQ(w[1], "rule \"head-ct\" ($.Curia.Rules[0]): task \"ich\" has no head loaded");
  EXPECT_EQ(w[2], "Curia.Model.Devices asks for [cuda:0] but the model runs on [cpu]");
}

}  // namespace
}  // namespace curia::node::internal
