# SPDX-License-Identifier: GPL-3.0-or-later
"""Region objects for tests/unit/region (region_test), written into OUT before the test runs.

    /usr/bin/python3 make_region_objects.py OUT SHARED_DIR

Two parts:

1. Third-party writers on a real series (SHARED_DIR/dicom/Brainix/Flair: MR, 22 slices of 288 x 288,
   slightly oblique; the corpus has no CT series of more than two slices). Label images (a disc,
   an annulus, a box) are written as MetaImage files in the series' geometry; plastimatch
   (`plastimatch convert --input-prefix ... --referenced-ct ... --output-dicom`) turns them into an
   RTSTRUCT, and plastimatch's own rasteriser turns that back into label images (for comparison on
   ROIs without holes: it fills holes). dcmjs (make_seg_dcmjs.js, OHIF's Cornerstone adapter)
   writes two SEGs from the same labels as one label map: BINARY bit-packed, and its default
   (FRACTIONAL, RLE). Empty frames are omitted by both.

2. Geometry objects written here with pydicom on synthetic series (geo/: 10 axial slices of 40 x 48,
   1 mm pixels, 2 mm apart; geo_flip/: the same with rows running toward the patient's right):
   SEGs on a subset of slices, on finer and coarser grids, fractional, multi-segment, flipped,
   and one for each refusal; RTSTRUCTs with holes (XOR and keyhole) and each malformed contour.
   The expected mask of each region, computed here independently of the reader (nearest
   neighbour and even-odd point-in-polygon in numpy), is written as <object>.<region number>.u8:
   slices x rows x cols bytes in the volume's order and orientation.

Labels also go out as <name>.u8 (volume order). Everything is deterministic except UIDs.
"""
import json
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

HERE = os.path.dirname(os.path.abspath(__file__))
SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
RTSTRUCT_CLASS = "1.2.840.10008.5.1.4.1.1.481.3"
CT_CLASS = "1.2.840.10008.5.1.4.1.1.2"


def run(cmd, **kw):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **kw)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:3])} ... failed ({r.returncode}):\n{r.stdout.decode(errors='replace')[-3000:]}")
    return r.stdout.decode(errors="replace")


def save(ds, path):
    ds.is_little_endian, ds.is_implicit_VR = True, False  # every syntax here is explicit VR LE outside pixels
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the malformed Contour Data is on purpose
        ds.save_as(path, write_like_original=False)


def code_item(value, scheme, meaning):
    c = Dataset()
    c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = value, scheme, meaning
    return c


# ---------------------------------------------------------------------------------------------
# Part 1: plastimatch and dcmjs on Brainix/Flair


def series_geometry(folder):
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder))
    dss = [pydicom.dcmread(f, stop_before_pixels=True) for f in files]
    iop = np.array(dss[0].ImageOrientationPatient, float)
    r, c = iop[:3], iop[3:]
    n = np.cross(r, c)
    order = sorted(range(len(dss)), key=lambda i: float(np.dot(np.array(dss[i].ImagePositionPatient, float), n)))
    files = [files[i] for i in order]
    dss = [dss[i] for i in order]
    o = np.array(dss[0].ImagePositionPatient, float)
    dz = float(np.dot(np.array(dss[1].ImagePositionPatient, float) - o, n))
    return files, dss, r, c, n, o, dz


def write_mha(path, volume, r, c, n, o, spacing):
    s, h, w = volume.shape
    header = "\n".join([
        "ObjectType = Image", "NDims = 3", "BinaryData = True", "BinaryDataByteOrderMSB = False",
        "CompressedData = False",
        "TransformMatrix = " + " ".join(repr(float(x)) for x in np.concatenate([r, c, n])),
        "Offset = " + " ".join(repr(float(x)) for x in o),
        "ElementSpacing = " + " ".join(repr(float(x)) for x in spacing),
        f"DimSize = {w} {h} {s}", "ElementType = MET_UCHAR", "ElementDataFile = LOCAL", ""])
    with open(path, "wb") as f:
        f.write(header.encode() + volume.astype(np.uint8).tobytes())


