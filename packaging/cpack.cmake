# SPDX-License-Identifier: GPL-3.0-or-later
# Install rules and the Debian package (`cd build && cpack -G DEB` -> curia-node_<version>-1_<arch>.deb),
# laid out as Debian's own Orthanc plugins are:
#
#   /usr/lib/orthanc/libOrthancCuriaNode.so.<version>       the plugin
#   /usr/share/orthanc/plugins/libOrthancCuriaNode.so       -> the above (the folder the Debian
#                                                              service's orthanc.json loads)
#   /usr/bin/curia                                          the command-line tool
#   /etc/orthanc/curia-node.json                            example configuration (conffile), INERT
#                                                           until its "CuriaDisabled" key is renamed "Curia"
#   /lib/systemd/system/orthanc.service.d/curia-node.conf   TCP_NODELAY=1 for the orthanc service
#   /usr/share/doc/curia-node/                              README, docs, copyright, changelog.Debian.gz
#
# The postinst writes the DEMO model the example points to (/var/lib/curia/demo-model); the
# postrm removes it on purge. Depends: computed by dpkg-shlibdeps (DCMTK, OpenJPEG, SQLite, libpq5,
# LibTorch, C++ runtime) plus orthanc and OpenBLAS (LibTorch only links the generic libblas.so.3).
# Recommends orthanc-gdcm: Orthanc's own previews and transcoding of JPEG 2000 studies (the node
# decodes them with OpenJPEG either way).
# Included from the top CMakeLists.txt; full builds only (the plugin and the node's tool).
if(CURIA_MODEL_ONLY OR NOT TARGET curia_sdk)
  return()
endif()

set(CURIA_PACKAGE_MAINTAINER "Curia Node maintainers <curia-node@localhost>" CACHE STRING
    "Maintainer field of the Debian package (Name <email>)")
set(CURIA_PACKAGE_RELEASE "1" CACHE STRING "Debian revision of the package")

set(_curia_doc share/doc/curia-node)
set(_curia_plugin_file "libOrthancCuriaNode.so.${CURIA_VERSION}")

# The plugin and its symlink (relative, as Debian's own plugins have it).
install(FILES $<TARGET_FILE:curia_sdk> DESTINATION lib/orthanc
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
set(_curia_link_dir ${CMAKE_BINARY_DIR}/packaging/plugins)
file(MAKE_DIRECTORY ${_curia_link_dir})
file(CREATE_LINK ../../../lib/orthanc/${_curia_plugin_file} ${_curia_link_dir}/libOrthancCuriaNode.so SYMBOLIC)
install(FILES ${_curia_link_dir}/libOrthancCuriaNode.so DESTINATION share/orthanc/plugins)

install(TARGETS curia_cli RUNTIME DESTINATION bin)

# /etc and /lib/systemd are absolute on purpose: they are where Debian's orthanc package looks.
install(FILES ${CMAKE_SOURCE_DIR}/packaging/curia-node.json DESTINATION /etc/orthanc
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
install(FILES ${CMAKE_SOURCE_DIR}/packaging/debian/orthanc-tcp-nodelay.conf DESTINATION /lib/systemd/system/orthanc.service.d
        RENAME curia-node.conf)

# Documentation, the copyright file and the changelog generated from CHANGELOG.md.
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${CMAKE_SOURCE_DIR}/CHANGELOG.md DESTINATION ${_curia_doc})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/docs/ DESTINATION ${_curia_doc} FILES_MATCHING PATTERN "*.md" PATTERN "*.png")
install(FILES ${CMAKE_SOURCE_DIR}/packaging/curia-node.json DESTINATION ${_curia_doc}/examples)
set(_curia_copyright ${CMAKE_BINARY_DIR}/packaging/copyright)
file(WRITE ${_curia_copyright}
     "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
     "Upstream-Name: Curia Node\n\n"
     "Files: *\n"
     "License: GPL-3.0-or-later\n"
     " On Debian systems, the complete text of the GNU General Public License version 3 is in\n"
     " /usr/share/common-licenses/GPL-3.\n"
     " .\n"
     " The Curia model weights (raidium/curia) are not part of this package: they have their own\n"
     " research-only licence (RAIL-M) and must be downloaded separately.\n")
install(FILES ${_curia_copyright} DESTINATION ${_curia_doc})

set(_curia_changelog ${CMAKE_BINARY_DIR}/packaging/changelog.Debian.gz)
add_custom_command(
  OUTPUT ${_curia_changelog}
  COMMAND ${CMAKE_COMMAND} -DCHANGELOG=${CMAKE_SOURCE_DIR}/CHANGELOG.md -DOUT=${_curia_changelog}
          -DPACKAGE=curia-node -DVERSION=${CURIA_VERSION} -DRELEASE=${CURIA_PACKAGE_RELEASE}
          "-DMAINTAINER=${CURIA_PACKAGE_MAINTAINER}" -P ${CMAKE_SOURCE_DIR}/packaging/debian-changelog.cmake
  DEPENDS ${CMAKE_SOURCE_DIR}/CHANGELOG.md ${CMAKE_SOURCE_DIR}/packaging/debian-changelog.cmake
  COMMENT "Debian changelog from CHANGELOG.md"
  VERBATIM)
add_custom_target(curia_debian_changelog ALL DEPENDS ${_curia_changelog})
install(FILES ${_curia_changelog} DESTINATION ${_curia_doc})

# --- CPack: one Debian package --------------------------------------------------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME curia-node)
set(CPACK_PACKAGE_VERSION ${CURIA_VERSION})
set(CPACK_PACKAGE_VENDOR "Curia Node")
set(CPACK_PACKAGE_CONTACT "${CURIA_PACKAGE_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Curia radiology foundation model as an Orthanc plugin (research use only)")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${CURIA_PACKAGE_RELEASE})
set(CPACK_DEBIAN_PACKAGE_SECTION science)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://huggingface.co/raidium/curia")
set(CPACK_PACKAGE_DESCRIPTION
    "Curia Node puts the Curia radiology foundation model into a DICOM network: CT and MR
studies that Orthanc receives are routed by JSON rules to task heads run on the Curia
backbone (LibTorch, CPU or CUDA); the results go back to the PACS as a TID 1500
Structured Report and Secondary Capture key images.

The package holds the Orthanc plugin, the curia command-line tool and an inert
example configuration (/etc/orthanc/curia-node.json) that runs a DEMO model with
meaningless output once enabled. The Curia weights are not included (research-only
licence). RESEARCH USE ONLY - NOT FOR CLINICAL USE.")
# Shared libraries the binaries link (libdcmtk17, libopenjp2-7, libsqlite3-0, libtorch1.13, libstdc++6...) with
# their versions, by dpkg-shlibdeps; what they load at run time is listed by hand.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "orthanc (>= 1.10.1), libopenblas0-openmp | libopenblas0")
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "dcmtk, curl, orthanc-gdcm")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_SOURCE_DIR}/packaging/debian/postinst
    ${CMAKE_SOURCE_DIR}/packaging/debian/postrm
    ${CMAKE_SOURCE_DIR}/packaging/debian/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Only this project's components (not a third party's install rules, if any).
set(CPACK_INSTALL_CMAKE_PROJECTS "${CMAKE_BINARY_DIR};${PROJECT_NAME};ALL;/")
include(CPack)
