#include "cachette/store.hpp"

namespace cachette {

std::optional<std::string> Store::get(std::string_view key) {
  std::optional<std::string> out;
  visit(
      key,
      [](void* context, std::string_view value, std::int64_t, std::int64_t) {
        static_cast<std::optional<std::string>*>(context)->emplace(value);
      },
      &out);
  return out;
}

std::uint64_t Store::put_stamped(std::string_view key, std::string_view value,
                                 std::int64_t ttl_ms) {
  put(key, value, ttl_ms);
  return 0;
}

bool Store::visit_stamped(std::string_view key, StampedSink sink, void* context) {
  struct Call {
    StampedSink sink;
    void* context;
  } call{sink, context};
  return visit(
      key,
      [](void* c, std::string_view value, std::int64_t, std::int64_t) {
        const auto* target = static_cast<Call*>(c);
        target->sink(target->context, value, 0);
      },
      &call);
}

std::optional<Entry> Store::get_with_ttl(std::string_view key) {
  std::optional<Entry> out;
  visit(
      key,
      [](void* context, std::string_view value, std::int64_t ttl_ms, std::int64_t age_ms) {
        static_cast<std::optional<Entry>*>(context)->emplace(
            Entry{std::string(value), ttl_ms, age_ms});
      },
      &out);
  return out;
}

}  // namespace cachette
