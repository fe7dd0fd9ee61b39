#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""DICOM files whose nesting crashes a recursive parser, written byte by byte (pydicom and DCMTK
recurse into sequences themselves). The same files as tests/support/hostile_dicom.cpp.

    nested_sequences(6000)           # kills DCMTK 3.6.7 (and Orthanc 1.10.1) on an 8 MiB stack
    python3 hostile_dicom.py DEPTH [defined] > deep.dcm

Measuring DCMTK's stack use per level (worker/dicom/include/curia/dicom/structure_check.h):
    for d in 650 700 750; do python3 hostile_dicom.py $d > d.dcm; (ulimit -s 1024; dcmdump d.dcm >/dev/null; echo $d $?); done
"""
import struct
import sys


def element(group, elem, vr, value):
    """Explicit VR little endian."""
    if len(value) % 2:
        value += b"\0" if vr == b"UI" else b" "
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH2sHI", group, elem, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", group, elem, vr, len(value)) + value


def nested_sequences(depth, undefined_length=True, study_uid="1.2.826.0.1.3680043.10.999.16"):
    """A Secondary Capture instance holding `depth` nested Content Sequences (0040,A730)."""
    inner = element(0x0008, 0x0100, b"SH", b"X")
    if undefined_length:
        head = struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF) + struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF)
        tail = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
        nest = head * depth + inner + tail * depth
    else:
        heads, length = [], len(inner)
        for _ in range(depth):
            heads.append(struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, length + 8) + struct.pack("<HHI", 0xFFFE, 0xE000, length))
            length += 8 + 12
        nest = b"".join(reversed(heads)) + inner
    sop_class = b"1.2.840.10008.5.1.4.1.1.7"
    sop_instance = study_uid.encode() + b".3"
    dataset = (element(0x0008, 0x0016, b"UI", sop_class) + element(0x0008, 0x0018, b"UI", sop_instance) +
               element(0x0008, 0x0060, b"CS", b"OT") + element(0x0010, 0x0010, b"PN", b"Hostile^Nesting") +
               element(0x0010, 0x0020, b"LO", b"HOSTILE") + element(0x0020, 0x000D, b"UI", study_uid.encode()) +
               element(0x0020, 0x000E, b"UI", study_uid.encode() + b".2") + nest)
    meta = (element(0x0002, 0x0001, b"OB", b"\0\1") + element(0x0002, 0x0002, b"UI", sop_class) +
            element(0x0002, 0x0003, b"UI", sop_instance) + element(0x0002, 0x0010, b"UI", b"1.2.840.10008.1.2.1") +
            element(0x0002, 0x0012, b"UI", b"1.2.826.0.1.3680043.10.999"))
    meta = element(0x0002, 0x0000, b"UL", struct.pack("<I", len(meta))) + meta
    return b"\0" * 128 + b"DICM" + meta + dataset


if __name__ == "__main__":
    sys.stdout.buffer.write(nested_sequences(int(sys.argv[1]), undefined_length=len(sys.argv) < 3))
