// SPDX-License-Identifier: GPL-3.0-or-later
#include "crash_report.h"

#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <cstdint>

namespace curia::sdk {
namespace {

constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

// Only async-signal-safe calls below: write(2), backtrace_symbols_fd (writes without malloc),
// backtrace (safe once libgcc is loaded, which InstallCrashReport makes sure of), sigaction, raise.
void Write(const char* s) {
  size_t n = strlen(s);
  while (n > 0) {
    const ssize_t w = write(STDERR_FILENO, s, n);
    if (w <= 0) return;
    s += w;
    n -= static_cast<size_t>(w);
  }
}

// `v` in base 10 or 16 (with 0x), without snprintf (not async-signal-safe).
void WriteNumber(uintptr_t v, unsigned base) {
  char buf[2 + 3 * sizeof v + 1];
  size_t i = sizeof buf - 1;
  buf[i] = '\0';
  do {
    buf[--i] = "0123456789abcdef"[v % base];
    v /= base;
  } while (v != 0);
  if (base == 16) {
    buf[--i] = 'x';
    buf[--i] = '0';
  }
  Write(buf + i);
}

void OnFatalSignal(int sig, siginfo_t* info, void*) {
  Write("\nCuria Node: fatal signal ");
  const char* abbrev = sigabbrev_np(sig);
  Write("SIG");
  Write(abbrev != nullptr ? abbrev : "?");
  Write(" (");
  const char* description = sigdescr_np(sig);
  Write(description != nullptr ? description : "unknown");
  Write(")");
  if (info != nullptr && info->si_code > 0) {  // raised by the CPU, not sent with kill(2)
    Write(" at address ");
    WriteNumber(reinterpret_cast<uintptr_t>(info->si_addr), 16);
  } else if (info != nullptr) {
    Write(" sent by process ");
    WriteNumber(static_cast<uintptr_t>(info->si_pid), 10);
  }
  Write("; Orthanc stops. Backtrace (module(+offset) per frame; addr2line -e MODULE OFFSET):\n");
  void* frames[64];
  const int n = backtrace(frames, 64);
  backtrace_symbols_fd(frames, n, STDERR_FILENO);
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  raise(sig);
}

}  // namespace

void InstallCrashReport() {
  void* warm[1];
  (void)backtrace(warm, 1);  // loads libgcc's unwinder now, not inside the handler
  for (const int sig : kSignals) {
    struct sigaction current {};
    if (sigaction(sig, nullptr, &current) != 0) continue;
    const bool taken = (current.sa_flags & SA_SIGINFO) != 0 ? current.sa_sigaction != nullptr
                                                             : (current.sa_handler != SIG_DFL);
    if (taken) continue;
    struct sigaction sa {};
    sa.sa_sigaction = OnFatalSignal;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, nullptr);
  }
}

}  // namespace curia::sdk
