// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Command-line options of one `curia` subcommand: declared with their help text, parsed strictly
// (unknown options, missing values and bad numbers are usage errors), with --help on every command.
//
//   ArgParser p("curia forward", "Runs the backbone on pixel_values.");
//   p.Option("--model", "DIR", "model folder", /*required=*/true).Flag("--hidden-states", "...");
//   if (!p.Parse(args)) return 0;   // --help was printed
//   std::string dir = p.Get("--model");
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace curia::cli {

// A usage mistake: the tool prints it with a pointer to --help and exits with status 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ArgParser {
 public:
  ArgParser(std::string command, std::string summary);

  ArgParser& Option(const std::string& name, const std::string& value_name, const std::string& help,
                    bool required = false, const std::string& fallback = "");
  ArgParser& Flag(const std::string& name, const std::string& help);
  // An option that may be given several times (GetAll returns every value, in order).
  ArgParser& Repeated(const std::string& name, const std::string& value_name, const std::string& help);
  // Positional arguments in order (after options are removed).
  ArgParser& Positional(const std::string& name, const std::string& help, bool required = true);

  // False when --help was given (usage printed to stdout). Throws UsageError.
  bool Parse(const std::vector<std::string>& args);

  bool Has(const std::string& name) const;  // given on the command line (or has a default)
  std::string Get(const std::string& name) const;
  std::vector<std::string> GetAll(const std::string& name) const;
  int64_t GetInt(const std::string& name, int64_t min, int64_t max) const;
  double GetDouble(const std::string& name, double min, double max) const;  // finite, in [min, max]
  bool IsSet(const std::string& flag) const;
  std::string Usage() const;
  const std::string& command() const { return command_; }

 private:
  struct Spec {
    std::string name, value_name, help, fallback;
    bool flag = false, required = false, positional = false, repeated = false;
  };
  const Spec* Find(const std::string& name) const;

  std::string command_, summary_;
  std::vector<Spec> specs_;
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> lists_;  // repeated options
};

}  // namespace curia::cli
