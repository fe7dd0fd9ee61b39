// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/log.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace curia::log {
namespace {

TEST(Log, SinkReceivesLinesAtOrAboveTheMinimumLevel) {
  std::vector<std::string> lines;
  SetSink([&](Level level, std::string_view module, std::string_view message) {
    lines.push_back(std::string(LevelName(level)) + "|" + std::string(module) + "|" + std::string(message));
  });
  SetMinLevel(Level::kInfo);
  Debug("model", "hidden");
  Info("model", "loaded");
  Warning("queue", "slow");
  SetMinLevel(Level::kError);
  Warning("queue", "dropped");
  Error("queue", "failed");
  SetMinLevel(Level::kInfo);
  SetSink(nullptr);
  EXPECT_EQ(lines, (std::vector<std::string>{"info|model|loaded", "warning|queue|slow", "error|queue|failed"}));
}

}  // namespace
}  // namespace curia::log
