// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// curia bench train: the time of a cross-validated logistic head with our trainer against
// scikit-learn's GridSearchCV on the same data in the same run (train_ratio; train_bench.cpp).
#include "commands.h"

namespace curia::cli {

int BenchTrain(const Args& args);

}  // namespace curia::cli
