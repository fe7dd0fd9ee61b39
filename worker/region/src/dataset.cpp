// SPDX-License-Identifier: GPL-3.0-or-later
#include "dataset.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "curia/config/error.h"
#include "curia/dicom/read.h"

namespace curia::region::internal {

std::unique_ptr<DcmFileFormat> ReadObjectBytes(const std::string& bytes, const std::string& name) {
  std::unique_ptr<DcmFileFormat> ff = dicom::ReadBytes(bytes, name);
  // Values are read now, not lazily: the bytes are gone when the caller returns.
  ff->loadAllDataIntoMemory();
  return ff;
}

std::unique_ptr<DcmFileFormat> ReadObject(const dicom::IInstanceSource& source, const std::string& id) {
  // The bytes rather than DCMTK's own file reading: region objects are small (kilobytes to a few
  // megabytes) and dicom::ReadBytes runs the structure check on exactly what DCMTK parses.
  return ReadObjectBytes(source.Bytes(id), source.Name(id));
}

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return {};
  std::string s = value.c_str();
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  const size_t start = s.find_first_not_of(' ');
  return start == std::string::npos ? std::string() : s.substr(start);
}

std::optional<long> GetInt(DcmItem& item, const DcmTagKey& tag) {
  std::optional<std::vector<double>> v = GetNumbers(item, tag);
  if (!v || v->empty()) return std::nullopt;
  return static_cast<long>(std::llround(v->front()));
}

std::optional<std::vector<double>> GetNumbers(DcmItem& item, const DcmTagKey& tag) {
  DcmElement* e = nullptr;
  std::vector<double> out;
  if (item.findAndGetElement(tag, e).bad() || !e || e->getLength() == 0) return out;
  const DcmEVR vr = e->getVR();
  if (vr == EVR_DS || vr == EVR_IS) {
    // Parsed here in one pass: DcmDecimalString::getFloat64(pos) rescans the string for every
    // position, quadratic for the thousands of values of a contour; strtod also tells a value that
    // is not a number ("NaN", "1.2.3") from one that is.
    char* text = nullptr;
    if (e->getString(text).bad() || !text) return out;
    const char* p = text;
    const char* end = text + e->getLength();
    while (p < end) {
      const char* sep = std::find(p, end, '\\');
      std::string value(p, sep);
      const size_t a = value.find_first_not_of(" \0", 0, 2), b = value.find_last_not_of(" \0", std::string::npos, 2);
      if (a == std::string::npos) return std::nullopt;  // an empty value among values
      value = value.substr(a, b - a + 1);
      errno = 0;
      char* stop = nullptr;
      const double d = std::strtod(value.c_str(), &stop);
      if (stop != value.c_str() + value.size() || !std::isfinite(d) || errno == ERANGE) return std::nullopt;
      out.push_back(d);
      p = sep == end ? end : sep + 1;
    }
    return out;
  }
  const unsigned long vm = e->getVM();
  for (unsigned long i = 0; i < vm; ++i) {
    Float64 d = 0;
    if (vr == EVR_FD || vr == EVR_FL) {
      if (e->getFloat64(d, i).bad()) {
        Float32 f = 0;
        if (e->getFloat32(f, i).bad()) return std::nullopt;
        d = f;
      }
    } else if (vr == EVR_US) {
      Uint16 u = 0;
      if (e->getUint16(u, i).bad()) return std::nullopt;
      d = u;
    } else if (vr == EVR_SS) {
      Sint16 s = 0;
      if (e->getSint16(s, i).bad()) return std::nullopt;
      d = s;
    } else if (vr == EVR_UL) {
      Uint32 u = 0;
      if (e->getUint32(u, i).bad()) return std::nullopt;
      d = u;
    } else if (vr == EVR_SL) {
      Sint32 s = 0;
      if (e->getSint32(s, i).bad()) return std::nullopt;
      d = s;
    } else {
      return std::nullopt;
    }
    if (!std::isfinite(d)) return std::nullopt;
    out.push_back(d);
  }
  return out;
}

std::vector<DcmItem*> Items(DcmItem& item, const DcmTagKey& sequence) {
  std::vector<DcmItem*> out;
  DcmSequenceOfItems* seq = nullptr;
  if (item.findAndGetSequence(sequence, seq).bad() || !seq) return out;
  for (unsigned long i = 0; i < seq->card(); ++i) out.push_back(seq->getItem(i));
  return out;
}

Code GetCode(DcmItem& item, const DcmTagKey& sequence) {
  Code code;
  std::vector<DcmItem*> items = Items(item, sequence);
  if (items.empty()) return code;
  DcmItem& c = *items.front();
  code.value = GetString(c, DCM_CodeValue);
  if (code.value.empty()) code.value = GetString(c, DCM_LongCodeValue);
  if (code.value.empty()) code.value = GetString(c, DCM_URNCodeValue);
  code.scheme = GetString(c, DCM_CodingSchemeDesignator);
  code.meaning = GetString(c, DCM_CodeMeaning);
  return code;
}

