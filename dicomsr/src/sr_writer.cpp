// SPDX-License-Identifier: GPL-3.0-or-later
// TID 1500 Measurement Report: language, device observer, procedure reported, image library, one
// measurement group per finding (tracking, finding, site, probability with its source image,
// present/absent, algorithm identification), qualitative evaluations and a research-use comment.
// A finding about a region (a segment of a SEG, an ROI of an RTSTRUCT) gets a TID 1411 Volumetric
// ROI Measurements group that references the region instead; see WriteRegionGroup.
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

bool IsRegion(const worker::TaskFinding& f) { return !f.region.kind.empty(); }
bool IsSeg(const worker::TaskFinding& f) { return f.region.kind == "SEG"; }

// "segment 3 Liver" / "ROI 2 GTV": how the SR and the key image name a region.
std::string RegionName(const worker::RegionReference& r) {
  return std::string(r.kind == "SEG" ? "segment " : "ROI ") + std::to_string(r.number) +
         (r.label.empty() ? "" : " " + r.label);
}

void CheckRegion(const worker::TaskFinding& f) {
  const worker::RegionReference& r = f.region;
  const std::string what = "region of " + f.task + ": ";
  if (r.kind != "SEG" && r.kind != "RTSTRUCT") {
    throw Error(ErrorCode::kInvalidArgument, what + "kind '" + r.kind + "' is neither SEG nor RTSTRUCT");
  }
  if (r.sop_class_uid.empty() || r.sop_instance_uid.empty() || r.series_uid.empty() || r.number < 1) {
    throw Error(ErrorCode::kInvalidArgument, what + "no SOP class, SOP instance, series or " +
                                                 (r.kind == "SEG" ? "segment" : "ROI") + " number");
  }
  if (r.kind == "SEG" && r.number > 65535) throw Error(ErrorCode::kInvalidArgument, what + "segment number above 65535");
  if (!r.agreement.empty() && r.agreement != "agrees" && r.agreement != "disagrees") {
    throw Error(ErrorCode::kInvalidArgument, what + "agreement '" + r.agreement + "' is neither agrees nor disagrees");
  }
}

// Tracking: a SEG segment's own Tracking ID and UID where it has them (so that every report on the
// segment tracks the same thing, as DCMTK's setReferencedSegment(copyTracking) would); otherwise
// the region's name and a UID derived from the region object and number (stable across jobs and
// tasks: the region, not the task, is what is tracked). Whole-volume findings: per job and task.
std::string TrackingId(const worker::TaskFinding& f) {
  if (!IsRegion(f)) return f.task + " result";
  if (IsSeg(f) && !f.region.tracking_id.empty()) return f.region.tracking_id;
  return RegionName(f.region);
}
std::string TrackingUid(const worker::TaskFinding& f, const config::DicomSettings& settings, const Identity& identity) {
  if (!IsRegion(f)) return DeriveUid(settings.uid_root, identity.job_key + "/tracking/" + f.task);
  if (IsSeg(f) && !f.region.tracking_uid.empty()) return f.region.tracking_uid;
  return DeriveUid(settings.uid_root, "tracking/" + f.region.sop_instance_uid + "/" + std::to_string(f.region.number));
}

// The content item below the current node (its children, not deeper) with this concept name, or 0;
// the cursor is left on the parent.
size_t FindChild(DSRDocumentTree& tree, const char* value, const char* scheme) {
  const size_t parent = tree.getNodeID();
  size_t found = 0;
  if (tree.goDown() > 0) {
    do {
      const DSRCodedEntryValue& name = tree.getCurrentContentItem().getConceptName();
      if (name.getCodeValue() == value && name.getCodingSchemeDesignator() == scheme) {
        found = tree.getNodeID();
        break;
      }
    } while (tree.gotoNext() > 0);
  }
  tree.gotoNode(parent);
  return found;
}

