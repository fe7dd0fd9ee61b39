// SPDX-License-Identifier: GPL-3.0-or-later
#include "jpeg2000.h"

#include <dcmtk/dcmdata/dcpixseq.h>
#include <dcmtk/dcmdata/dcpxitem.h>
#include <openjpeg.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>

#include "curia/config/error.h"

namespace curia::dicom::internal {
namespace {

[[noreturn]] void Bad(const std::string& message) { throw Error(ErrorCode::kInvalidArgument, message); }

// One item of the pixel sequence after the Basic Offset Table.
struct Fragment {
  uint64_t offset = 0;  // of its item tag, from the first item after the offset table
  const uint8_t* data = nullptr;
  uint32_t length = 0;
};

bool StartsCodeStream(const uint8_t* data, uint64_t length) {
  static const uint8_t kCodeStream[4] = {0xFF, 0x4F, 0xFF, 0x51};  // SOC, SIZ
  static const uint8_t kJp2[8] = {0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20};  // JP2 signature box
  return (length >= 4 && std::memcmp(data, kCodeStream, 4) == 0) || (length >= 8 && std::memcmp(data, kJp2, 8) == 0);
}

// The bytes of frame `frame`: the fragments of the encapsulated pixel data that hold it, joined.
std::string FrameBytes(DcmDataset& ds, uint32_t frame, uint32_t frames, const std::string& name) {
  const std::string where = name + ": JPEG 2000 pixel data: ";
  DcmElement* element = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, element).bad() || !element) Bad(name + ": no pixel data");
  auto* pixel = OFstatic_cast(DcmPixelData*, element);
  E_TransferSyntax xfer = EXS_Unknown;
  const DcmRepresentationParameter* parameter = nullptr;
  pixel->getOriginalRepresentationKey(xfer, parameter);
  DcmPixelSequence* sequence = nullptr;
  if (pixel->getEncapsulatedRepresentation(xfer, parameter, sequence).bad() || !sequence) {
    Bad(where + "not encapsulated (no fragments)");
  }
  const unsigned long items = sequence->card();
  if (items < 2) Bad(where + "no fragments after the offset table");
  std::vector<Fragment> fragments;
  std::map<uint64_t, size_t> by_offset;
  uint64_t offset = 0;
  DcmPixelItem* table = nullptr;
  if (sequence->getItem(table, 0).bad() || !table) Bad(where + "unreadable offset table");
  for (unsigned long i = 1; i < items; ++i) {
    DcmPixelItem* item = nullptr;
    Uint8* data = nullptr;
    if (sequence->getItem(item, i).bad() || !item) Bad(where + "unreadable fragment " + std::to_string(i));
    const Uint32 length = item->getLength();
    if (length > 0 && (item->getUint8Array(data).bad() || !data)) {
      Bad(where + "fragment " + std::to_string(i) + " cannot be read: truncated or corrupt");
    }
    by_offset[offset] = fragments.size();
    fragments.push_back({offset, data, length});
    offset += 8 + static_cast<uint64_t>(length);  // item tag and length, then the value
  }

  // Where each frame starts: the Basic Offset Table when there is one; otherwise one frame in all
  // the fragments, one fragment a frame, or (several fragments a frame) a new frame at every
  // fragment that starts a code stream.
  std::vector<size_t> starts;
  const Uint32 table_length = table->getLength();
  if (table_length > 0) {
    Uint8* bytes = nullptr;
    if (table_length % 4 != 0 || table->getUint8Array(bytes).bad() || !bytes) {
      Bad(where + "Basic Offset Table of " + std::to_string(table_length) + " bytes is not a list of 32-bit offsets");
    }
    if (table_length / 4 != frames) {
      Bad(where + "Basic Offset Table has " + std::to_string(table_length / 4) + " entries for " +
          std::to_string(frames) + " frame(s)");
    }
    for (uint32_t k = 0; k < frames; ++k) {
      const uint64_t at = static_cast<uint64_t>(bytes[4 * k]) | static_cast<uint64_t>(bytes[4 * k + 1]) << 8 |
                          static_cast<uint64_t>(bytes[4 * k + 2]) << 16 | static_cast<uint64_t>(bytes[4 * k + 3]) << 24;
      const auto it = by_offset.find(at);
      if (it == by_offset.end() || (!starts.empty() && it->second <= starts.back())) {
        Bad(where + "Basic Offset Table entry " + std::to_string(k + 1) + " (" + std::to_string(at) +
            ") does not point at the start of a fragment after the previous frame");
      }
      starts.push_back(it->second);
    }
  } else if (frames == 1) {
    starts = {0};
  } else if (fragments.size() == frames) {
    for (size_t i = 0; i < fragments.size(); ++i) starts.push_back(i);
  } else {
    for (size_t i = 0; i < fragments.size(); ++i) {
      if (StartsCodeStream(fragments[i].data, fragments[i].length)) starts.push_back(i);
    }
    if (starts.size() != frames || starts.front() != 0) {
      Bad(where + std::to_string(fragments.size()) + " fragments and " + std::to_string(starts.size()) +
          " code stream starts for " + std::to_string(frames) + " frames, and no offset table");
    }
  }
  if (frame >= starts.size()) Bad(where + "no frame " + std::to_string(frame + 1));
  const size_t end = frame + 1 < starts.size() ? starts[frame + 1] : fragments.size();
  std::string bytes;
  for (size_t i = starts[frame]; i < end; ++i) {
    bytes.append(reinterpret_cast<const char*>(fragments[i].data), fragments[i].length);
  }
  return bytes;
}

