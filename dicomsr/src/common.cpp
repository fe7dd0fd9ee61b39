// SPDX-License-Identifier: GPL-3.0-or-later
#include "common.h"

#include <dcmtk/dcmdata/dcostrmb.h>

#include <algorithm>
#include <ctime>
#include <map>

#include "codes.h"
#include "curia/config/error.h"
#include "curia/config/log.h"
#include "curia/config/sha256.h"
#include "curia/dicomsr/dataset.h"

namespace curia::dicomsr {

// Our own derivation: the UID must be a pure function of the key (re-sends keep their UIDs);
// DCMTK's dcmGenerateUniqueIdentifier is time- and random-based.
std::string DeriveUid(const std::string& root, const std::string& key) {
  config::Sha256 h;
  h.Update(key);
  const std::array<uint8_t, 32> d = h.Digest();
  // The first 128 bits as a decimal number (repeated division of a big-endian byte string).
  std::vector<uint8_t> number(d.begin(), d.begin() + 16);
  number[0] &= 0x7F;  // keep it below 2^127: a valid UUID-sized integer
  std::string decimal;
  while (true) {
    bool zero = true;
    unsigned remainder = 0;
    for (uint8_t& byte : number) {
      const unsigned value = (remainder << 8) | byte;
      byte = static_cast<uint8_t>(value / 10);
      remainder = value % 10;
      zero = zero && byte == 0;
    }
    decimal.insert(decimal.begin(), static_cast<char>('0' + remainder));
    if (zero) break;
  }
  // A prefix of the digits keeps the component free of leading zeros.
  return (root + "." + decimal).substr(0, 64);
}

Identity Identity::Now(std::string job_key, std::string software_version) {
  Identity id{std::move(job_key), std::move(software_version), "", ""};
  internal::Now(id.content_date, id.content_time);
  return id;
}

std::vector<ResultObject> WriteResults(const SourceSeries& source, const worker::IVolumeSource& volume,
                                       const worker::StudyFindings& findings, const config::CuriaSettings& settings,
                                       const Identity& identity, bool sr, bool sc) {
  std::vector<ResultObject> out;
  if (sr) {
    // The findings split by document: "" (whole volume) first, then region objects in order.
    std::vector<std::string> documents;
    std::map<std::string, worker::StudyFindings> parts;
    for (const worker::TaskFinding& f : findings.findings) {
      const std::string& doc = f.region.sop_instance_uid;
      if (!parts.count(doc)) {
        worker::StudyFindings part = findings;
        part.findings.clear();
        parts.emplace(doc, std::move(part));
        documents.push_back(doc);
      }
      parts.at(doc).findings.push_back(f);
    }
    std::stable_partition(documents.begin(), documents.end(), [](const std::string& d) { return d.empty(); });
    if (documents.empty()) {  // no finding at all: WriteStructuredReport says so
      parts.emplace("", findings);
      documents.push_back("");
    }
    for (const std::string& doc : documents) {
      Identity id = identity;
      id.document = doc;
      out.push_back({"SR", "", doc, WriteStructuredReport(source, parts.at(doc), settings.dicom, id)});
    }
  }
  if (!sc) return out;
  const worker::VolumeInfo info = volume.Info();
  for (size_t i = 0; i < findings.findings.size(); ++i) {
    const worker::TaskFinding& f = findings.findings[i];
    if (!f.present && !settings.dicom.key_images_for_all) continue;
    KeyImage key;
    key.rows = info.rows;
    key.cols = info.cols;
    key.values.resize(static_cast<size_t>(key.rows * key.cols));
    key.row_spacing_mm = info.pixel_spacing_mm[0];
    key.col_spacing_mm = info.pixel_spacing_mm[1];
    volume.ReadSlice(f.key_slice, key.values.data());
    if (const config::TaskSettings* t = settings.FindTask(f.task)) {
      key.window_center = t->window_center;
      key.window_width = t->window_width;
    }
    out.push_back({"SC", f.task, f.region.sop_instance_uid, WriteKeyImage(source, findings, i, key, settings.dicom, identity)});
  }
  return out;
}

namespace internal {

namespace {

// Scanners pad strings with NULs where the standard wants spaces, and write values outside the
// enumerations; copied as they are, they would make our objects invalid. Trailing NULs are
// dropped from every string value (UIDs keep theirs: it is their padding), and an unknown
// Patient's Sex is left empty (it is Type 2).
void Sanitize(DcmItem& item) {
  for (unsigned long i = 0; i < item.card(); ++i) {
    DcmElement* e = item.getElement(i);
    if (e->ident() == EVR_SQ) {
      auto* sq = OFstatic_cast(DcmSequenceOfItems*, e);
      for (unsigned long k = 0; k < sq->card(); ++k) Sanitize(*sq->getItem(k));
      continue;
    }
    if (!e->isaString() || e->ident() == EVR_UI) continue;
    OFString value;
    if (e->getOFStringArray(value).bad()) continue;
    std::string v(value.c_str(), value.length());
    const size_t end = v.find_last_not_of(std::string("\0", 1));
    std::string fixed = end == std::string::npos ? std::string() : v.substr(0, end + 1);
    // ACR-NEMA dates and times ("1995.05.01", "15:26:10") in today's form.
    if (e->ident() == EVR_DA || e->ident() == EVR_TM) {
      const char separator = e->ident() == EVR_DA ? '.' : ':';
      fixed.erase(std::remove(fixed.begin(), fixed.end(), separator), fixed.end());
    }
    if (fixed != v) e->putOFStringArray(OFString(fixed.c_str()));
  }
  OFString sex;
  if (item.findAndGetOFString(DCM_PatientSex, sex).good() && sex != "M" && sex != "F" && sex != "O") {
    item.putAndInsertString(DCM_PatientSex, "");
  }
  // "Patient identity removed: YES" needs the method (Type 1C); keep the statement, say it is unknown.
  OFString removed;
  if (item.findAndGetOFString(DCM_PatientIdentityRemoved, removed).good() && removed == "YES" &&
      !item.tagExists(DCM_DeidentificationMethod) && !item.tagExists(DCM_DeidentificationMethodCodeSequence)) {
    item.putAndInsertString(DCM_DeidentificationMethod, "Not stated by the source");
  }
}

// True when every value the character set applies to is plain ASCII (no byte above 0x7F, no
// ISO 2022 escape): such text reads the same in any character set, UTF-8 included.
bool AsciiText(DcmDataset& ds) {
  DcmStack stack;
  while (ds.nextObject(stack, OFTrue).good()) {
    DcmObject* o = stack.top();
    if (!o->isLeaf() || !o->isAffectedBySpecificCharacterSet()) continue;
    char* text = nullptr;
    Uint32 length = 0;
    if (OFstatic_cast(DcmByteString*, o)->getString(text, length).bad() || !text) continue;
    for (Uint32 i = 0; i < length; ++i) {
      const unsigned char c = static_cast<unsigned char>(text[i]);
      if (c > 0x7F || c == 0x1B) return false;
    }
  }
  return true;
}

// To UTF-8 from the declared character set; sources that use bytes outside it (often Latin-1
// under the default repertoire) are read as Latin-1, and as a last resort illegal bytes dropped.
void ConvertToUtf8(DcmDataset& ds) {
  if (ds.convertToUTF8().good()) return;
  OFString declared;
  ds.findAndGetOFStringArray(DCM_SpecificCharacterSet, declared);
  if (AsciiText(ds)) {
    // A character set this DCMTK cannot convert (Debian's DCMTK uses glibc's iconv, which has no
    // ISO 2022 IR 87, Japanese), declared by a source whose text is ASCII all the same.
    Check(ds.putAndInsertString(DCM_SpecificCharacterSet, "ISO_IR 192"), "character set");
    log::Warning("dicomsr", "source character set " + std::string(declared.c_str()) +
                                " cannot be converted here; its text is ASCII, kept as it is");
    return;
  }
  const std::string from = declared.empty() ? "ISO_IR 100" : declared.c_str();
  if (ds.convertCharacterSet(from.c_str(), "ISO_IR 192", 0, OFTrue).good()) {
    log::Warning("dicomsr", "source character set: bytes outside the declared repertoire, read as " + from);
    return;
  }
  Check(ds.convertCharacterSet(from.c_str(), "ISO_IR 192", DCMTypes::CF_discardIllegal, OFTrue),
        "converting the source's character set to UTF-8");
  log::Warning("dicomsr", "source character set: illegal bytes in " + from + " text were dropped");
}

}  // namespace

std::unique_ptr<DcmDataset> Utf8Source(const SourceSeries& source) {
  if (!source.header) throw Error(ErrorCode::kInvalidArgument, "no source header for the results");
  auto copy = std::make_unique<DcmDataset>(*source.header);
  ConvertToUtf8(*copy);
  Sanitize(*copy);
  if (Get(*copy, DCM_StudyInstanceUID).empty()) {
    throw Error(ErrorCode::kInvalidArgument, "the source has no Study Instance UID: results cannot join its study");
  }
  return copy;
}

std::string Get(DcmItem& item, const DcmTagKey& tag) {
  OFString v;
  if (item.findAndGetOFStringArray(tag, v).bad()) return {};
  return v.c_str();
}



namespace {

// Body Part Examined values of structures that are not paired (PS3.16 Annex L without laterality),
// for which Laterality must be absent. Any other value, a paired structure or one not listed here,
// gets Laterality (the source's, or empty): dciodvfy, too, requires it for every value it does not
// know to be unpaired (measured on dicom3tools 1.00 with every Annex L value).
bool UnpairedBodyPart(const std::string& body_part) {
  static const char* const kUnpaired[] = {
      "ABDOMEN", "ABDOMENPELVIS", "AORTA", "BACK", "BLADDER", "BRAIN", "CEREBELLUM", "CERVIX", "CHEST",
      "CHESTABDOMEN", "CHESTABDPELVIS", "CIRCLEOFWILLIS", "COCCYX", "COLON", "CORONARYARTERY", "CSPINE",
      "CTSPINE", "DUODENUM", "ESOPHAGUS", "FACE", "GALLBLADDER", "HEAD", "HEADNECK", "HEART", "ILEUM", "ILIUM",
      "JAW", "JEJUNUM", "LARYNX", "LIVER", "LSPINE", "LSSPINE", "MAXILLA", "MEDIASTINUM", "MOUTH", "NECK",
      "NECKCHEST", "NECKCHESTABDOMEN", "NECKCHESTABDPELV", "NOSE", "PANCREAS", "PELVIS", "PENIS", "PHARYNX",
      "PROSTATE", "RECTUM", "SKULL", "SPINE", "SPLEEN", "STERNUM", "STOMACH", "THYMUS", "THYROID", "TLSPINE",
      "TONGUE", "TRACHEA", "TSPINE", "URETER", "URETHRA", "UTERUS", "VAGINA", "VULVA"};
  for (const char* unpaired : kUnpaired) {
    if (body_part == unpaired) return true;
  }
  return false;
}

void PutIfAbsent(DcmItem& item, const DcmTagKey& tag) {
  if (!item.tagExists(tag)) Put(item, tag, "");
}

}  // namespace

void AddLaterality(DcmItem& src, DcmItem& ds) {
  const std::string body_part = Get(src, DCM_BodyPartExamined);
  if (!body_part.empty()) Put(ds, DCM_BodyPartExamined, body_part);
  // The series' laterality, else the source image's (the key image is one image of it).
  std::string laterality = Get(src, DCM_Laterality);
  if (laterality != "L" && laterality != "R") laterality = Get(src, DCM_ImageLaterality);
  if (laterality != "L" && laterality != "R") laterality.clear();
  if (!UnpairedBodyPart(body_part)) Put(ds, DCM_Laterality, laterality);
  const std::string orientation_type = Get(src, DCM_AnatomicalOrientationType);
  if (orientation_type == "BIPED" || orientation_type == "QUADRUPED") Put(ds, DCM_AnatomicalOrientationType, orientation_type);
}

void CompleteAnimalPatient(DcmItem& ds) {
  if (!ds.tagExists(DCM_PatientSpeciesDescription) && !ds.tagExists(DCM_PatientSpeciesCodeSequence)) return;
  for (const DcmTagKey& tag : {DCM_PatientBreedDescription, DCM_ResponsiblePerson, DCM_ResponsibleOrganization,
                               DCM_PatientSexNeutered}) {
    PutIfAbsent(ds, tag);
  }
  for (const DcmTagKey& tag : {DCM_PatientBreedCodeSequence, DCM_BreedRegistrationSequence}) {
    if (!ds.tagExists(tag)) Check(ds.insertEmptyElement(tag), std::string("setting ") + DcmTag(tag).getTagName());
  }
}

std::string DeviceUid(const config::DicomSettings& settings, const worker::StudyFindings& findings) {
  std::string key = "device/" + findings.backbone_digest;
  for (const auto& f : findings.findings) key += "/" + f.head_digest;
  return DeriveUid(settings.uid_root, key);
}

void AddContributingEquipment(DcmDataset& ds, const config::DicomSettings& settings, const Identity& identity,
                              const worker::StudyFindings& findings) {
  DcmItem* item = nullptr;
  Check(ds.findOrCreateSequenceItem(DCM_ContributingEquipmentSequence, item, -2), "Contributing Equipment Sequence");
  DcmItem* purpose = nullptr;
  Check(item->findOrCreateSequenceItem(DCM_PurposeOfReferenceCodeSequence, purpose, -2), "Purpose of Reference");
  Put(*purpose, DCM_CodeValue, codes::kProcessingAlgorithm.value);
  Put(*purpose, DCM_CodingSchemeDesignator, codes::kProcessingAlgorithm.scheme);
  Put(*purpose, DCM_CodeMeaning, codes::kProcessingAlgorithm.meaning);
  Put(*item, DCM_Manufacturer, settings.manufacturer);
  Put(*item, DCM_ManufacturerModelName, kModelName);
  Put(*item, DCM_SoftwareVersions, identity.software_version);
  Put(*item, DCM_DeviceUID, DeviceUid(settings, findings));
  if (!settings.institution.empty()) Put(*item, DCM_InstitutionName, settings.institution);
}

std::string AlgorithmVersion(const worker::StudyFindings& findings, const worker::TaskFinding& finding) {
  return "backbone " + findings.backbone_digest.substr(0, 16) + " head " + finding.head_digest.substr(0, 16) +
         (findings.demo ? " (DEMO)" : "");
}

}  // namespace internal

void Put(DcmItem& item, const DcmTagKey& tag, const std::string& value) {
  Check(item.putAndInsertString(tag, value.c_str()), std::string("setting ") + DcmTag(tag).getTagName());
}

void Now(std::string& date, std::string& time) {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  char d[16], h[16];
  std::strftime(d, sizeof d, "%Y%m%d", &tm);
  std::strftime(h, sizeof h, "%H%M%S", &tm);
  date = d;
  time = h;
}

std::string ToBytes(DcmFileFormat& file) {
  const E_TransferSyntax xfer = EXS_LittleEndianExplicit;
  Check(file.validateMetaInfo(xfer), "meta header");
  const Uint32 length = file.calcElementLength(xfer, EET_ExplicitLength) + 1024;
  std::string buffer(length, '\0');
  DcmOutputBufferStream out(&buffer[0], buffer.size());
  file.transferInit();
  const OFCondition cond = file.write(out, xfer, EET_ExplicitLength, nullptr, EGL_recalcGL, EPD_withoutPadding);
  file.transferEnd();
  Check(cond, "writing the DICOM file");
  void* data = nullptr;
  offile_off_t written = 0;
  out.flushBuffer(data, written);
  buffer.resize(static_cast<size_t>(written));
  return buffer;
}

}  // namespace curia::dicomsr

