// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// What the SR and SC writers share: the source header in UTF-8, the equipment and research-use
// attributes, writing a file to bytes.
#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

#include <string>

#include "curia/dicomsr/dataset.h"
#include "curia/dicomsr/outputs.h"

namespace curia::dicomsr::internal {

inline constexpr const char* kModelName = kOwnModelName;
inline constexpr const char* kResearchUse = "RESEARCH USE ONLY - NOT FOR CLINICAL USE";

// A copy of the source header converted to UTF-8 (the results declare ISO_IR 192). Throws when the
// source has no Study Instance UID.
std::unique_ptr<DcmDataset> Utf8Source(const SourceSeries& source);
std::string Get(DcmItem& item, const DcmTagKey& tag);
// The General Series attributes of a derived image that depend on the source's anatomy: Body Part
// Examined; Laterality (Type 2C): absent for a body part known to be unpaired, else present with
// the source's Laterality or Image Laterality (L or R), or empty; Anatomical Orientation Type (Type
// 1C for quadrupeds): the source's. docs/plugin.md, "What the outputs complete".
void AddLaterality(DcmItem& src, DcmItem& ds);
// The Patient and Patient Study attributes of type 2C for animals (Patient Breed Description and
// Code Sequence, Breed Registration Sequence, Responsible Person and Organization, Patient's Sex
// Neutered): present, empty when the source lacks them, when `ds` names a species.
void CompleteAnimalPatient(DcmItem& ds);
using dicomsr::Now;
using dicomsr::Put;
// The device UID of this algorithm (backbone and heads): stable while the weights are.
std::string DeviceUid(const config::DicomSettings& settings, const worker::StudyFindings& findings);
// Contributing Equipment Sequence as IHE AIR asks (one item: the algorithm).
void AddContributingEquipment(DcmDataset& ds, const config::DicomSettings& settings, const Identity& identity,
                              const worker::StudyFindings& findings);
std::string AlgorithmVersion(const worker::StudyFindings& findings, const worker::TaskFinding& finding);
using dicomsr::ToBytes;

}  // namespace curia::dicomsr::internal
