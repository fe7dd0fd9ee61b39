// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Every coded concept the node writes, in one place (values checked against the DICOM standard's
// PS3.16 and pydicom's code dictionary; see ../shared/docs/dicom-outputs.md section 4).
namespace curia::dicomsr::codes {

struct Code {
  const char* value;
  const char* scheme;
  const char* meaning;
};

// Our private coding scheme, declared in the Coding Scheme Identification Sequence.
inline constexpr const char* kPrivateScheme = "99CURIA";
inline constexpr Code kProbabilityOfFinding = {"PROB", "99CURIA", "Probability of finding"};
inline constexpr Code kPredictedValue = {"VALUE", "99CURIA", "Predicted value"};
// Region findings (issue 17): the class a multi-class head predicts for the region, and whether it
// agrees with the region's own label or code (value: Yes / No).
inline constexpr Code kPredictedClass = {"CLASS", "99CURIA", "Predicted class"};
inline constexpr Code kAgreesWithRegionLabel = {"AGREE", "99CURIA", "Prediction agrees with region label"};

// CID 100 (Procedure reported), by modality.
inline constexpr Code kCtProcedure = {"25045-6", "LN", "CT unspecified body region"};
inline constexpr Code kMrProcedure = {"25056-3", "LN", "MRI unspecified body region"};
inline constexpr Code kImagingProcedure = {"363679005", "SCT", "Imaging procedure"};

// CID 240 (Normal / Abnormal / Undetermined): present, absent.
inline constexpr Code kPresent = {"52101004", "SCT", "Present"};
inline constexpr Code kAbsent = {"272519000", "SCT", "Absent"};

// CID 230 (Yes-No).
inline constexpr Code kYes = {"373066001", "SCT", "Yes"};
inline constexpr Code kNo = {"373067005", "SCT", "No"};

// TID 1411 rows 12b and 12c (PS3.16, Annex D Table D-1): an ROI of an RT Structure Set, by the
// structure set's SOP instance and the ROI Number. (Referenced Segment (121191) and Source series
// for segmentation (121232) come with DCMTK's TID 1411 class.)
inline constexpr Code kRegionInSpace = {"130488", "DCM", "Region in Space"};
inline constexpr Code kReferencedRoiIdentifier = {"130489", "DCM", "Referenced Region of Interest Identifier"};

// TID 4019 Algorithm Identification.
inline constexpr Code kAlgorithmName = {"111001", "DCM", "Algorithm Name"};
inline constexpr Code kAlgorithmVersion = {"111003", "DCM", "Algorithm Version"};
inline constexpr Code kAlgorithmFamily = {"111000", "DCM", "Algorithm Family"};
inline constexpr Code kArtificialIntelligence = {"123110", "DCM", "Artificial Intelligence"};

inline constexpr Code kComment = {"121106", "DCM", "Comment"};
inline constexpr Code kSourceOfMeasurement = {"121112", "DCM", "Source of Measurement"};

// UCUM units.
inline constexpr Code kPercent = {"%", "UCUM", "%"};
inline constexpr Code kNoUnits = {"1", "UCUM", "no units"};

// IHE AIR: Contributing Equipment purpose of the algorithm (a placeholder code of the profile).
inline constexpr Code kProcessingAlgorithm = {"Newcode1", "99IHE", "Processing Algorithm"};
// Secondary Capture Source Image Sequence purpose (CID 7202).
inline constexpr Code kSourceImage = {"121322", "DCM", "Source image for image processing operation"};

}  // namespace curia::dicomsr::codes
