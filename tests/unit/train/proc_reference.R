# SPDX-License-Identifier: GPL-3.0-or-later
# R's answers for the trainer's tests (tests/unit/train): pROC's DeLong interval of the AUROC and the
# Wilson interval (prop.test without continuity correction).
#   Rscript proc_reference.R scores.csv proportions.csv
# scores.csv: columns label (0/1), score; proportions.csv: columns successes, n.
# Prints "auc lower upper" then one "lower upper" line per proportion, 17 significant digits.
suppressPackageStartupMessages(library(pROC))
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
r <- roc(d$label, d$score, levels = c(0, 1), direction = "<", quiet = TRUE)
ci <- ci.auc(r, method = "delong", conf.level = 0.95)
cat(sprintf("%.17g %.17g %.17g\n", as.numeric(ci[2]), as.numeric(ci[1]), as.numeric(ci[3])))
p <- read.csv(args[2])
for (i in seq_len(nrow(p))) {
  w <- prop.test(p$successes[i], p$n[i], correct = FALSE)$conf.int
  cat(sprintf("%.17g %.17g\n", w[1], w[2]))
}
