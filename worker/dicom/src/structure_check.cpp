// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/dicom/structure_check.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dcdicent.h>
#include <dcmtk/dcmdata/dcdict.h>
#include <dcmtk/dcmdata/dctag.h>
#include <dcmtk/dcmdata/dcvr.h>
#include <zlib.h>

#include <cctype>
#include <cstdio>
#include <cstring>
#include <memory>
#include <vector>

#include "curia/config/error.h"

namespace curia::dicom {
namespace {

constexpr uint64_t kUndefined = ~uint64_t{0};
constexpr uint32_t kUndefinedLength = 0xFFFFFFFFu;
constexpr uint32_t kItem = 0xFFFEE000u, kItemEnd = 0xFFFEE00Du, kSequenceEnd = 0xFFFEE0DDu;
constexpr uint32_t kPixelData = 0x7FE00010u;

// The bytes being walked: memory, or a file read block by block.
class Bytes {
 public:
  virtual ~Bytes() = default;
  virtual uint64_t Size() const = 0;
  // Copies `n` bytes at `offset` into `out`; false when they are not all there.
  virtual bool Read(uint64_t offset, size_t n, uint8_t* out) = 0;
};

class MemoryBytes : public Bytes {
 public:
  MemoryBytes(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint64_t Size() const override { return size_; }
  bool Read(uint64_t offset, size_t n, uint8_t* out) override {
    if (offset > size_ || n > size_ - offset) return false;
    std::memcpy(out, data_ + offset, n);
    return true;
  }

 private:
  const uint8_t* data_;
  size_t size_;
};

class FileBytes : public Bytes {
 public:
  explicit FileBytes(FILE* f) : f_(f) {
    if (fseeko(f_, 0, SEEK_END) == 0) {
      const off_t end = ftello(f_);
      size_ = end < 0 ? 0 : static_cast<uint64_t>(end);
    }
  }
  uint64_t Size() const override { return size_; }
  bool Read(uint64_t offset, size_t n, uint8_t* out) override {
    if (offset > size_ || n > size_ - offset) return false;
    if (offset < block_start_ || offset + n > block_start_ + block_.size()) {
      // Headers are small: one block from `offset` holds them (longer reads go to the file directly).
      const size_t want = static_cast<size_t>(std::min<uint64_t>(std::max<size_t>(n, kBlock), size_ - offset));
      block_.resize(want);
      if (fseeko(f_, static_cast<off_t>(offset), SEEK_SET) != 0 || std::fread(block_.data(), 1, want, f_) != want) {
        block_.clear();
        block_start_ = kUndefined;
        return false;
      }
      block_start_ = offset;
    }
    std::memcpy(out, block_.data() + (offset - block_start_), n);
    return true;
  }

 private:
  static constexpr size_t kBlock = 64 * 1024;
  FILE* f_;
  uint64_t size_ = 0;
  uint64_t block_start_ = kUndefined;
  std::vector<uint8_t> block_;
};

struct Syntax {
  bool explicit_vr = true;
  bool big_endian = false;
};

uint16_t U16(const uint8_t* p, bool big) {
  return big ? static_cast<uint16_t>(p[0] << 8 | p[1]) : static_cast<uint16_t>(p[1] << 8 | p[0]);
}
uint32_t U32(const uint8_t* p, bool big) {
  return big ? (uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3])
             : (uint32_t{p[3]} << 24 | uint32_t{p[2]} << 16 | uint32_t{p[1]} << 8 | p[0]);
}
uint32_t Tag(const uint8_t* p, bool big) { return uint32_t{U16(p, big)} << 16 | U16(p + 2, big); }

std::string TagText(uint32_t tag) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "(%04X,%04X)", tag >> 16, tag & 0xFFFF);
  return buf;
}

// A VR DCMTK's parser knows (DcmItem reads an explicit VR it does not know as something else).
bool StandardVr(const uint8_t* p) {
  if (!std::isupper(p[0]) || !std::isupper(p[1])) return false;
  const char name[3] = {static_cast<char>(p[0]), static_cast<char>(p[1]), '\0'};
  return DcmVR(name).isStandard();
}

