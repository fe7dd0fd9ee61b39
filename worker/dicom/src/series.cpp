// SPDX-License-Identifier: GPL-3.0-or-later
#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "curia/config/error.h"
#include "curia/dicom/series.h"
#include "dcmtk_io.h"
#include "jpeg2000.h"

namespace curia::dicom {

using internal::GetDouble;
using internal::GetDoubles;
using internal::GetFrameDoubles;
using internal::GetInt;
using internal::GetString;

namespace {

[[noreturn]] void Bad(const std::string& message) { throw Error(ErrorCode::kInvalidArgument, message); }

std::string Join(const std::vector<double>& v) {
  std::string s;
  char buf[32];
  for (size_t i = 0; i < v.size(); ++i) {
    std::snprintf(buf, sizeof buf, "%g", v[i]);
    s += (i ? "\\" : "") + std::string(buf);
  }
  return s;
}

std::string Mm(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g mm", v);
  return buf;
}

// What the loader reads of one frame of one instance.
struct Frame {
  SliceRef ref;
  std::vector<double> iop;  // 6 values
};

// What it reads of one instance.
struct Instance {
  std::string id, name;
  std::string series_uid, study_uid, modality, description, frame_of_reference;
  DicomVolume::Pixels pixels;
  int samples = 1;
  std::string photometric;
  E_TransferSyntax xfer = EXS_Unknown;
  bool has_pixels = false, float_pixels = false;
  std::vector<double> spacing;  // PixelSpacing (row, column)
  std::vector<Frame> frames;
  std::string problem;  // why it cannot be part of a volume
  std::shared_ptr<DcmDataset> header;
};

// The header of an instance without its pixel data (and other bulk data).
std::shared_ptr<DcmDataset> HeaderCopy(DcmDataset& ds) {
  auto header = std::make_shared<DcmDataset>();
  for (unsigned long i = 0; i < ds.card(); ++i) {
    DcmElement* e = ds.getElement(i);
    const DcmTagKey tag = e->getTag();
    if (tag == DCM_PixelData || tag == DCM_FloatPixelData || tag == DCM_DoubleFloatPixelData ||
        (tag.getGroup() >= 0x6000 && tag.getGroup() <= 0x60FF && tag.getElement() == 0x3000)) {
      continue;
    }
    header->insert(OFstatic_cast(DcmElement*, e->clone()));
  }
  return header;
}

Instance ReadHeader(const IInstanceSource& source, const std::string& id) {
  Instance in;
  in.id = id;
  in.name = source.Name(id);
  std::unique_ptr<DcmFileFormat> ff = internal::ReadInstance(source, id, /*lazy=*/true);
  DcmDataset& ds = *ff->getDataset();
  in.xfer = ds.getOriginalXfer();
  in.series_uid = GetString(ds, DCM_SeriesInstanceUID);
  in.study_uid = GetString(ds, DCM_StudyInstanceUID);
  in.modality = GetString(ds, DCM_Modality);
  in.description = GetString(ds, DCM_SeriesDescription);
  in.frame_of_reference = GetString(ds, DCM_FrameOfReferenceUID);
  in.header = HeaderCopy(ds);
  const std::string sop_class = GetString(ds, DCM_SOPClassUID);
  const std::string sop_instance = GetString(ds, DCM_SOPInstanceUID);

  in.has_pixels = ds.tagExists(DCM_PixelData);
  in.float_pixels = ds.tagExists(DCM_FloatPixelData) || ds.tagExists(DCM_DoubleFloatPixelData);
  in.photometric = GetString(ds, DCM_PhotometricInterpretation);
  in.samples = static_cast<int>(GetInt(ds, DCM_SamplesPerPixel).value_or(1));
  DicomVolume::Pixels& p = in.pixels;
  p.rows = GetInt(ds, DCM_Rows).value_or(0);
  p.cols = GetInt(ds, DCM_Columns).value_or(0);
  p.bits_allocated = static_cast<int>(GetInt(ds, DCM_BitsAllocated).value_or(0));
  p.bits_stored = static_cast<int>(GetInt(ds, DCM_BitsStored).value_or(p.bits_allocated));
  p.high_bit = static_cast<int>(GetInt(ds, DCM_HighBit).value_or(p.bits_stored - 1));
  p.is_signed = GetInt(ds, DCM_PixelRepresentation).value_or(0) == 1;
  p.monochrome1 = in.photometric == "MONOCHROME1";
  p.rescale = in.modality == "CT";

  // What stops this instance from being a grey volume slice, most fundamental first.
  if (!in.has_pixels) {
    in.problem = in.float_pixels ? "floating-point pixel data is not supported" : "no pixel data";
  } else if (in.samples != 1 || (in.photometric != "MONOCHROME1" && in.photometric != "MONOCHROME2")) {
    in.problem = "colour image (" + std::to_string(in.samples) + " samples per pixel, Photometric Interpretation " +
                 (in.photometric.empty() ? std::string("missing") : in.photometric) + "): a grey volume is needed";
  } else if (p.rows < 1 || p.cols < 1) {
    in.problem = "missing or invalid Rows/Columns (" + std::to_string(p.rows) + "x" + std::to_string(p.cols) + ")";
  } else if (p.bits_allocated != 1 && p.bits_allocated != 8 && p.bits_allocated != 16 && p.bits_allocated != 32) {
    in.problem = "unsupported Bits Allocated " + std::to_string(p.bits_allocated);
  } else if (p.bits_stored < 1 || p.bits_stored > p.bits_allocated || p.high_bit < p.bits_stored - 1 ||
             p.high_bit >= p.bits_allocated) {
    in.problem = "inconsistent Bits Stored / High Bit (" + std::to_string(p.bits_stored) + " / " +
                 std::to_string(p.high_bit) + " of " + std::to_string(p.bits_allocated) + " bits)";
  }

  in.spacing = GetFrameDoubles(ds, 0, DCM_PixelMeasuresSequence, DCM_PixelSpacing, 2);
  const long frames = std::max(1L, GetInt(ds, DCM_NumberOfFrames).value_or(1));
  const bool enhanced = ds.tagExists(DCM_PerFrameFunctionalGroupsSequence);
  const std::vector<double> grid = GetDoubles(ds, DCM_GridFrameOffsetVector, static_cast<size_t>(frames));
  for (long f = 0; f < frames; ++f) {
    Frame fr;
    fr.ref.instance = id;
    fr.ref.frame = static_cast<int32_t>(f);
    fr.ref.sop_class_uid = sop_class;
    fr.ref.sop_instance_uid = sop_instance;
    fr.iop = GetFrameDoubles(ds, f, DCM_PlaneOrientationSequence, DCM_ImageOrientationPatient, 6);
    std::vector<double> ipp = GetFrameDoubles(ds, f, DCM_PlanePositionSequence, DCM_ImagePositionPatient, 3);
    if (frames > 1 && !enhanced) {
      // Multi-frame without functional groups: positions from the Grid Frame Offset Vector (RT dose,
      // along the slice normal), otherwise there are none per frame.
      if (grid.size() == static_cast<size_t>(frames) && ipp.size() == 3 && fr.iop.size() == 6) {
        const double n[3] = {fr.iop[1] * fr.iop[5] - fr.iop[2] * fr.iop[4], fr.iop[2] * fr.iop[3] - fr.iop[0] * fr.iop[5],
                             fr.iop[0] * fr.iop[4] - fr.iop[1] * fr.iop[3]};
        for (int k = 0; k < 3; ++k) ipp[static_cast<size_t>(k)] += grid[static_cast<size_t>(f)] * n[k];
      } else {
        ipp.clear();
      }
    }
    if (ipp.size() == 3) std::copy(ipp.begin(), ipp.end(), fr.ref.position.begin());
    if (ipp.size() != 3 && in.problem.empty()) {
      in.problem = frames > 1 ? "multi-frame image without a position for each frame"
                              : "missing Image Position (Patient)";
    }
    if (fr.iop.size() != 6 && in.problem.empty()) in.problem = "missing Image Orientation (Patient)";
    const std::vector<double> slope = GetFrameDoubles(ds, f, DCM_PixelValueTransformationSequence, DCM_RescaleSlope, 1);
    const std::vector<double> intercept =
        GetFrameDoubles(ds, f, DCM_PixelValueTransformationSequence, DCM_RescaleIntercept, 1);
    fr.ref.slope = slope.empty() ? 1.0 : slope[0];
    fr.ref.intercept = intercept.empty() ? 0.0 : intercept[0];
    in.frames.push_back(std::move(fr));
  }
  return in;
}

}  // namespace

class VolumeBuilder {
 public:
  // Builds the volume of one series, or throws its reason.
  static std::shared_ptr<DicomVolume> Build(const IInstanceSource& source, const std::vector<const Instance*>& instances,
                                            const LoadOptions& options) {
    const Instance& first = *instances.front();
    for (const Instance* in : instances) {
      if (!in->problem.empty()) Bad(in->name + ": " + in->problem);
    }
    for (const Instance* in : instances) {
      if (!internal::Decodable(in->xfer) && !options.transcoder) {
        Bad(in->name + ": unsupported transfer syntax " + internal::XferText(in->xfer) + ": " +
            internal::kDecodableText);
      }
      const DicomVolume::Pixels& p = in->pixels;
      if (p.rows != first.pixels.rows || p.cols != first.pixels.cols) {
        Bad("mixed Rows/Columns in one series: " + std::to_string(first.pixels.rows) + "x" +
            std::to_string(first.pixels.cols) + " (" + first.name + ") and " + std::to_string(p.rows) + "x" +
            std::to_string(p.cols) + " (" + in->name + ")");
      }
      if (p.bits_allocated != first.pixels.bits_allocated || p.bits_stored != first.pixels.bits_stored ||
          p.is_signed != first.pixels.is_signed || p.monochrome1 != first.pixels.monochrome1) {
        Bad("mixed pixel formats in one series (" + first.name + " and " + in->name + ")");
      }
    }
    // One orientation for every slice.
    std::vector<Frame> frames;
    for (const Instance* in : instances) frames.insert(frames.end(), in->frames.begin(), in->frames.end());
    const std::vector<double>& iop = frames.front().iop;
    for (const Frame& f : frames) {
      for (size_t k = 0; k < 6; ++k) {
        if (std::fabs(f.iop[k] - iop[k]) > 1e-3) {
          Bad("mixed orientations in one series: Image Orientation (Patient) " + Join(iop) + " and " + Join(f.iop) +
              " (" + source.Name(f.ref.instance) + ")");
        }
      }
    }
    model::SliceOrientation orientation;
    try {
      orientation = model::ComputeSliceOrientation({iop[0], iop[1], iop[2], iop[3], iop[4], iop[5]},
                                                   options.max_obliquity_deg);
    } catch (const Error& e) {
      Bad(e.what());
    }
    // Sort along the slice normal, pointing to the positive patient axis (axial: toward superior).
    std::array<double, 3> n = orientation.normal;
    const size_t dominant = static_cast<size_t>(std::max_element(n.begin(), n.end(), [](double a, double b) {
                                                  return std::fabs(a) < std::fabs(b);
                                                }) - n.begin());
    if (n[dominant] < 0) n = {-n[0], -n[1], -n[2]};
    auto along = [&](const Frame& f) {
      return f.ref.position[0] * n[0] + f.ref.position[1] * n[1] + f.ref.position[2] * n[2];
    };
    std::stable_sort(frames.begin(), frames.end(), [&](const Frame& a, const Frame& b) { return along(a) < along(b); });
    std::vector<double> gaps;
    for (size_t i = 1; i < frames.size(); ++i) {
      const double gap = along(frames[i]) - along(frames[i - 1]);
      if (gap < 1e-3) {
        Bad("duplicate slice position " + Mm(along(frames[i])) + " along the slice normal (" +
            source.Name(frames[i - 1].ref.instance) + " and " + source.Name(frames[i].ref.instance) +
            "): several images per position (echoes, phases?) are not one volume");
      }
      gaps.push_back(gap);
    }
    double spacing = 0;
    if (!gaps.empty()) {
      // The lower median: with a single missing slice among few, the regular spacing still wins.
      std::vector<double> sorted = gaps;
      const auto middle = sorted.begin() + static_cast<std::ptrdiff_t>((sorted.size() - 1) / 2);
      std::nth_element(sorted.begin(), middle, sorted.end());
      spacing = *middle;
      for (size_t i = 0; i < gaps.size(); ++i) {
        if (gaps[i] > 1.5 * spacing) {
          Bad("missing slice(s): a gap of " + Mm(gaps[i]) + " between positions " + Mm(along(frames[i])) + " and " +
              Mm(along(frames[i + 1])) + " where slices are " + Mm(spacing) + " apart");
        }
      }
    }

    std::shared_ptr<DicomVolume> v(new DicomVolume());
    v->source_ = &source;
    v->options_ = options;
    v->pixels_ = first.pixels;
    v->orientation_ = orientation;
    v->header_ = first.header;
    v->series_uid = first.series_uid;
    v->study_uid = first.study_uid;
    v->frame_of_reference_uid = first.frame_of_reference;
    for (Frame& f : frames) v->slices_.push_back(std::move(f.ref));
    worker::VolumeInfo& info = v->info_;
    info.slices = static_cast<int64_t>(v->slices_.size());
    info.rows = model::OrientedRows(orientation, first.pixels.rows, first.pixels.cols);
    info.cols = model::OrientedCols(orientation, first.pixels.rows, first.pixels.cols);
    info.modality = first.modality;
    info.plane = model::PlaneName(orientation.plane);
    if (first.spacing.size() == 2) {
      info.pixel_spacing_mm[0] = orientation.transpose ? first.spacing[1] : first.spacing[0];
      info.pixel_spacing_mm[1] = orientation.transpose ? first.spacing[0] : first.spacing[1];
    }
    info.slice_spacing_mm = spacing;
    std::map<std::string, int> per_instance;  // slices per instance: >1 for multi-frame images
    for (const SliceRef& s : v->slices_) ++per_instance[s.instance];
    for (const SliceRef& s : v->slices_) {
      info.references.push_back(
          {s.sop_class_uid, s.sop_instance_uid, per_instance[s.instance] > 1 ? s.frame + 1 : 0, s.position});
    }
    return v;
  }
};

ScanResult LoadSeries(const IInstanceSource& source, const std::vector<std::string>& ids, const LoadOptions& options) {
  RegisterCodecs();
  ScanResult result;
  std::vector<Instance> instances;
  instances.reserve(ids.size());
  for (const std::string& id : ids) {
    try {
      Instance in = ReadHeader(source, id);
      if (in.series_uid.empty()) {
        result.unreadable.push_back({id, source.Name(id) + ": no Series Instance UID"});
        continue;
      }
      instances.push_back(std::move(in));
    } catch (const std::exception& e) {
      result.unreadable.push_back({id, e.what()});
    }
  }
  // Series in order of first appearance.
  std::map<std::string, size_t> index;
  std::vector<std::vector<const Instance*>> members;
  for (const Instance& in : instances) {
    auto it = index.find(in.series_uid);
    if (it == index.end()) {
      it = index.emplace(in.series_uid, members.size()).first;
      members.emplace_back();
      SeriesResult s;
      s.series_uid = in.series_uid;
      s.study_uid = in.study_uid;
      s.modality = in.modality;
      s.description = in.description;
      result.series.push_back(std::move(s));
    }
    members[it->second].push_back(&in);
    result.series[it->second].instances.push_back(in.id);
  }
  for (size_t i = 0; i < members.size(); ++i) {
    try {
      result.series[i].volume = VolumeBuilder::Build(source, members[i], options);
    } catch (const Error& e) {
      result.series[i].error = e.what();
    }
  }
  return result;
}

namespace {

// Stored pixel value i of a decoded frame (little endian, as DCMTK returns it).
inline int64_t StoredValue(const uint8_t* data, int64_t i, const DicomVolume::Pixels& p) {
  uint64_t raw = 0;
  switch (p.bits_allocated) {
    case 1: raw = (data[i / 8] >> (i % 8)) & 1u; break;
    case 8: raw = data[i]; break;
    case 16: raw = static_cast<uint64_t>(data[2 * i]) | (static_cast<uint64_t>(data[2 * i + 1]) << 8); break;
    default: {
      uint32_t v;
      std::memcpy(&v, data + 4 * i, 4);
      raw = v;
    }
  }
  raw >>= (p.high_bit + 1 - p.bits_stored);
  const uint64_t mask = p.bits_stored >= 64 ? ~0ull : ((1ull << p.bits_stored) - 1);
  int64_t value = static_cast<int64_t>(raw & mask);
  if (p.is_signed && p.bits_stored > 0 && (value >> (p.bits_stored - 1)) & 1) value -= (int64_t(1) << p.bits_stored);
  return value;
}

// ReadSlice's buffers, one set per thread, reused slice after slice (no allocation in the steady
// state once they have grown to the series' frame size).
struct SliceScratch {
  std::vector<uint8_t> frame;  // a decoded frame, when it is not read in place
  std::vector<float> values;   // the slice before orientation, when that is not the identity
};

SliceScratch& Scratch() {
  thread_local SliceScratch scratch;
  return scratch;
}

// Grows `v` to at least n elements; never shrinks, never re-initialises what it keeps.
template <typename T>
T* Room(std::vector<T>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

// Frame `frame` of native (uncompressed) pixel data that DCMTK already holds in memory in the
// layout a decode would give (little endian, this host's order): read in place, no copy. Null
// otherwise (encapsulated data, values not loaded yet (lazily read files), big-endian syntaxes,
// unusual bit depths): then DecodeWithDcmtk copies or decodes it.
const uint8_t* NativeFrameInPlace(DcmDataset& ds, int32_t frame, const DicomVolume::Pixels& p) {
  if (gLocalByteOrder != EBO_LittleEndian || (p.bits_allocated != 8 && p.bits_allocated != 16)) return nullptr;
  const DcmXfer xfer(ds.getOriginalXfer());
  if (!xfer.isLittleEndian() || xfer.isEncapsulated()) return nullptr;
  DcmElement* pixel = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, pixel).bad() || !pixel || !pixel->valueLoaded()) return nullptr;
  const uint64_t frame_bytes = static_cast<uint64_t>(p.rows) * static_cast<uint64_t>(p.cols) *
                               static_cast<uint64_t>(p.bits_allocated / 8);
  const uint64_t end = (static_cast<uint64_t>(frame) + 1) * frame_bytes;
  if (pixel->getLength() < end) return nullptr;  // short: the copying path reports it
  const uint8_t* data = nullptr;
  if (pixel->getVR() == EVR_OW) {
    Uint16* words = nullptr;
    if (pixel->getUint16Array(words).bad() || !words) return nullptr;
    data = reinterpret_cast<const uint8_t*>(words);
  } else if (pixel->getVR() == EVR_OB) {
    Uint8* bytes = nullptr;
    if (pixel->getUint8Array(bytes).bad() || !bytes) return nullptr;
    data = bytes;
  } else {
    return nullptr;
  }
  return data + (end - frame_bytes);
}

// One frame decoded by DCMTK (native or with its registered codecs), little endian, into `buffer`
// (grown as needed); returns its start.
const uint8_t* DecodeWithDcmtk(DcmDataset& ds, int32_t frame, const DicomVolume::Pixels& p, const std::string& name,
                               std::vector<uint8_t>& buffer) {
  DcmElement* pixel = nullptr;
  if (ds.findAndGetElement(DCM_PixelData, pixel).bad() || !pixel) Bad(name + ": no pixel data");
  const int64_t count = p.rows * p.cols;
  Uint32 size = 0;
  OFCondition cond = pixel->getUncompressedFrameSize(&ds, size);
  const uint64_t needed = p.bits_allocated == 1 ? static_cast<uint64_t>((count + 7) / 8)
                                                : static_cast<uint64_t>(count) * static_cast<uint64_t>(p.bits_allocated / 8);
  if (cond.bad() || size < needed) Bad(name + ": cannot size frame " + std::to_string(frame + 1) + " of the pixel data");
  uint8_t* data = Room(buffer, static_cast<size_t>(size) + 1);
  Uint32 start_fragment = 0;
  OFString colour_model;
  cond = pixel->getUncompressedFrame(&ds, static_cast<Uint32>(frame), start_fragment, data, size, colour_model);
  if (cond.bad()) {
    Bad(name + ": cannot decode frame " + std::to_string(frame + 1) + " of the pixel data (" + cond.text() +
        "): truncated or corrupt");
  }
  if (p.bits_allocated == 32 && pixel->getVR() == EVR_OW && DcmXfer(ds.getOriginalXfer()).isBigEndian()) {
    // DCMTK swaps OW pixel data 16 bits at a time; a big-endian 32-bit value then has its two
    // halves in the wrong order.
    for (size_t i = 0; i + 3 < size; i += 4) {
      std::swap(data[i], data[i + 2]);
      std::swap(data[i + 1], data[i + 3]);
    }
  }
  return data;
}

// Stored values of 8 or 16 bits -> the slice's floats: StoredValue, MONOCHROME1 inversion and the
// rescale, the same arithmetic, in one loop the compiler can vectorise.
template <typename T, bool kSigned, bool kMonochrome1, bool kRescale>
void ConvertStored(const uint8_t* data, int64_t count, const DicomVolume::Pixels& p, double slope, double intercept,
                   float* out) {
  const int shift = p.high_bit + 1 - p.bits_stored;
  const int32_t mask = static_cast<int32_t>((uint32_t{1} << p.bits_stored) - 1);
  const int32_t sign = kSigned ? int32_t{1} << (p.bits_stored - 1) : 0;
  const int32_t max_stored = kSigned ? sign - 1 : mask;
  const int32_t min_stored = kSigned ? -sign : 0;
  for (int64_t i = 0; i < count; ++i) {
    T raw;
    std::memcpy(&raw, data + i * static_cast<int64_t>(sizeof(T)), sizeof(T));
    int32_t v = (static_cast<int32_t>(raw) >> shift) & mask;
    if (kSigned) v = (v ^ sign) - sign;
    if (kMonochrome1) v = max_stored + min_stored - v;
    out[i] = kRescale ? static_cast<float>(static_cast<double>(v) * slope + intercept) : static_cast<float>(v);
  }
}

template <typename T>
void ConvertStoredAs(const uint8_t* data, int64_t count, const DicomVolume::Pixels& p, double slope, double intercept,
                     float* out) {
  const int k = (p.is_signed ? 4 : 0) | (p.monochrome1 ? 2 : 0) | (p.rescale ? 1 : 0);
  switch (k) {
    case 0: ConvertStored<T, false, false, false>(data, count, p, slope, intercept, out); break;
    case 1: ConvertStored<T, false, false, true>(data, count, p, slope, intercept, out); break;
    case 2: ConvertStored<T, false, true, false>(data, count, p, slope, intercept, out); break;
    case 3: ConvertStored<T, false, true, true>(data, count, p, slope, intercept, out); break;
    case 4: ConvertStored<T, true, false, false>(data, count, p, slope, intercept, out); break;
    case 5: ConvertStored<T, true, false, true>(data, count, p, slope, intercept, out); break;
    case 6: ConvertStored<T, true, true, false>(data, count, p, slope, intercept, out); break;
    default: ConvertStored<T, true, true, true>(data, count, p, slope, intercept, out); break;
  }
}

// A decoded frame -> floats: Hounsfield units for CT, stored values otherwise, MONOCHROME1 inverted.
void ToValues(const uint8_t* data, int64_t count, const DicomVolume::Pixels& p, const SliceRef& s, float* out) {
  if (p.bits_allocated == 16 && gLocalByteOrder == EBO_LittleEndian) return ConvertStoredAs<uint16_t>(data, count, p, s.slope, s.intercept, out);
  if (p.bits_allocated == 8) return ConvertStoredAs<uint8_t>(data, count, p, s.slope, s.intercept, out);
  const int64_t max_stored = p.is_signed ? (int64_t(1) << (p.bits_stored - 1)) - 1 : (int64_t(1) << p.bits_stored) - 1;
  const int64_t min_stored = p.is_signed ? -(int64_t(1) << (p.bits_stored - 1)) : 0;
  for (int64_t i = 0; i < count; ++i) {
    int64_t v = StoredValue(data, i, p);
    if (p.monochrome1) v = max_stored + min_stored - v;  // white is low: turn it the grey way round
    out[i] = p.rescale ? static_cast<float>(static_cast<double>(v) * s.slope + s.intercept) : static_cast<float>(v);
  }
}

}  // namespace

