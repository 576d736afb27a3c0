#include "cachette/net/completion.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cachette::net {

CompletionQueue::CompletionQueue() {
  fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd_ < 0) throw Error(Errc::connection, std::string("eventfd: ") + std::strerror(errno));
}

CompletionQueue::~CompletionQueue() {
  if (fd_ >= 0) ::close(fd_);
}

void CompletionQueue::signal() {
  // Only the first producer after a drain pays for the system call.
  if (!signalled_.exchange(true, std::memory_order_acq_rel)) {
    const std::uint64_t one = 1;
    ssize_t n;
    do {
      n = ::write(fd_, &one, sizeof one);
    } while (n < 0 && errno == EINTR);
  }
}

void CompletionQueue::push(std::vector<Completion>& batch) {
  if (batch.empty()) return;
  {
    std::lock_guard lock(mutex_);
    if (items_.empty()) {
      items_.swap(batch);
    } else {
      for (Completion& c : batch) items_.push_back(std::move(c));
    }
  }
  batch.clear();
  signal();
}

void CompletionQueue::push(Completion completion) {
  {
    std::lock_guard lock(mutex_);
    items_.push_back(std::move(completion));
  }
  signal();
}

std::size_t CompletionQueue::drain(std::vector<Completion>& out) {
  out.clear();
  std::uint64_t count;
  while (::read(fd_, &count, sizeof count) < 0 && errno == EINTR) {
  }
  // Cleared before taking the items: a push that lands after the swap signals again.
  signalled_.store(false, std::memory_order_release);
  std::lock_guard lock(mutex_);
  out.swap(items_);
  return out.size();
}

bool CompletionQueue::wait(std::chrono::milliseconds timeout) const {
  pollfd p{fd_, POLLIN, 0};
  int n;
  do {
    n = ::poll(&p, 1, static_cast<int>(timeout.count()));
  } while (n < 0 && errno == EINTR);
  return n > 0;
}

}  // namespace cachette::net
