// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// The `curia` subcommands. Each takes its arguments (after the subcommand name), returns the exit
// status, and throws curia::Error or UsageError for main() to report.
#include <string>
#include <vector>

#include "args.h"
#include "curia/nn/backbone.h"

namespace curia::cli {

using Args = std::vector<std::string>;

int DemoModelCommand(const Args& args);
int InfoCommand(const Args& args);
int ForwardCommand(const Args& args);
int HeadCommand(const Args& args);
int PreprocessCommand(const Args& args);
int BenchCommand(const Args& args);
int DemoCommand(const Args& args);
int RunCommand(const Args& args);
int PhantomCommand(const Args& args);  // CURIA_WITH_POOL builds (DICOM writers)
int InitCommand(const Args& args);     // CURIA_WITH_POOL builds
int ValidateConfigCommand(const Args& args);  // CURIA_WITH_POOL builds
int TrainHeadCommand(const Args& args);
int FeaturesCommand(const Args& args);  // CURIA_WITH_POOL builds (DICOM reading)
int EvaluateCommand(const Args& args);
int FewshotCommand(const Args& args);

// --device, --precision, --threads: declared once for every command that runs the model.
void AddRuntimeOptions(ArgParser& parser);
// Applies --threads and returns the backbone options.
nn::BackboneOptions RuntimeFromArgs(const ArgParser& parser);
// One line: "cpu, fp32, 2 threads, OpenBLAS".
std::string RuntimeSummary(const nn::BackboneOptions& options);

}  // namespace curia::cli