// Explicit VRs with a 2-byte reserved field and a 4-byte length (PS3.5 7.1.2).
bool LongVr(const uint8_t* p) {
  static const char* const kLong[] = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"};
  for (const char* v : kLong) {
    if (p[0] == v[0] && p[1] == v[1]) return true;
  }
  return false;
}

// Whether DCMTK's dictionary knows `tag` (public tags; private ones depend on their creator).
enum class Known { kSequence, kOther, kUnknown };
Known Dictionary(uint32_t tag) {
  const DcmTagKey key(static_cast<Uint16>(tag >> 16), static_cast<Uint16>(tag & 0xFFFF));
  const DcmDataDictionary& dict = dcmDataDict.rdlock();
  const DcmDictEntry* entry = dict.findEntry(key, nullptr);
  const Known known = !entry ? Known::kUnknown : entry->getEVR() == EVR_SQ ? Known::kSequence : Known::kOther;
  dcmDataDict.rdunlock();
  return known;
}

bool KnownTag(uint16_t group, uint16_t element) { return DcmTag(group, element).error().good(); }

// The syntax DCMTK guesses for a dataset without meta header (DcmItem::checkTransferSyntax): explicit
// VR when a standard VR follows the first tag; little endian unless only the big-endian reading of
// that tag is in the dictionary, or both are and only the big-endian group is below 0x100.
Syntax Guess(const uint8_t* p) {
  const uint16_t g_le = U16(p, false), g_be = U16(p, true);
  const bool le = KnownTag(g_le, U16(p + 2, false)), be = KnownTag(g_be, U16(p + 2, true));
  Syntax s;
  s.explicit_vr = StandardVr(p + 4);
  s.big_endian = (be && !le) || (le && be && g_le > 0xFF && g_be <= 0xFF);
  return s;
}

struct Frame {
  enum Kind { kDataset, kItem, kSequence, kFragments } kind;
  uint64_t start;  // offset of its header
  uint64_t end;    // offset after its value; kUndefined: ends with a delimiter
  uint64_t limit;  // where it must end at the latest: its end, else its parent's limit
  uint32_t tag;    // the sequence's or element's tag
  Syntax syntax;
  int depth;  // sequence nesting level: 0 in the dataset, n in a sequence of level n and its items
};

class Walker {
 public:
  // `capture`: a tag whose value, where it is an element of the dataset itself (not in a sequence)
  // of at most kMaxCapturedBytes, the walk keeps (captured()); 0: none.
  Walker(Bytes& bytes, std::string what, uint32_t capture = 0) : bytes_(bytes), what_(std::move(what)), capture_(capture) {}
  const std::optional<std::string>& captured() const { return captured_; }

