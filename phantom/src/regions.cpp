// SPDX-License-Identifier: GPL-3.0-or-later
// The phantom's structures as a DICOM SEG (dcmseg) and an RTSTRUCT (dcmrt) for its series.
#include "curia/phantom/regions.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <dcmtk/dcmfg/fgderimg.h>
#include <dcmtk/dcmfg/fgfracon.h>
#include <dcmtk/dcmfg/fgpixmsr.h>
#include <dcmtk/dcmfg/fgplanor.h>
#include <dcmtk/dcmfg/fgplanpo.h>
#include <dcmtk/dcmiod/iodreferences.h>
#include <dcmtk/dcmrt/drtstrct.h>
#include <dcmtk/dcmseg/segdoc.h>
#include <dcmtk/dcmseg/segment.h>

#include <algorithm>
#include <memory>
#include <set>

#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/dicomsr/dataset.h"
#include "curia/phantom/contours.h"
#include "curia/phantom/phantom.h"
#include "decimal_string.h"

namespace curia::phantom {
namespace {

using dicomsr::Check;

constexpr const char* kAlgorithm = "Curia phantom";
// Retired Detached Study Management SOP Class: what RT Referenced Study Sequence items name.
constexpr const char* kStudyComponentClass = "1.2.840.10008.3.1.2.3.1";

// The series' geometry and identity, as MakePhantomSeries writes it.
struct Series {
  PhantomSeriesOptions options;
  PhantomSeriesInfo info;
  PhantomOptions phantom;  // with the series' seed
  std::string date, time;
  double x0 = 0, y0 = 0;

