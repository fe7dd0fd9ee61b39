// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The validators every SR and SC of the dicomsr tests must pass: dciodvfy (no Error), strict
// dsrdump (relationship constraints enforced) and PixelMed's SR template validator (no Error).
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "test_support.h"

namespace curia::dicomsr::test_validators {

// dciodvfy: exit status 0 and no Error line (SR or SC).
inline void ExpectDciodvfyClean(const std::string& path) {
  const test::ShellResult v = test::RunShell("dciodvfy " + path);
  EXPECT_EQ(v.status, 0) << path << "\n" << v.output;
  EXPECT_EQ(test::LinesStartingWith(v.output, "Error"), "") << path;
}

// Whether PixelMed runs: not in the sanitized pass (CMakePresets.json "sanitize" sets
// CURIA_TEST_PIXELMED=0). Our writers give the same bytes in both builds and the Release pass
// validates them; PixelMed is a Java process (seconds per SR) that checks nothing of our code's
// memory safety, and skipping it there saves several minutes of CI.
inline bool PixelMedRuns() {
  const char* v = std::getenv("CURIA_TEST_PIXELMED");
  return !(v && std::string(v) == "0");
}

// Strict dsrdump and PixelMed's DicomSRValidator (which exits 0 even with errors: its Error lines
// are what count). Returns PixelMed's output, for the callers that look at its warnings (empty when
// PixelMedRuns() is false).
inline std::string ExpectValidSr(const std::string& path) {
  const test::ShellResult dump = test::RunShell("dsrdump " + path);
  EXPECT_EQ(dump.status, 0) << dump.output;
  if (!PixelMedRuns()) return "";
  const std::string cp = "/usr/share/java/pixelmed.jar:/usr/share/java/commons-codec.jar:/usr/share/java/slf4j-api.jar:"
                         "/usr/share/java/vecmath.jar";
  const test::ShellResult pixelmed = test::RunShell("java -Djdk.xml.xpathExprGrpLimit=0 -Djdk.xml.xpathExprOpLimit=0 "
                               "-Djdk.xml.xpathTotalOpLimit=0 -Xss8m -XX:TieredStopAtLevel=1 -cp " + cp +
                               " com.pixelmed.validate.DicomSRValidator " + path);
  EXPECT_NE(pixelmed.output.find("Found Root Template TID_1500 (MeasurementReport)"), std::string::npos) << pixelmed.output;
  EXPECT_EQ(test::LinesStartingWith(pixelmed.output, "Error"), "") << pixelmed.output;
  return pixelmed.output;
}

}  // namespace curia::dicomsr::test_validators
