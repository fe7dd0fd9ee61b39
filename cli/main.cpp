// SPDX-License-Identifier: GPL-3.0-or-later
// curia: the command-line face of Curia Node. Same code paths as the Orthanc plugin, files in and out.
#include <cstring>
#include <exception>
#include <iostream>
#include <map>

#include "commands.h"
#include "curia/config/error.h"
#include "version.h"

namespace {

struct Command {
  int (*run)(const curia::cli::Args&);
  const char* summary;
};

const std::map<std::string, Command>& Commands() {
  static const std::map<std::string, Command> commands = {
      {"demo", {curia::cli::DemoCommand, "run the demo: demo model + head phantom -> backbone features"}},
      {"demo-model", {curia::cli::DemoModelCommand, "write a deterministic random model (HF layout, marked DEMO)"}},
      {"info", {curia::cli::InfoCommand, "check a model folder and print what it holds"}},
      {"forward", {curia::cli::ForwardCommand, "run the backbone on pixel_values from a safetensors file"}},
      {"head", {curia::cli::HeadCommand, "run the backbone and a task head on one study's slices"}},
      {"preprocess", {curia::cli::PreprocessCommand, "run Curia's image processor on an image or volume"}},
      {"bench", {curia::cli::BenchCommand, "benchmarks: all (the whole table), model, gpu, pool"}},
      {"train-head", {curia::cli::TrainHeadCommand, "train a head on a feature store: linear (cross-validated C or alpha) or 3-D attention"}},
      {"evaluate", {curia::cli::EvaluateCommand, "metrics of a linear head on a feature store's split, as a report folder"}},
      {"fewshot", {curia::cli::FewshotCommand, "learning curves: a linear head's quality against cases per class"}},
#ifdef CURIA_WITH_POOL
      {"run", {curia::cli::RunCommand, "process a folder of DICOM files: SR and key images per series"}},
      {"features", {curia::cli::FeaturesCommand, "labelled studies (CSV) -> backbone features through the pool -> a feature store"}},
      {"phantom", {curia::cli::PhantomCommand, "write a synthetic head phantom as a DICOM series (CT or MR)"}},
      {"init", {curia::cli::InitCommand, "write a commented Orthanc configuration for a Curia Node"}},
      {"validate-config", {curia::cli::ValidateConfigCommand, "check a configuration: every problem with its JSON path and a hint"}},
#endif
  };
  return commands;
}

void PrintHelp() {
  std::cout << "usage: curia <command> [options]    (curia <command> --help for details)\n\n"
               "Curia Node " CURIA_VERSION_STRING
               ": the Curia radiology foundation model in a DICOM network. RESEARCH USE ONLY.\n\n"
               "commands:\n";
  for (const auto& [name, c] : Commands()) {
    std::cout << "  " << name << std::string(name.size() < 17 ? 17 - name.size() : 1, ' ') << c.summary << "\n";
  }
  std::cout << "  version          print the version\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "help")) {
    PrintHelp();
    return argc < 2 ? 2 : 0;
  }
  const std::string name = argv[1];
  if (name == "version" || name == "--version") {
    std::cout << "curia " CURIA_VERSION_STRING "\n";
    return 0;
  }
  auto it = Commands().find(name);
  if (it == Commands().end()) {
    std::cerr << "curia: unknown command '" << name << "' (try curia --help)\n";
    return 2;
  }
  const curia::cli::Args args(argv + 2, argv + argc);
  try {
    return it->second.run(args);
  } catch (const curia::cli::UsageError& e) {
    std::cerr << "curia " << name << ": " << e.what() << " (try curia " << name << " --help)\n";
    return 2;
  } catch (const curia::Error& e) {
    std::cerr << "curia " << name << ": error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "curia " << name << ": error: " << e.what() << "\n";
    return 1;
  }
}
