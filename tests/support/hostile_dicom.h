// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// DICOM files whose structure could crash a recursive parser, written byte by byte (no DICOM
// library: DCMTK and pydicom recurse into sequences themselves). For the structure check's tests
// and the tool's; tests/integration/hostile_dicom.py writes the same files for the node's tests.
//
//   WriteFile(dir.File("deep.dcm"), NestedSequenceFile(65, {}));   // one level past the limit
#include <string>

namespace curia::test {

struct NestingOptions {
  enum Encoding { kExplicitLittle, kImplicitLittle, kExplicitBig } encoding = kExplicitLittle;
  bool undefined_length = true;  // sequences and items with delimiters, else with lengths
  bool meta = true;              // preamble and meta header (else a bare dataset)
  std::string study_uid = "1.2.826.0.1.3680043.10.999.16";
};

// A Secondary Capture instance whose dataset holds `depth` nested Content Sequences (0040,A730),
// each with one item, the innermost item holding a Code Value.
std::string NestedSequenceFile(int depth, const NestingOptions& options);
// Only the nested sequences (element bytes, in `options.encoding`), for embedding elsewhere.
std::string NestedSequenceElements(int depth, const NestingOptions& options);

}  // namespace curia::test
