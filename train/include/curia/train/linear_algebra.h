// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Cholesky factorisation and solve for the small symmetric positive definite systems of ridge
// regression (D x D, D up to a few thousand).
// Thread safety: pure functions.
#include <cstddef>
#include <vector>

#include "curia/train/matrix.h"

namespace curia::train {

// sum_j a[j] * b[j] with eight partial sums (j mod 8), added pairwise at the end: the additions are
// not one dependent chain (the compiler may not reorder floating-point sums itself) and the eight
// lanes vectorise. Rounding differs from a plain loop's by a few ulps; it is the same on every
// machine (the AVX2 build of this function, chosen at run time where the CPU has it, keeps the same
// order of operations, and the build does not contract multiply-adds).
double Dot(const double* a, const double* b, std::size_t n);

// out[r] = Dot(w, x_r, n) for four rows x0..x3, bit for bit (each row keeps Dot's eight partial
// sums and their order), in one pass that reads w once: the four rows' eight vectors of partial
// sums are independent, where Dot's two are one addition's latency apart.
void Dot4(const double* w, const double* x0, const double* x1, const double* x2, const double* x3, std::size_t n,
          double out[4]);

// y[j] += alpha * x[j] for j < n.
void Axpy(double alpha, const double* x, double* y, std::size_t n);

// y[j] += ((a[0] x0[j] + a[1] x1[j]) + (a[2] x2[j] + a[3] x3[j])) for j < n: four rows in one pass.
void Axpy4(const double* a, const double* x0, const double* x1, const double* x2, const double* x3, double* y,
           std::size_t n);

// Solves A x = b for symmetric positive definite A (only the lower triangle is read). Throws
// curia::Error (kInvalidArgument) when A is not positive definite.
std::vector<double> CholeskySolve(Matrix a, const std::vector<double>& b);

}  // namespace curia::train
