#include "cachette/detail/file_fault_guard.hpp"

#include <setjmp.h>
#include <signal.h>

#include <mutex>

namespace cachette::file {
namespace {

// Initial-exec: the handler must not allocate the thread's TLS block on first use.
__attribute__((tls_model("initial-exec"))) thread_local sigjmp_buf* t_armed = nullptr;

std::mutex g_install_mutex;
struct sigaction g_previous {};  // written under g_install_mutex before ours is installed

void on_fault(int signal, siginfo_t* info, void* context) {
  if (sigjmp_buf* jump = t_armed) {
    t_armed = nullptr;
    siglongjmp(*jump, 1);
  }
  // Not ours: hand it to whoever was there before, then let the default action have it
  // (the faulting access runs again on return and faults again).
  const struct sigaction previous = g_previous;
  if ((previous.sa_flags & SA_SIGINFO) != 0) {
    if (previous.sa_sigaction != nullptr) previous.sa_sigaction(signal, info, context);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(signal);
  }
  ::signal(SIGBUS, SIG_DFL);
  if (info == nullptr || info->si_code <= 0) ::raise(signal);  // sent, not a fault
}

}  // namespace

void install_fault_handler() {
  std::lock_guard lock(g_install_mutex);
  struct sigaction current {};
  if (::sigaction(SIGBUS, nullptr, &current) != 0) return;
  if ((current.sa_flags & SA_SIGINFO) != 0 && current.sa_sigaction == on_fault) return;
  g_previous = current;
  struct sigaction ours {};
  ours.sa_sigaction = on_fault;
  // NODEFER: the jump leaves the handler without restoring the signal mask (sigsetjmp does
  // not save it, to stay free of system calls), so SIGBUS must not be blocked inside it.
  ours.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
  sigemptyset(&ours.sa_mask);
  ::sigaction(SIGBUS, &ours, nullptr);
}

bool run_guarded(void (*body)(void*), void* context) {
  sigjmp_buf jump;
  sigjmp_buf* const outer = t_armed;
  if (sigsetjmp(jump, 0) != 0) {
    t_armed = outer;
    return false;
  }
  t_armed = &jump;
  try {
    body(context);
  } catch (...) {
    t_armed = outer;
    throw;
  }
  t_armed = outer;
  return true;
}

}  // namespace cachette::file