  // Walks the dataset from `start` to the end in `syntax`; the reason to refuse it, if any.
  std::optional<std::string> Dataset(uint64_t start, Syntax syntax) {
    const uint64_t size = bytes_.Size();
    stack_.clear();
    stack_.push_back({Frame::kDataset, start, size, size, 0, syntax, 0});
    uint64_t pos = start;
    uint8_t h[12];
    while (true) {
      const Frame top = stack_.back();
      if (top.end != kUndefined && pos == top.end) {
        if (top.kind == Frame::kDataset) return std::nullopt;
        stack_.pop_back();
        continue;
      }
      if (pos >= size) return Describe(top) + " has undefined length and no delimiter before the end of " + what_ + " (truncated or corrupt)";
      const bool big = top.syntax.big_endian;
      if (pos + 8 > top.limit || !bytes_.Read(pos, 8, h)) {
        return "offset " + std::to_string(pos) + ": " + std::to_string(top.limit - pos) +
               " byte(s) left in " + Container(top) + ", too few for an element";
      }
      const uint32_t tag = Tag(h, big);
      if (top.kind == Frame::kSequence || top.kind == Frame::kFragments) {
        const uint32_t length = U32(h + 4, big);
        if (tag == kSequenceEnd && top.end == kUndefined) {
          stack_.pop_back();
          pos += 8;
          continue;
        }
        if (tag != kItem) {
          return TagText(tag) + " at offset " + std::to_string(pos) + " in " + Describe(top) +
                 (top.kind == Frame::kFragments ? ": a pixel data fragment was expected" : ": an item was expected");
        }
        if (length == kUndefinedLength) {
          if (top.kind == Frame::kFragments) {
            return "pixel data fragment at offset " + std::to_string(pos) + " has undefined length";
          }
          stack_.push_back({Frame::kItem, pos, kUndefined, top.limit, tag, top.syntax, top.depth});
          pos += 8;
          continue;
        }
        uint64_t end = pos + 8 + uint64_t{length};
        if (length > top.limit - pos - 8) {
          // DCMTK reads an item cut short by the end of the file up to there; nothing else may overrun.
          if (top.kind == Frame::kFragments || top.limit != size) {
            return PastEnd(top.kind == Frame::kFragments ? "pixel data fragment" : "item", pos, length, top);
          }
          end = size;
        }
        if (top.kind == Frame::kFragments) {
          pos = end;
        } else {
          stack_.push_back({Frame::kItem, pos, end, end, tag, top.syntax, top.depth});
          pos += 8;
        }
        continue;
      }
      // In the dataset or an item.
      if (tag == kItemEnd && top.kind == Frame::kItem && top.end == kUndefined) {
        stack_.pop_back();
        pos += 8;
        continue;
      }
      if ((tag >> 16) == 0xFFFE) {
        return TagText(tag) + " at offset " + std::to_string(pos) + " in " + Describe(top) + ": a delimiter or item out of place";
      }
      uint64_t header = 8;
      uint32_t length = 0;
      bool sequence = false, fragments = false;
      Syntax inner = top.syntax;
      if (top.syntax.explicit_vr) {
        if (!StandardVr(h + 4)) {
          return "element " + TagText(tag) + " at offset " + std::to_string(pos) + ": invalid VR (bytes " +
                 std::to_string(h[4]) + ", " + std::to_string(h[5]) + ")";
        }
        if (LongVr(h + 4)) {
          if (pos + 12 > top.limit || !bytes_.Read(pos, 12, h)) {
            return "element " + TagText(tag) + " at offset " + std::to_string(pos) + ": its header runs past " + Container(top);
          }
          header = 12;
          length = U32(h + 8, big);
        } else {
          length = U16(h + 6, big);
        }
        const bool sq = h[4] == 'S' && h[5] == 'Q', un = h[4] == 'U' && h[5] == 'N';
        if (sq) sequence = true;
        if (length == kUndefinedLength && !sq) {
          if (un) {
            sequence = true;  // CP-246: a sequence of unknown VR, its items in implicit VR little endian
            inner = Syntax{false, false};
          } else if (h[4] == 'O' || tag == kPixelData) {
            fragments = true;  // encapsulated pixel data (DCMTK reads any undefined-length OB/OW so)
          } else {
            return "element " + TagText(tag) + " at offset " + std::to_string(pos) + ": undefined length for VR " +
                   std::string(reinterpret_cast<const char*>(h + 4), 2);
          }
        }
      } else {
        length = U32(h + 4, big);
        if (length == kUndefinedLength) {
          if (tag == kPixelData) {
            fragments = true;
          } else {
            sequence = true;
          }
        } else if (tag != kPixelData) {
          const Known known = Dictionary(tag);
          sequence = known == Known::kSequence || (known == Known::kUnknown && StartsWithItem(pos + 8, length, big));
        }
      }
      uint64_t end = length == kUndefinedLength ? kUndefined : pos + header + length;
      if (length != kUndefinedLength && length > top.limit - pos - header) {
        if (!sequence || top.limit != size) return PastEnd("element " + TagText(tag), pos, length, top);
        end = size;  // a sequence cut short by the end of the file: read up to there, as its items
      }
      if (sequence || fragments) {
        const int depth = top.depth + (sequence ? 1 : 0);
        if (depth > kMaxSequenceDepth) {
          return "sequence nesting deeper than " + std::to_string(kMaxSequenceDepth) + " levels at offset " + std::to_string(pos) +
                 " (sequence " + TagText(tag) + ")";
        }
        stack_.push_back({sequence ? Frame::kSequence : Frame::kFragments, pos, end,
                          end == kUndefined ? top.limit : end, tag, inner, depth});
        pos += header;
        continue;
      }
      if (capture_ != 0 && tag == capture_ && top.kind == Frame::kDataset && end != kUndefined &&
          length <= kMaxCapturedBytes) {
        std::string value(length, '\0');
        if (bytes_.Read(pos + header, value.size(), reinterpret_cast<uint8_t*>(value.data()))) captured_ = std::move(value);
      }
      pos = end;
    }
  }

