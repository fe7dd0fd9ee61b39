// SPDX-License-Identifier: GPL-3.0-or-later
// Writes a DICOM SEG with dcmjs (npm; OHIF's DICOM library) from a label map and the datasets of
// the series it segments, the way OHIF's Cornerstone adapter does: one segment per label value,
// one frame per (segment, slice where it has pixels): empty frames are omitted.
//
//   node make_seg_dcmjs.js OUT.dcm LABELS.u8 SLICES ROWS COLS binary|rle SEGMENTS.json SLICE.dcm...
//
// LABELS.u8: SLICES x ROWS x COLS bytes (0 = background, n = segment n), slice k on SLICE.dcm k.
// SEGMENTS.json: [{"label": ..., "category": [value, scheme, meaning], "type": [...]}] for 1, 2, ...
// "binary": BINARY, bit-packed; "rle": dcmjs's default (FRACTIONAL, RLE Lossless).
"use strict";
const fs = require("fs");
const dcmjs = require("dcmjs");

async function main() {
  const [out, labelPath, s, r, c, mode, segmentsPath, ...files] = process.argv.slice(2);
  const [slices, rows, cols] = [s, r, c].map(Number);
  if (files.length !== slices) throw new Error(`${files.length} slice files for ${slices} slices`);
  const labels = fs.readFileSync(labelPath);
  if (labels.length !== slices * rows * cols) throw new Error(`${labelPath}: ${labels.length} bytes`);
  const segments = JSON.parse(fs.readFileSync(segmentsPath, "utf8"));

  const images = files.map((f, i) => {
    const b = fs.readFileSync(f);
    return { imageId: `file://${i}`, data: { byteArray: { buffer: b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) } } };
  });
  const code = ([CodeValue, CodingSchemeDesignator, CodeMeaning]) => ({ CodeValue, CodingSchemeDesignator, CodeMeaning });
  const metadata = [undefined].concat(segments.map((seg) => ({
    SegmentLabel: seg.label,
    SegmentedPropertyCategoryCodeSequence: code(seg.category),
    SegmentedPropertyTypeCodeSequence: code(seg.type),
    SegmentAlgorithmType: "MANUAL",
    RecommendedDisplayCIELabValue: [43802, 26566, 37721],
  })));
  // The adapter numbers frames as dcmjs's normalizer orders the images (along the slice normal,
  // its own direction), so label slices are matched to those frames by Image Position (Patient).
  const datasets = images.map((image) => {
    const dicom = dcmjs.data.DicomMessage.readFile(image.data.byteArray.buffer);
    return dcmjs.data.DicomMetaDictionary.naturalizeDataset(dicom.dict);
  });
  const multiframe = dcmjs.normalizers.Normalizer.normalizeToDataset(datasets.map((d) => ({ ...d })));
  const key = (p) => p.map((v) => Number(v).toFixed(3)).join(",");
  const slice = new Map(datasets.map((d, k) => [key(d.ImagePositionPatient), k]));
  const frames = multiframe.PerFrameFunctionalGroupsSequence.map((f) => {
    const k = slice.get(key(f.PlanePositionSequence.ImagePositionPatient));
    if (k === undefined) throw new Error("a frame of the normalized series matches no image");
    return k;
  });
  const plane = rows * cols;
  const labelmaps2D = [];
  for (let i = 0; i < slices; i++) {
    const k = frames[i];
    const pixelData = new Uint16Array(plane);
    const present = new Set();
    for (let p = 0; p < plane; p++) {
      pixelData[p] = labels[k * plane + p];
      if (pixelData[p]) present.add(pixelData[p]);
    }
    if (present.size) labelmaps2D[i] = { pixelData, segmentsOnLabelmap: [0, ...present] };
  }
  const blob = dcmjs.adapters.Cornerstone.Segmentation.generateSegmentation(
    images, { labelmaps2D, metadata }, { rleEncode: mode === "rle" });
  fs.writeFileSync(out, Buffer.from(await blob.arrayBuffer()));
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
