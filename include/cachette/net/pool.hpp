#pragma once
/// A pool of connections to one server, served by the process's I/O thread.
///
/// Any thread may submit. A request's bytes are appended to one shared submission buffer under
/// a short lock, and the I/O thread is woken only if it is not already due to look (and, on a
/// thread with an open SubmitBatch, once per batch): everything submitted in the meantime goes
/// to one connection in one write (automatic pipelining). Replies
/// come back in order and each request's Result is pushed to the CompletionQueue it named.
/// Requests reach the server in submission order: they all use the first ready connection (one
/// pipelined connection saturates a Redis or memcached thread); the others are warm standbys.
///
/// Failures: a connection that drops fails its requests with Errc::connection and reconnects
/// with backoff (first retry at once, then 50 ms doubling to 1 s). While every connection is
/// down, new requests fail at once with the last connection error instead of waiting. A request
/// without a reply within `timeout` fails with Errc::timeout, and the connection it waits on is
/// dropped and reopened (in-order protocols cannot skip a reply).

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cachette/net/operation.hpp"
#include "cachette/net/protocol.hpp"
#include "cachette/options.hpp"

namespace cachette::net {

struct Endpoint {
  std::string host;  ///< TCP host name or address (empty when unix_path is set)
  std::uint16_t port = 0;
  std::string unix_path;  ///< Unix-domain socket path
  bool tls = false;
  std::string tls_ca_file;    ///< verify the server against this CA; system CAs when empty
  std::string tls_cert_file;  ///< client certificate (mutual TLS), optional
  std::string tls_key_file;
};

struct PoolOptions {
  Endpoint endpoint;
  std::chrono::milliseconds timeout = kDefaults.timeout;                  ///< per request
  std::chrono::milliseconds connect_timeout = kDefaults.connect_timeout;  ///< per attempt
  std::size_t size = kDefaults.pool_size;                                 ///< connections
  std::function<std::unique_ptr<Protocol>()> make_protocol;
  std::string name;  ///< for messages, e.g. "redis 127.0.0.1:6379"; never credentials
  /// Every read that makes progress on the oldest request restarts its `timeout` (a key dump
  /// streams for as long as the server holds items; only silence means a stalled server).
  bool timeout_on_silence = false;
};

struct PoolStats {
  std::uint64_t requests = 0;
  std::uint64_t errors = 0;
  std::uint64_t timeouts = 0;
  std::uint64_t connects = 0;   ///< successful handshakes, first connects included
  std::uint64_t connected = 0;  ///< connections ready now
};

class Pool;

/// Submissions that share one wake-up of the I/O thread. While a batch is open on a thread
/// (SubmitBatch::Scope), a pool given a request on that thread records itself here instead of
/// waking the I/O thread; flush() then wakes it once for everything submitted meanwhile. An
/// event loop opens its batch around each submission and flushes once per loop iteration, so
/// the requests of every handler that ran in one iteration travel in one write per server.
/// A batch belongs to one thread; destroying it flushes it.
class SubmitBatch {
 public:
  class Scope {
   public:
    explicit Scope(SubmitBatch& batch) : previous_(current_) { current_ = &batch; }
    ~Scope() { current_ = previous_; }
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;

   private:
    SubmitBatch* previous_;
  };

  SubmitBatch() = default;
  ~SubmitBatch() { flush(); }
  SubmitBatch(const SubmitBatch&) = delete;
  SubmitBatch& operator=(const SubmitBatch&) = delete;

  /// The batch open on this thread, if any.
  static SubmitBatch* current() { return current_; }
  bool empty() const { return pools_.empty(); }
  void defer(std::shared_ptr<Pool> pool) { pools_.push_back(std::move(pool)); }
  /// Wakes the I/O thread for every pool that deferred to this batch.
  void flush();
  /// In a forked child: forgets the parent's pools without touching them (their I/O thread
  /// does not exist here, and destroying them could wait on it).
  void abandon() { (void)new std::vector<std::shared_ptr<Pool>>(std::move(pools_)); }

 private:
  static inline thread_local SubmitBatch* current_ = nullptr;
  std::vector<std::shared_ptr<Pool>> pools_;
};

class Pool : public std::enable_shared_from_this<Pool> {
 public:
  /// Starts connecting at once. Throws Error(invalid_argument) for unusable TLS files.
  static std::shared_ptr<Pool> create(PoolOptions options);
  ~Pool();

  /// Queues one request: `encode(std::string&)` appends its bytes. The Completion carrying
  /// `token` is pushed to `queue` exactly once, whatever happens.
  template <class Encode>
  void submit(std::uint16_t op, std::uint16_t replies,
              const std::shared_ptr<CompletionQueue>& queue, void* token, Encode&& encode) {
    const Clock::time_point deadline = Clock::now() + options_.timeout;
    SubmitBatch* const batch = SubmitBatch::current();
    bool wake = false;
    bool defer = false;
    bool rejected = false;
    {
      std::lock_guard lock(submit_mutex_);
      if (closed_) {
        rejected = true;
      } else {
        const std::size_t before = submit_bytes_.size();
        encode(submit_bytes_);
        submit_requests_.push_back(
            {op, replies, token, queue, deadline, submit_bytes_.size() - before});
        if (scheduled_) {
          // The I/O thread is due to look: it takes this request too.
        } else if (batch == nullptr) {
          wake = scheduled_ = true;
        } else if (!deferred_) {
          defer = deferred_ = true;
        }
      }
    }
    if (wake) schedule_drain();
    if (defer) batch->defer(shared_from_this());
    if (rejected) reject_closed(queue, token);
  }

  /// Queues one step of a whole operation: its Result goes to `next` (see operation.hpp).
  template <class Encode>
  void submit(std::uint16_t op, std::uint16_t replies, Continuation* next, Encode&& encode) {
    static const std::shared_ptr<CompletionQueue> no_queue;
    submit(op, replies, no_queue, static_cast<void*>(next), std::forward<Encode>(encode));
  }

  /// Wakes the I/O thread for requests deferred to a SubmitBatch, unless it is already due.
  void flush_deferred();

  /// Fails everything queued or in flight with Errc::closed and closes the connections.
  void close();

  PoolStats stats() const;
  const PoolOptions& options() const { return options_; }

  struct Io;  // the I/O-thread side (pool.cpp)

 private:
  explicit Pool(PoolOptions options);
  void schedule_drain();
  void reject_closed(const std::shared_ptr<CompletionQueue>& queue, void* token);

  PoolOptions options_;
  std::mutex submit_mutex_;
  std::string submit_bytes_;
  std::vector<Request> submit_requests_;
  bool scheduled_ = false;  // a drain is posted to the I/O thread
  bool deferred_ = false;   // a SubmitBatch will call flush_deferred()
  bool closed_ = false;
  std::unique_ptr<Io> io_;
};

}  // namespace cachette::net
