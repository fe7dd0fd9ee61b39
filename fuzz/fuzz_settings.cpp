// SPDX-License-Identifier: GPL-3.0-or-later
// libFuzzer target: the node's configuration (an Orthanc configuration with a "Curia" section, or
// the section itself; comments allowed as Orthanc allows them) and its routing rules:
// config::ParseCuriaSettings, then Route() of a small fixed study through every rule.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "curia/config/error.h"
#include "curia/config/json.h"
#include "curia/config/rules.h"
#include "curia/config/settings.h"

namespace {
curia::config::StudyFacts Study() {
  curia::config::StudyFacts study;
  study.id = "study-1";
  study.uid = "1.2.3";
  study.called_aet = "CURIA";
  study.calling_aet = "SCANNER";
  curia::config::SeriesFacts ct;
  ct.id = "series-1";
  ct.uid = "1.2.3.1";
  ct.tags = {{"Modality", "CT"}, {"SeriesDescription", "HEAD 5mm"}, {"BodyPartExamined", "HEAD"},
             {"SliceThickness", "5"}, {"ImageType", "ORIGINAL\\PRIMARY\\AXIAL"}, {"PatientAge", "042Y"},
             {"StudyDescription", "CT HEAD"}, {"Manufacturer", "ACME"}};
  ct.slices = 32;
  ct.orientation = "axial";
  curia::config::SeriesFacts mr = ct;
  mr.id = "series-2";
  mr.uid = "1.2.3.2";
  mr.tags["Modality"] = "MR";
  mr.tags["SeriesDescription"] = "FLAIR";
  mr.slices = 22;
  mr.orientation = "sagittal";
  study.series = {ct, mr};
  return study;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const curia::config::StudyFacts study = Study();
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const curia::config::Json doc =
        curia::config::ParseJson(text, "orthanc.json", curia::config::JsonDialect::kOrthanc);
    const curia::config::CuriaSettings settings = curia::config::ParseCuriaSettings(doc, "orthanc.json", "/etc/orthanc");
    (void)curia::config::RuleTagKeywords(settings);
    const curia::config::Routing routing = curia::config::Route(settings, study);
    (void)curia::config::Dump(curia::config::RoutingToJson(routing), -1);
  } catch (const curia::Error&) {
    // a specific refusal: fine
  }
  return 0;
}
