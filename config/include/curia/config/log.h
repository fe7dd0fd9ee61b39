// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Log facade: levels, a module tag, and one sink set by the host (whisper.cpp style). The plugin
// installs a sink that forwards to Orthanc's log; the command-line tool and tests keep the default
// one, which writes to stderr. Never log patient names or IDs at Info or above: use UIDs and
// Orthanc IDs.
//
//   curia::log::Info("model", "loaded " + path);
//   curia::log::SetSink([](curia::log::Level l, std::string_view module, std::string_view msg) {...});
#include <functional>
#include <string_view>

namespace curia::log {

enum class Level { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

using Sink = std::function<void(Level, std::string_view module, std::string_view message)>;

// Replaces the sink (an empty function restores the stderr sink). Thread-safe.
void SetSink(Sink sink);
// Lines below this level are dropped before they reach the sink. Default: kInfo.
void SetMinLevel(Level level);
const char* LevelName(Level level);

// Thread-safe; the sink is called with the facade's lock held, so a sink must not log.
void Write(Level level, std::string_view module, std::string_view message);

inline void Debug(std::string_view module, std::string_view message) { Write(Level::kDebug, module, message); }
inline void Info(std::string_view module, std::string_view message) { Write(Level::kInfo, module, message); }
inline void Warning(std::string_view module, std::string_view message) { Write(Level::kWarning, module, message); }
inline void Error(std::string_view module, std::string_view message) { Write(Level::kError, module, message); }

// Names the calling thread for `top -H`, `ps -L`, perf and gdb (Linux keeps 15 characters; threads
// it starts, OpenMP's included, inherit the name). Cheap; a failure is ignored.
void NameThisThread(const char* name);

}  // namespace curia::log
