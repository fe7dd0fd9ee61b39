#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reads the phantom's SEG and RTSTRUCT back with pydicom, independently of DCMTK, and compares
them with the phantom's labels.

    check_regions.py DIR SLICES ROWS COLS

DIR holds series/slice-*.dcm, seg.dcm, rtstruct.dcm and labels.u8 (SLICES x ROWS x COLS labels,
0 = air, label n = segment / ROI n). SEG frames are placed on the series by Image Position
(Patient) and must equal the labels exactly; every (segment, slice) with pixels has a frame and no
frame is empty. RTSTRUCT contours are rasterised with the even-odd rule at pixel centres and must
equal the labels exactly too (the contours run along pixel edges).
"""
import glob
import os
import sys

import numpy as np
import pydicom


def fail(message):
    print("FAIL: " + message)
    sys.exit(1)


def main():
    folder, slices, rows, cols = sys.argv[1], *map(int, sys.argv[2:5])
    labels = np.fromfile(os.path.join(folder, "labels.u8"), np.uint8).reshape(slices, rows, cols)
    series = [pydicom.dcmread(f) for f in sorted(glob.glob(os.path.join(folder, "series", "*.dcm")))]
    z_of_sop = {s.SOPInstanceUID: float(s.ImagePositionPatient[2]) for s in series}
    zs = sorted(z_of_sop.values())
    index_of_z = {z: k for k, z in enumerate(zs)}
    first = series[0]
    origin = [float(v) for v in first.ImagePositionPatient]
    spacing = [float(v) for v in first.PixelSpacing]  # row spacing, column spacing

    seg = pydicom.dcmread(os.path.join(folder, "seg.dcm"))
    if seg.SOPClassUID != "1.2.840.10008.5.1.4.1.1.66.4" or seg.SegmentationType != "BINARY":
        fail("not a binary SEG")
    if seg.FrameOfReferenceUID != first.FrameOfReferenceUID or seg.StudyInstanceUID != first.StudyInstanceUID:
        fail("SEG is not in the series' study and frame of reference")
    referenced = {i.ReferencedSOPInstanceUID
                  for s in seg.ReferencedSeriesSequence if s.SeriesInstanceUID == first.SeriesInstanceUID
                  for i in s.ReferencedInstanceSequence}
    segments = {int(s.SegmentNumber): s for s in seg.SegmentSequence}
    if sorted(segments) != list(range(1, len(segments) + 1)):
        fail(f"segment numbers {sorted(segments)}")
    for n, s in segments.items():
        if not s.SegmentLabel or s.SegmentedPropertyCategoryCodeSequence[0].CodingSchemeDesignator != "SCT" \
                or not s.SegmentedPropertyTypeCodeSequence[0].CodeValue:
            fail(f"segment {n} has no label or codes")
    frames = seg.pixel_array.reshape(int(seg.NumberOfFrames), rows, cols)
    got = np.zeros_like(labels)
    seen = set()
    for f, item in enumerate(seg.PerFrameFunctionalGroupsSequence):
        n = int(item.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        z = float(item.PlanePositionSequence[0].ImagePositionPatient[2])
        k = index_of_z[z]
        source = item.DerivationImageSequence[0].SourceImageSequence[0].ReferencedSOPInstanceUID
        if z_of_sop.get(source) != z:
            fail(f"frame {f}: source image {source} is not the slice at z={z}")
        if source not in referenced:
            fail(f"frame {f}: source image missing from the Referenced Series Sequence")
        if not frames[f].any():
            fail(f"frame {f} is empty")
        if (n, k) in seen:
            fail(f"two frames for segment {n} on slice {k}")
        seen.add((n, k))
        if (got[k][frames[f] != 0] != 0).any():
            fail(f"frame {f} overlaps another segment")
        got[k][frames[f] != 0] = n
    if not np.array_equal(got, labels):
        fail(f"SEG differs from the labels at {int((got != labels).sum())} pixels")
    print(f"SEG ok: {len(segments)} segments, {frames.shape[0]} frames")

    rt = pydicom.dcmread(os.path.join(folder, "rtstruct.dcm"))
    ref_for = rt.ReferencedFrameOfReferenceSequence[0]
    if ref_for.FrameOfReferenceUID != first.FrameOfReferenceUID:
        fail("RTSTRUCT frame of reference")
    rt_series = ref_for.RTReferencedStudySequence[0].RTReferencedSeriesSequence[0]
    if rt_series.SeriesInstanceUID != first.SeriesInstanceUID or \
            {i.ReferencedSOPInstanceUID for i in rt_series.ContourImageSequence} != set(z_of_sop):
        fail("RTSTRUCT does not reference the series' slices")
    names = {int(r.ROINumber): r.ROIName for r in rt.StructureSetROISequence}
    got = np.zeros_like(labels)
    cy, cx = np.mgrid[0:rows, 0:cols]
    px = origin[0] + cx * spacing[1]  # pixel centres in patient coordinates (axial, 1\0\0\0\1\0)
    py = origin[1] + cy * spacing[0]
    contours = 0
    for roi in rt.ROIContourSequence:
        n = int(roi.ReferencedROINumber)
        if n not in names:
            fail(f"ROI {n} has contours but no definition")
        by_slice = {}
        for c in roi.ContourSequence:
            if c.ContourGeometricType != "CLOSED_PLANAR":
                fail("contour type " + c.ContourGeometricType)
            pts = np.array(c.ContourData, float).reshape(-1, 3)
            if len(pts) != int(c.NumberOfContourPoints) or np.ptp(pts[:, 2]) != 0:
                fail("contour points or plane")
            k = index_of_z[float(pts[0, 2])]
            if z_of_sop[c.ContourImageSequence[0].ReferencedSOPInstanceUID] != float(pts[0, 2]):
                fail("contour image is not the contour's slice")
            inside = by_slice.setdefault(k, np.zeros((rows, cols), bool))
            x, y = pts[:, 0], pts[:, 1]
            x2, y2 = np.roll(x, -1), np.roll(y, -1)
            for a in range(len(x)):
                if y[a] == y2[a]:
                    continue
                crosses = (y[a] > py) != (y2[a] > py)
                xc = x[a] + (py - y[a]) * (x2[a] - x[a]) / (y2[a] - y[a])
                inside ^= crosses & (px < xc)
            contours += 1
        for k, inside in by_slice.items():
            if (got[k][inside] != 0).any():
                fail(f"ROI {n} overlaps another on slice {k}")
            got[k][inside] = n
    if not np.array_equal(got, labels):
        fail(f"RTSTRUCT differs from the labels at {int((got != labels).sum())} pixels")
    print(f"RTSTRUCT ok: {len(names)} ROIs, {contours} contours")


if __name__ == "__main__":
    main()
