// SPDX-License-Identifier: GPL-3.0-or-later
#include "plugin_path.h"

#include <filesystem>
#include <system_error>

namespace fs = std::filesystem;

namespace curia::cli {

PluginLocation FindPlugin() {
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    // The tool is build/cli/curia, the plugin build/plugin/ (plugin/sdk/CMakeLists.txt puts it there).
    const fs::path build_dir = (exe.parent_path() / "..").lexically_normal();
    const fs::path built = build_dir / "plugin" / kPluginFile;
    if (fs::exists(built, ec)) return {built.string(), true};
    if (fs::exists(kInstalledPlugin, ec)) return {kInstalledPlugin, true};
    if (fs::exists(build_dir / "CMakeCache.txt", ec)) return {built.string(), false};
  } else if (fs::exists(kInstalledPlugin, ec)) {
    return {kInstalledPlugin, true};
  }
  return {kInstalledPlugin, false};
}

}  // namespace curia::cli
