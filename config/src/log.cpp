// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/log.h"

#include <pthread.h>

#include <cstdio>
#include <mutex>
#include <string>

namespace curia::log {
namespace {

// The facade's state. It is process-wide by design (a log sink, like stderr itself).
struct State {
  std::mutex mutex;
  Sink sink;
  Level min_level = Level::kInfo;
};

State& GetState() {
  static State state;
  return state;
}

void StderrSink(Level level, std::string_view module, std::string_view message) {
  std::string line = "[";
  line += LevelName(level);
  line += "] ";
  line += module;
  line += ": ";
  line += message;
  line += '\n';
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace

const char* LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarning: return "warning";
    case Level::kError: return "error";
  }
  return "?";
}

void SetSink(Sink sink) {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.sink = std::move(sink);
}

void SetMinLevel(Level level) {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mutex);
  s.min_level = level;
}

void Write(Level level, std::string_view module, std::string_view message) {
  State& s = GetState();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (level < s.min_level) return;
  if (s.sink) {
    s.sink(level, module, message);
  } else {
    StderrSink(level, module, message);
  }
}

void NameThisThread(const char* name) {
  char cut[16] = {};
  std::snprintf(cut, sizeof cut, "%s", name);
  pthread_setname_np(pthread_self(), cut);
}

}  // namespace curia::log