 private:
  // An implicit VR value of an unknown tag that DCMTK may read as a sequence (private tags are
  // looked up with their creator): one that starts with an Item tag.
  bool StartsWithItem(uint64_t pos, uint32_t length, bool big) {
    uint8_t t[4];
    return length >= 8 && bytes_.Read(pos, 4, t) && Tag(t, big) == kItem;
  }

  std::string Describe(const Frame& f) const {
    switch (f.kind) {
      case Frame::kSequence: return "sequence " + TagText(f.tag) + " at offset " + std::to_string(f.start);
      case Frame::kFragments: return "encapsulated pixel data " + TagText(f.tag) + " at offset " + std::to_string(f.start);
      case Frame::kItem: return "the item at offset " + std::to_string(f.start);
      case Frame::kDataset: break;
    }
    return "the dataset";
  }

  // Where a frame's contents must end: "the end of the file" or "the end of <frame> (offset n)".
  std::string Container(const Frame& f) const {
    if (f.limit == bytes_.Size()) return "the end of " + what_;
    for (auto it = stack_.rbegin(); it != stack_.rend(); ++it) {
      if (it->end == f.limit) return "the end of " + Describe(*it);
    }
    return "the end of " + what_;
  }

  std::string PastEnd(const std::string& what, uint64_t pos, uint32_t length, const Frame& top) const {
    return what + " at offset " + std::to_string(pos) + ": length " + std::to_string(length) + " runs past " + Container(top) +
           " (truncated or corrupt)";
  }

  static constexpr uint32_t kMaxCapturedBytes = 1024;

  Bytes& bytes_;
  std::string what_;
  std::vector<Frame> stack_;
  uint32_t capture_;
  std::optional<std::string> captured_;
};

// Inflates raw deflate data (PS3.5 A.5: no zlib header) of at most kMaxInflatedBytes.
std::optional<std::string> Inflate(const std::vector<uint8_t>& in, std::string& out) {
  z_stream z{};
  if (inflateInit2(&z, -MAX_WBITS) != Z_OK) return "cannot start inflating the deflated dataset";
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  std::vector<uint8_t> chunk(1 << 16);
  int rc = Z_OK;
  while (true) {
    z.next_out = chunk.data();
    z.avail_out = static_cast<uInt>(chunk.size());
    rc = inflate(&z, Z_NO_FLUSH);
    const size_t produced = chunk.size() - z.avail_out;
    if (out.size() + produced > kMaxInflatedBytes) {
      inflateEnd(&z);
      return "deflated dataset larger than " + std::to_string(kMaxInflatedBytes >> 20) + " MiB once inflated";
    }
    out.append(reinterpret_cast<const char*>(chunk.data()), produced);
    if (rc != Z_OK) break;  // the end, an error, or Z_BUF_ERROR: the input ended before the stream
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) return "the deflated dataset is truncated or corrupt (zlib: " + std::to_string(rc) + ")";
  return std::nullopt;
}

