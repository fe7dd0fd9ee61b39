// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The analytic head phantom as a volume source: slices are made on demand, so a 1,000-slice
// volume costs no more memory than a 10-slice one. For the demo, benchmarks and tests.
#include "curia/phantom/phantom.h"
#include "curia/worker/volume.h"

namespace curia::phantom {

class PhantomSource : public worker::IVolumeSource {
 public:
  explicit PhantomSource(phantom::PhantomOptions options) : options_(options) {}
  worker::VolumeInfo Info() const override;
  void ReadSlice(int64_t index, float* out) const override;

 private:
  phantom::PhantomOptions options_;
};

}  // namespace curia::phantom