// A read-only OpenJPEG stream over memory.
struct MemoryStream {
  const uint8_t* data;
  uint64_t size;
  uint64_t position = 0;
};

OPJ_SIZE_T StreamRead(void* buffer, OPJ_SIZE_T count, void* user) {
  auto* m = static_cast<MemoryStream*>(user);
  if (m->position >= m->size) return static_cast<OPJ_SIZE_T>(-1);  // the end
  const uint64_t n = std::min<uint64_t>(count, m->size - m->position);
  std::memcpy(buffer, m->data + m->position, n);
  m->position += n;
  return static_cast<OPJ_SIZE_T>(n);
}

OPJ_OFF_T StreamSkip(OPJ_OFF_T count, void* user) {
  // As a file would: skipping past the end is allowed, the next read then finds the end.
  auto* m = static_cast<MemoryStream*>(user);
  if (count < 0 && static_cast<uint64_t>(-count) > m->position) return -1;
  m->position = static_cast<uint64_t>(static_cast<OPJ_OFF_T>(m->position) + count);
  return count;
}

OPJ_BOOL StreamSeek(OPJ_OFF_T to, void* user) {
  auto* m = static_cast<MemoryStream*>(user);
  if (to < 0 || static_cast<uint64_t>(to) > m->size) return OPJ_FALSE;
  m->position = static_cast<uint64_t>(to);
  return OPJ_TRUE;
}

// OpenJPEG's errors, kept for the reason (and so nothing reaches stderr).
void KeepMessage(const char* message, void* user) {
  auto* messages = static_cast<std::string*>(user);
  std::string m(message ? message : "");
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  if (m.empty() || messages->size() > 400) return;
  *messages += (messages->empty() ? "" : "; ") + m;
}
void IgnoreMessage(const char*, void*) {}

struct CodecDeleter {
  void operator()(opj_codec_t* c) const { opj_destroy_codec(c); }
};
struct StreamDeleter {
  void operator()(opj_stream_t* s) const { opj_stream_destroy(s); }
};
struct ImageDeleter {
  void operator()(opj_image_t* i) const { opj_image_destroy(i); }
};

std::string Sign(bool is_signed) { return is_signed ? "signed" : "unsigned"; }

}  // namespace

bool IsJpeg2000(E_TransferSyntax xfer) {
  return xfer == EXS_JPEG2000LosslessOnly || xfer == EXS_JPEG2000 || xfer == EXS_JPEG2000MulticomponentLosslessOnly ||
         xfer == EXS_JPEG2000Multicomponent;
}