def read_mha(path):
    with open(path, "rb") as f:
        data = f.read()
    header = {}
    pos = 0
    while True:
        end = data.index(b"\n", pos)
        key, _, value = data[pos:end].decode().partition(" = ")
        header[key.strip()] = value.strip()
        pos = end + 1
        if key.strip() == "ElementDataFile":
            break
    w, h, s = (int(v) for v in header["DimSize"].split())
    types = {"MET_UCHAR": np.uint8, "MET_CHAR": np.int8, "MET_USHORT": np.uint16, "MET_SHORT": np.int16,
             "MET_UINT": np.uint32, "MET_INT": np.int32, "MET_FLOAT": np.float32}
    if header.get("CompressedData", "False") == "True":
        import zlib
        raw = zlib.decompress(data[pos:])
    else:
        raw = data[pos:]
    return np.frombuffer(raw, types[header["ElementType"]]).reshape(s, h, w), header


def brainix(out, shared):
    folder = os.path.join(shared, "dicom", "Brainix", "Flair")
    files, dss, r, c, n, o, dz = series_geometry(folder)
    s, h, w = len(dss), int(dss[0].Rows), int(dss[0].Columns)
    dr, dc = (float(v) for v in dss[0].PixelSpacing)
    # IOP (1, 0, 0.024; 0, 1, 0.072): an axial series the loader keeps as stored (PL), so the
    # volume's order and orientation are the stored ones sorted along the normal.
    yy, xx = np.mgrid[0:h, 0:w]

    def disc(cy, cx, radius):
        return (yy - cy) ** 2 + (xx - cx) ** 2 <= radius * radius

    labels = {}
    a = np.zeros((s, h, w), np.uint8)
    for z in range(5, 15):
        a[z] = disc(140, 150, 30 - abs(z - 9.5) * 3)
    labels["disc"] = a
    a = np.zeros((s, h, w), np.uint8)
    for z in range(8, 13):
        a[z] = disc(150, 70, 40) & ~disc(150, 70, 20)
    labels["annulus"] = a
    a = np.zeros((s, h, w), np.uint8)
    a[3:7, 200:240, 180:260] = 1
    labels["box"] = a
    for name, v in labels.items():
        v.tofile(os.path.join(out, f"brainix_{name}.u8"))

    # plastimatch: label images -> RTSTRUCT -> its own label images.
    masks = os.path.join(out, "plastimatch_in")
    os.makedirs(masks, exist_ok=True)
    for name, v in labels.items():
        write_mha(os.path.join(masks, f"{name}.mha"), v, r, c, n, o, (dc, dr, dz))
    rtss_dir = os.path.join(out, "plastimatch_rtss")
    run(["plastimatch", "convert", "--input-prefix", masks, "--referenced-ct", folder, "--output-dicom", rtss_dir])
    [rtss] = [f for f in os.listdir(rtss_dir) if f.endswith(".dcm")]
    shutil.copyfile(os.path.join(rtss_dir, rtss), os.path.join(out, "brainix_plastimatch_rtss.dcm"))
    back = os.path.join(out, "plastimatch_back")
    run(["plastimatch", "convert", "--input", os.path.join(rtss_dir, rtss), "--referenced-ct", folder,
         "--output-prefix", back, "--prefix-format", "mha"])
    for name in labels:
        v, header = read_mha(os.path.join(back, f"{name}.mha"))
        if v.shape != (s, h, w):
            raise RuntimeError(f"plastimatch's {name}.mha is {v.shape}, the series {(s, h, w)}")
        # Its rasteriser writes the reference CT's geometry; check the origin rather than trust it.
        origin = np.array([float(x) for x in header["Offset"].split()])
        if np.abs(origin - o).max() > 1e-2:
            raise RuntimeError(f"plastimatch's {name}.mha starts at {origin}, the series at {o}")
        (v != 0).astype(np.uint8).tofile(os.path.join(out, f"brainix_plastimatch_{name}.u8"))

    # dcmjs: one label map, segments 1..3.
    order = ["disc", "annulus", "box"]
    labelmap = np.zeros((s, h, w), np.uint8)
    for i, name in enumerate(order):
        labelmap[labels[name] != 0] = i + 1
    labelmap.tofile(os.path.join(out, "brainix_labelmap.u8"))
    segments = [
        {"label": "disc", "category": ["91723000", "SCT", "Anatomical Structure"], "type": ["12738006", "SCT", "Brain"]},
        {"label": "annulus", "category": ["49755003", "SCT", "Morphologically Altered Structure"],
         "type": ["108369006", "SCT", "Neoplasm"]},
        {"label": "box", "category": ["91723000", "SCT", "Anatomical Structure"], "type": ["39607008", "SCT", "Lung"]},
    ]
    with open(os.path.join(out, "brainix_segments.json"), "w") as f:
        json.dump(segments, f)
    for mode in ("binary", "rle"):
        run(["node", os.path.join(HERE, "make_seg_dcmjs.js"), os.path.join(out, f"brainix_dcmjs_{mode}.dcm"),
             os.path.join(out, "brainix_labelmap.u8"), str(s), str(h), str(w), mode,
             os.path.join(out, "brainix_segments.json")] + files)


