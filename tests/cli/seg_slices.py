# SPDX-License-Identifier: GPL-3.0-or-later
"""Reads a series and a binary SEG of it with pydicom (independently of DCMTK and of Curia's
readers) and writes, for the parity test of mask-prompted heads (cli_test), a safetensors file:
  image_K            (rows, cols) float32: slice K's values (stored value * slope + intercept)
  mask_N_K           (rows, cols) float32: segment N on slice K (0 or 1), for every slice
Slices are ordered by their position along the slice normal; SEG frames are placed on the slices
by Image Position (Patient), never by frame index.

usage: seg_slices.py SERIES_DIR SEG_FILE OUT.safetensors
"""
import json
import os
import struct
import sys

import numpy as np
import pydicom


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, array in tensors.items():
        data = np.ascontiguousarray(array, dtype=np.float32).tobytes()
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    series_dir, seg_path, out = sys.argv[1:4]
    slices = []
    for name in sorted(os.listdir(series_dir)):
        ds = pydicom.dcmread(os.path.join(series_dir, name))
        if ds.SOPClassUID == "1.2.840.10008.5.1.4.1.1.66.4":  # a SEG in the folder
            continue
        orientation = np.array(ds.ImageOrientationPatient, dtype=float)
        normal = np.cross(orientation[:3], orientation[3:])
        position = np.array(ds.ImagePositionPatient, dtype=float)
        values = ds.pixel_array.astype(np.float64) * float(getattr(ds, "RescaleSlope", 1)) + float(
            getattr(ds, "RescaleIntercept", 0))
        slices.append((float(np.dot(normal, position)), position, values.astype(np.float32)))
    slices.sort(key=lambda s: s[0])
    tensors = {"image_%d" % k: s[2] for k, s in enumerate(slices)}

    seg = pydicom.dcmread(seg_path)
    frames = seg.pixel_array.reshape(-1, seg.Rows, seg.Columns)
    segments = [int(s.SegmentNumber) for s in seg.SegmentSequence]
    masks = {n: np.zeros((len(slices), seg.Rows, seg.Columns), np.float32) for n in segments}
    for i, group in enumerate(seg.PerFrameFunctionalGroupsSequence):
        number = int(group.SegmentIdentificationSequence[0].ReferencedSegmentNumber)
        position = np.array(group.PlanePositionSequence[0].ImagePositionPatient, dtype=float)
        match = [k for k, s in enumerate(slices) if np.allclose(s[1], position, atol=1e-3)]
        assert len(match) == 1, "frame %d at %s matches no single slice" % (i, position)
        masks[number][match[0]] = frames[i] != 0
    for n, mask in masks.items():
        for k in range(len(slices)):
            tensors["mask_%d_%d" % (n, k)] = mask[k]
    write_safetensors(out, tensors)
    print("%d slices, segments %s" % (len(slices), " ".join(map(str, segments))))


if __name__ == "__main__":
    main()