// An ROI of an RT Structure Set in its TID 1411 group, after the group's Finding. PS3.16 TID 1411
// "Volumetric ROI Measurements and Qualitative Evaluations", row 12b: CONTAINS COMPOSITE (130488,
// DCM, "Region in Space") naming the RTSTRUCT instance (the RTSTRUCT counterpart of row 7, Referenced
// Segment; exactly one of rows 5, 7, 10 and 12b is present), with row 12c, TEXT (130489, DCM,
// "Referenced Region of Interest Identifier") = the ROI Number, which the standard hangs below the
// COMPOSITE by HAS PROPERTIES. DCMTK 3.6.7 enforces the Comprehensive (3D) SR relationship table
// without COMPOSITE as a source of HAS PROPERTIES (dsrc3dcc.cc, PS3.3 A.35.13-2 as of Supplement 162):
// it refuses that item and strict dsrdump rejects it. The ROI Number therefore goes into the same
// TEXT concept as a sibling, CONTAINS, where TID 1411 row 17 admits qualitative TEXT evaluations.
// DCMTK's TID 1411 class predates rows 12b/12c, hence the items are added to the expanded tree.
void AddRegionInSpace(DSRDocumentTree& tree, const worker::RegionReference& r) {
  const size_t group = tree.getNodeID();
  const size_t finding = FindChild(tree, "121071", "DCM");  // TID 1411 row 3b, always written
  if (finding == 0 || tree.gotoNode(finding) == 0) throw Error(ErrorCode::kInternal, "SR: no finding in a region group");
  if (tree.addContentItem(DSRTypes::RT_contains, DSRTypes::VT_Composite, DSRTypes::AM_afterCurrent) == 0) {
    throw Error(ErrorCode::kInternal, "SR: cannot add the region in space");
  }
  Check(tree.getCurrentContentItem().setConceptName(Coded(codes::kRegionInSpace)), "region in space concept");
  Check(tree.getCurrentContentItem().setCompositeReference(
            DSRCompositeReferenceValue(r.sop_class_uid.c_str(), r.sop_instance_uid.c_str())),
        "region in space");
  if (tree.addContentItem(DSRTypes::RT_contains, DSRTypes::VT_Text, DSRTypes::AM_afterCurrent) == 0) {
    throw Error(ErrorCode::kInternal, "SR: cannot add the ROI identifier");
  }
  Check(tree.getCurrentContentItem().setConceptName(Coded(codes::kReferencedRoiIdentifier)), "ROI identifier concept");
  Check(tree.getCurrentContentItem().setStringValue(std::to_string(r.number).c_str()), "ROI identifier");
  tree.gotoNode(group);
}

