// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Closed contours of a binary slice mask along pixel edges, for RTSTRUCT ROIs: filling the
// contours with the even-odd rule at pixel centres gives back exactly the mask (holes included),
// which is how RTSTRUCT readers rasterise (../shared/docs/regions.md §3).
//
//   std::vector<Contour> cs = TraceContours(mask, rows, cols);
//   for (const Contour& c : cs)  // c.points: (column, row) corners, e.g. (-0.5, -0.5) is the
//     ...                        // top-left corner of pixel (0, 0)
//
// Our own code rather than a library's: DCMTK has no contour tracer, and what is needed is small —
// every boundary edge between a set and an unset pixel (or the border) once, linked into loops.
// Each loop runs with the region on its left in (column, row) coordinates (rows pointing down), so
// outer boundaries and hole boundaries turn opposite ways; where two regions touch only at a corner
// the loop turns so that they stay apart (4-connected regions). Straight runs are merged: a vertex
// is kept only where the direction changes.
#include <array>
#include <cstdint>
#include <vector>

namespace curia::phantom {

struct Contour {
  std::vector<std::array<double, 2>> points;  // (column, row) pixel coordinates of the corners
};

// `mask`: rows*cols values, set where non-zero. Contours in a fixed order (by the first edge met in
// row-major order). Empty mask: no contour.
std::vector<Contour> TraceContours(const uint8_t* mask, int64_t rows, int64_t cols);

}  // namespace curia::phantom
