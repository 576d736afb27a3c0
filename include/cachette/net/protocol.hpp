#pragma once
/// The seam between the protocol-neutral network engine and one wire protocol.
///
/// The engine (Connection, Pool, the I/O thread and the completion bridge) knows nothing about
/// Redis or memcached. A protocol plugs in with two things:
///
///  1. An encoder, used by its client class on the caller's thread: it appends a request's bytes
///     to the pool's submission buffer through Pool::submit() and describes the request with a
///     Request (an opcode of its own choosing and how many replies the request produces).
///  2. A Protocol object, one per connection, living on the I/O thread: it owns the receive
///     buffer, produces the handshake sent after each connect, and turns the next reply on the
///     wire into the Result of the request at the head of the line.
///
/// Protocols must answer strictly in order (RESP and memcached's meta protocol both do): the
/// engine matches the n-th reply with the n-th request. Requests that produce several replies
/// (MULTI ... EXEC) declare it in Request::replies and receive each reply with its index.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "cachette/net/completion.hpp"

namespace cachette::net {

using Clock = std::chrono::steady_clock;

/// One request in flight, as the engine tracks it.
struct Request {
  std::uint16_t op = 0;       ///< protocol-defined opcode
  std::uint16_t replies = 1;  ///< replies this request consumes
  void* token = nullptr;      ///< returned in the Completion; nullptr for handshake steps
  std::shared_ptr<CompletionQueue> queue;  ///< where the completion goes (unused for handshakes)
  Clock::time_point deadline{};
  std::size_t size = 0;  ///< encoded bytes (set by Pool::submit)
};

enum class ReadStatus : std::uint8_t {
  need_more,  ///< no complete reply buffered yet
  reply,      ///< one reply was consumed into the Result
  fatal,      ///< the stream is unusable (malformed); the connection is dropped
};

class Protocol {
 public:
  virtual ~Protocol() = default;

  /// Called before each (re)connect attempt: discard buffered bytes and parser state.
  virtual void reset() = 0;

  /// Appends the handshake (authentication, database selection...) to `out` and returns the
  /// opcodes of its requests, in order; empty when the protocol needs none. A handshake reply
  /// that the protocol reports as Result::Kind::error fails the connection with that error.
  virtual std::span<const Request> handshake(std::string& out) = 0;

  /// Receive buffer: the engine reads socket bytes into prepare(n) and reports them by commit().
  virtual std::span<char> prepare(std::size_t min_size) = 0;
  virtual void commit(std::size_t n) = 0;

  /// Consumes the next reply for a request with opcode `op` (the `index`-th of its replies)
  /// and folds it into `result`. Out-of-band messages are skipped here.
  virtual ReadStatus read_reply(std::uint16_t op, std::uint16_t index, Result& result) = 0;

  /// Why read_reply() returned fatal.
  virtual std::string fatal_message() const = 0;
};

}  // namespace cachette::net