# ---------------------------------------------------------------------------------------------
# Part 2: geometry objects with pydicom on synthetic series

S, H, W = 10, 40, 48
PIX, GAP = 1.0, 2.0
ORIGIN = np.array([-20.0, -30.0, 0.0])
STUDY = generate_uid()
FOR = generate_uid()


class Series:
    def __init__(self, folder, flip):
        self.folder = folder
        self.uid = generate_uid()
        # flip: rows run toward the patient's right (-x); the loader then reverses the columns.
        self.r = np.array([-1.0, 0, 0]) if flip else np.array([1.0, 0, 0])
        self.c = np.array([0, 1.0, 0])
        self.n = np.cross(self.r, self.c)
        self.flip = flip
        self.origin = ORIGIN + (np.array([W - 1, 0, 0]) * PIX if flip else 0)
        self.positions = [self.origin + np.array([0, 0, k * GAP]) for k in range(S)]
        self.sops = [generate_uid() for _ in range(S)]
        os.makedirs(folder, exist_ok=True)
        rng = np.random.default_rng(7)
        for k in range(S):
            save(self.image(k, rng), os.path.join(folder, f"{k:02d}.dcm"))

    def image(self, k, rng):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_CLASS
        meta.MediaStorageSOPInstanceUID = self.sops[k]
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = CT_CLASS, self.sops[k]
        ds.Modality = "CT"
        ds.PatientName, ds.PatientID = "REGION^TEST", "REGION1"
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = STUDY, self.uid, FOR
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [float(v) for v in self.positions[k]]
        ds.ImageOrientationPatient = [float(v) for v in np.concatenate([self.r, self.c])]
        ds.PixelSpacing = [PIX, PIX]
        ds.SliceThickness = GAP
        ds.Rows, ds.Columns = H, W
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleSlope, ds.RescaleIntercept = 1, 0
        ds.PixelData = rng.integers(-1000, 1000, (H, W), dtype=np.int16).tobytes()
        return ds

    def references(self):
        """A sequence of Referenced SOP Class/Instance UID items, one per image."""
        items = []
        for sop in self.sops:
            i = Dataset()
            i.ReferencedSOPClassUID, i.ReferencedSOPInstanceUID = CT_CLASS, sop
            items.append(i)
        return Sequence(items)

    def centres(self):
        """Patient coordinates of every pixel centre, volume order and orientation: S x H x W x 3."""
        yy, xx = np.mgrid[0:H, 0:W].astype(float)
        if self.flip:
            xx = (W - 1) - xx  # volume column x is stored column W-1-x
        pts = np.zeros((S, H, W, 3))
        for k in range(S):
            pts[k] = self.positions[k] + xx[..., None] * PIX * self.r + yy[..., None] * PIX * self.c
        return pts


def write_expected(out, name, number, mask):
    mask.astype(np.uint8).tofile(os.path.join(out, f"{name}.{number}.u8"))


