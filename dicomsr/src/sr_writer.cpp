// SPDX-License-Identifier: GPL-3.0-or-later
// TID 1500 Measurement Report: language, device observer, procedure reported, image library, one
// measurement group per finding (tracking, finding, site, probability with its source image,
// present/absent, algorithm identification), qualitative evaluations and a research-use comment.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmsr/cmr/tid1500.h>
#include <dcmtk/dcmsr/codes/dcm.h>
#include <dcmtk/dcmsr/dsrdoc.h>

#include <cstdio>
#include <set>
#include <sstream>

#include "codes.h"
#include "common.h"
#include "curia/config/error.h"
#include "curia/dicom/read.h"
#include "curia/dicomsr/dataset.h"

namespace curia::dicomsr {
namespace {

using internal::Get;
using internal::Put;

DSRCodedEntryValue Coded(const codes::Code& c) { return DSRCodedEntryValue(c.value, c.scheme, c.meaning); }
DSRCodedEntryValue Coded(const config::CodedConcept& c) {
  return DSRCodedEntryValue(c.value.c_str(), c.scheme.c_str(), c.meaning.c_str());
}

DSRImageReferenceValue ImageReference(const ImageRef& image) {
  DSRImageReferenceValue ref(image.sop_class_uid.c_str(), image.sop_instance_uid.c_str());
  if (image.frame > 0) ref.getFrameList().addItem(image.frame);
  return ref;
}

std::string Number(double v, int digits);

// The attributes the image library describes an image by. Decimal strings are rewritten from
// their values: DCMTK's content items refuse the padded forms ("5.0 ") that scanners write.
DcmDataset LibraryEntry(DcmDataset& src, const ImageRef& image) {
  DcmDataset entry;
  Put(entry, DCM_SOPClassUID, image.sop_class_uid);
  Put(entry, DCM_SOPInstanceUID, image.sop_instance_uid);
  for (const DcmTagKey& tag : {DCM_Modality, DCM_StudyDate, DCM_StudyTime, DCM_ContentDate, DCM_ContentTime,
                               DCM_FrameOfReferenceUID}) {
    const std::string v = Get(src, tag);
    if (!v.empty()) Put(entry, tag, v);
  }
  for (const DcmTagKey& tag : {DCM_Rows, DCM_Columns}) {
    Uint16 v = 0;
    if (src.findAndGetUint16(tag, v).good()) Check(entry.putAndInsertUint16(tag, v), "image library size");
  }
  auto decimals = [&](const DcmTagKey& tag, unsigned long count) {
    std::string text;
    for (unsigned long i = 0; i < count; ++i) {
      Float64 v = 0;
      if (src.findAndGetFloat64(tag, v, i).bad()) return;
      text += (i ? "\\" : "") + Number(v, 10);
    }
    Put(entry, tag, text);
  };
  decimals(DCM_PixelSpacing, 2);
  decimals(DCM_ImageOrientationPatient, 6);
  decimals(DCM_SliceThickness, 1);
  decimals(DCM_SpacingBetweenSlices, 1);
  Put(entry, DCM_ImagePositionPatient,
      Number(image.position[0], 10) + "\\" + Number(image.position[1], 10) + "\\" + Number(image.position[2], 10));
  return entry;
}

std::string Number(double v, int digits) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

std::string Number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

// TID 4019 (Algorithm Identification) inside each measurement group: DCMTK's TID 1501 class has
// no setter for it, so the items are added to the expanded document tree.
void AddAlgorithmIdentification(DSRDocumentTree& tree, const worker::StudyFindings& findings) {
  size_t group = tree.gotoNamedNode(CODE_DCM_MeasurementGroup);
  for (const worker::TaskFinding& f : findings.findings) {
    if (group == 0) throw Error(ErrorCode::kInternal, "SR: measurement group of " + f.task + " not found");
    const size_t group_node = tree.getNodeID();
    if (tree.addContentItem(DSRTypes::RT_hasConceptMod, DSRTypes::VT_Text, DSRTypes::AM_belowCurrent) == 0) {
      throw Error(ErrorCode::kInternal, "SR: cannot add the algorithm name");
    }
    Check(tree.getCurrentContentItem().setConceptName(Coded(codes::kAlgorithmName)), "algorithm name concept");
    Check(tree.getCurrentContentItem().setStringValue(("Curia Node " + f.task).c_str()), "algorithm name");
    tree.addContentItem(DSRTypes::RT_hasConceptMod, DSRTypes::VT_Text, DSRTypes::AM_afterCurrent);
    Check(tree.getCurrentContentItem().setConceptName(Coded(codes::kAlgorithmVersion)), "algorithm version concept");
    Check(tree.getCurrentContentItem().setStringValue(internal::AlgorithmVersion(findings, f).c_str()),
          "algorithm version");
    tree.addContentItem(DSRTypes::RT_hasConceptMod, DSRTypes::VT_Code, DSRTypes::AM_afterCurrent);
    Check(tree.getCurrentContentItem().setConceptName(Coded(codes::kAlgorithmFamily)), "algorithm family concept");
    Check(tree.getCurrentContentItem().setCodeValue(Coded(codes::kArtificialIntelligence)), "algorithm family");
    tree.gotoNode(group_node);
    group = tree.gotoNextNamedNode(CODE_DCM_MeasurementGroup);
  }
}

}  // namespace

DicomObject WriteStructuredReport(const SourceSeries& source, const worker::StudyFindings& findings,
                                  const config::DicomSettings& settings, const Identity& identity) {
  if (findings.findings.empty()) throw Error(ErrorCode::kInvalidArgument, "no finding to report");
  std::unique_ptr<DcmDataset> src = internal::Utf8Source(source);
  const std::string study_uid = Get(*src, DCM_StudyInstanceUID);
  const std::string source_series = Get(*src, DCM_SeriesInstanceUID);
  DicomObject out;
  out.sop_class_uid = settings.comprehensive_3d ? UID_Comprehensive3DSRStorage : UID_ComprehensiveSRStorage;
  out.series_instance_uid = DeriveUid(settings.uid_root, identity.job_key + "/sr/series");
  out.sop_instance_uid = DeriveUid(settings.uid_root, identity.job_key + "/sr");
  const std::string device_uid = internal::DeviceUid(settings, findings);

  TID1500_MeasurementReport report(CMR_CID7021::ImagingMeasurementReport);
  Check(report.setLanguage(CID5000_Languages::English), "SR language");
  Check(report.getObservationContext().addDeviceObserver(device_uid.c_str(), internal::kModelName,
                                                         settings.manufacturer.c_str(), internal::kModelName),
        "SR device observer");
  const codes::Code procedure = source.modality == "CT"   ? codes::kCtProcedure
                                : source.modality == "MR" ? codes::kMrProcedure
                                                          : codes::kImagingProcedure;
  Check(report.addProcedureReported(Coded(procedure)), "SR procedure reported");

  // Image library: every analysed instance once, descriptors shared by the group.
  TID1600_ImageLibrary& library = report.getImageLibrary();
  Check(library.createNewImageLibrary(), "SR image library");
  Check(library.addImageGroup(), "SR image library group");
  std::set<std::string> listed;
  TID1600_ImageLibrary::ConceptNameList skip;
  skip.push_back(CODE_DCM_TargetRegion);  // BodyPartExamined mappings that validators dispute
  for (const ImageRef& image : source.images) {
    if (!listed.insert(image.sop_instance_uid).second) continue;
    DcmDataset entry = LibraryEntry(*src, image);
    Check(library.addImageEntry(entry, TID1600_ImageLibrary::withoutSelectedDescriptors, skip), "SR image entry");
  }
  Check(library.moveCommonImageDescriptorsToImageGroups(), "SR image library descriptors");

  std::string summary;
  for (size_t i = 0; i < findings.findings.size(); ++i) {
    const worker::TaskFinding& f = findings.findings[i];
    if (i > 0) Check(report.addIndividualMeasurements(OFFalse), "SR measurement group");
    auto& group = report.getIndividualMeasurements();
    Check(group.setTrackingIdentifier((f.task + " result").c_str()), "SR tracking identifier");
    Check(group.setTrackingUniqueIdentifier(DeriveUid(settings.uid_root, identity.job_key + "/tracking/" + f.task).c_str()),
          "SR tracking UID");
    Check(group.setFinding(Coded(f.finding), OFFalse), "SR finding");
    if (f.has_finding_site) Check(group.addFindingSite(Coded(f.finding_site)), "SR finding site");
    const bool regression = f.regression;
    const CMR_TID1501_in_TID1500::MeasurementValue value(
        Number(regression ? f.probability : 100.0 * f.probability).c_str(),
        CMR_CID7181(Coded(regression ? codes::kNoUnits : codes::kPercent)));
    Check(group.addMeasurement(CMR_CID7469(Coded(regression ? codes::kPredictedValue : codes::kProbabilityOfFinding)),
                               value, OFTrue, OFFalse),
          "SR probability");
    if (f.key_slice >= 0 && static_cast<size_t>(f.key_slice) < source.images.size()) {
      Check(group.getMeasurement().addImage(Coded(codes::kSourceOfMeasurement),
                                            ImageReference(source.images[static_cast<size_t>(f.key_slice)]), OFFalse),
            "SR source of measurement");
    }
    if (!regression) {
      Check(group.addQualitativeEvaluation(Coded(f.finding), Coded(f.present ? codes::kPresent : codes::kAbsent), OFFalse),
            "SR qualitative evaluation");
    }
    summary += (summary.empty() ? "" : "; ") + f.finding.meaning + ": " +
               (regression ? Number(f.probability) : std::string(f.present ? "present" : "absent") + " (probability " +
                                                         Number(100.0 * f.probability) + "%)");
  }
  for (const worker::TaskFinding& f : findings.findings) {
    if (f.regression) continue;
    Check(report.addQualitativeEvaluation(Coded(f.finding), Coded(f.present ? codes::kPresent : codes::kAbsent), OFFalse),
          "SR qualitative evaluation");
  }
  const std::string comment = std::string("For research use only. Not for clinical use. ") +
                              (findings.demo ? "DEMO model: meaningless output. " : "") + summary + ".";
  Check(report.addQualitativeEvaluation(Coded(codes::kComment), comment.c_str(), OFFalse), "SR comment");

  DSRDocument doc;
  Check(doc.setTreeFromRootTemplate(report, OFTrue /*expandTree*/), "SR document tree");
  Check(doc.changeDocumentType(settings.comprehensive_3d ? DSRTypes::DT_Comprehensive3DSR : DSRTypes::DT_ComprehensiveSR),
        "SR document type");
  AddAlgorithmIdentification(doc.getTree(), findings);
  Check(doc.readStudyData(*src), "SR study data");
  doc.setSpecificCharacterSetType(DSRTypes::CS_UTF8);
  Check(doc.createNewSeriesInStudy(study_uid.c_str()), "SR series");
  Check(doc.setSeriesDescription("Curia Node AI results - RESEARCH USE ONLY"), "SR series description");
  Check(doc.setSeriesNumber(std::to_string(settings.series_number).c_str()), "SR series number");
  Check(doc.setInstanceNumber("1"), "SR instance number");
  Check(doc.setManufacturer(settings.manufacturer.c_str()), "SR manufacturer");
  Check(doc.setManufacturerModelName(internal::kModelName), "SR model name");
  Check(doc.setSoftwareVersions(identity.software_version.c_str()), "SR software versions");
  std::string date = identity.content_date, time = identity.content_time;
  if (date.empty()) internal::Now(date, time);
  Check(doc.setContentDate(date.c_str()), "SR content date");
  Check(doc.setContentTime(time.c_str()), "SR content time");
  Check(doc.setPreliminaryFlag(DSRTypes::PF_Preliminary), "SR preliminary flag");
  Check(doc.completeDocument(), "SR completion flag");
  DSRCodingSchemeIdentificationList& schemes = doc.getCodingSchemeIdentification();
  Check(schemes.addItem(codes::kPrivateScheme), "SR coding scheme");
  Check(schemes.setCodingSchemeName("Curia Node codes"), "SR coding scheme name");
  Check(schemes.setCodingSchemeResponsibleOrganization(settings.manufacturer.c_str()), "SR coding scheme organization");
  for (const ImageRef& image : source.images) {
    Check(doc.getCurrentRequestedProcedureEvidence().addItem(study_uid.c_str(), source_series.c_str(),
                                                             image.sop_class_uid.c_str(), image.sop_instance_uid.c_str()),
          "SR evidence");
  }

  DcmFileFormat file;
  DcmDataset& ds = *file.getDataset();
  Check(doc.write(ds), "SR write");
  internal::CompleteAnimalPatient(ds);
  // Our UIDs (DCMTK would use its own root), derived from the job: a re-sent SR is the same object.
  Put(ds, DCM_SeriesInstanceUID, out.series_instance_uid);
  Put(ds, DCM_SOPInstanceUID, out.sop_instance_uid);
  Put(ds, DCM_InstanceCreationDate, date);
  Put(ds, DCM_InstanceCreationTime, time);
  if (!settings.institution.empty()) Put(ds, DCM_InstitutionName, settings.institution);
  internal::AddContributingEquipment(ds, settings, identity, findings);
  out.bytes = internal::ToBytes(file);
  return out;
}

std::string RenderHtml(const std::string& sr_bytes) {
  const std::unique_ptr<DcmFileFormat> file = dicom::ReadBytes(sr_bytes, "the SR");
  DSRDocument doc;
  Check(doc.read(*file->getDataset()), "parsing the SR");
  std::ostringstream html;
  Check(doc.renderHTML(html, DSRTypes::HF_renderFullData | DSRTypes::HF_XHTML11Compatibility |
                                 DSRTypes::HF_renderItemsSeparately),
        "rendering the SR");
  return html.str();
}

}  // namespace curia::dicomsr
