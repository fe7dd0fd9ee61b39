// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A structure check of DICOM bytes before DCMTK parses them: a flat walk (an explicit stack, no
// recursion) over the preamble, the meta header and the dataset in its transfer syntax that refuses
// what DCMTK 3.6.7 cannot parse safely, with a specific reason.
//
//   if (std::optional<std::string> why = CheckStructure(data, size)) refuse(name + ": " + *why);
//   RequireSafeStructure(bytes, "instance 1234");          // the same, throwing curia::Error
//   RequireSafeFile("/data/x.dcm", "/data/x.dcm");         // a file: reads headers, seeks past values
//
// Why: DCMTK 3.6.7 (Debian 12) reads nested sequences recursively; a file nested a few thousand
// levels deep overflows the stack and kills the process (curia run, or the Orthanc that hosts the
// plugin). DCMTK 3.7.0 has a maximum nesting depth of its own; until Debian ships it, every place
// that hands DICOM bytes to DCMTK calls this first: the loader (files and buffers, so `curia run`
// and the node's job runner), the UI previews, SR rendering, and the SEG/RTSTRUCT readers to come.
//
// What is checked: sequence nesting depth (kMaxSequenceDepth); every element, item and fragment
// length against the bytes left in the file and in its enclosing item or sequence; undefined-length
// sequences and items end with their delimiters; encapsulated pixel data is a list of fragments;
// explicit VRs are VRs. Transfer syntaxes: explicit and implicit VR little endian, explicit VR big
// endian, deflated explicit VR little endian (inflated first, at most kMaxInflatedBytes); every
// other (encapsulated) syntax is explicit VR little endian outside the pixel data. Files without
// preamble or meta header are walked in the syntax their first element shows, as DCMTK guesses it.
// Implicit VR: a defined-length value is walked as a sequence when DCMTK's dictionary says SQ, or,
// for tags the dictionary does not know, when it starts with an Item tag (DCMTK may read private
// sequences by their creator's dictionary, so those are counted too).
//
// Thread-safe (reads DCMTK's data dictionary under its lock). Cost: one pass over the element
// headers; values are skipped, not read (files: seeks), except deflated datasets.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace curia::dicom {

// The deepest sequence nesting accepted (a sequence in the dataset is level 1, a sequence in one of
// its items level 2, ...). Measured with DCMTK 3.6.7 (Debian 12, x86-64) on generated files of
// nested (0040,A730) sequences, one item each (tests/integration/hostile_dicom.py writes them):
// DcmFileFormat::loadFile crashes at 700 levels under `ulimit -s 1024` and at 5629 under 8192, with
// defined and undefined lengths alike: (8192 - 1024) KiB / 4929 levels = about 1.5 KiB of stack a
// level. Copying the dataset (our header copy), converting it to UTF-8 (our outputs) and dcmdump's
// printing crash at the same depth after the read, so none needs more a level. The smallest stack
// DCMTK runs on here is a thread's: glibc's default is RLIMIT_STACK (8 MiB under systemd and a login
// shell), 2 MiB when that is unlimited, for Orthanc's HTTP and DICOM threads, our job runners and the
// pool's Boost.Asio threads alike (none sets a size). 64 levels take about 96 KiB, under 5 % of
// 2 MiB, leaving the rest to the callers' frames; real objects nest far less (TID 1500 SRs, RT plans
// and enhanced multi-frame functional groups stay under 15 levels).
inline constexpr int kMaxSequenceDepth = 64;

// The largest deflated dataset inflated for the check (bytes after inflating).
inline constexpr size_t kMaxInflatedBytes = size_t{1} << 30;

// Why DCMTK must not parse `data`, or nullopt when it may. Reasons name the offset in the file
// (in the inflated dataset for deflated files): "sequence nesting deeper than 64 levels at offset
// 1234", "element (0010,0010) at offset 312: length 4000 runs past the end of the file".
std::optional<std::string> CheckStructure(const uint8_t* data, size_t size);
// The same for a file, read header by header; an unreadable file is a reason too.
std::optional<std::string> CheckFileStructure(const std::string& path);

// The same walk over bytes, keeping the value bytes (as stored, padding included) of one element
// of the dataset itself (not inside a sequence) of at most 1 KiB: nullopt when the walk refuses the
// bytes or the dataset has no such element. No DCMTK: for reading one tag of every instance Orthanc
// receives (read.h, ReadStudyInstanceUid) without DCMTK's parse and its log lines.
std::optional<std::string> DatasetElementValue(const uint8_t* data, size_t size, uint16_t group, uint16_t element);

// Throw curia::Error(kInvalidArgument) "<name>: refused before parsing: <reason>".
void RequireSafeStructure(const std::string& bytes, const std::string& name);
void RequireSafeFile(const std::string& path, const std::string& name);

}  // namespace curia::dicom
