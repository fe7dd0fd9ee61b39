// SPDX-License-Identifier: GPL-3.0-or-later
#include "dcmtk_io.h"

#include <dcmtk/dcmdata/dcistrmb.h>
#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/oflog/oflog.h>

#include <mutex>
#include <utility>

#include "curia/config/error.h"
#include "curia/dicom/structure_check.h"

namespace curia::dicom {

void RegisterCodecs() {
  static std::once_flag once;
  std::call_once(once, [] {
    DJDecoderRegistration::registerCodecs();
    DJLSDecoderRegistration::registerCodecs();
    DcmRLEDecoderRegistration::registerCodecs();
  });
}

bool IsDicomKeyword(const std::string& keyword) {
  DcmTag tag;
  return !keyword.empty() && DcmTag::findTagFromName(keyword.c_str(), tag).good();
}

void QuietDcmtkLogging() { OFLog::configure(OFLogger::FATAL_LOG_LEVEL); }

namespace internal {
namespace {

[[noreturn]] void Unreadable(const std::string& name, const OFCondition& cond) {
  throw Error(ErrorCode::kInvalidArgument,
              name + ": not a readable DICOM file, or truncated or corrupt (" + std::string(cond.text()) + ")");
}

DcmItem* FirstItem(DcmItem& parent, const DcmTagKey& sequence, long index = 0) {
  DcmItem* item = nullptr;
  if (parent.findAndGetSequenceItem(sequence, item, static_cast<int>(index)).good()) return item;
  return nullptr;
}

}  // namespace

std::unique_ptr<DcmFileFormat> ReadInstance(const IInstanceSource& source, const std::string& id, bool lazy) {
  auto ff = std::make_unique<DcmFileFormat>();
  if (const std::optional<std::string> path = source.FilePath(id)) {
    RequireSafeFile(*path, source.Name(id));  // DCMTK 3.6.7 must not see what could crash it
    const OFCondition cond = ff->loadFile(OFFilename(path->c_str()), EXS_Unknown, EGL_noChange,
                                          lazy ? 4096 : DCM_MaxReadLength, ERM_autoDetect);
    if (cond.bad()) Unreadable(source.Name(id), cond);
    return ff;
  }
  return ReadBytes(source.Bytes(id), source.Name(id));
}

namespace {

// A string value without its padding: trailing spaces (and NULs) pad values to even length.
std::string Unpadded(std::string s) {
  while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
  const size_t first = s.find_first_not_of(' ');
  return first == std::string::npos ? std::string() : s.substr(first);
}

}  // namespace

std::string GetString(DcmItem& item, const DcmTagKey& tag) {
  OFString value;
  if (item.findAndGetOFStringArray(tag, value).bad()) return {};
  return Unpadded(value.c_str());
}

std::optional<double> GetDouble(DcmItem& item, const DcmTagKey& tag, unsigned long pos) {
  Float64 v = 0;
  if (item.findAndGetFloat64(tag, v, pos).bad()) return std::nullopt;
  return v;
}

std::vector<double> GetDoubles(DcmItem& item, const DcmTagKey& tag, size_t count) {
  std::vector<double> out;
  for (size_t i = 0; i < count; ++i) {
    const std::optional<double> v = GetDouble(item, tag, static_cast<unsigned long>(i));
    if (!v) return {};
    out.push_back(*v);
  }
  return out;
}

std::optional<long> GetInt(DcmItem& item, const DcmTagKey& tag) {
  // Integer strings (IS) and binary integers (US/SS/UL) alike.
  Sint32 v = 0;
  if (item.findAndGetSint32(tag, v).good()) return v;
  Uint16 u = 0;
  if (item.findAndGetUint16(tag, u).good()) return u;
  const std::optional<double> d = GetDouble(item, tag);
  if (d && *d == static_cast<double>(static_cast<long>(*d))) return static_cast<long>(*d);
  return std::nullopt;
}

std::vector<double> GetFrameDoubles(DcmDataset& ds, long frame, const DcmTagKey& macro, const DcmTagKey& tag,
                                    size_t count) {
  if (DcmItem* per_frame = FirstItem(ds, DCM_PerFrameFunctionalGroupsSequence, frame)) {
    if (DcmItem* m = FirstItem(*per_frame, macro)) {
      std::vector<double> v = GetDoubles(*m, tag, count);
      if (!v.empty()) return v;
    }
  }
  if (DcmItem* shared = FirstItem(ds, DCM_SharedFunctionalGroupsSequence)) {
    if (DcmItem* m = FirstItem(*shared, macro)) {
      std::vector<double> v = GetDoubles(*m, tag, count);
      if (!v.empty()) return v;
    }
  }
  return GetDoubles(ds, tag, count);
}

bool Decodable(E_TransferSyntax xfer) {
  switch (xfer) {
    case EXS_LittleEndianImplicit:
    case EXS_LittleEndianExplicit:
    case EXS_BigEndianExplicit:
    case EXS_BigEndianImplicit:
    case EXS_DeflatedLittleEndianExplicit:
    case EXS_JPEGProcess1:
    case EXS_JPEGProcess2_4:
    case EXS_JPEGProcess14:
    case EXS_JPEGProcess14SV1:
    case EXS_JPEGLSLossless:
    case EXS_JPEGLSLossy:
    case EXS_RLELossless:
    case EXS_JPEG2000LosslessOnly:
    case EXS_JPEG2000:
    case EXS_JPEG2000MulticomponentLosslessOnly:
    case EXS_JPEG2000Multicomponent:
      return true;
    default:
      return false;
  }
}

std::string XferText(E_TransferSyntax xfer) {
  const DcmXfer x(xfer);
  return std::string(x.getXferName()) + " (" + x.getXferID() + ")";
}

}  // namespace internal

std::unique_ptr<DcmFileFormat> ReadBytes(const std::string& bytes, const std::string& name) {
  RequireSafeStructure(bytes, name);  // DCMTK 3.6.7 must not see what could crash it
  auto ff = std::make_unique<DcmFileFormat>();
  {
    DcmInputBufferStream in;
    in.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
    in.setEos();
    ff->transferInit();
    const OFCondition cond = ff->read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
    ff->transferEnd();
    if (cond.good()) return ff;
  }
  // No preamble and meta header: a bare dataset.
  ff = std::make_unique<DcmFileFormat>();
  DcmInputBufferStream in;
  in.setBuffer(bytes.data(), static_cast<offile_off_t>(bytes.size()));
  in.setEos();
  DcmDataset* ds = ff->getDataset();
  ds->transferInit();
  const OFCondition cond = ds->read(in, EXS_Unknown, EGL_noChange, DCM_MaxReadLength);
  ds->transferEnd();
  if (cond.bad()) internal::Unreadable(name, cond);
  return ff;
}

std::optional<std::string> ReadStudyInstanceUid(const uint8_t* data, size_t size) {
  std::optional<std::string> uid =
      DatasetElementValue(data, size, DCM_StudyInstanceUID.getGroup(), DCM_StudyInstanceUID.getElement());
  if (!uid) return std::nullopt;
  std::string value = internal::Unpadded(std::move(*uid));  // as GetString reads it through DCMTK
  if (value.empty()) return std::nullopt;
  return value;
}

}  // namespace curia::dicom
