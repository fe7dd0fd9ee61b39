// SPDX-License-Identifier: GPL-3.0-or-later
// The structure check that runs before DCMTK parses anything: depth kMaxSequenceDepth passes and
// one more is refused in every encoding, lengths are checked against what is there, delimiters are
// required, and every real file of the corpora passes (so the loader loses nothing to it).
#include "curia/dicom/structure_check.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstring>

#include "curia/config/error.h"
#include "curia/dicom/series.h"
#include "dicom_synthetic.h"
#include "hostile_dicom.h"
#include "test_support.h"

namespace curia::dicom {
namespace {

using test::NestedSequenceElements;
using test::NestedSequenceFile;
using test::NestingOptions;

std::optional<std::string> Check(const std::string& bytes) {
  return CheckStructure(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

// The same answer from memory and from a file.
std::optional<std::string> CheckBoth(const std::string& bytes) {
  test::TempDir dir;
  test::WriteFile(dir.File("x.dcm"), bytes);
  const std::optional<std::string> memory = Check(bytes), file = CheckFileStructure(dir.File("x.dcm"));
  EXPECT_EQ(memory, file);
  return memory;
}

std::string TooDeep() { return "sequence nesting deeper than " + std::to_string(kMaxSequenceDepth) + " levels at offset "; }

TEST(StructureCheck, DepthOfTheLimitPassesOneMoreIsRefusedInEveryEncoding) {
  for (const auto encoding : {NestingOptions::kExplicitLittle, NestingOptions::kImplicitLittle, NestingOptions::kExplicitBig}) {
    for (const bool undefined : {true, false}) {
      for (const bool meta : {true, false}) {
        NestingOptions o;
        o.encoding = encoding;
        o.undefined_length = undefined;
        o.meta = meta;
        const std::string label = "encoding " + std::to_string(encoding) + (undefined ? " undefined" : " defined") +
                                  (meta ? " with meta" : " bare");
        EXPECT_EQ(CheckBoth(NestedSequenceFile(kMaxSequenceDepth, o)), std::nullopt) << label;
        const std::optional<std::string> why = CheckBoth(NestedSequenceFile(kMaxSequenceDepth + 1, o));
        ASSERT_TRUE(why) << label;
        EXPECT_EQ(why->rfind(TooDeep(), 0), 0u) << label << ": " << *why;
        EXPECT_NE(why->find("(sequence (0040,A730))"), std::string::npos) << *why;
        // Far deeper (what crashes DCMTK 3.6.7: about 5600 levels on an 8 MiB stack) is refused the same way.
        const std::optional<std::string> deep = Check(NestedSequenceFile(20000, o));
        ASSERT_TRUE(deep) << label;
        EXPECT_EQ(deep->rfind(TooDeep(), 0), 0u) << *deep;
      }
    }
  }
}

TEST(StructureCheck, OffsetOfTheFirstSequenceTooDeepIsReported) {
  NestingOptions o;
  const std::string file = NestedSequenceFile(kMaxSequenceDepth + 1, o);
  const std::string nest = NestedSequenceElements(kMaxSequenceDepth + 1, o);
  const size_t first = file.size() - nest.size();
  // Each level: a sequence header (12 bytes) and an item header (8 bytes).
  const size_t offset = first + static_cast<size_t>(kMaxSequenceDepth) * 20;
  EXPECT_EQ(Check(file), TooDeep() + std::to_string(offset) + " (sequence (0040,A730))");
}

TEST(StructureCheck, LengthsPastTheEndAndMissingDelimitersAreRefused) {
  NestingOptions o;
  const std::string good = NestedSequenceFile(3, o);
  ASSERT_EQ(Check(good), std::nullopt);
  // Cut inside the innermost element: its length runs past the end of the file.
  const std::string cut = good.substr(0, good.size() - 3 * 16 - 1);
  EXPECT_EQ(Check(cut), "element (0008,0100) at offset " + std::to_string(cut.size() - 9) +
                            ": length 2 runs past the end of the file (truncated or corrupt)");
  // Cut after it: the open undefined-length item has no delimiter.
  const std::string open = good.substr(0, good.size() - 3 * 16);
  const std::optional<std::string> why = Check(open);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("has undefined length and no delimiter before the end of the file"), std::string::npos) << *why;
  // Defined lengths: an item longer than its sequence (an element follows the sequence).
  o.undefined_length = false;
  const std::string after = std::string("\x50\x00\x10\x00" "SH\x02\x00" "AB", 10);
  std::string defined = NestedSequenceFile(2, o) + after;
  ASSERT_EQ(Check(defined), std::nullopt);
  const size_t sequence = defined.size() - after.size() - NestedSequenceElements(2, o).size();
  const size_t item = sequence + 12;  // the outer item's header
  defined[item + 4] = static_cast<char>(defined[item + 4] + 2);
  EXPECT_EQ(Check(defined), "item at offset " + std::to_string(item) + ": length " +
                                std::to_string(static_cast<unsigned char>(defined[item + 4])) +
                                " runs past the end of sequence (0040,A730) at offset " + std::to_string(sequence) +
                                " (truncated or corrupt)");
  // An item cut short by the end of the file is read up to there (DCMTK does), its contents still walked.
  const std::string short_item = NestedSequenceFile(2, o);
  std::string longer = short_item;
  longer[item + 4] = static_cast<char>(longer[item + 4] + 2);
  EXPECT_EQ(Check(longer), std::nullopt);
  // An element value longer than the file: the meta header's (0002,0001) at offset 144.
  std::string meta = good;
  meta[144 + 8] = '\xFF';
  meta[144 + 9] = '\xFF';
  meta[144 + 10] = '\xFF';
  meta[144 + 11] = '\x7F';
  EXPECT_EQ(Check(meta), "element (0002,0001) at offset 144: length 2147483647 runs past the end of the file (truncated or corrupt)");
  // An item where an element belongs, an element where an item belongs, and a VR that is not one.
  std::string stray = good;
  stray.replace(stray.size() - 3 * 16, 4, std::string("\xFE\xFF\x00\xE0", 4));
  EXPECT_NE(Check(stray).value_or("").find("(FFFE,E000) at offset"), std::string::npos) << Check(stray).value_or("");
  std::string bad_vr = good;
  bad_vr[bad_vr.size() - 3 * 16 - 10 + 4] = 'x';
  EXPECT_NE(Check(bad_vr).value_or("").find("element (0008,0100) at offset"), std::string::npos);
  EXPECT_NE(Check(bad_vr).value_or("").find("invalid VR"), std::string::npos) << Check(bad_vr).value_or("");
  // Nothing at all, or a preamble only: nothing DCMTK could recurse into.
  EXPECT_EQ(Check(""), std::nullopt);
  EXPECT_EQ(Check(std::string(128, '\0') + "DICM"), std::nullopt);
  EXPECT_EQ(CheckFileStructure("/nonexistent/x.dcm"), "cannot open the file");
}

// Implicit VR: sequences with defined lengths are known only from the dictionary (and, for tags it
// does not know, from an Item tag at the start of the value).
TEST(StructureCheck, ImplicitDefinedLengthSequencesAreFoundByDictionaryAndByTheirItems) {
  NestingOptions o;
  o.encoding = NestingOptions::kImplicitLittle;
  o.undefined_length = false;
  ASSERT_TRUE(Check(NestedSequenceFile(kMaxSequenceDepth + 1, o)));
  // The same nesting under a private tag the dictionary does not know.
  std::string file = NestedSequenceFile(kMaxSequenceDepth + 1, o);
  const size_t first = file.size() - NestedSequenceElements(kMaxSequenceDepth + 1, o).size();
  for (size_t pos = first; pos + 4 <= file.size(); ++pos) {
    if (file.compare(pos, 4, std::string("\x40\x00\x30\xA7", 4)) == 0) file.replace(pos, 4, std::string("\x09\x00\x10\x10", 4));
  }
  const std::optional<std::string> why = Check(file);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("(sequence (0009,1010))"), std::string::npos) << *why;
}

// CP-246: a sequence of VR UN with undefined length holds items in implicit VR little endian.
TEST(StructureCheck, UndefinedLengthUnIsASequenceInImplicitVr) {
  NestingOptions implicit;
  implicit.encoding = NestingOptions::kImplicitLittle;
  for (const int depth : {kMaxSequenceDepth - 1, kMaxSequenceDepth}) {
    std::string un = std::string("\x09\x00\x10\x10UN\0\0\xFF\xFF\xFF\xFF", 12) + std::string("\xFE\xFF\x00\xE0\xFF\xFF\xFF\xFF", 8) +
                     NestedSequenceElements(depth, implicit) + std::string("\xFE\xFF\x0D\xE0\0\0\0\0\xFE\xFF\xDD\xE0\0\0\0\0", 16);
    NestingOptions o;
    const std::string file = NestedSequenceFile(0, o) + un;
    if (depth < kMaxSequenceDepth) {
      EXPECT_EQ(Check(file), std::nullopt);
    } else {
      EXPECT_EQ(Check(file).value_or("").rfind(TooDeep(), 0), 0u) << Check(file).value_or("");
    }
  }
}

std::string RawDeflate(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, 9, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, in.size()), '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST(StructureCheck, DeflatedDatasetsAreInflatedAndWalked) {
  NestingOptions o;
  for (const int depth : {kMaxSequenceDepth, kMaxSequenceDepth + 1, 100000}) {
    std::string file = NestedSequenceFile(depth, o);
    // The meta header names the deflated syntax: its Transfer Syntax UID and the group length grow.
    const std::string plain("1.2.840.10008.1.2.1\0", 20), deflated = "1.2.840.10008.1.2.1.99";
    const size_t at = file.find(plain);
    ASSERT_NE(at, std::string::npos);
    file.replace(at, plain.size(), deflated);
    file[at - 2] = static_cast<char>(deflated.size());
    uint32_t group_length = 0;  // (0002,0000)'s value, at 128 + 4 + 8
    std::memcpy(&group_length, &file[140], 4);
    group_length += static_cast<uint32_t>(deflated.size() - plain.size());
    std::memcpy(&file[140], &group_length, 4);
    const size_t meta_end = 132 + 12 + group_length;
    const std::string out = file.substr(0, meta_end) + RawDeflate(file.substr(meta_end));
    const std::optional<std::string> why = CheckBoth(out);
    if (depth <= kMaxSequenceDepth) {
      EXPECT_EQ(why, std::nullopt);
    } else {
      ASSERT_TRUE(why);
      EXPECT_EQ(why->rfind(TooDeep(), 0), 0u) << *why;
    }
    if (depth == kMaxSequenceDepth) {
      // Truncated deflate data.
      const std::optional<std::string> cut = Check(out.substr(0, out.size() - 10));
      ASSERT_TRUE(cut);
      EXPECT_NE(cut->find("deflated dataset is truncated or corrupt"), std::string::npos) << *cut;
    }
  }
}

TEST(StructureCheck, EncapsulatedPixelDataIsAListOfFragments) {
  test::SyntheticImage im;
  im.pixels.assign(12, 100);
  im.pixels[0] = 7;
  const std::string native = test::MakeInstance(im);
  ASSERT_EQ(Check(native), std::nullopt);
  // Pixel data as undefined-length OB: an empty offset table and one fragment.
  const size_t at = native.rfind(std::string("\xE0\x7F\x10\x00", 4));
  ASSERT_NE(at, std::string::npos);
  const std::string fragments = std::string("\xE0\x7F\x10\x00OB\0\0\xFF\xFF\xFF\xFF", 12) + std::string("\xFE\xFF\x00\xE0\0\0\0\0", 8) +
                                std::string("\xFE\xFF\x00\xE0\x04\0\0\0abcd", 12);
  const std::string end = std::string("\xFE\xFF\xDD\xE0\0\0\0\0", 8);
  EXPECT_EQ(Check(native.substr(0, at) + fragments + end), std::nullopt);
  std::string long_fragment = fragments;
  long_fragment[24] = 'x';  // 0x78 + 4 bytes: past the end of the file
  const std::optional<std::string> why = Check(native.substr(0, at) + long_fragment + end);
  ASSERT_TRUE(why);
  EXPECT_NE(why->find("pixel data fragment at offset " + std::to_string(at + 20) + ": length 120 runs past the end of the file"),
            std::string::npos)
      << *why;
  const std::optional<std::string> no_end = Check(native.substr(0, at) + fragments);
  ASSERT_TRUE(no_end);
  EXPECT_NE(no_end->find("encapsulated pixel data (7FE0,0010) at offset " + std::to_string(at) + " has undefined length"),
            std::string::npos)
      << *no_end;
  const std::optional<std::string> nested = Check(native.substr(0, at) + fragments.substr(0, 20) +
                                                  std::string("\xFE\xFF\x00\xE0\xFF\xFF\xFF\xFF", 8) + end);
  ASSERT_TRUE(nested);
  EXPECT_NE(nested->find("fragment at offset " + std::to_string(at + 20) + " has undefined length"), std::string::npos) << *nested;
}

// Every file of the corpora that DCMTK reads passes: the check must not cost the loader a file.
TEST(StructureCheck, EveryFileOfTheCorporaThatDcmtkReadsPasses) {
  QuietDcmtkLogging();
  int files = 0, read = 0;
  for (const std::string& path : test::DicomCorpusFiles()) {
    ++files;
    const std::string bytes = test::ReadFile(path);
    EXPECT_EQ(CheckFileStructure(path), Check(bytes)) << path;
    // These files are known: none crashes DCMTK.
    DcmFileFormat file;
    if (file.loadFile(OFFilename(path.c_str()), EXS_Unknown, EGL_noChange, DCM_MaxReadLength, ERM_autoDetect).bad()) continue;
    ++read;
    EXPECT_EQ(Check(bytes), std::nullopt) << path;
  }
  EXPECT_GT(files, 150);
  EXPECT_GT(read, 150);
}

// The loader checks before it parses: a file too deep is unreadable with its reason, from a file
// and from memory, and the other instances still load.
TEST(StructureCheck, TheLoaderRefusesWithTheReasonAndKeepsTheOtherSeries) {
  QuietDcmtkLogging();
  test::TempDir dir;
  test::SyntheticImage im;
  im.pixels.assign(12, 100);
  im.pixels[0] = 7;
  test::WriteFile(dir.File("good.dcm"), test::MakeInstance(im));
  test::WriteFile(dir.File("deep.dcm"), NestedSequenceFile(kMaxSequenceDepth + 1, {}));
  test::WriteFile(dir.File("crash.dcm"), NestedSequenceFile(100000, {}));  // DCMTK 3.6.7 would overflow its stack here
  FileSource files;
  const ScanResult r = LoadSeries(files, {dir.File("good.dcm"), dir.File("deep.dcm"), dir.File("crash.dcm")}, {});
  ASSERT_EQ(r.series.size(), 1u);
  EXPECT_TRUE(r.series[0].volume) << r.series[0].error;
  ASSERT_EQ(r.unreadable.size(), 2u);
  EXPECT_EQ(r.unreadable[0].error.rfind(dir.File("deep.dcm") + ": refused before parsing: " + TooDeep(), 0), 0u) << r.unreadable[0].error;
  EXPECT_EQ(r.unreadable[1].error.rfind(dir.File("crash.dcm") + ": refused before parsing: " + TooDeep(), 0), 0u);
  MemorySource memory;
  memory.Add("deep", NestedSequenceFile(100000, {}));
  const ScanResult m = LoadSeries(memory, {"deep"}, {});
  ASSERT_EQ(m.unreadable.size(), 1u);
  EXPECT_EQ(m.unreadable[0].error.rfind("deep: refused before parsing: " + TooDeep(), 0), 0u) << m.unreadable[0].error;
  EXPECT_EQ(test::ErrorMessage([] { RequireSafeStructure(NestedSequenceFile(kMaxSequenceDepth + 1, {}), "x"); })
                .rfind("x: refused before parsing: " + TooDeep(), 0),
            0u);
}

}  // namespace
}  // namespace curia::dicom