class Seg:
    """A SEG written field by field: frames on planes given by position, orientation and spacing."""

    def __init__(self, series, rows, cols, spacing, kind="BINARY", fractional=None, max_value=255):
        self.series, self.rows, self.cols, self.spacing = series, rows, cols, spacing
        self.kind, self.fractional, self.max_value = kind, fractional, max_value
        self.segments, self.frames = [], []  # frames: (segment, position, r, c, pixels)
        self.frame_of_reference = FOR
        self.referenced_series = series.uid
        self.spacing_between = None
        self.transfer_syntax = ExplicitVRLittleEndian
        self.sop_class = SEG_CLASS

    def segment(self, label, category=("91723000", "SCT", "Anatomical Structure"), type_=("10200004", "SCT", "Liver")):
        self.segments.append((label, category, type_))
        return len(self.segments)

    def frame(self, segment, position, pixels, r=None, c=None):
        r = self.series.r if r is None else np.asarray(r, float)
        c = self.series.c if c is None else np.asarray(c, float)
        self.frames.append((segment, np.asarray(position, float), r, c, np.asarray(pixels, np.uint8)))

    def dataset(self):
        meta = FileMetaDataset()
        uid = generate_uid()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = self.sop_class, uid
        meta.TransferSyntaxUID = self.transfer_syntax
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = self.sop_class, uid
        ds.Modality = "SEG"
        ds.PatientName, ds.PatientID = "REGION^TEST", "REGION1"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = STUDY, generate_uid()
        ds.SeriesNumber, ds.InstanceNumber = 100, 1
        if self.frame_of_reference:
            ds.FrameOfReferenceUID = self.frame_of_reference
        ds.Manufacturer, ds.ManufacturerModelName, ds.DeviceSerialNumber, ds.SoftwareVersions = \
            "Curia tests", "make_region_objects.py", "1", "1"
        ds.ContentLabel, ds.ContentDescription, ds.ContentCreatorName = "TEST", "geometry test", "TEST^GENERATOR"
        ds.ContentDate, ds.ContentTime = "20240101", "120000"
        ds.ImageType = ["DERIVED", "PRIMARY"]
        ds.LossyImageCompression = "00"
        ds.SegmentationType = self.kind
        if self.kind == "FRACTIONAL":
            ds.SegmentationFractionalType = self.fractional
            ds.MaximumFractionalValue = self.max_value
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows, ds.Columns = self.rows, self.cols
        bits = 1 if self.kind == "BINARY" else 8
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
        ref = Dataset()
        ref.SeriesInstanceUID = self.referenced_series
        ref.ReferencedInstanceSequence = self.series.references()
        ds.ReferencedSeriesSequence = Sequence([ref])
        seq = []
        for k, (label, category, type_) in enumerate(self.segments):
            item = Dataset()
            item.SegmentNumber = k + 1
            item.SegmentLabel = label
            item.SegmentAlgorithmType = "MANUAL"
            item.SegmentedPropertyCategoryCodeSequence = Sequence([code_item(*category)])
            item.SegmentedPropertyTypeCodeSequence = Sequence([code_item(*type_)])
            seq.append(item)
        ds.SegmentSequence = Sequence(seq)
        shared = Dataset()
        pm = Dataset()
        pm.PixelSpacing = [float(self.spacing[0]), float(self.spacing[1])]
        pm.SliceThickness = float(self.spacing[2])
        if self.spacing_between:
            pm.SpacingBetweenSlices = self.spacing_between
        shared.PixelMeasuresSequence = Sequence([pm])
        ds.SharedFunctionalGroupsSequence = Sequence([shared])
        per = []
        for segment, pos, r, c, _ in self.frames:
            f = Dataset()
            fc = Dataset()
            fc.DimensionIndexValues = [segment, len(per) + 1]
            f.FrameContentSequence = Sequence([fc])
            pp = Dataset()
            pp.ImagePositionPatient = [float(v) for v in pos]
            f.PlanePositionSequence = Sequence([pp])
            po = Dataset()
            po.ImageOrientationPatient = [float(v) for v in np.concatenate([r, c])]
            f.PlaneOrientationSequence = Sequence([po])
            si = Dataset()
            si.ReferencedSegmentNumber = segment
            f.SegmentIdentificationSequence = Sequence([si])
            per.append(f)
        ds.PerFrameFunctionalGroupsSequence = Sequence(per)
        ds.NumberOfFrames = len(self.frames)
        if self.kind == "BINARY":
            bits_all = np.concatenate([p.reshape(-1) != 0 for *_, p in self.frames]) if self.frames else np.zeros(0, bool)
            ds.PixelData = np.packbits(bits_all, bitorder="little").tobytes()
        else:
            ds.PixelData = b"".join(p.reshape(-1).astype(np.uint8).tobytes() for *_, p in self.frames)
        if len(ds.PixelData) % 2:
            ds.PixelData += b"\0"
        return ds

    def save(self, path):
        ds = self.dataset()
        if self.transfer_syntax != ExplicitVRLittleEndian:
            from pydicom.encaps import encapsulate
            ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\0" * 60] * max(1, len(self.frames)))
            ds["PixelData"].VR = "OB"
            ds["PixelData"].is_undefined_length = True
        save(ds, path)


