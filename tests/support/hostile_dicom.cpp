// SPDX-License-Identifier: GPL-3.0-or-later
#include "hostile_dicom.h"

#include <cstdint>
#include <vector>

namespace curia::test {
namespace {

using Encoding = NestingOptions::Encoding;

void Put16(std::string& out, uint16_t v, bool big) {
  out.push_back(static_cast<char>(big ? v >> 8 : v & 0xFF));
  out.push_back(static_cast<char>(big ? v & 0xFF : v >> 8));
}
void Put32(std::string& out, uint32_t v, bool big) {
  Put16(out, static_cast<uint16_t>(big ? v >> 16 : v & 0xFFFF), big);
  Put16(out, static_cast<uint16_t>(big ? v & 0xFFFF : v >> 16), big);
}

// One element: tag, VR (explicit) and length, value padded to even length.
std::string Element(uint16_t group, uint16_t element, const char* vr, std::string value, Encoding enc) {
  const bool big = enc == Encoding::kExplicitBig;
  if (value.size() % 2) value.push_back(std::string(vr) == "UI" ? '\0' : ' ');
  std::string out;
  Put16(out, group, big);
  Put16(out, element, big);
  if (enc == Encoding::kImplicitLittle) {
    Put32(out, static_cast<uint32_t>(value.size()), big);
  } else {
    out += vr;
    const std::string v(vr);
    if (v == "OB" || v == "SQ" || v == "UN" || v == "UT") {
      Put16(out, 0, big);
      Put32(out, static_cast<uint32_t>(value.size()), big);
    } else {
      Put16(out, static_cast<uint16_t>(value.size()), big);
    }
  }
  return out + value;
}

std::string SequenceHeader(uint32_t length, Encoding enc) {
  const bool big = enc == Encoding::kExplicitBig;
  std::string out;
  Put16(out, 0x0040, big);
  Put16(out, 0xA730, big);
  if (enc == Encoding::kImplicitLittle) {
    Put32(out, length, big);
  } else {
    out += "SQ";
    Put16(out, 0, big);
    Put32(out, length, big);
  }
  return out;
}

std::string ItemTag(uint16_t element, uint32_t length, bool big) {
  std::string out;
  Put16(out, 0xFFFE, big);
  Put16(out, element, big);
  Put32(out, length, big);
  return out;
}

}  // namespace

std::string NestedSequenceElements(int depth, const NestingOptions& options) {
  const Encoding enc = options.encoding;
  const bool big = enc == Encoding::kExplicitBig;
  const std::string inner = Element(0x0008, 0x0100, "SH", "X", enc);
  if (options.undefined_length) {
    std::string head = SequenceHeader(0xFFFFFFFFu, enc) + ItemTag(0xE000, 0xFFFFFFFFu, big);
    std::string tail = ItemTag(0xE00D, 0, big) + ItemTag(0xE0DD, 0, big);
    std::string out;
    out.reserve(static_cast<size_t>(depth) * (head.size() + tail.size()) + inner.size());
    for (int i = 0; i < depth; ++i) out += head;
    out += inner;
    for (int i = 0; i < depth; ++i) out += tail;
    return out;
  }
  // Defined lengths, innermost first; the headers are then written outermost first.
  std::vector<std::string> heads;
  uint32_t length = static_cast<uint32_t>(inner.size());
  const uint32_t sequence_header = static_cast<uint32_t>(SequenceHeader(0, enc).size());
  for (int i = 0; i < depth; ++i) {
    heads.push_back(SequenceHeader(length + 8, enc) + ItemTag(0xE000, length, big));
    length += 8 + sequence_header;
  }
  std::string out;
  for (auto it = heads.rbegin(); it != heads.rend(); ++it) out += *it;
  return out + inner;
}

std::string NestedSequenceFile(int depth, const NestingOptions& options) {
  const Encoding enc = options.encoding;
  const char* sop_class = "1.2.840.10008.5.1.4.1.1.7";
  const std::string sop_instance = options.study_uid + ".3";
  std::string dataset = Element(0x0008, 0x0016, "UI", sop_class, enc) +
                        Element(0x0008, 0x0018, "UI", sop_instance, enc) +
                        Element(0x0008, 0x0060, "CS", "OT", enc) +
                        Element(0x0010, 0x0010, "PN", "Hostile^Nesting", enc) +
                        Element(0x0010, 0x0020, "LO", "HOSTILE", enc) +
                        Element(0x0020, 0x000D, "UI", options.study_uid, enc) +
                        Element(0x0020, 0x000E, "UI", options.study_uid + ".2", enc) +
                        NestedSequenceElements(depth, options);
  if (!options.meta) return dataset;
  const char* xfer = enc == Encoding::kImplicitLittle ? "1.2.840.10008.1.2"
                     : enc == Encoding::kExplicitBig  ? "1.2.840.10008.1.2.2"
                                                      : "1.2.840.10008.1.2.1";
  const Encoding le = Encoding::kExplicitLittle;
  std::string meta = Element(0x0002, 0x0001, "OB", std::string("\0\1", 2), le) +
                     Element(0x0002, 0x0002, "UI", sop_class, le) + Element(0x0002, 0x0003, "UI", sop_instance, le) +
                     Element(0x0002, 0x0010, "UI", xfer, le) + Element(0x0002, 0x0012, "UI", "1.2.826.0.1.3680043.10.999", le);
  std::string length;
  Put32(length, static_cast<uint32_t>(meta.size()), false);
  return std::string(128, '\0') + "DICM" + Element(0x0002, 0x0000, "UL", length, le) + meta + dataset;
}

}  // namespace curia::test
