// SPDX-License-Identifier: GPL-3.0-or-later
// The web UI's server side: the embedded files, key images from DICOM as PNG (decoded back with
// libpng), the configuration warnings. The pages themselves are tested in Chromium (tests/browser).
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcuid.h>
#include <gtest/gtest.h>
#include <png.h>

#include <string>
#include <vector>

#include "curia/config/error.h"
#include "hostile_dicom.h"
#include "ui.h"

namespace curia::node::internal {
namespace {

uint32_t Be32(const std::string& b, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}

// A PNG decoded by libpng: its size, channels (1 gray, 3 RGB) and samples, top row first.
struct Decoded {
  uint32_t width = 0, height = 0, channels = 0;
  std::vector<uint8_t> samples;
};

Decoded DecodePng(const std::string& png) {
  // The file's own layout, as the browser sees it: signature, then IHDR first.
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  EXPECT_EQ(png.substr(12, 4), "IHDR");
  Decoded d;
  png_image image{};
  image.version = PNG_IMAGE_VERSION;
  if (!png_image_begin_read_from_memory(&image, png.data(), png.size())) {
    ADD_FAILURE() << "libpng: " << image.message;
    return d;
  }
  EXPECT_EQ(image.width, Be32(png, 16));
  EXPECT_EQ(image.height, Be32(png, 20));
  d.width = image.width;
  d.height = image.height;
  d.channels = PNG_IMAGE_SAMPLE_CHANNELS(image.format);
  image.format = d.channels == 1 ? PNG_FORMAT_GRAY : PNG_FORMAT_RGB;  // 8 bits, no alpha, no conversion
  d.samples.resize(PNG_IMAGE_SIZE(image));
  if (!png_image_finish_read(&image, nullptr, d.samples.data(), 0, nullptr)) ADD_FAILURE() << "libpng: " << image.message;
  return d;
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

std::string MakeImage(const char* photometric, Uint16 samples, Uint16 bits, const std::string& pixels, Uint16 rows,
                      Uint16 cols, Uint16 planar = 0) {
  DcmFileFormat file;
  DcmDataset& ds = *file.getDataset();
  ds.putAndInsertString(DCM_SOPClassUID, UID_SecondaryCaptureImageStorage);
  ds.putAndInsertString(DCM_SOPInstanceUID, "1.2.3.4");
  ds.putAndInsertUint16(DCM_Rows, rows);
  ds.putAndInsertUint16(DCM_Columns, cols);
  ds.putAndInsertUint16(DCM_SamplesPerPixel, samples);
  ds.putAndInsertString(DCM_PhotometricInterpretation, photometric);
  if (samples == 3) ds.putAndInsertUint16(DCM_PlanarConfiguration, planar);
  ds.putAndInsertUint16(DCM_BitsAllocated, bits);
  ds.putAndInsertUint16(DCM_BitsStored, bits);
  ds.putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(bits - 1));
  ds.putAndInsertUint16(DCM_PixelRepresentation, 0);
  if (bits == 16) {
    ds.putAndInsertUint16Array(DCM_PixelData, reinterpret_cast<const Uint16*>(pixels.data()), pixels.size() / 2);
  } else {
    ds.putAndInsertUint8Array(DCM_PixelData, reinterpret_cast<const Uint8*>(pixels.data()), pixels.size());
  }
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

TEST(Png, FromDicomRgb) {
  // 2 rows x 3 columns: red, green, blue; white, black, grey.
  const std::string rgb("\xff\x00\x00\x00\xff\x00\x00\x00\xff\xff\xff\xff\x00\x00\x00\x80\x80\x80", 18);
  const Decoded d = DecodePng(DicomImageToPng(MakeImage("RGB", 3, 8, rgb, 2, 3)));
  EXPECT_EQ(d.width, 3u);
  EXPECT_EQ(d.height, 2u);
  ASSERT_EQ(d.channels, 3u);
  EXPECT_EQ(std::string(d.samples.begin(), d.samples.end()), rgb);
  // The same pixels stored plane by plane (Planar Configuration 1).
  std::string planes;
  for (int c = 0; c < 3; ++c) {
    for (int i = 0; i < 6; ++i) planes += rgb[static_cast<size_t>(3 * i + c)];
  }
  const Decoded p = DecodePng(DicomImageToPng(MakeImage("RGB", 3, 8, planes, 2, 3, 1)));
  EXPECT_EQ(std::string(p.samples.begin(), p.samples.end()), rgb);
}

TEST(Png, FromDicomMonochrome) {
  // 8 bits as stored; MONOCHROME1 inverted.
  const std::string ramp("\x00\x40\xff", 3);
  const Decoded m2 = DecodePng(DicomImageToPng(MakeImage("MONOCHROME2", 1, 8, ramp, 1, 3)));
  EXPECT_EQ(m2.width, 3u);
  EXPECT_EQ(m2.height, 1u);
  ASSERT_EQ(m2.channels, 1u);
  EXPECT_EQ(m2.samples, (std::vector<uint8_t>{0x00, 0x40, 0xff}));
  const Decoded m1 = DecodePng(DicomImageToPng(MakeImage("MONOCHROME1", 1, 8, ramp, 1, 3)));
  // Inverted by DCMTK's presentation LUT, which may round one level off (it gives 255 -> 1).
  ASSERT_EQ(m1.samples.size(), 3u);
  EXPECT_EQ(m1.samples[0], 0xff);
  EXPECT_NEAR(m1.samples[1], 0xbf, 1);
  EXPECT_NEAR(m1.samples[2], 0x00, 1);
  // More than 8 bits without a window: the pixel range spread over 0..255.
  const uint16_t wide[3] = {1000, 1500, 2000};
  const Decoded m16 = DecodePng(DicomImageToPng(MakeImage("MONOCHROME2", 1, 16, std::string(reinterpret_cast<const char*>(wide), 6), 1, 3)));
  ASSERT_EQ(m16.samples.size(), 3u);
  EXPECT_EQ(m16.samples[0], 0);
  EXPECT_NEAR(m16.samples[1], 128, 1);
  EXPECT_EQ(m16.samples[2], 255);
}

TEST(Png, RefusesWhatIsNoImage) {
  EXPECT_THROW(DicomImageToPng("not DICOM"), Error);
  EXPECT_THROW(DicomImageToPng(MakeImage("MONOCHROME2", 1, 8, "", 0, 0)), Error);  // no pixels
  // Bytes nested deeper than DCMTK 3.6.7 parses safely are refused before it sees them.
  try {
    DicomImageToPng(test::NestedSequenceFile(100000, {}));
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