def nearest_seg_mask(series, seg, segment, seg_plane_spacing, threshold=None):
    """The expected mask: for every series pixel centre, the nearest SEG plane within half the SEG's
    plane spacing, then the nearest pixel of this segment's frame there (independent numpy code)."""
    pts = series.centres()
    out = np.zeros((S, H, W), np.uint8)
    planes = sorted({round(float(np.dot(p, series.n)), 6) for _, p, *_ in seg.frames})
    for k in range(S):
        z = float(np.dot(series.positions[k], series.n))
        dist = [abs(p - z) for p in planes]
        if not dist or min(dist) > seg_plane_spacing / 2 + 1e-3:
            continue
        plane = planes[int(np.argmin(dist))]
        for seg_no, pos, r, c, pixels in seg.frames:
            if seg_no != segment or abs(float(np.dot(pos, series.n)) - plane) > 1e-6:
                continue
            d = pts[k] - pos
            u = np.floor(d @ r / seg.spacing[1] + 0.5).astype(int)
            v = np.floor(d @ c / seg.spacing[0] + 0.5).astype(int)
            ok = (u >= 0) & (v >= 0) & (u < seg.cols) & (v < seg.rows)
            values = np.zeros((H, W), np.int64)
            values[ok] = pixels[v[ok], u[ok]]
            inside = values >= 1 if threshold is None else 2 * values >= threshold
            out[k] |= (inside & ok).astype(np.uint8)
    return out


