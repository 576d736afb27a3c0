#include "cachette/net/dispatcher.hpp"

#include <algorithm>
#include <cstdio>
#include <iterator>

namespace cachette::net {
namespace {

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

std::string seconds_text(const char* what, std::chrono::milliseconds timeout) {
  char reason[96];
  std::snprintf(reason, sizeof reason, "%s %.3g s", what,
                std::chrono::duration<double>(timeout).count());
  return reason;
}

}  // namespace

Dispatcher::Dispatcher(DispatcherOptions options) : options_(std::move(options)) {
  const std::size_t n = std::max<std::size_t>(options_.links, 1);
  for (std::size_t i = 0; i < n; ++i) {
    links_.push_back(std::make_unique<Link>(options_.make_protocol()));
  }
}

bool Dispatcher::busy() const {
  if (!waiting_.empty()) return true;
  return std::any_of(links_.begin(), links_.end(),
                     [](const auto& link) { return link->connection.in_flight() > 0; });
}

bool Dispatcher::all_down() const {
  return std::all_of(links_.begin(), links_.end(), [](const auto& link) {
    return link->connection.state() != Connection::State::ready && link->failed_since_up;
  });
}

void Dispatcher::fail(std::vector<Request>& requests, Errc code, const std::string& message,
                      CompletionSink& sink) {
  for (Request& r : requests) {
    Result result;
    result.set_error(code, message);
    sink.add(r, std::move(result));
  }
  stats_.errors += requests.size();
  if (code == Errc::timeout) stats_.timeouts += requests.size();
  requests.clear();
}

void Dispatcher::start(Actions& actions) {
  for (std::size_t i = 0; i < links_.size(); ++i) {
    links_[i]->connecting = true;
    actions.connect.emplace_back(i, std::chrono::milliseconds(0));
  }
}

void Dispatcher::submit(std::string& bytes, std::vector<Request>& requests, CompletionSink& sink,
                        Actions& actions) {
  stats_.requests += requests.size();
  if (closed_) {
    bytes.clear();
    fail(requests, Errc::closed, options_.name + ": the client is closed", sink);
    return;
  }
  std::size_t best = kNone;
  if (current_ != kNone && links_[current_]->connection.state() == Connection::State::ready &&
      links_[current_]->connection.in_flight() > 0) {
    best = current_;
  } else {
    for (std::size_t i = 0; i < links_.size(); ++i) {
      const Connection& c = links_[i]->connection;
      if (c.state() != Connection::State::ready) continue;
      if (best == kNone || c.in_flight() < links_[best]->connection.in_flight()) best = i;
    }
  }
  if (best != kNone) {
    current_ = best;
    links_[best]->connection.enqueue(bytes, requests);
    actions.write.push_back(best);
  } else if (all_down()) {
    bytes.clear();
    fail(requests, last_error_.code(), last_error_.what(), sink);
  } else {
    // Still connecting: held until a link is ready, every link is down, or they expire.
    waiting_bytes_.append(bytes);
    bytes.clear();
    for (Request& r : requests) waiting_.push_back(std::move(r));
    requests.clear();
  }
}

void Dispatcher::on_ready(std::size_t link, Actions& actions) {
  Link& l = *links_[link];
  l.failed_since_up = false;
  l.backoff = std::chrono::milliseconds(0);
  ++stats_.connects;
  ++stats_.connected;
  if (!waiting_.empty()) {
    l.connection.enqueue(waiting_bytes_, waiting_);
    current_ = link;  // later batches queue behind these
  }
  actions.write.push_back(link);
}

void Dispatcher::on_transport_up(std::size_t link, Clock::time_point now, Actions& actions) {
  Link& l = *links_[link];
  l.connecting = false;
  l.connection.on_connected(now + options_.timeout);
  if (l.connection.state() == Connection::State::ready) {
    on_ready(link, actions);
  } else {
    actions.write.push_back(link);  // the handshake
  }
}

void Dispatcher::on_read(std::size_t link, std::size_t n, Clock::time_point now, bool extend,
                         CompletionSink& sink, Actions& actions) {
  Connection& c = links_[link]->connection;
  if (extend) c.extend_deadline(now + options_.timeout);
  const bool was_ready = c.state() == Connection::State::ready;
  if (!c.on_read(n, sink)) {
    const Error failure = c.failure();
    on_failure(link, failure.code(), failure.what(), sink, actions);
    return;
  }
  if (!was_ready && c.state() == Connection::State::ready) on_ready(link, actions);
}

void Dispatcher::on_written(std::size_t link, Actions& actions) {
  links_[link]->connection.on_written();
  actions.write.push_back(link);
}

void Dispatcher::on_failure(std::size_t link, Errc code, const std::string& reason,
                            CompletionSink& sink, Actions& actions) {
  Link& l = *links_[link];
  const bool was_ready = l.connection.state() == Connection::State::ready;
  if (was_ready) --stats_.connected;
  l.connecting = false;
  actions.drop.push_back(link);
  const std::string message = options_.name + ": " + reason;
  const std::size_t lost = l.connection.in_flight();
  l.connection.on_closed(code, message, sink);
  stats_.errors += lost;
  if (code == Errc::timeout) stats_.timeouts += lost;
  last_error_ = Error(code, message);
  if (closed_) return;
  // A link that was working is retried at once; repeated failures back off.
  l.failed_since_up = true;
  if (!was_ready) {
    l.backoff = l.backoff.count() == 0 ? std::chrono::milliseconds(50)
                                       : std::min(l.backoff * 2, std::chrono::milliseconds(1000));
  }
  if (all_down() && !waiting_.empty()) {
    waiting_bytes_.clear();
    fail(waiting_, last_error_.code(), last_error_.what(), sink);
  }
  l.connecting = true;
  actions.connect.emplace_back(link, l.backoff);
}

void Dispatcher::on_tick(Clock::time_point now, CompletionSink& sink, Actions& actions) {
  if (closed_) return;
  for (std::size_t i = 0; i < links_.size(); ++i) {
    std::optional<Clock::time_point> oldest = links_[i]->connection.oldest_deadline();
    if (oldest && *oldest <= now) {
      on_failure(i, Errc::timeout, seconds_text("no reply within", options_.timeout), sink,
                 actions);
    }
  }
  // Waiting requests are in deadline order: fail the expired prefix.
  std::size_t expired = 0;
  while (expired < waiting_.size() && waiting_[expired].deadline <= now) ++expired;
  if (expired == 0) return;
  std::size_t expired_bytes = 0;
  for (std::size_t i = 0; i < expired; ++i) expired_bytes += waiting_[i].size;
  std::vector<Request> late(std::make_move_iterator(waiting_.begin()),
                            std::make_move_iterator(waiting_.begin() + expired));
  waiting_.erase(waiting_.begin(), waiting_.begin() + expired);
  waiting_bytes_.erase(0, expired_bytes);
  fail(late, Errc::timeout, seconds_text("no connection within", options_.timeout), sink);
}

void Dispatcher::close(CompletionSink& sink, Actions& actions) {
  if (closed_) return;
  closed_ = true;
  const std::string message = options_.name + ": the client is closed";
  fail(waiting_, Errc::closed, message, sink);
  waiting_bytes_.clear();
  for (std::size_t i = 0; i < links_.size(); ++i) {
    links_[i]->connection.on_closed(Errc::closed, message, sink);
    actions.drop.push_back(i);
  }
  stats_.connected = 0;
}

}  // namespace cachette::net
