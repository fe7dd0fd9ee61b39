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

// CID 100 (Procedure reported), by modality.
inline constexpr Code kCtProcedure = {"25045-6", "LN", "CT unspecified body region"};
inline constexpr Code kMrProcedure = {"25056-3", "LN", "MRI unspecified body region"};
inline constexpr Code kImagingProcedure = {"363679005", "SCT", "Imaging procedure"};

// CID 240 (Normal / Abnormal / Undetermined): present, absent.
inline constexpr Code kPresent = {"52101004", "SCT", "Present"};
inline constexpr Code kAbsent = {"272519000", "SCT", "Absent"};

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