namespace {

void AddUnique(std::vector<std::string>& list, const std::string& value) {
  if (!value.empty() && std::find(list.begin(), list.end(), value) == list.end()) list.push_back(value);
}

}  // namespace

bool SegDecodable(E_TransferSyntax xfer) {
  const DcmXfer x(xfer);
  return !x.isEncapsulated() || xfer == EXS_RLELossless;
}

RegionObjectInfo Describe(DcmDataset& ds, const std::string& name) {
  RegionObjectInfo info;
  const std::string sop_class = GetString(ds, DCM_SOPClassUID);
  const std::string modality = GetString(ds, DCM_Modality);
  if (sop_class == kSegSopClass || sop_class == kLabelMapSegSopClass) {
    info.kind = ObjectKind::kSeg;
  } else if (sop_class == kRtStructSopClass) {
    info.kind = ObjectKind::kRtStruct;
  } else {
    throw Error(ErrorCode::kInvalidArgument,
                name + ": not a region object: SOP Class UID " + (sop_class.empty() ? "missing" : sop_class) +
                    (modality.empty() ? "" : " (Modality " + modality + ")") +
                    ", where Segmentation Storage or RT Structure Set Storage is needed");
  }
  info.sop_instance_uid = GetString(ds, DCM_SOPInstanceUID);
  info.series_uid = GetString(ds, DCM_SeriesInstanceUID);
  info.study_uid = GetString(ds, DCM_StudyInstanceUID);
  const E_TransferSyntax xfer = ds.getOriginalXfer();
  info.transfer_syntax_uid = DcmXfer(xfer).getXferID();

  if (info.kind == ObjectKind::kSeg) {
    info.frame_of_reference_uid = GetString(ds, DCM_FrameOfReferenceUID);
    info.segmentation_type = GetString(ds, DCM_SegmentationType);
    if (sop_class == kLabelMapSegSopClass) info.segmentation_type = "LABELMAP";
    info.needs_transcoding = !SegDecodable(xfer);
    // Common Instance Reference Module.
    for (DcmItem* series : Items(ds, DCM_ReferencedSeriesSequence)) {
      AddUnique(info.referenced_series_uids, GetString(*series, DCM_SeriesInstanceUID));
      for (DcmItem* instance : Items(*series, DCM_ReferencedInstanceSequence)) {
        AddUnique(info.referenced_instance_uids, GetString(*instance, DCM_ReferencedSOPInstanceUID));
      }
    }
    // The frames' Derivation Image functional group (shared or per frame).
    auto derivation = [&](DcmItem& groups) {
      for (DcmItem* d : Items(groups, DCM_DerivationImageSequence)) {
        for (DcmItem* s : Items(*d, DCM_SourceImageSequence)) {
          AddUnique(info.referenced_instance_uids, GetString(*s, DCM_ReferencedSOPInstanceUID));
        }
      }
    };
    for (DcmItem* shared : Items(ds, DCM_SharedFunctionalGroupsSequence)) derivation(*shared);
    for (DcmItem* frame : Items(ds, DCM_PerFrameFunctionalGroupsSequence)) derivation(*frame);
  } else {
    for (DcmItem* frame : Items(ds, DCM_ReferencedFrameOfReferenceSequence)) {
      if (info.frame_of_reference_uid.empty()) info.frame_of_reference_uid = GetString(*frame, DCM_FrameOfReferenceUID);
      for (DcmItem* study : Items(*frame, DCM_RTReferencedStudySequence)) {
        for (DcmItem* series : Items(*study, DCM_RTReferencedSeriesSequence)) {
          AddUnique(info.referenced_series_uids, GetString(*series, DCM_SeriesInstanceUID));
          for (DcmItem* image : Items(*series, DCM_ContourImageSequence)) {
            AddUnique(info.referenced_instance_uids, GetString(*image, DCM_ReferencedSOPInstanceUID));
          }
        }
      }
    }
    // A top-level Frame of Reference UID is not part of the RTSTRUCT IOD, but some writers add one.
    if (info.frame_of_reference_uid.empty()) info.frame_of_reference_uid = GetString(ds, DCM_FrameOfReferenceUID);
    for (DcmItem* roi : Items(ds, DCM_ROIContourSequence)) {
      for (DcmItem* contour : Items(*roi, DCM_ContourSequence)) {
        for (DcmItem* image : Items(*contour, DCM_ContourImageSequence)) {
          AddUnique(info.referenced_instance_uids, GetString(*image, DCM_ReferencedSOPInstanceUID));
        }
      }
    }
  }
  return info;
}

}  // namespace curia::region::internal
