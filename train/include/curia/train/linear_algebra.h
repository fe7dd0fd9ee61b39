// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Cholesky factorisation and solve for the small symmetric positive definite systems of ridge
// regression (D x D, D up to a few thousand).
// Thread safety: pure functions.
#include <vector>

#include "curia/train/matrix.h"

namespace curia::train {

// Solves A x = b for symmetric positive definite A (only the lower triangle is read). Throws
// curia::Error (kInvalidArgument) when A is not positive definite.
std::vector<double> CholeskySolve(Matrix a, const std::vector<double>& b);

}  // namespace curia::train
