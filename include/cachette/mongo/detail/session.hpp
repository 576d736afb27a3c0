#pragma once
// Private to src/mongo: what the client shares with its worker threads, and the work one
// worker does with one batch of jobs on its own connection.

#include <mongoc/mongoc.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include "cachette/mongo/client.hpp"
#include "cachette/options.hpp"

namespace cachette::mongo {

struct Client::Shared {
  ~Shared();

  /// The pool, created by the first worker that needs it (an SRV URL means DNS look-ups,
  /// which must not run on the caller's thread). nullptr with `error` set when it cannot be.
  mongoc_client_pool_t* open_pool(bson_error_t& error);

  std::mutex pool_mutex;
  mongoc_client_pool_t* pool = nullptr;
  mongoc_uri_t* uri = nullptr;
  std::size_t pool_size = kDefaults.pool_size;
  std::string tls_ca_file;
  std::string database;
  std::string collection;
  std::string name;      ///< "mongodb host:port", for messages
  std::string pem_file;  ///< a joined certificate + key we wrote and remove at the end

  std::mutex mutex;
  std::condition_variable wake;
  std::deque<Job> jobs;
  bool closing = false;

  /// Set once the TTL index exists (or an index on `expires` of someone else's does).
  std::atomic<bool> index_ready{false};

  std::atomic<std::uint64_t> hits{0};
  std::atomic<std::uint64_t> misses{0};
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> connected{0};
};

namespace detail {

/// The most jobs one worker takes from the queue at a time.
inline constexpr std::size_t kMaxBatch = 128;

/// One worker thread's life: takes batches of jobs until the client closes.
void run_worker(std::shared_ptr<Client::Shared> shared);

}  // namespace detail

}  // namespace cachette::mongo