  explicit Series(const PhantomSeriesOptions& o) : options(o), info(DescribePhantomSeries(o)), phantom(o.phantom) {
    phantom.seed = o.seed;
    PhantomStudyDateTime(o, date, time);
    x0 = -(static_cast<double>(phantom.cols) - 1) / 2.0 * phantom.pixel_mm;
    y0 = -(static_cast<double>(phantom.rows) - 1) / 2.0 * phantom.pixel_mm;
  }
  double Z(int64_t k) const { return (static_cast<double>(k) - (static_cast<double>(phantom.slices) - 1) / 2.0) * phantom.slice_mm; }
  int64_t Pixels() const { return phantom.rows * phantom.cols; }
  std::string Sop(int64_t k) const { return PhantomSopInstanceUid(options, k); }
};

// The structures with at least one pixel in the series, in label order; `paint` gives slice k's labels.
std::vector<const PhantomStructure*> PresentStructures(const Series& s, const std::vector<PhantomStructure>& structures,
                                                       const PhantomLabelPainter& paint) {
  std::vector<uint8_t> labels(static_cast<size_t>(s.Pixels()));
  std::set<int> seen;
  for (int64_t k = 0; k < s.phantom.slices; ++k) {
    paint(k, labels.data());
    seen.insert(labels.begin(), labels.end());
  }
  std::vector<const PhantomStructure*> out;
  for (const PhantomStructure& st : structures) {
    if (seen.count(st.label)) out.push_back(&st);
  }
  return out;
}

// The phantom's own labels of the series' slices.
PhantomLabelPainter HeadLabels(const Series& s) {
  const PhantomOptions phantom = s.phantom;
  return [phantom](int64_t k, uint8_t* out) { MakeHeadPhantomLabels(phantom, k, out); };
}

OFString Text(const std::string& s) { return OFString(s.c_str()); }

// The identity of the region object of kind `kind` ("seg", "rtstruct") derived from the series.
PhantomRegionInfo RegionIdentity(const PhantomSeriesOptions& options, const std::string& kind, const char* sop_class) {
  PhantomRegionInfo r;
  r.sop_class_uid = sop_class;
  r.series_uid = PhantomDerivedUid(options, kind + "/series");
  r.sop_instance_uid = PhantomDerivedUid(options, kind + "/instance");
  return r;
}

}  // namespace

PhantomRegionInfo MakePhantomSegmentation(const PhantomSeriesOptions& options) {
  const Series s(options);
  return MakePhantomSegmentation(options, PhantomStructures(), HeadLabels(s));
}

PhantomRegionInfo MakePhantomSegmentation(const PhantomSeriesOptions& options, const std::vector<PhantomStructure>& structures,
                                          const PhantomLabelPainter& paint) {
  const Series s(options);
  int largest = 0;
  for (const PhantomStructure& st : structures) {
    if (st.label < 1 || st.label > 255) {
      throw Error(ErrorCode::kInvalidArgument, "phantom SEG: segment label " + std::to_string(st.label) + " is not in 1..255");
    }
    largest = std::max(largest, st.label);
  }
  const std::vector<const PhantomStructure*> present = PresentStructures(s, structures, paint);
  PhantomRegionInfo result = RegionIdentity(options, "seg", UID_SegmentationStorage);

  const IODGeneralEquipmentModule::EquipmentInfo equipment(
      "Curia Node phantom", "Analytic head phantom", "1",
      Text(options.software_version.empty() ? "unknown" : options.software_version));
  const ContentIdentificationMacro content("1", "PHANTOM", "Structures of the analytic head phantom", "CURIA^PHANTOM");
  DcmSegmentation* raw = nullptr;
  Check(DcmSegmentation::createBinarySegmentation(raw, static_cast<Uint16>(s.phantom.rows),
                                                  static_cast<Uint16>(s.phantom.cols), equipment, content),
        "phantom SEG: create");
  const std::unique_ptr<DcmSegmentation> seg(raw);

  Check(seg->getPatient().setPatientName(Text(options.patient_name)), "phantom SEG: patient name");
  Check(seg->getPatient().setPatientID(Text(options.patient_id)), "phantom SEG: patient ID");
  Check(seg->getPatient().setPatientSex("O"), "phantom SEG: patient sex");
  IODGeneralStudyModule& study = seg->getStudy();
  Check(study.setStudyInstanceUID(Text(s.info.study_uid)), "phantom SEG: study UID");
  Check(study.setStudyDate(Text(s.date)), "phantom SEG: study date");
  Check(study.setStudyTime(Text(s.time)), "phantom SEG: study time");
  Check(study.setStudyID("1"), "phantom SEG: study ID");
  Check(study.setAccessionNumber(Text(s.info.accession_number)), "phantom SEG: accession number");
  Check(study.setStudyDescription("Curia Node phantom"), "phantom SEG: study description");
  IODGeneralSeriesModule& series = seg->getSeries();
  Check(series.setSeriesInstanceUID(Text(result.series_uid)), "phantom SEG: series UID");
  Check(series.setSeriesNumber("100"), "phantom SEG: series number");
  Check(series.setSeriesDescription("Head phantom structures (SEG)"), "phantom SEG: series description");
  Check(seg->getSOPCommon().setSOPInstanceUID(Text(result.sop_instance_uid)), "phantom SEG: SOP instance UID");
  Check(seg->getFrameOfReference().setFrameOfReferenceUID(Text(s.info.frame_of_reference_uid)),
        "phantom SEG: frame of reference");

  // Segments, numbered 1.. in label order.
  std::vector<Uint16> segment_of_label(static_cast<size_t>(largest) + 1, 0);
  for (const PhantomStructure* st : present) {
    DcmSegment* segment = nullptr;
    Check(DcmSegment::create(segment, Text(st->name),
                             CodeSequenceMacro(Text(st->category.value), Text(st->category.scheme), Text(st->category.meaning)),
                             CodeSequenceMacro(Text(st->type.value), Text(st->type.scheme), Text(st->type.meaning)),
                             DcmSegTypes::SAT_AUTOMATIC, kAlgorithm),
          "phantom SEG: segment " + st->name);
    if (!st->modifier.value.empty()) {
      segment->getSegmentedPropertyTypeModifierCode().push_back(new CodeSequenceMacro(
          Text(st->modifier.value), Text(st->modifier.scheme), Text(st->modifier.meaning)));
    }
    Uint16 number = 0;
    const OFCondition added = seg->addSegment(segment, number);
    if (added.bad()) delete segment;
    Check(added, "phantom SEG: add segment " + st->name);
    result.labels.push_back(st->label);
    segment_of_label[static_cast<size_t>(st->label)] = number;
  }

  // Shared functional groups: spacing and orientation.
  FGPixelMeasures measures;
  Check(measures.setPixelSpacing(Text(Ds(s.phantom.pixel_mm) + "\\" + Ds(s.phantom.pixel_mm))), "phantom SEG: pixel spacing");
  Check(measures.setSliceThickness(Text(Ds(s.phantom.slice_mm))), "phantom SEG: slice thickness");
  Check(measures.setSpacingBetweenSlices(Text(Ds(s.phantom.slice_mm))), "phantom SEG: spacing");
  Check(seg->addForAllFrames(measures), "phantom SEG: pixel measures");
  std::unique_ptr<FGPlaneOrientationPatient> orientation(FGPlaneOrientationPatient::createMinimal("1", "0", "0", "0", "1", "0"));
  if (!orientation) throw Error(ErrorCode::kInternal, "phantom SEG: plane orientation");
  Check(seg->addForAllFrames(*orientation), "phantom SEG: plane orientation");
  const OFString dimension_uid = Text(PhantomDerivedUid(options, "seg/dimensions"));
  Check(seg->getDimensions().addDimensionIndex(DCM_ReferencedSegmentNumber, dimension_uid,
                                               DCM_SegmentIdentificationSequence, "ReferencedSegmentNumber"),
        "phantom SEG: segment dimension");
  Check(seg->getDimensions().addDimensionIndex(DCM_ImagePositionPatient, dimension_uid, DCM_PlanePositionSequence,
                                               "ImagePositionPatient"),
        "phantom SEG: position dimension");

  // Frames: for each slice, one per segment with pixels there.
  std::vector<uint8_t> labels(static_cast<size_t>(s.Pixels()));
  std::vector<Uint8> frame(labels.size());
  IODReferences references;
  for (int64_t k = 0; k < s.phantom.slices; ++k) {
    paint(k, labels.data());
    bool referenced = false;
    for (const PhantomStructure* st : present) {
      bool any = false;
      for (size_t i = 0; i < labels.size(); ++i) {
        frame[i] = labels[i] == st->label ? 1 : 0;
        any = any || frame[i];
      }
      if (!any) continue;  // empty frames are omitted
      const Uint16 number = segment_of_label[static_cast<size_t>(st->label)];
      std::unique_ptr<FGPlanePosPatient> position(
          FGPlanePosPatient::createMinimal(Text(Ds(s.x0)), Text(Ds(s.y0)), Text(Ds(s.Z(k)))));
      if (!position) throw Error(ErrorCode::kInternal, "phantom SEG: plane position");
      FGFrameContent frame_content;
      Check(frame_content.setStackID("1"), "phantom SEG: stack");
      Check(frame_content.setInStackPositionNumber(static_cast<Uint32>(k + 1)), "phantom SEG: stack position");
      Check(frame_content.setDimensionIndexValues(number, 0), "phantom SEG: dimension index");
      Check(frame_content.setDimensionIndexValues(static_cast<Uint32>(k + 1), 1), "phantom SEG: dimension index");
      ImageSOPInstanceReferenceMacro source;
      Check(source.setReferencedSOPClassUID(Text(s.info.sop_class_uid)), "phantom SEG: source class");
      Check(source.setReferencedSOPInstanceUID(Text(s.Sop(k))), "phantom SEG: source instance");
      OFVector<ImageSOPInstanceReferenceMacro> sources;
      sources.push_back(source);
      std::unique_ptr<FGDerivationImage> derivation(
          DcmSegmentation::createDerivationImageFG(sources, "Labels of the analytic head phantom"));
      if (!derivation) throw Error(ErrorCode::kInternal, "phantom SEG: derivation image");
      OFVector<FGBase*> per_frame;
      per_frame.push_back(position.get());
      per_frame.push_back(&frame_content);
      per_frame.push_back(derivation.get());
      Check(seg->addFrame(frame.data(), number, per_frame), "phantom SEG: frame");
      ++result.frames;
      referenced = true;
    }
    if (referenced) {
      references.add(new IODImageReference(Text(options.patient_id), Text(s.info.study_uid), Text(s.info.series_uid),
                                           Text(s.Sop(k)), Text(s.info.sop_class_uid)));
    }
  }
  if (result.frames == 0) throw Error(ErrorCode::kInvalidArgument, "phantom SEG: the series shows no structure");
  seg->getCommonInstanceReference().addReferences(references, Text(s.info.study_uid));

  DcmFileFormat file;
  DcmDataset& ds = *file.getDataset();
  Check(seg->writeDataset(ds), "phantom SEG: write");
  dicomsr::Put(ds, DCM_SpecificCharacterSet, "ISO_IR 192");
  dicomsr::Put(ds, DCM_InstanceCreationDate, s.date);
  dicomsr::Put(ds, DCM_InstanceCreationTime, s.time);
  // DCMTK stamps Content Date/Time with the time of writing: the study's, so that the same options
  // give the same object.
  dicomsr::Put(ds, DCM_ContentDate, s.date);
  dicomsr::Put(ds, DCM_ContentTime, s.time);
  result.bytes = dicomsr::ToBytes(file);
  return result;
}

PhantomRegionInfo MakePhantomStructureSet(const PhantomSeriesOptions& options) {
  const Series s(options);
  const std::vector<const PhantomStructure*> present = PresentStructures(s, PhantomStructures(), HeadLabels(s));
  PhantomRegionInfo result = RegionIdentity(options, "rtstruct", UID_RTStructureSetStorage);
  const std::string& frame_of_reference = s.info.frame_of_reference_uid;

  DRTStructureSetIOD rt;
  auto check = [](const OFCondition& c, const char* what) { Check(c, std::string("phantom RTSTRUCT: ") + what); };
  check(rt.setSpecificCharacterSet("ISO_IR 192"), "character set");
  check(rt.setSOPClassUID(UID_RTStructureSetStorage), "SOP class");
  check(rt.setSOPInstanceUID(Text(result.sop_instance_uid)), "SOP instance");
  check(rt.setInstanceCreationDate(Text(s.date)), "creation date");
  check(rt.setInstanceCreationTime(Text(s.time)), "creation time");
  check(rt.setPatientName(Text(options.patient_name)), "patient name");
  check(rt.setPatientID(Text(options.patient_id)), "patient ID");
  check(rt.setPatientBirthDate(""), "birth date");
  check(rt.setPatientSex("O"), "patient sex");
  check(rt.setStudyInstanceUID(Text(s.info.study_uid)), "study UID");
  check(rt.setStudyDate(Text(s.date)), "study date");
  check(rt.setStudyTime(Text(s.time)), "study time");
  check(rt.setReferringPhysicianName(""), "referring physician");
  check(rt.setStudyID("1"), "study ID");
  check(rt.setAccessionNumber(Text(s.info.accession_number)), "accession number");
  check(rt.setStudyDescription("Curia Node phantom"), "study description");
  check(rt.setModality("RTSTRUCT"), "modality");
  check(rt.setSeriesInstanceUID(Text(result.series_uid)), "series UID");
  check(rt.setSeriesNumber("101"), "series number");
  check(rt.setSeriesDescription("Head phantom structures (RTSTRUCT)"), "series description");
  check(rt.setOperatorsName(""), "operators");
  check(rt.setFrameOfReferenceUID(Text(frame_of_reference)), "frame of reference");
  check(rt.setPositionReferenceIndicator(""), "position reference");
  check(rt.setManufacturer("Curia Node phantom"), "manufacturer");
  check(rt.setManufacturerModelName("Analytic head phantom"), "model");
  if (!options.software_version.empty()) check(rt.setSoftwareVersions(Text(options.software_version)), "software");
  check(rt.setInstanceNumber("1"), "instance number");
  check(rt.setStructureSetLabel("PHANTOM"), "label");
  check(rt.setStructureSetName("Head phantom structures"), "name");
  check(rt.setStructureSetDate(Text(s.date)), "date");
  check(rt.setStructureSetTime(Text(s.time)), "time");

  // Referenced Frame of Reference -> study -> series -> every slice.
  DRTReferencedFrameOfReferenceSequence::Item* for_item = nullptr;
  check(rt.getReferencedFrameOfReferenceSequence().addItem(for_item), "frame of reference item");
  check(for_item->setFrameOfReferenceUID(Text(frame_of_reference)), "frame of reference item");
  DRTRTReferencedStudySequence::Item* study_item = nullptr;
  check(for_item->getRTReferencedStudySequence().addItem(study_item), "study item");
  check(study_item->setReferencedSOPClassUID(kStudyComponentClass), "study class");
  check(study_item->setReferencedSOPInstanceUID(Text(s.info.study_uid)), "study instance");
  DRTRTReferencedSeriesSequence::Item* series_item = nullptr;
  check(study_item->getRTReferencedSeriesSequence().addItem(series_item), "series item");
  check(series_item->setSeriesInstanceUID(Text(s.info.series_uid)), "series item");
  for (int64_t k = 0; k < s.phantom.slices; ++k) {
    DRTContourImageSequence::Item* image = nullptr;
    check(series_item->getContourImageSequence().addItem(image), "contour image");
    check(image->setReferencedSOPClassUID(Text(s.info.sop_class_uid)), "contour image class");
    check(image->setReferencedSOPInstanceUID(Text(s.Sop(k))), "contour image instance");
  }

  // One ROI per structure: its definition, its observation (type and codes), its contours.
  std::vector<DRTROIContourSequence::Item*> contour_items;
  for (size_t r = 0; r < present.size(); ++r) {
    const PhantomStructure& st = *present[r];
    const std::string number = std::to_string(r + 1);
    DRTStructureSetROISequence::Item* roi = nullptr;
    check(rt.getStructureSetROISequence().addItem(roi), "ROI");
    check(roi->setROINumber(Text(number)), "ROI number");
    check(roi->setReferencedFrameOfReferenceUID(Text(frame_of_reference)), "ROI frame of reference");
    check(roi->setROIName(Text(st.name)), "ROI name");
    check(roi->setROIGenerationAlgorithm("AUTOMATIC"), "ROI algorithm");
    check(roi->setROIGenerationDescription(kAlgorithm), "ROI description");

    DRTRTROIObservationsSequence::Item* obs = nullptr;
    check(rt.getRTROIObservationsSequence().addItem(obs), "observation");
    check(obs->setObservationNumber(Text(number)), "observation number");
    check(obs->setReferencedROINumber(Text(number)), "observation ROI");
    check(obs->setRTROIInterpretedType(st.label == 7 ? "GTV" : "ORGAN"), "interpreted type");
    check(obs->setROIInterpreter(""), "interpreter");
    DRTRTROIIdentificationCodeSequence::Item* type = nullptr;
    check(obs->getRTROIIdentificationCodeSequence().addItem(type), "ROI code");
    check(type->setCodeValue(Text(st.type.value)), "ROI code");
    check(type->setCodingSchemeDesignator(Text(st.type.scheme)), "ROI code");
    check(type->setCodeMeaning(Text(st.type.meaning)), "ROI code");
    if (!st.modifier.value.empty()) {
      DRTSegmentedPropertyTypeModifierCodeSequence::Item* modifier = nullptr;
      check(type->getSegmentedPropertyTypeModifierCodeSequence().addItem(modifier), "ROI modifier");
      check(modifier->setCodeValue(Text(st.modifier.value)), "ROI modifier");
      check(modifier->setCodingSchemeDesignator(Text(st.modifier.scheme)), "ROI modifier");
      check(modifier->setCodeMeaning(Text(st.modifier.meaning)), "ROI modifier");
    }
    DRTSegmentedPropertyCategoryCodeSequence::Item* category = nullptr;
    check(obs->getSegmentedPropertyCategoryCodeSequence().addItem(category), "ROI category");
    check(category->setCodeValue(Text(st.category.value)), "ROI category");
    check(category->setCodingSchemeDesignator(Text(st.category.scheme)), "ROI category");
    check(category->setCodeMeaning(Text(st.category.meaning)), "ROI category");

    DRTROIContourSequence::Item* contours = nullptr;
    check(rt.getROIContourSequence().addItem(contours), "ROI contours");
    check(contours->setReferencedROINumber(Text(number)), "ROI contours number");
    check(contours->setROIDisplayColor(Text(std::to_string(st.rgb[0]) + "\\" + std::to_string(st.rgb[1]) + "\\" +
                                            std::to_string(st.rgb[2]))),
          "ROI colour");
    contour_items.push_back(contours);
    result.labels.push_back(st.label);
  }

  std::vector<uint8_t> labels(static_cast<size_t>(s.Pixels()));
  std::vector<uint8_t> mask(labels.size());
  std::vector<int64_t> contour_numbers(present.size(), 0);
  for (int64_t k = 0; k < s.phantom.slices; ++k) {
    MakeHeadPhantomLabels(s.phantom, k, labels.data());
    const std::string z = Ds(s.Z(k));
    for (size_t r = 0; r < present.size(); ++r) {
      for (size_t i = 0; i < labels.size(); ++i) mask[i] = labels[i] == present[r]->label;
      for (const Contour& c : TraceContours(mask.data(), s.phantom.rows, s.phantom.cols)) {
        std::string data;
        for (const std::array<double, 2>& p : c.points) {
          if (!data.empty()) data += "\\";
          data += Ds(s.x0 + p[0] * s.phantom.pixel_mm) + "\\" + Ds(s.y0 + p[1] * s.phantom.pixel_mm) + "\\" + z;
        }
        DRTContourSequence::Item* contour = nullptr;
        check(contour_items[r]->getContourSequence().addItem(contour), "contour");
        check(contour->setContourNumber(Text(std::to_string(++contour_numbers[r]))), "contour number");
        check(contour->setContourGeometricType("CLOSED_PLANAR"), "contour type");
        check(contour->setNumberOfContourPoints(Text(std::to_string(c.points.size()))), "contour points");
        check(contour->setContourData(Text(data)), "contour data");
        DRTContourImageSequence::Item* image = nullptr;
        check(contour->getContourImageSequence().addItem(image), "contour image");
        check(image->setReferencedSOPClassUID(Text(s.info.sop_class_uid)), "contour image class");
        check(image->setReferencedSOPInstanceUID(Text(s.Sop(k))), "contour image instance");
        ++result.frames;
      }
    }
  }

  DcmFileFormat file;
  check(rt.write(*file.getDataset()), "write");
  result.bytes = dicomsr::ToBytes(file);
  return result;
}

PhantomRegionInfo WritePhantomSegmentation(const PhantomSeriesOptions& options, const std::string& path) {
  PhantomRegionInfo info = MakePhantomSegmentation(options);
  config::WriteFileAtomic(path, {info.bytes});
  info.bytes.clear();
  return info;
}

PhantomRegionInfo WritePhantomSegmentation(const PhantomSeriesOptions& options, const std::vector<PhantomStructure>& structures,
                                           const PhantomLabelPainter& paint, const std::string& path) {
  PhantomRegionInfo info = MakePhantomSegmentation(options, structures, paint);
  config::WriteFileAtomic(path, {info.bytes});
  info.bytes.clear();
  return info;
}

PhantomRegionInfo WritePhantomStructureSet(const PhantomSeriesOptions& options, const std::string& path) {
  PhantomRegionInfo info = MakePhantomStructureSet(options);
  config::WriteFileAtomic(path, {info.bytes});
  info.bytes.clear();
  return info;
}

}  // namespace curia::phantom