// The walk of CheckStructure; with `captured`, also the value of the dataset's element `capture`
// (Walker), left empty when the bytes are refused.
std::optional<std::string> Check(Bytes& bytes, uint32_t capture = 0, std::optional<std::string>* captured = nullptr) {
  const uint64_t size = bytes.Size();
  uint8_t h[12];
  uint64_t pos = 0;
  bool meta = false;
  if (size >= 132 && bytes.Read(128, 4, h) && std::memcmp(h, "DICM", 4) == 0) {
    pos = 132;
    meta = true;
  } else if (size >= 4 && bytes.Read(0, 4, h) && std::memcmp(h, "DICM", 4) == 0) {
    pos = 4;
    meta = true;
  } else if (size >= 8 && bytes.Read(0, 8, h) && U16(h, false) == 0x0002) {
    meta = true;  // a meta header without preamble
  }
  std::string xfer;
  bool have_xfer = false;
  if (meta) {
    // Group 0002, explicit VR little endian (DCMTK also reads it in implicit VR); no sequences.
    while (pos + 8 <= size && bytes.Read(pos, 8, h) && U16(h, false) == 0x0002) {
      const uint32_t tag = Tag(h, false);
      uint64_t header = 8, length = 0;
      if (StandardVr(h + 4)) {
        if (h[4] == 'S' && h[5] == 'Q') return "a sequence in the file meta information at offset " + std::to_string(pos);
        if (LongVr(h + 4)) {
          if (pos + 12 > size || !bytes.Read(pos, 12, h)) return "the file meta information is truncated";
          header = 12;
          length = U32(h + 8, false);
        } else {
          length = U16(h + 6, false);
        }
      } else {
        length = U32(h + 4, false);
      }
      if (length > size - pos - header) {
        return "element " + TagText(tag) + " at offset " + std::to_string(pos) + ": length " + std::to_string(length) +
               " runs past the end of the file (truncated or corrupt)";
      }
      if (tag == 0x00020010 && length <= 64) {
        std::string value(static_cast<size_t>(length), '\0');
        if (!bytes.Read(pos + header, value.size(), reinterpret_cast<uint8_t*>(value.data()))) return "the file meta information is truncated";
        while (!value.empty() && (value.back() == '\0' || value.back() == ' ')) value.pop_back();
        xfer = value;
        have_xfer = true;
      }
      pos += header + length;
    }
  }
  if (pos >= size) return std::nullopt;  // no dataset: DCMTK refuses it without recursing
  Syntax syntax;
  if (!have_xfer || xfer.empty()) {
    if (size - pos < 6 || !bytes.Read(pos, 6, h)) return std::nullopt;  // DCMTK: too short to guess, no recursion
    syntax = Guess(h);
  } else if (xfer == "1.2.840.10008.1.2") {
    syntax = Syntax{false, false};
  } else if (xfer == "1.2.840.10008.1.2.2") {
    syntax = Syntax{true, true};
  } else if (xfer == "1.2.840.10008.1.2.1.99") {
    std::vector<uint8_t> deflated(static_cast<size_t>(size - pos));
    if (!bytes.Read(pos, deflated.size(), deflated.data())) return "cannot read the deflated dataset";
    std::string inflated;
    if (std::optional<std::string> why = Inflate(deflated, inflated)) return why;
    MemoryBytes plain(reinterpret_cast<const uint8_t*>(inflated.data()), inflated.size());
    Walker walker(plain, "the inflated dataset", capture);
    std::optional<std::string> why = walker.Dataset(0, Syntax{true, false});
    if (captured != nullptr && !why) *captured = walker.captured();
    return why;
  }
  Walker walker(bytes, "the file", capture);
  std::optional<std::string> why = walker.Dataset(pos, syntax);
  if (captured != nullptr && !why) *captured = walker.captured();
  return why;
}

}  // namespace

std::optional<std::string> CheckStructure(const uint8_t* data, size_t size) {
  MemoryBytes bytes(data, size);
  return Check(bytes);
}

std::optional<std::string> DatasetElementValue(const uint8_t* data, size_t size, uint16_t group, uint16_t element) {
  if (data == nullptr) return std::nullopt;
  MemoryBytes bytes(data, size);
  std::optional<std::string> value;
  if (Check(bytes, uint32_t{group} << 16 | element, &value)) return std::nullopt;
  return value;
}

std::optional<std::string> CheckFileStructure(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) return "cannot open the file";
  FileBytes bytes(f.get());
  return Check(bytes);
}

void RequireSafeStructure(const std::string& bytes, const std::string& name) {
  if (std::optional<std::string> why = CheckStructure(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size())) {
    throw Error(ErrorCode::kInvalidArgument, name + ": refused before parsing: " + *why);
  }
}

void RequireSafeFile(const std::string& path, const std::string& name) {
  if (std::optional<std::string> why = CheckFileStructure(path)) {
    throw Error(ErrorCode::kInvalidArgument, name + ": refused before parsing: " + *why);
  }
}

}  // namespace curia::dicom