// Items DCMTK's templates have no setter for, added to the expanded document tree: TID 4019
// (Algorithm Identification) inside each measurement group, and an RTSTRUCT region's reference.
// DCMTK lists TID 1411 and TID 1501 groups in its own order, so each group is matched to its
// finding by its Tracking Identifier (findings with equal identifiers keep their order).
void CompleteGroups(DSRDocumentTree& tree, const worker::StudyFindings& findings) {
  std::vector<bool> done(findings.findings.size(), false);
  size_t group = tree.gotoNamedNode(CODE_DCM_MeasurementGroup);
  for (size_t n = 0; n < findings.findings.size(); ++n) {
    if (group == 0) throw Error(ErrorCode::kInternal, "SR: " + std::to_string(n) + " measurement groups for " +
                                                          std::to_string(findings.findings.size()) + " findings");
    const size_t group_node = tree.getNodeID();
    const size_t id_node = FindChild(tree, "112039", "DCM");
    std::string tracking_id;
    if (id_node > 0 && tree.gotoNode(id_node) > 0) tracking_id = tree.getCurrentContentItem().getStringValue().c_str();
    tree.gotoNode(group_node);
    size_t index = findings.findings.size();
    for (size_t i = 0; i < findings.findings.size(); ++i) {
      if (!done[i] && TrackingId(findings.findings[i]) == tracking_id) {
        index = i;
        break;
      }
    }
    if (index == findings.findings.size()) {
      throw Error(ErrorCode::kInternal, "SR: a measurement group tracks '" + tracking_id + "', which is no finding");
    }
    done[index] = true;
    const worker::TaskFinding& f = findings.findings[index];
    if (f.region.kind == "RTSTRUCT") AddRegionInSpace(tree, f.region);
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
  if (group != 0) throw Error(ErrorCode::kInternal, "SR: more measurement groups than findings");
}

// The probability (or regressed value) as a NUM: "%" 0-100 for classification, "no units" for a value.
template <typename Concept, typename Value>
std::pair<Concept, Value> Probability(const worker::TaskFinding& f) {
  const bool regression = f.regression;
  return {Concept(Coded(regression ? codes::kPredictedValue : codes::kProbabilityOfFinding)),
          Value(Number(regression ? f.probability : 100.0 * f.probability).c_str(),
                CMR_CID7181(Coded(regression ? codes::kNoUnits : codes::kPercent)))};
}

// A finding about a region: TID 1411 Volumetric ROI Measurements (PS3.16), the template TID 1500
// row 8 includes for measurements of a volume identified by a segmentation or a region in space.
// SEG: Referenced Segment (121191, DCM; row 7), an IMAGE item naming the SEG instance and the
// segment number, and Source series for segmentation (121232, DCM; row 12), as dcmqi writes them.
// RTSTRUCT: Region in Space (rows 12b/12c), added by CompleteGroups. Then the finding, its site,
// the probability (TID 1419 ROI Measurements), the predicted class of a multi-class head and its
// agreement with the region's label (row 16, our codes), and present/absent (row 16).
void WriteRegionGroup(CMR_TID1411_in_TID1500& group, const worker::TaskFinding& f, const std::string& source_series,
                      const config::DicomSettings& settings, const Identity& identity) {
  const worker::RegionReference& r = f.region;
  Check(group.setTrackingIdentifier(TrackingId(f).c_str()), "SR tracking identifier");
  Check(group.setTrackingUniqueIdentifier(TrackingUid(f, settings, identity).c_str()), "SR tracking UID");
  Check(group.setFinding(Coded(f.finding), OFFalse), "SR finding");
  if (r.kind == "SEG") {
    DSRImageReferenceValue segment(r.sop_class_uid.c_str(), r.sop_instance_uid.c_str());
    segment.getSegmentList().addItem(static_cast<Uint16>(r.number));
    Check(group.setReferencedSegment(segment), "SR referenced segment");
    const std::string series = r.source_series_uid.empty() ? source_series : r.source_series_uid;
    Check(group.setSourceSeriesForSegmentation(series.c_str()), "SR source series for segmentation");
  }
  if (f.has_finding_site) Check(group.addFindingSite(Coded(f.finding_site)), "SR finding site");
  const auto [concept_name, value] =
      Probability<CMR_CID7469, CMR_TID1411_in_TID1500::MeasurementValue>(f);
  Check(group.addMeasurement(concept_name, value, OFTrue, OFFalse), "SR probability");
  if (!r.predicted_class.empty()) {
    if (!r.predicted_code.value.empty()) {
      Check(group.addQualitativeEvaluation(Coded(codes::kPredictedClass), Coded(r.predicted_code), OFFalse),
            "SR predicted class");
    } else {
      Check(group.addQualitativeEvaluation(Coded(codes::kPredictedClass), OFString(r.predicted_class.c_str()), OFFalse),
            "SR predicted class");
    }
  }
  if (!r.agreement.empty()) {
    Check(group.addQualitativeEvaluation(Coded(codes::kAgreesWithRegionLabel),
                                         Coded(r.agreement == "agrees" ? codes::kYes : codes::kNo), OFFalse),
          "SR agreement with the region");
  }
  if (!f.regression) {
    Check(group.addQualitativeEvaluation(Coded(f.finding), Coded(f.present ? codes::kPresent : codes::kAbsent), OFFalse),
          "SR qualitative evaluation");
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
  out.sop_instance_uid = DeriveUid(settings.uid_root, identity.job_key + "/sr" +
                                                         (identity.document.empty() ? "" : "/" + identity.document));
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
  bool first_region = true, first_plain = true;  // the report starts with one (empty) group of each
  for (const worker::TaskFinding& f : findings.findings) {
    const bool regression = f.regression;
    if (IsRegion(f)) {
      CheckRegion(f);
      if (!first_region) Check(report.addVolumetricROIMeasurements(OFFalse), "SR region measurement group");
      first_region = false;
      WriteRegionGroup(report.getVolumetricROIMeasurements(), f, source_series, settings, identity);
    } else {
      if (!first_plain) Check(report.addIndividualMeasurements(OFFalse), "SR measurement group");
      first_plain = false;
      auto& group = report.getIndividualMeasurements();
      Check(group.setTrackingIdentifier(TrackingId(f).c_str()), "SR tracking identifier");
      Check(group.setTrackingUniqueIdentifier(TrackingUid(f, settings, identity).c_str()), "SR tracking UID");
      Check(group.setFinding(Coded(f.finding), OFFalse), "SR finding");
      if (f.has_finding_site) Check(group.addFindingSite(Coded(f.finding_site)), "SR finding site");
      const auto [concept_name, value] =
          Probability<CMR_CID7469, CMR_TID1501_in_TID1500::MeasurementValue>(f);
      Check(group.addMeasurement(concept_name, value, OFTrue, OFFalse), "SR probability");
      if (f.key_slice >= 0 && static_cast<size_t>(f.key_slice) < source.images.size()) {
        Check(group.getMeasurement().addImage(Coded(codes::kSourceOfMeasurement),
                                              ImageReference(source.images[static_cast<size_t>(f.key_slice)]), OFFalse),
              "SR source of measurement");
      }
      if (!regression) {
        Check(group.addQualitativeEvaluation(Coded(f.finding), Coded(f.present ? codes::kPresent : codes::kAbsent), OFFalse),
              "SR qualitative evaluation");
      }
    }
    summary += (summary.empty() ? "" : "; ") + f.finding.meaning +
               (IsRegion(f) ? " (" + RegionName(f.region) + ")" : std::string()) + ": " +
               (regression ? Number(f.probability) : std::string(f.present ? "present" : "absent") + " (probability " +
                                                         Number(100.0 * f.probability) + "%)");
    if (!f.region.predicted_class.empty()) {
      summary += ", predicted " + f.region.predicted_class +
                 (f.region.agreement.empty() ? "" : f.region.agreement == "agrees" ? " (agrees with the region's label)"
                                                                                  : " (disagrees with the region's label)");
    }
  }
  // The study-level evaluations: whole-volume findings only (a region's belongs to its group).
  for (const worker::TaskFinding& f : findings.findings) {
    if (f.regression || IsRegion(f)) continue;
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
  CompleteGroups(doc.getTree(), findings);
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
  // The region objects the groups reference, too (every referenced instance must be listed: PS3.3
  // C.17.2.3). They belong to the analysed study, the current requested procedure's evidence, as
  // highdicom lists instances of the report's own study.
  for (const worker::TaskFinding& f : findings.findings) {
    if (!IsRegion(f)) continue;
    Check(doc.getCurrentRequestedProcedureEvidence().addItem(study_uid.c_str(), f.region.series_uid.c_str(),
                                                             f.region.sop_class_uid.c_str(),
                                                             f.region.sop_instance_uid.c_str()),
          "SR evidence of the region object");
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