def shape(rows, cols, cy, cx, ry, rx):
    yy, xx = np.mgrid[0:rows, 0:cols]
    return ((((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) <= 1).astype(np.uint8)


def geometry(out):
    geo = Series(os.path.join(out, "geo"), flip=False)
    flip = Series(os.path.join(out, "geo_flip"), flip=True)
    g = os.path.join(out, "g")
    os.makedirs(g, exist_ok=True)

    def seg_file(name):
        return os.path.join(g, f"{name}.dcm")

    # Same grid, a subset of slices (empty frames omitted), three segments (2 and 3 overlap).
    seg = Seg(geo, H, W, (PIX, PIX, GAP))
    a, b, c = seg.segment("liver"), seg.segment("lesion"), seg.segment("overlap", type_=("4147007", "SCT", "Mass"))
    for k in (3, 4, 5, 6):
        seg.frame(a, geo.positions[k], shape(H, W, 20, 24, 8 + k, 12))
    seg.frame(b, geo.positions[5], shape(H, W, 10, 10, 4, 6))
    seg.frame(c, geo.positions[5], shape(H, W, 12, 12, 5, 5))
    seg.frame(c, geo.positions[6], shape(H, W, 30, 40, 3, 3))
    seg.save(seg_file("seg_subset"))
    for no in (a, b, c):
        write_expected(g, "seg_subset", no, nearest_seg_mask(geo, seg, no, GAP))

    # A finer grid: 0.5 mm pixels over 81 x 99 (odd: frames not byte-aligned in the bit stream),
    # shifted by 0.1 mm; planes 1 mm apart (every other one between the series' slices).
    seg = Seg(geo, 81, 99, (0.5, 0.5, 1.0))
    a = seg.segment("fine")
    o = ORIGIN + np.array([0.1, 0.1, 0])
    for z in range(4, 12):
        seg.frame(a, o + np.array([0, 0, z * 1.0]), shape(81, 99, 40, 45, 10 + 2 * z, 30))
    seg.save(seg_file("seg_finer"))
    write_expected(g, "seg_finer", a, nearest_seg_mask(geo, seg, a, 1.0))

    # A coarser grid over part of the field: 2 mm pixels, 13 x 11 from (x, y) = (-11.7, -20.7) mm,
    # planes 4 mm apart from z = 0.5 mm; Spacing Between Slices given.
    seg = Seg(geo, 13, 11, (2.0, 2.0, 4.0))
    seg.spacing_between = 4.0
    a = seg.segment("coarse")
    for z in (0.5, 4.5, 8.5):
        seg.frame(a, [-11.7, -20.7, z], shape(13, 11, 6, 5, 4 + z / 4, 3))
    seg.save(seg_file("seg_coarser"))
    write_expected(g, "seg_coarser", a, nearest_seg_mask(geo, seg, a, 4.0))

    # FRACTIONAL, Maximum Fractional Value 200: a pixel is in at 100 and above.
    for kind in ("PROBABILITY", "OCCUPANCY"):
        seg = Seg(geo, H, W, (PIX, PIX, GAP), kind="FRACTIONAL", fractional=kind, max_value=200)
        a = seg.segment("fraction")
        ramp = np.zeros((H, W), np.uint8)
        ramp[5:35, 4:44] = np.tile(np.linspace(90, 110, 40).round().astype(np.uint8), (30, 1))
        ramp[20, 20] = 200
        seg.frame(a, geo.positions[2], ramp)
        seg.frame(a, geo.positions[3], np.full((H, W), 99, np.uint8))  # just below: nothing
        name = f"seg_fractional_{kind.lower()}"
        seg.save(seg_file(name))
        write_expected(g, name, a, nearest_seg_mask(geo, seg, a, GAP, threshold=200))

    # The flipped series: the SEG on its stored grid; the volume reverses the columns.
    seg = Seg(flip, H, W, (PIX, PIX, GAP))
    a = seg.segment("left")
    half = np.zeros((H, W), np.uint8)
    half[10:20, 0:10] = 1  # stored columns 0..9: the patient's left, the volume's right side
    seg.frame(a, flip.positions[4], half)
    seg.save(seg_file("seg_flip"))
    write_expected(g, "seg_flip", a, nearest_seg_mask(flip, seg, a, GAP))

    # Refusals.
    def simple(name, **changes):
        s = Seg(geo, H, W, (PIX, PIX, GAP))
        no = s.segment("x")
        s.frame(no, geo.positions[2], shape(H, W, 20, 20, 5, 5))
        for key, value in changes.items():
            setattr(s, key, value)
        s.save(seg_file(name))
        return s

    simple("seg_other_for", frame_of_reference=generate_uid())
    simple("seg_not_present", referenced_series=generate_uid())
    simple("seg_jpeg2000", transfer_syntax="1.2.840.10008.1.2.4.90")
    ds = simple("seg_labelmap").dataset()
    ds.SegmentationType = "LABELMAP"
    save(ds, seg_file("seg_labelmap"))
    seg = Seg(geo, H, W, (PIX, PIX, GAP))
    tilt = np.radians(10)
    a = seg.segment("tilted")
    seg.frame(a, geo.positions[2], shape(H, W, 20, 20, 5, 5), r=[np.cos(tilt), 0, np.sin(tilt)], c=[0, 1, 0])
    seg.save(seg_file("seg_oblique"))
    # Empty segments (a frame with no pixel set; no frame at all) and outside ones (above the
    # volume; beside it), next to one that is fine.
    seg = Seg(geo, H, W, (PIX, PIX, GAP))
    ok, empty, frameless, above, beside, partly = (
        seg.segment(n) for n in ("ok", "empty", "frameless", "above", "beside", "partly"))
    seg.frame(ok, geo.positions[1], shape(H, W, 20, 20, 5, 5))
    seg.frame(empty, geo.positions[1], np.zeros((H, W)))
    seg.frame(above, ORIGIN + np.array([0, 0, 100.0]), shape(H, W, 20, 20, 5, 5))
    seg.frame(beside, ORIGIN + np.array([500.0, 0, 2 * GAP]), shape(H, W, 20, 20, 5, 5))
    seg.frame(partly, ORIGIN + np.array([-18.0, 0, 3 * GAP]), shape(H, W, 20, 20, 5, 5))  # half off the left edge
    seg.save(seg_file("seg_empty_outside"))
    for no in (ok, partly):
        write_expected(g, "seg_empty_outside", no, nearest_seg_mask(geo, seg, no, GAP))
    rtstructs(geo, g)


# --- RTSTRUCT


def even_odd(polygons, series, k):
    """Expected mask on slice k: pixel centres inside an odd number of the polygons (patient mm,
    in the slice's plane); crossing test in numpy, independent of the reader's scan line."""
    pts = series.centres()[k]
    x, y = pts[..., 0], pts[..., 1]
    inside = np.zeros((H, W), bool)
    for poly in polygons:
        p = np.asarray(poly, float)
        for i in range(len(p)):
            (x0, y0), (x1, y1) = p[i, :2], p[(i + 1) % len(p), :2]
            crosses = (y0 <= y) != (y1 <= y)
            with np.errstate(divide="ignore", invalid="ignore"):
                xc = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
            inside ^= crosses & (x < xc)
    return inside.astype(np.uint8)


def circle(cx, cy, radius, z, n=48, reverse=False):
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    if reverse:
        t = t[::-1]
    return [[cx + radius * np.cos(a), cy + radius * np.sin(a), z] for a in t]


class RtStruct:
    def __init__(self, series):
        self.series = series
        self.rois = []  # (number, name, for, [(type, points)])
        self.frame_of_reference = FOR

    def roi(self, name, contours, number=None, frame_of_reference=None):
        self.rois.append((number or len(self.rois) + 1, name, frame_of_reference or FOR, contours))
        return self.rois[-1][0]

    def save(self, path):
        meta = FileMetaDataset()
        uid = generate_uid()
        meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = RTSTRUCT_CLASS, uid
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(None, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = RTSTRUCT_CLASS, uid
        ds.Modality = "RTSTRUCT"
        ds.PatientName, ds.PatientID = "REGION^TEST", "REGION1"
        ds.StudyInstanceUID, ds.SeriesInstanceUID = STUDY, generate_uid()
        ds.StructureSetLabel = "TEST"
        rf = Dataset()
        rf.FrameOfReferenceUID = self.frame_of_reference
        st = Dataset()
        st.ReferencedSOPClassUID = "1.2.840.10008.3.1.2.3.1"
        st.ReferencedSOPInstanceUID = STUDY
        se = Dataset()
        se.SeriesInstanceUID = self.series.uid
        se.ContourImageSequence = self.series.references()
        st.RTReferencedSeriesSequence = Sequence([se])
        rf.RTReferencedStudySequence = Sequence([st])
        ds.ReferencedFrameOfReferenceSequence = Sequence([rf])
        ds.StructureSetROISequence = Sequence([])
        ds.ROIContourSequence = Sequence([])
        ds.RTROIObservationsSequence = Sequence([])
        for number, name, for_uid, contours in self.rois:
            s = Dataset()
            s.ROINumber, s.ROIName, s.ReferencedFrameOfReferenceUID = number, name, for_uid
            s.ROIGenerationAlgorithm = "MANUAL"
            ds.StructureSetROISequence.append(s)
            rc = Dataset()
            rc.ReferencedROINumber = number
            rc.ContourSequence = Sequence([])
            for type_, points in contours:
                c = Dataset()
                c.ContourGeometricType = type_
                if isinstance(points, bytes):  # raw Contour Data text, for malformed values
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        c.add_new(0x30060050, "DS", points.decode())
                    c.NumberOfContourPoints = 0
                else:
                    flat = [float(v) for p in points for v in p]
                    c.NumberOfContourPoints = len(points)
                    c.ContourData = [f"{v:.6g}" for v in flat]
                rc.ContourSequence.append(c)
            ds.ROIContourSequence.append(rc)
            ob = Dataset()
            ob.ObservationNumber, ob.ReferencedROINumber = number, number
            ob.RTROIInterpretedType = "ORGAN"
            ob.ROIInterpreter = ""
            ds.RTROIObservationsSequence.append(ob)
        save(ds, path)


def rtstructs(geo, g):
    z = [float(p[2]) for p in geo.positions]
    rt = RtStruct(geo)
    expected = {}
    # 1: an annulus drawn as two contours per plane (XOR), on slices 3-5.
    contours, exp = [], np.zeros((S, H, W), np.uint8)
    for k in (3, 4, 5):
        outer, inner = circle(2.3, -10.4, 12.2, z[k]), circle(2.3, -10.4, 5.7, z[k], reverse=True)
        contours += [("CLOSED_PLANAR", outer), ("CLOSED_PLANAR", inner)]
        exp[k] = even_odd([outer, inner], geo, k)
    expected[rt.roi("ring", contours)] = exp
    # 2: a keyhole: a square with a square hole joined by a zero-width channel, on slice 6.
    k = 6
    keyhole = [[-15.3, -25.6, z[k]], [10.7, -25.6, z[k]], [10.7, -5.4, z[k]], [-2.2, -5.4, z[k]],
               [-2.2, -10.3, z[k]], [4.6, -10.3, z[k]], [4.6, -19.8, z[k]], [-8.3, -19.8, z[k]],
               [-8.3, -10.3, z[k]], [-2.2, -10.3, z[k]], [-2.2, -5.4, z[k]], [-15.3, -5.4, z[k]]]
    exp = np.zeros((S, H, W), np.uint8)
    exp[k] = even_odd([keyhole], geo, k)
    expected[rt.roi("keyhole", [("CLOSED_PLANAR", keyhole)])] = exp
    # 3: a square with a POINT and an OPEN_PLANAR contour beside it (ignored with a note), contours
    # 0.4 mm off the slice plane (within half the 2 mm spacing).
    sq = [[-18.6, 2.4, z[2] + 0.4], [-6.5, 2.4, z[2] + 0.4], [-6.5, 7.7, z[2] + 0.4], [-18.6, 7.7, z[2] + 0.4]]
    exp = np.zeros((S, H, W), np.uint8)
    exp[2] = even_odd([sq], geo, 2)
    expected[rt.roi("square", [("CLOSED_PLANAR", sq), ("POINT", [[0, 0, z[2]]]),
                               ("OPEN_PLANAR", [[0, 0, z[2]], [5, 5, z[2]]])])] = exp
    rt.save(os.path.join(g, "rt_holes.dcm"))
    for number, mask in expected.items():
        write_expected(g, "rt_holes", number, mask)

    # Malformed, empty, outside and mismatched ROIs, each refused on its own, next to a good one.
    rt = RtStruct(geo)
    good = circle(0.3, -10.2, 6.1, z[1])
    rt.roi("good", [("CLOSED_PLANAR", good)])
    rt.roi("odd", [("CLOSED_PLANAR", b"1\\2\\3\\4\\5\\6\\7\\8\\0\\1")])
    rt.roi("two points", [("CLOSED_PLANAR", [[0, 0, z[1]], [5, 5, z[1]]])])
    twisted = [[-5, -5, z[1]], [5, -5, z[1] + 1.5], [5, 5, z[1]], [-5, 5, z[1] + 1.5]]
    rt.roi("non-planar", [("CLOSED_PLANAR", twisted)])
    rt.roi("nan", [("CLOSED_PLANAR", b"1\\2\\0\\NaN\\2\\0\\3\\4\\0")])
    tilted = [[-5, -5, z[1] - 0.9], [5, -5, z[1] + 0.9], [5, 5, z[1] + 0.9], [-5, 5, z[1] - 0.9]]
    rt.roi("tilted", [("CLOSED_PLANAR", tilted)])
    rt.roi("tiny", [("CLOSED_PLANAR", [[0.1, 0.1, z[1]], [0.4, 0.1, z[1]], [0.4, 0.4, z[1]]])])
    rt.roi("above", [("CLOSED_PLANAR", circle(0, -10, 5, 100.0))])
    rt.roi("beside", [("CLOSED_PLANAR", circle(300, -10, 5, z[1]))])
    rt.roi("points only", [("POINT", [[0, 0, z[1]]])])
    rt.roi("other frame", [("CLOSED_PLANAR", good)], frame_of_reference=generate_uid())
    rt.save(os.path.join(g, "rt_refusals.dcm"))
    exp = np.zeros((S, H, W), np.uint8)
    exp[1] = even_odd([good], geo, 1)
    write_expected(g, "rt_refusals", 1, exp)

    rt = RtStruct(geo)
    rt.frame_of_reference = generate_uid()
    rt.roi("good", [("CLOSED_PLANAR", good)])
    rt.save(os.path.join(g, "rt_other_for.dcm"))


def main():
    out, shared = sys.argv[1], sys.argv[2]
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    geometry(out)
    brainix(out, shared)
    with open(os.path.join(out, "done"), "w") as f:
        f.write("ok\n")


if __name__ == "__main__":
    main()
