// SPDX-License-Identifier: GPL-3.0-or-later
// curia phantom: the analytic head phantom as a DICOM series (one CT or MR file per slice), to send
// to the node or to feed `curia run` without patient data.
#include <algorithm>
#include <climits>
#include <cmath>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "commands.h"
#include "curia/dicom/series.h"
#include "curia/phantom/regions.h"
#include "curia/phantom/series.h"
#include "version.h"

namespace curia::cli {

int PhantomCommand(const Args& args) {
  ArgParser p("curia phantom",
              "Writes a synthetic head phantom as a DICOM series: one CT Image Storage (or MR Image Storage)\n"
              "file per axial slice, OUT/slice-0001.dcm ..., with real geometry (256 mm field of view, slices\n"
              "5 mm apart, closer when there are more than 38 so that the series spans the head), fresh\n"
              "UIDs, and no patient data. CT pixels are HU + 1024 with Rescale Intercept -1024; MR pixels\n"
              "are the same values without rescale. The same --seed and options give the same UIDs and\n"
              "pixels (without --seed, a random one).\n"
              "--seg and --rtstruct also write the phantom's structures (scalp, skull, grey and white\n"
              "matter, the lateral ventricles, the lesion) as regions of that series, for mask-prompted\n"
              "tasks: OUT/seg.dcm, a binary Segmentation with one segment per structure (SNOMED CT\n"
              "codes, empty frames left out), and OUT/rtstruct.dcm, an RT Structure Set with one ROI per\n"
              "structure (closed planar contours along pixel edges).");
  p.Option("--out", "DIR", "output folder (created)", true)
      .Option("--slices", "N", "number of axial slices", false, "16")
      .Option("--modality", "CT|MR", "CT Image Storage or MR Image Storage", false, "CT")
      .Option("--size", "N", "rows and columns of each slice", false, "512")
      .Option("--patient-name", "NAME", "Patient's Name (DICOM PN, e.g. FAMILY^GIVEN)", false, "PHANTOM^HEAD")
      .Option("--patient-id", "ID", "Patient ID", false, "CURIA-PHANTOM")
      .Option("--seed", "N", "seed of the UIDs and the noise (default: random)")
      .Option("--lesion", "WHERE", "fixed (the right frontal lobe), random (a place drawn from the seed, inside the\n"
              "white matter and the slices), or none", false, "fixed")
      .Option("--lesion-mm", "R", "the lesion's radius in mm", false, "9")
      .Option("--lesion-hu", "HU", "the lesion's value in HU", false, "70")
      .Option("--studies", "N", "write N studies (OUT/study-001 ..., seeds --seed, --seed + 1, ..., Patient IDs\n"
              "ID-001 ...): labelled sets for training heads, e.g. with --lesion random and with --lesion none", false, "1")
      .Flag("--seg", "also write OUT/seg.dcm: the structures as a DICOM Segmentation")
      .Flag("--rtstruct", "also write OUT/rtstruct.dcm: the structures as an RT Structure Set");
  if (!p.Parse(args)) return 0;

  phantom::PhantomSeriesOptions o;
  o.modality = p.Get("--modality");
  if (o.modality != "CT" && o.modality != "MR") throw UsageError("--modality must be CT or MR, got '" + o.modality + "'");
  o.phantom.slices = p.GetInt("--slices", 1, 10000);
  const int64_t size = p.GetInt("--size", 16, 2048);
  o.phantom.rows = o.phantom.cols = size;
  // A 256 mm field of view whatever the matrix; the head (about 185 mm tall) spanned when the slices
  // allow: 5 mm apart, or closer for long series (rounded to 0.01 mm, the value written as DS).
  o.phantom.pixel_mm = 256.0 / static_cast<double>(size);
  o.phantom.slice_mm = std::max(0.01, std::min(5.0, std::round(19000.0 / static_cast<double>(o.phantom.slices)) / 100.0));
  o.patient_name = p.Get("--patient-name");
  o.patient_id = p.Get("--patient-id");
  if (p.Has("--seed")) {
    o.seed = static_cast<uint64_t>(p.GetInt("--seed", 0, INT64_MAX));
  } else {
    std::random_device rd;
    o.seed = (static_cast<uint64_t>(rd()) << 32 | rd()) & static_cast<uint64_t>(INT64_MAX);
  }
  const std::string lesion = p.Get("--lesion");
  if (lesion != "fixed" && lesion != "random" && lesion != "none") {
    throw UsageError("--lesion must be fixed, random or none, got '" + lesion + "'");
  }
  o.phantom.lesion = lesion != "none";
  o.phantom.lesion_radius_mm = p.GetDouble("--lesion-mm", 0.5, 60);
  o.phantom.lesion_hu = p.GetDouble("--lesion-hu", -1000, 3000);
  const int64_t studies = p.GetInt("--studies", 1, 100000);
  const uint64_t first_seed = o.seed;
  const std::string base_id = o.patient_id;
  for (int64_t study = 0; study < studies; ++study) {
    std::string out = p.Get("--out");
    if (studies > 1) {
      char suffix[24];
      std::snprintf(suffix, sizeof suffix, "%03lld", static_cast<long long>(study + 1));
      out += std::string("/study-") + suffix;
      o.patient_id = base_id + "-" + suffix;
      o.seed = (first_seed + static_cast<uint64_t>(study)) & static_cast<uint64_t>(INT64_MAX);
    }
    if (lesion == "random") phantom::PlaceLesion(o.phantom, o.seed);
    o.software_version = CURIA_VERSION_STRING;
    // One study date for the series and its region objects.
    phantom::PhantomStudyDateTime(o, o.study_date, o.study_time);

    const phantom::PhantomSeriesInfo info = phantom::WritePhantomSeries(o, out);
    std::vector<std::string> regions;
    // dcmseg logs a warning about its own dimension check while it writes: nothing for the user.
    if (p.Has("--seg") || p.Has("--rtstruct")) dicom::QuietDcmtkLogging();
    if (p.Has("--seg")) {
      const phantom::PhantomRegionInfo seg = phantom::WritePhantomSegmentation(o, out + "/seg.dcm");
      regions.push_back("  SEG                 " + out + "/seg.dcm (" + std::to_string(seg.labels.size()) + " segments, " +
                        std::to_string(seg.frames) + " frames)");
    }
    if (p.Has("--rtstruct")) {
      const phantom::PhantomRegionInfo rt = phantom::WritePhantomStructureSet(o, out + "/rtstruct.dcm");
      regions.push_back("  RTSTRUCT            " + out + "/rtstruct.dcm (" + std::to_string(rt.labels.size()) + " ROIs, " +
                        std::to_string(rt.frames) + " contours)");
    }
    std::cout << "wrote " << info.slices << " " << o.modality << " slices (" << size << " x " << size << ", "
              << o.phantom.pixel_mm << " mm pixels, " << o.phantom.slice_mm << " mm apart) to " << out << "\n"
              << "  Patient's Name      " << o.patient_name << "\n"
              << "  Patient ID          " << o.patient_id << "\n"
              << "  Accession Number    " << info.accession_number << "\n"
              << "  Study Instance UID  " << info.study_uid << "\n"
              << "  Series Instance UID " << info.series_uid << "\n"
              << "  seed                " << o.seed << "\n";
    if (o.phantom.lesion) {
      std::cout << "  lesion              " << o.phantom.lesion_radius_mm << " mm, " << o.phantom.lesion_hu << " HU at ("
                << o.phantom.lesion_x_mm << ", " << o.phantom.lesion_y_mm << ", " << o.phantom.lesion_z_mm
                << ") mm from the volume's centre (x left, y posterior, z superior)\n";
    } else {
      std::cout << "  lesion              none\n";
    }
    for (const std::string& line : regions) std::cout << line << "\n";
  }
  std::cout << "Synthetic phantom: no patient data.\n";
  return 0;
}

}  // namespace curia::cli
