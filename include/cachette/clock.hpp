#pragma once
/// Monotonic milliseconds used for every expiry in the engine.

#include <chrono>
#include <cstdint>

namespace cachette {

inline std::int64_t monotonic_ms() noexcept {
  using namespace std::chrono;
  return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace cachette