std::vector<uint8_t> DecodeJpeg2000Frame(DcmDataset& ds, uint32_t frame, uint32_t frames,
                                         const DicomVolume::Pixels& p, const std::string& name) {
  const std::string which = "JPEG 2000 frame " + std::to_string(frame + 1);
  if (p.bits_allocated != 8 && p.bits_allocated != 16 && p.bits_allocated != 32) {
    Bad(name + ": Bits Allocated " + std::to_string(p.bits_allocated) + " in a JPEG 2000 image");
  }
  const std::string bytes = FrameBytes(ds, frame, frames, name);
  MemoryStream memory{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()};
  if (!StartsCodeStream(memory.data, memory.size)) {
    Bad(name + ": " + which + " is neither a JPEG 2000 code stream nor a JP2 file");
  }
  const bool jp2 = memory.data[0] == 0x00;

  std::unique_ptr<opj_codec_t, CodecDeleter> codec(opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K));
  std::unique_ptr<opj_stream_t, StreamDeleter> stream(opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE));
  if (!codec || !stream) Bad(name + ": cannot start the JPEG 2000 decoder (out of memory?)");
  std::string errors;
  opj_set_error_handler(codec.get(), KeepMessage, &errors);
  opj_set_warning_handler(codec.get(), IgnoreMessage, nullptr);
  opj_set_info_handler(codec.get(), IgnoreMessage, nullptr);
  opj_stream_set_user_data(stream.get(), &memory, nullptr);
  opj_stream_set_user_data_length(stream.get(), memory.size);
  opj_stream_set_read_function(stream.get(), StreamRead);
  opj_stream_set_skip_function(stream.get(), StreamSkip);
  opj_stream_set_seek_function(stream.get(), StreamSeek);
  opj_dparameters_t parameters;
  opj_set_default_decoder_parameters(&parameters);
  auto corrupt = [&]() {
    Bad(name + ": cannot decode " + which + " of the pixel data (OpenJPEG: " +
        (errors.empty() ? std::string("no message") : errors) + "): truncated or corrupt");
  };
  // Strict: a truncated code stream is an error, not a partly grey image.
  if (!opj_setup_decoder(codec.get(), &parameters) || !opj_decoder_set_strict_mode(codec.get(), OPJ_TRUE)) corrupt();
  opj_image_t* raw = nullptr;
  const bool header_read = opj_read_header(stream.get(), codec.get(), &raw);
  std::unique_ptr<opj_image_t, ImageDeleter> image(raw);
  if (!header_read || !image) corrupt();

  // The size before decoding, so that a wrong header allocates nothing.
  const uint64_t width = image->x1 - image->x0, height = image->y1 - image->y0;
  const bool subsampled = image->numcomps > 0 && (image->comps[0].dx != 1 || image->comps[0].dy != 1);
  if (width != static_cast<uint64_t>(p.cols) || height != static_cast<uint64_t>(p.rows) || image->numcomps != 1 ||
      subsampled) {
    Bad(name + ": " + which + " is " + std::to_string(width) + "x" + std::to_string(height) + " pixels with " +
        std::to_string(image->numcomps) + " component(s)" + (subsampled ? " (subsampled)" : "") +
        " where the header says " + std::to_string(p.cols) + "x" + std::to_string(p.rows) +
        " (Columns x Rows) with 1 sample per pixel");
  }
  if (!opj_decode(codec.get(), stream.get(), image.get()) || !opj_end_decompress(codec.get(), stream.get())) corrupt();
  const opj_image_comp_t& c = image->comps[0];
  if (!c.data || c.w != width || c.h != height) corrupt();

  // Each value must fit in Bits Stored bits as the code stream signs it; its bit pattern is then
  // read with the header's Pixel Representation, as for every other transfer syntax.
  const bool coded_signed = c.sgnd != 0;
  const int64_t lo = coded_signed ? -(int64_t(1) << (p.bits_stored - 1)) : 0;
  const int64_t hi = coded_signed ? (int64_t(1) << (p.bits_stored - 1)) - 1 : (int64_t(1) << p.bits_stored) - 1;
  const uint64_t count = width * height;
  const int bytes_per_word = p.bits_allocated / 8;
  const int shift = p.high_bit + 1 - p.bits_stored;
  const uint64_t mask = (uint64_t(1) << p.bits_stored) - 1;
  std::vector<uint8_t> out(count * static_cast<uint64_t>(bytes_per_word));
  for (uint64_t i = 0; i < count; ++i) {
    const int64_t v = c.data[i];
    if (v < lo || v > hi) {
      Bad(name + ": " + which + " holds " + Sign(coded_signed) + " " + std::to_string(c.prec) + "-bit values such as " +
          std::to_string(v) + ", more than Bits Stored " + std::to_string(p.bits_stored) +
          " holds: the header and the code stream disagree on the pixel values");
    }
    // The stored value where DCMTK would put it in an uncompressed frame.
    const uint64_t word = (static_cast<uint64_t>(v) & mask) << shift;
    for (int b = 0; b < bytes_per_word; ++b) out[i * bytes_per_word + b] = static_cast<uint8_t>(word >> (8 * b));
  }
  return out;
}

}  // namespace curia::dicom::internal
