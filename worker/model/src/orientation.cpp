// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/model/orientation.h"

#include <cmath>
#include <cstdio>

#include "curia/config/error.h"

namespace curia::model {
namespace {

struct AxisDir {
  int axis;  // 0 = x (L), 1 = y (P), 2 = z (S)
  int sign;  // +1 or -1
};

AxisDir Dominant(const std::array<double, 3>& v) {
  int best = 0;
  for (int i = 1; i < 3; ++i) {
    if (std::fabs(v[i]) > std::fabs(v[best])) best = i;
  }
  return {best, v[best] >= 0 ? 1 : -1};
}

std::string IopText(const std::array<double, 6>& iop) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "%g\\%g\\%g\\%g\\%g\\%g", iop[0], iop[1], iop[2], iop[3], iop[4], iop[5]);
  return buf;
}

}  // namespace

const char* PlaneName(Plane plane) {
  switch (plane) {
    case Plane::kAxial: return "axial";
    case Plane::kCoronal: return "coronal";
    case Plane::kSagittal: return "sagittal";
  }
  return "?";
}

SliceOrientation ComputeSliceOrientation(const std::array<double, 6>& iop, double max_obliquity_deg) {
  const std::array<double, 3> r{iop[0], iop[1], iop[2]};
  const std::array<double, 3> c{iop[3], iop[4], iop[5]};
  auto dot = [](const std::array<double, 3>& a, const std::array<double, 3>& b) {
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
  };
  for (double v : iop) {
    if (!std::isfinite(v)) {
      throw Error(ErrorCode::kInvalidArgument, "Image Orientation (Patient) " + IopText(iop) + " is not finite");
    }
  }
  if (std::fabs(dot(r, r) - 1.0) > 1e-3 || std::fabs(dot(c, c) - 1.0) > 1e-3 || std::fabs(dot(r, c)) > 1e-3) {
    throw Error(ErrorCode::kInvalidArgument, "Image Orientation (Patient) " + IopText(iop) +
                                                 " is not two orthogonal unit vectors");
  }
  SliceOrientation o;
  o.normal = {r[1] * c[2] - r[2] * c[1], r[2] * c[0] - r[0] * c[2], r[0] * c[1] - r[1] * c[0]};
  const AxisDir n = Dominant(o.normal);
  o.obliquity_deg = std::acos(std::min(1.0, std::fabs(o.normal[n.axis]))) * 180.0 / M_PI;
  if (o.obliquity_deg > max_obliquity_deg) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.1f", o.obliquity_deg);
    throw Error(ErrorCode::kInvalidArgument,
                "Image Orientation (Patient) " + IopText(iop) + " is " + buf +
                    " degrees oblique: not close enough to an axial, coronal or sagittal plane");
  }
  // Target (axis0 = direction of increasing row index, axis1 = of increasing column index).
  AxisDir want0, want1;
  switch (n.axis) {
    case 2: o.plane = Plane::kAxial; want0 = {1, +1}; want1 = {0, +1}; break;     // P, L
    case 1: o.plane = Plane::kCoronal; want0 = {2, -1}; want1 = {0, +1}; break;   // I, L
    default: o.plane = Plane::kSagittal; want0 = {2, -1}; want1 = {1, +1}; break; // I, P
  }
  AxisDir ax0 = Dominant(c);  // rows advance along c
  AxisDir ax1 = Dominant(r);  // columns advance along r
  if (ax0.axis == want1.axis && ax1.axis == want0.axis) {
    o.transpose = true;
    std::swap(ax0, ax1);
  }
  if (ax0.axis != want0.axis || ax1.axis != want1.axis) {
    throw Error(ErrorCode::kInvalidArgument, "Image Orientation (Patient) " + IopText(iop) +
                                                 " has no dominant in-plane axes for a " +
                                                 PlaneName(o.plane) + " slice");
  }
  o.flip_rows = ax0.sign != want0.sign;
  o.flip_cols = ax1.sign != want1.sign;
  return o;
}

}  // namespace curia::model