void DicomVolume::ReadSlice(int64_t index, float* out) const {
  if (index < 0 || index >= info_.slices) {
    throw Error(ErrorCode::kInvalidArgument, "slice " + std::to_string(index) + " is not in the volume");
  }
  const SliceRef& s = slices_[static_cast<size_t>(index)];
  const std::string name = source_->Name(s.instance);
  std::unique_ptr<DcmFileFormat> ff = internal::ReadInstance(*source_, s.instance, /*lazy=*/true);
  if (!internal::Decodable(ff->getDataset()->getOriginalXfer())) {
    const E_TransferSyntax xfer = ff->getDataset()->getOriginalXfer();
    std::optional<std::string> bytes = options_.transcoder ? options_.transcoder(s.instance) : std::nullopt;
    if (!bytes) {
      Bad(name + ": unsupported transfer syntax " + internal::XferText(xfer) + " and no transcoding available");
    }
    ff = internal::ReadBytes(*bytes, name + " (transcoded)");
    if (!internal::Decodable(ff->getDataset()->getOriginalXfer())) {
      Bad(name + ": transcoded to " + internal::XferText(ff->getDataset()->getOriginalXfer()) +
          ", which cannot be decoded here either");
    }
  }
  DcmDataset* ds = ff->getDataset();
  const Pixels& p = pixels_;
  const int64_t count = p.rows * p.cols;
  SliceScratch& scratch = Scratch();
  std::vector<uint8_t> jpeg2000;
  const uint8_t* data = nullptr;
  if (internal::IsJpeg2000(ds->getOriginalXfer())) {
    // OpenJPEG (see jpeg2000.h): the same layout as DCMTK's uncompressed frames below.
    const long frames = std::max(1L, GetInt(*ds, DCM_NumberOfFrames).value_or(1));
    jpeg2000 = internal::DecodeJpeg2000Frame(*ds, static_cast<uint32_t>(s.frame), static_cast<uint32_t>(frames), p, name);
    data = jpeg2000.data();
  } else if (!(data = NativeFrameInPlace(*ds, s.frame, p))) {
    data = DecodeWithDcmtk(*ds, s.frame, p, name, scratch.frame);
  }
  // Straight into `out` when the orientation changes nothing, else through the scratch slice.
  if (orientation_.IsIdentity()) {
    ToValues(data, count, p, s, out);
  } else {
    float* values = Room(scratch.values, static_cast<size_t>(count));
    ToValues(data, count, p, s, values);
    model::ApplyOrientation(orientation_, values, p.rows, p.cols, out);
  }
}

void DicomVolume::Verify() const {
  float lo = INFINITY, hi = -INFINITY;
  std::vector<float> slice(static_cast<size_t>(info_.rows * info_.cols));
  for (int64_t i = 0; i < info_.slices; ++i) {
    ReadSlice(i, slice.data());
    const auto [mn, mx] = std::minmax_element(slice.begin(), slice.end());
    lo = std::min(lo, *mn);
    hi = std::max(hi, *mx);
  }
  if (!(hi > lo)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%g", static_cast<double>(lo));
    Bad("constant pixel data: every pixel of the " + std::to_string(info_.slices) + " slice(s) is " + buf +
        " (a blank image)");
  }
}

}  // namespace curia::dicom
