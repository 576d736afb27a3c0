#pragma once
/// The sans-I/O state machine of one connection: it says what to write and consumes what was
/// read, matches replies to requests in order, and never touches a socket. The asio shell in
/// pool.cpp carries out its decisions; unit tests drive it with scripted bytes.

#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cachette/net/protocol.hpp"

namespace cachette::net {

/// Groups completions by queue so that each queue is locked and signalled once per batch.
class CompletionSink {
 public:
  void add(const Request& request, Result&& result);
  /// Hands every grouped completion to its queue.
  void flush();
  ~CompletionSink() { flush(); }

 private:
  struct Group {
    std::shared_ptr<CompletionQueue> queue;
    std::vector<Completion> items;
  };
  std::vector<Group> groups_;
};

class Connection {
 public:
  enum class State : std::uint8_t { disconnected, handshaking, ready };

  explicit Connection(std::unique_ptr<Protocol> protocol);

  State state() const { return state_; }
  std::size_t in_flight() const { return in_flight_.size(); }
  /// Deadline of the oldest request awaiting its reply.
  std::optional<Clock::time_point> oldest_deadline() const;
  /// Moves the oldest request's deadline to `deadline` if that is later: for replies that stream
  /// for long (a key dump), where the bound is on silence, not on the whole reply.
  void extend_deadline(Clock::time_point deadline);

  /// The transport is up: queues the handshake (or becomes ready at once without one).
  void on_connected(Clock::time_point handshake_deadline);

  /// Queues requests whose encoded bytes are `bytes`, in the same order. Both are left empty
  /// (the bytes are moved when nothing else is queued, so a batch is never copied).
  void enqueue(std::string& bytes, std::vector<Request>& requests);

  /// Everything queued since the last write, to be written in one go, or nullptr. The buffer
  /// stays valid and untouched until on_written().
  const std::string* begin_write();
  void on_written();
  bool writing() const { return writing_; }

  /// Receive buffer, then report the bytes read. Returns false when the connection must be
  /// closed; failure() tells why (protocol error, or a refused handshake).
  std::span<char> read_buffer(std::size_t min_size) { return protocol_->prepare(min_size); }
  bool on_read(std::size_t n, CompletionSink& sink);

  /// The connection is gone: fails every request in flight with `code` and resets.
  void on_closed(Errc code, const std::string& message, CompletionSink& sink);

  /// Why the connection must be closed (after on_read returned false).
  const Error& failure() const { return failure_; }

 private:
  std::unique_ptr<Protocol> protocol_;
  State state_ = State::disconnected;
  std::deque<Request> in_flight_;
  std::uint16_t reply_index_ = 0;  // replies already read for in_flight_.front()
  Result front_result_;
  std::size_t handshake_left_ = 0;
  std::string pending_;  // queued, not yet being written
  std::string writing_buffer_;
  bool writing_ = false;
  Error failure_{Errc::connection, ""};
};

}  // namespace cachette::net
