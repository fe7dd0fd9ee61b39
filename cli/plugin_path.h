// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// Where the Curia Node plugin is, for the commands that start or configure an Orthanc with it
// (init, validate-config, bench all): the one built beside this tool (build/cli/curia ->
// build/plugin/libOrthancCuriaNode.so), else the packaged one.
#include <string>

namespace curia::cli {

inline constexpr const char* kPluginFile = "libOrthancCuriaNode.so";
inline constexpr const char* kInstalledPlugin = "/usr/share/orthanc/plugins/libOrthancCuriaNode.so";
// Orthanc's GDCM plugin (Debian package orthanc-gdcm): JPEG 2000 (and other codecs) for Orthanc's
// own previews and transcoding. `curia init` lists it when it is installed; the node itself
// decodes JPEG 2000 with OpenJPEG and does not need it.
inline constexpr const char* kGdcmPlugin = "/usr/share/orthanc/plugins/libOrthancGdcm.so";
// Debian's orthanc-postgresql: Orthanc's index and files in PostgreSQL (curia init --postgresql).
inline constexpr const char* kPgIndexPlugin = "/usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so";
inline constexpr const char* kPgStoragePlugin = "/usr/share/orthanc/plugins/libOrthancPostgreSQLStorage.so";

struct PluginLocation {
  std::string path;
  bool exists = false;
};

// The build tree's plugin when it exists, or when this tool runs from a build tree where it is not
// built yet (it will appear there); else the packaged path. `exists` says whether the file is there.
PluginLocation FindPlugin();

}  // namespace curia::cli
