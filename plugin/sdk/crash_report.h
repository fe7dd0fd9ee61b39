// SPDX-License-Identifier: GPL-3.0-or-later
#pragma once
// A fatal signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT) in Orthanc's process otherwise ends the
// node with nothing in its log: Orthanc installs no handler for them. InstallCrashReport() adds one
// that writes the signal, the faulting address and the raw backtrace (module + offset per frame, for
// addr2line) to stderr, which Orthanc's log captures, then restores the default action and re-raises,
// so that the process still dies with the same signal (core dumps and exit statuses unchanged).
// A handler already installed by someone else (a sanitizer's, a debugger's) is left alone.

namespace curia::sdk {

void InstallCrashReport();

}  // namespace curia::sdk
