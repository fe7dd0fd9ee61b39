// SPDX-License-Identifier: GPL-3.0-or-later
#include "curia/config/log.h"

#include <gtest/gtest.h>
#include <pthread.h>

#include <string>
#include <thread>
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

// The node's threads carry names for top -H and perf; a thread it starts inherits the name (the
// backbone's OpenMP threads show as curia-device); Linux keeps 15 characters.
TEST(Log, NameThisThreadNamesTheCallerAndItsChildren) {
  std::string own, child, other;
  std::thread t([&] {
    NameThisThread("curia-a-name-longer-than-fifteen");
    char buffer[32] = {};
    pthread_getname_np(pthread_self(), buffer, sizeof buffer);
    own = buffer;
    std::thread([&] {
      char b[32] = {};
      pthread_getname_np(pthread_self(), b, sizeof b);
      child = b;
    }).join();
  });
  t.join();
  char buffer[32] = {};
  pthread_getname_np(pthread_self(), buffer, sizeof buffer);
  other = buffer;
  EXPECT_EQ(own, "curia-a-name-lo");
  EXPECT_EQ(child, "curia-a-name-lo");
  EXPECT_NE(other, "curia-a-name-lo");  // the caller's thread only
}

}  // namespace
}  // namespace curia::log
