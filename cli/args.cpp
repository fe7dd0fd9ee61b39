// SPDX-License-Identifier: GPL-3.0-or-later
#include "args.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <iostream>

namespace curia::cli {

ArgParser::ArgParser(std::string command, std::string summary)
    : command_(std::move(command)), summary_(std::move(summary)) {}

ArgParser& ArgParser::Option(const std::string& name, const std::string& value_name, const std::string& help,
                             bool required, const std::string& fallback) {
  Spec s;
  s.name = name;
  s.value_name = value_name;
  s.help = help;
  s.required = required;
  s.fallback = fallback;
  specs_.push_back(s);
  return *this;
}

ArgParser& ArgParser::Flag(const std::string& name, const std::string& help) {
  Spec s;
  s.name = name;
  s.help = help;
  s.flag = true;
  specs_.push_back(s);
  return *this;
}

ArgParser& ArgParser::Repeated(const std::string& name, const std::string& value_name, const std::string& help) {
  Spec s;
  s.name = name;
  s.value_name = value_name;
  s.help = help + " (may be repeated)";
  s.repeated = true;
  specs_.push_back(s);
  return *this;
}

ArgParser& ArgParser::Positional(const std::string& name, const std::string& help, bool required) {
  Spec s;
  s.name = name;
  s.help = help;
  s.required = required;
  s.positional = true;
  specs_.push_back(s);
  return *this;
}

const ArgParser::Spec* ArgParser::Find(const std::string& name) const {
  for (const Spec& s : specs_) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

bool ArgParser::Parse(const std::vector<std::string>& args) {
  std::vector<const Spec*> positionals;
  for (const Spec& s : specs_) {
    if (s.positional) positionals.push_back(&s);
  }
  size_t next_positional = 0;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << Usage();
      return false;
    }
    if (arg.size() > 2 && arg.compare(0, 2, "--") == 0) {
      std::string value;
      bool inline_value = false;
      const size_t eq = arg.find('=');
      if (eq != std::string::npos) {
        value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
        inline_value = true;
      }
      const Spec* s = Find(arg);
      if (!s || s->positional) throw UsageError("unknown option '" + arg + "'");
      if (values_.count(arg) && !s->repeated) throw UsageError("option '" + arg + "' given twice");
      if (s->flag) {
        if (inline_value) throw UsageError("option '" + arg + "' takes no value");
        values_[arg] = "1";
        continue;
      }
      if (!inline_value) {
        if (i + 1 >= args.size()) throw UsageError("option '" + arg + "' needs a value (" + s->value_name + ")");
        value = args[++i];
      }
      values_[arg] = value;
      if (s->repeated) lists_[arg].push_back(value);
      continue;
    }
    if (next_positional >= positionals.size()) throw UsageError("unexpected argument '" + arg + "'");
    values_[positionals[next_positional++]->name] = arg;
  }
  for (const Spec& s : specs_) {
    if (values_.count(s.name)) continue;
    if (s.required) {
      throw UsageError(s.positional ? "missing argument " + s.name : "missing required option " + s.name);
    }
    if (!s.flag && !s.fallback.empty()) values_[s.name] = s.fallback;
  }
  return true;
}

bool ArgParser::Has(const std::string& name) const { return values_.count(name) > 0; }

std::string ArgParser::Get(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::string() : it->second;
}

std::vector<std::string> ArgParser::GetAll(const std::string& name) const {
  auto it = lists_.find(name);
  return it == lists_.end() ? std::vector<std::string>() : it->second;
}

int64_t ArgParser::GetInt(const std::string& name, int64_t min, int64_t max) const {
  const std::string text = Get(name);
  int64_t v = 0;
  auto r = std::from_chars(text.data(), text.data() + text.size(), v);
  if (r.ec != std::errc() || r.ptr != text.data() + text.size() || v < min || v > max) {
    throw UsageError(name + " must be an integer in [" + std::to_string(min) + ", " + std::to_string(max) +
                     "], got '" + text + "'");
  }
  return v;
}

double ArgParser::GetDouble(const std::string& name, double min, double max) const {
  const std::string text = Get(name);
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size() || !std::isfinite(v) || v < min || v > max) {
    std::ostringstream range;
    range << "[" << min << ", " << max << "]";
    throw UsageError(name + " must be a number in " + range.str() + ", got '" + text + "'");
  }
  return v;
}

bool ArgParser::IsSet(const std::string& flag) const { return values_.count(flag) > 0; }

std::string ArgParser::Usage() const {
  std::string u = "usage: " + command_;
  for (const Spec& s : specs_) {
    std::string item = s.positional ? s.name : s.flag ? s.name : s.name + " " + s.value_name;
    u += s.required ? " " + item : " [" + item + "]";
  }
  u += "\n\n" + summary_ + "\n";
  if (!specs_.empty()) u += "\n";
  for (const Spec& s : specs_) {
    std::string left = s.positional ? s.name : s.flag ? s.name : s.name + " " + s.value_name;
    u += "  " + left;
    u += left.size() < 24 ? std::string(24 - left.size(), ' ') : "\n" + std::string(26, ' ');
    u += s.help;
    if (!s.fallback.empty()) u += " (default: " + s.fallback + ")";
    u += "\n";
  }
  return u;
}

}  // namespace curia::cli
