// SPDX-License-Identifier: GPL-3.0-or-later
#include "dicom_synthetic.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmdata/dcostrmb.h>
#include <dcmtk/dcmdata/dcpxitem.h>

#include <sstream>
#include <stdexcept>

namespace curia::test {
namespace {

std::string Ds(const double* v, int n) {
  std::ostringstream s;
  for (int i = 0; i < n; ++i) s << (i ? "\\" : "") << v[i];
  return s.str();
}

void Check(const OFCondition& c, const char* what) {
  if (c.bad()) throw std::runtime_error(std::string(what) + ": " + c.text());
}

}  // namespace

std::string MakeInstance(const SyntheticImage& im) {
  DcmFileFormat ff;
  DcmDataset* ds = ff.getDataset();
  if (!im.character_set.empty()) Check(ds->putAndInsertString(DCM_SpecificCharacterSet, im.character_set.c_str()), "charset");
  Check(ds->putAndInsertString(DCM_SOPClassUID, im.modality == "CT" ? UID_CTImageStorage : UID_MRImageStorage), "class");
  Check(ds->putAndInsertString(DCM_SOPInstanceUID, im.sop_uid.c_str()), "sop");
  Check(ds->putAndInsertString(DCM_StudyInstanceUID, im.study_uid.c_str()), "study");
  Check(ds->putAndInsertString(DCM_SeriesInstanceUID, im.series_uid.c_str()), "series");
  Check(ds->putAndInsertString(DCM_FrameOfReferenceUID, "1.2.826.0.1.3680043.10.1234.9"), "for");
  Check(ds->putAndInsertString(DCM_Modality, im.modality.c_str()), "modality");
  Check(ds->putAndInsertString(DCM_PatientName, im.patient_name.c_str()), "name");
  Check(ds->putAndInsertString(DCM_PatientID, "TEST-1"), "id");
  Check(ds->putAndInsertUint16(DCM_Rows, static_cast<Uint16>(im.rows)), "rows");
  Check(ds->putAndInsertUint16(DCM_Columns, static_cast<Uint16>(im.cols)), "cols");
  Check(ds->putAndInsertUint16(DCM_SamplesPerPixel, 1), "spp");
  Check(ds->putAndInsertString(DCM_PhotometricInterpretation, im.photometric.c_str()), "pi");
  Check(ds->putAndInsertUint16(DCM_BitsAllocated, static_cast<Uint16>(im.bits_allocated)), "ba");
  Check(ds->putAndInsertUint16(DCM_BitsStored, static_cast<Uint16>(im.bits_stored)), "bs");
  Check(ds->putAndInsertUint16(DCM_HighBit, static_cast<Uint16>(im.high_bit)), "hb");
  Check(ds->putAndInsertUint16(DCM_PixelRepresentation, static_cast<Uint16>(im.pixel_representation)), "pr");
  Check(ds->putAndInsertString(DCM_PixelSpacing, "0.5\\0.75"), "spacing");
  const std::string slope = std::to_string(im.slope), intercept = std::to_string(im.intercept);
  Check(ds->putAndInsertString(DCM_RescaleSlope, slope.c_str()), "slope");
  Check(ds->putAndInsertString(DCM_RescaleIntercept, intercept.c_str()), "intercept");
  if (im.frames == 1) {
    Check(ds->putAndInsertString(DCM_ImageOrientationPatient, Ds(im.iop.data(), 6).c_str()), "iop");
    Check(ds->putAndInsertString(DCM_ImagePositionPatient, Ds(im.positions[0].data(), 3).c_str()), "ipp");
  } else {
    Check(ds->putAndInsertString(DCM_NumberOfFrames, std::to_string(im.frames).c_str()), "frames");
    DcmItem* shared = nullptr;
    Check(ds->findOrCreateSequenceItem(DCM_SharedFunctionalGroupsSequence, shared, 0), "shared");
    DcmItem* orientation = nullptr;
    Check(shared->findOrCreateSequenceItem(DCM_PlaneOrientationSequence, orientation, 0), "plane orientation");
    Check(orientation->putAndInsertString(DCM_ImageOrientationPatient, Ds(im.iop.data(), 6).c_str()), "iop");
    for (int f = 0; f < im.frames; ++f) {
      DcmItem* frame = nullptr;
      Check(ds->findOrCreateSequenceItem(DCM_PerFrameFunctionalGroupsSequence, frame, f), "per frame");
      DcmItem* position = nullptr;
      Check(frame->findOrCreateSequenceItem(DCM_PlanePositionSequence, position, 0), "plane position");
      Check(position->putAndInsertString(DCM_ImagePositionPatient, Ds(im.positions[static_cast<size_t>(f)].data(), 3).c_str()),
            "ipp");
    }
  }
  std::vector<Uint16> words(im.pixels.begin(), im.pixels.end());
  if (im.truncate_pixels) words.resize(words.size() / 2);
  E_TransferSyntax xfer = EXS_LittleEndianExplicit;
  if (im.transfer_syntax.empty()) {
    Check(ds->putAndInsertUint16Array(DCM_PixelData, words.data(), static_cast<unsigned long>(words.size())), "pixels");
  } else {
    // Encapsulated pixel data in the given transfer syntax: the given fragments, or one that is
    // not a real code stream (for testing how transfer syntaxes the loader cannot decode are met).
    xfer = DcmXfer(im.transfer_syntax.c_str()).getXfer();
    auto* pixel = new DcmPixelData(DCM_PixelData);
    auto* sequence = new DcmPixelSequence(DcmTag(DCM_PixelSequenceTag, EVR_OB));
    auto* table = new DcmPixelItem(DcmTag(DCM_Item, EVR_OB));
    if (!im.offset_table.empty()) {
      std::vector<Uint8> bytes;
      for (uint32_t offset : im.offset_table) {
        for (int b = 0; b < 4; ++b) bytes.push_back(static_cast<Uint8>(offset >> (8 * b)));
      }
      Check(table->putUint8Array(bytes.data(), static_cast<unsigned long>(bytes.size())), "offset table");
    }
    sequence->insert(table);
    std::vector<std::string> fragments = im.fragments;
    if (fragments.empty()) fragments.push_back(std::string("\xFF\x4F\xFF\x51\0\0\0\0", 8));
    for (const std::string& f : fragments) {
      auto* fragment = new DcmPixelItem(DcmTag(DCM_Item, EVR_OB));
      Check(fragment->putUint8Array(reinterpret_cast<const Uint8*>(f.data()), static_cast<unsigned long>(f.size())),
            "fragment");
      sequence->insert(fragment);
    }
    pixel->putOriginalRepresentation(xfer, nullptr, sequence);
    Check(ds->insert(pixel), "pixels");
  }
  Check(ff.validateMetaInfo(xfer), "meta");
  std::vector<char> buffer(1 << 22);
  DcmOutputBufferStream out(buffer.data(), buffer.size());
  ff.transferInit();
  Check(ff.write(out, xfer, EET_ExplicitLength, nullptr, EGL_recalcGL, EPD_withoutPadding), "write");
  ff.transferEnd();
  void* data = nullptr;
  offile_off_t length = 0;
  out.flushBuffer(data, length);
  return std::string(static_cast<const char*>(data), static_cast<size_t>(length));
}

}  // namespace curia::test
