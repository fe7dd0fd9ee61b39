// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/phantom/contours.h"

#include <utility>

#include "curia/config/error.h"

namespace curia::phantom {
namespace {

// Directions on the corner grid, as seen with rows pointing down: east (+column), south (+row),
// west, north. A left turn from d is (d + 3) % 4.
constexpr int kDi[4] = {0, 1, 0, -1};
constexpr int kDj[4] = {1, 0, -1, 0};

int Count(uint8_t bits) { return (bits & 1) + ((bits >> 1) & 1) + ((bits >> 2) & 1) + ((bits >> 3) & 1); }

}  // namespace

std::vector<Contour> TraceContours(const uint8_t* mask, int64_t rows, int64_t cols) {
  if (rows < 1 || cols < 1) throw Error(ErrorCode::kInvalidArgument, "contours: empty mask");
  const int64_t stride = cols + 1;  // corners (i, j), i in [0, rows], j in [0, cols]
  std::vector<uint8_t> out(static_cast<size_t>((rows + 1) * stride), 0);  // outgoing edges per corner
  auto set = [&](int64_t r, int64_t c) {
    return r >= 0 && c >= 0 && r < rows && c < cols && mask[r * cols + c] != 0;
  };
  auto add = [&](int64_t i, int64_t j, int dir) { out[static_cast<size_t>(i * stride + j)] |= uint8_t(1u << dir); };
  // Every edge between a set pixel and an unset one (or the border), with the pixel on its left.
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      if (!set(r, c)) continue;
      if (!set(r - 1, c)) add(r, c + 1, 2);      // top, westward
      if (!set(r, c - 1)) add(r, c, 1);          // left, southward
      if (!set(r + 1, c)) add(r + 1, c, 0);      // bottom, eastward
      if (!set(r, c + 1)) add(r + 1, c + 1, 3);  // right, northward
    }
  }

  std::vector<Contour> contours;
  std::vector<std::pair<int64_t, int>> steps;  // (corner, direction left by)
  for (int64_t start = 0; start < static_cast<int64_t>(out.size()); ++start) {
    while (out[static_cast<size_t>(start)] != 0) {
      int first = 0;
      while (!(out[static_cast<size_t>(start)] & (1u << first))) ++first;
      steps.clear();
      int64_t cur = start;
      int dir = first;
      for (;;) {
        out[static_cast<size_t>(cur)] &= uint8_t(~(1u << dir));
        steps.emplace_back(cur, dir);
        cur += kDi[dir] * stride + kDj[dir];
        // The next edge: the only one leaving this corner, or at a corner where two regions meet
        // diagonally, the left turn (which keeps them apart). The first edge counts as present at
        // the start, so that coming back to it closes the loop.
        uint8_t options = out[static_cast<size_t>(cur)];
        if (cur == start) options |= uint8_t(1u << first);
        CURIA_CHECK(options != 0);
        int next = (dir + 3) % 4;
        if (Count(options) == 1) {
          next = 0;
          while (!(options & (1u << next))) ++next;
        }
        CURIA_CHECK(options & (1u << next));
        if (cur == start && next == first) break;
        dir = next;
      }
      Contour contour;
      for (size_t s = 0; s < steps.size(); ++s) {
        const int before = steps[(s + steps.size() - 1) % steps.size()].second;
        if (steps[s].second == before) continue;  // a straight run goes on
        const int64_t i = steps[s].first / stride, j = steps[s].first % stride;
        contour.points.push_back({static_cast<double>(j) - 0.5, static_cast<double>(i) - 0.5});
      }
      contours.push_back(std::move(contour));
    }
  }
  return contours;
}

}  // namespace curia::phantom
