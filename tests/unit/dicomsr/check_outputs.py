#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Reads Curia Node's SR and SC back with pydicom (an implementation independent of DCMTK) and
checks them against the source instance and the findings they were made from.

usage: check_outputs.py SR SC SOURCE EXPECT_JSON
EXPECT_JSON: {"uid_root": "2.25", "findings": [{"code": "...", "scheme": "...", "probability": 0.87,
              "present": true, "key_sop": "..."}], "demo": true}
Exit status 0 when every check passes; each failure is printed.
"""
import json
import sys

import pydicom

failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


def items(seq):
    return list(seq) if seq is not None else []


def walk(item):
    """Every content item of an SR tree, depth first."""
    for child in items(getattr(item, "ContentSequence", None)):
        yield child
        yield from walk(child)


def concept(item):
    seq = getattr(item, "ConceptNameCodeSequence", None)
    return (seq[0].CodeValue, seq[0].CodingSchemeDesignator) if seq else None


def main():
    sr_path, sc_path, source_path, expect_text = sys.argv[1:5]
    expect = json.loads(expect_text)
    sr = pydicom.dcmread(sr_path)
    sc = pydicom.dcmread(sc_path)
    src = pydicom.dcmread(source_path, stop_before_pixels=True, force=True)  # some sources lack a meta header
    root = expect["uid_root"] + "."

    for name, ds in (("SR", sr), ("SC", sc)):
        check(ds.SpecificCharacterSet == "ISO_IR 192", f"{name}: SpecificCharacterSet {ds.SpecificCharacterSet!r}")
        check(ds.StudyInstanceUID == src.StudyInstanceUID, f"{name}: not in the source study")
        for keyword in ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber", "StudyID", "StudyDate"):
            # The same text once both are decoded (the source may be Latin-1, ours is UTF-8).
            mine, theirs = str(ds.get(keyword, "")).rstrip("\0 "), str(src.get(keyword, "")).rstrip("\0 ")
            if keyword.endswith("Date"):
                theirs = theirs.replace(".", "")  # the ACR-NEMA form "1995.05.01" is written 19950501
            check(mine == theirs, f"{name}: {keyword} {mine!r} differs from the source's {theirs!r}")
        raw = ds.get_item("PatientName")
        if raw is not None and raw.value:
            try:
                raw.value.decode("utf-8")
            except UnicodeDecodeError:
                failures.append(f"{name}: PatientName bytes are not UTF-8")
        check(ds.SeriesInstanceUID.startswith(root) and ds.SOPInstanceUID.startswith(root),
              f"{name}: UIDs not under {root}")
        check(ds.SeriesInstanceUID != src.SeriesInstanceUID, f"{name}: reuses the source series")
        equipment = items(getattr(ds, "ContributingEquipmentSequence", None))
        check(len(equipment) == 1 and equipment[0].get("DeviceUID", "").startswith(root),
              f"{name}: Contributing Equipment with a Device UID missing")

    # SR
    check(sr.SOPClassUID in ("1.2.840.10008.5.1.4.1.1.88.34", "1.2.840.10008.5.1.4.1.1.88.33"), "SR: SOP class")
    check(sr.VerificationFlag == "UNVERIFIED", "SR: not UNVERIFIED")
    check(sr.PreliminaryFlag == "PRELIMINARY", "SR: not PRELIMINARY")
    check("RESEARCH USE ONLY" in sr.SeriesDescription.upper(), "SR: series description lacks the research-use mark")
    tree = list(walk(sr))
    observer = [i.UID for i in tree if concept(i) == ("121012", "DCM")]
    check(observer and observer[0] == sr.ContributingEquipmentSequence[0].DeviceUID,
          "SR: Device Observer UID differs from the Contributing Equipment Device UID")
    comments = [i.TextValue for i in tree if concept(i) == ("121106", "DCM")]
    check(comments and comments[0].startswith("For research use only. Not for clinical use."),
          "SR: research-use comment missing")
    groups = [i for i in tree if concept(i) == ("125007", "DCM")]
    check(len(groups) == len(expect["findings"]), f"SR: {len(groups)} measurement groups")
    evidence = {ref.ReferencedSOPInstanceUID
                for study in items(getattr(sr, "CurrentRequestedProcedureEvidenceSequence", None))
                for series in study.ReferencedSeriesSequence for ref in series.ReferencedSOPSequence}
    for group, f in zip(groups, expect["findings"]):
        members = list(walk(group))
        findings = [i.ConceptCodeSequence[0] for i in members if concept(i) == ("121071", "DCM")]
        check(findings and (findings[0].CodeValue, findings[0].CodingSchemeDesignator) == (f["code"], f["scheme"]),
              f"SR: finding code of {f['code']}")
        nums = [i for i in members if i.ValueType == "NUM"]
        if nums:
            value = float(nums[0].MeasuredValueSequence[0].NumericValue)
            unit = nums[0].MeasuredValueSequence[0].MeasurementUnitsCodeSequence[0].CodeValue
            expected = 100 * f["probability"] if unit == "%" else f["probability"]
            check(abs(value - expected) < 0.05, f"SR: probability {value} {unit}, expected {expected}")
        else:
            failures.append(f"SR: no probability for {f['code']}")
        qualitative = [i.ConceptCodeSequence[0].CodeValue for i in members
                       if i.ValueType == "CODE" and concept(i) == (f["code"], f["scheme"])]
        check(qualitative == ["52101004" if f["present"] else "272519000"], f"SR: present/absent of {f['code']}")
        sources = [i.ReferencedSOPSequence[0].ReferencedSOPInstanceUID for i in members if i.ValueType == "IMAGE"]
        check(f["key_sop"] in sources, f"SR: key slice not referenced for {f['code']}")
        check(f["key_sop"] in evidence, "SR: key slice not in the evidence sequence")
        algorithm = [i.TextValue for i in members if concept(i) == ("111001", "DCM")]
        check(algorithm, f"SR: algorithm name missing for {f['code']}")

    # SC
    check(sc.SOPClassUID in ("1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.7.4"), "SC: SOP class")
    check(sc.Modality == "OT" and sc.PhotometricInterpretation == "RGB" and sc.SamplesPerPixel == 3, "SC: not RGB OT")
    check(sc.BurnedInAnnotation == "YES", "SC: BurnedInAnnotation")
    check(list(sc.ImageType)[:2] == ["DERIVED", "SECONDARY"], "SC: ImageType")
    check(sc.SourceImageSequence[0].ReferencedSOPInstanceUID == expect["findings"][0]["key_sop"],
          "SC: Source Image Sequence does not reference the key slice")
    check(len(sc.PixelData) == sc.Rows * sc.Columns * 3, "SC: pixel data size")
    check("research use only" in sc.ImageComments.lower(), "SC: research-use comment")

    for f in failures:
        print(f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
