#include "cachette/net/operation.hpp"

namespace cachette::net {

void deliver(const Target& target, Result&& result) {
  if (target.queue) {
    target.queue->push(Completion{target.token, std::move(result)});
  } else if (target.token != nullptr) {
    static_cast<Continuation*>(target.token)->resume(std::move(result));
  }
}

Join::Join(Target target, std::size_t parts, Result initial, Merge merge)
    : target_(std::move(target)),
      total_(std::move(initial)),
      merge_(std::move(merge)),
      parts_(parts),
      left_(parts) {
  for (std::size_t i = 0; i < parts; ++i) {
    parts_[i].join = this;
    parts_[i].index = i;
  }
}

void Join::finish_part(std::size_t index, Result&& result) {
  bool last = false;
  {
    std::lock_guard lock(mutex_);
    if (result.kind == Result::Kind::error) {
      total_.set_error(result.error_code, std::move(result.value));
    } else if (total_.kind != Result::Kind::error) {
      merge_(index, std::move(result), total_);
    }
    last = --left_ == 0;
  }
  if (!last) return;
  Target target = std::move(target_);
  Result total = std::move(total_);
  delete this;
  deliver(target, std::move(total));
}

}  // namespace cachette::net
