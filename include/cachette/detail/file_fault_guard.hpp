#pragma once
// A guard against SIGBUS for the file store's mapped files (private to src/file).
//
// A file truncated while it is mapped makes the next access to a page past its new end raise
// SIGBUS, whose default action kills the process. Every LMDB call of a file::Environment runs
// inside guarded(): a jump buffer is armed for the calling thread around it, and the
// process-wide handler jumps back to it when the fault happens on an armed thread. SIGBUS on
// any other thread, or outside a guarded call, goes to the handler installed before ours
// (Python's faulthandler under pytest, the sanitizers' in tests), or gets its default action.
// See docs/file-backend.md for why a guard rather than a size check before each access.

namespace cachette::file {

/// Installs the handler, once per process and again whenever another one replaced it since
/// (ours then passes foreign faults on to that one).
void install_fault_handler();

/// Runs body(context) with SIGBUS guarded; false when a fault cut it short. The body's frames
/// are then abandoned without running destructors: it must hold no lock and own nothing that
/// needs releasing beyond memory (which leaks, once per faulted store).
bool run_guarded(void (*body)(void*), void* context);

template <class Fn>
bool guarded(Fn& fn) {
  return run_guarded([](void* context) { (*static_cast<Fn*>(context))(); }, &fn);
}

}  // namespace cachette::file
