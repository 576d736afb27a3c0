#pragma once
/// The MongoDB client: net::Client on libmongoc.
///
/// libmongoc is blocking, so the client owns `pool_size` worker threads, each holding one
/// connection of a mongoc_client_pool_t. A call appends a job to the client's queue and
/// returns; a worker takes every job waiting (up to a batch), runs the reads of the batch as
/// one `find` with `$in` and the plain writes as one unordered bulk write, and pushes each
/// job's completion to the CompletionQueue it names. No caller thread ever waits on MongoDB.
///
/// Data model: one document per key, `{_id: key, value: BinData, expires: Date}` (no
/// `expires` when the entry never expires), in `database`.`collection`. A TTL index on
/// `expires` (expireAfterSeconds 0) is created once, idempotently, before the first operation;
/// reads still treat `expires <= now` as missing because the server's TTL monitor runs only
/// once a minute. Documents whose `_id` is not a string (as 0.1.x wrote) are never read,
/// matched by a prefix or counted, except by flush (which empties the collection) and
/// flush_expired (which also reclaims 0.1.x documents whose numeric `expires` has passed).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "cachette/net/client.hpp"
#include "cachette/options.hpp"

namespace cachette::mongo {

struct ClientOptions {
  /// mongodb:// or mongodb+srv:// (may hold credentials: never put it in a message).
  std::string uri;
  std::string database{kDefaults.database_name};
  std::string collection{kDefaults.table_name};
  /// TLS files; any of them set turns TLS on. A separate key file is joined to the
  /// certificate into one private PEM file, the form libmongoc reads.
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
  std::chrono::milliseconds timeout = kDefaults.timeout;
  std::chrono::milliseconds connect_timeout = kDefaults.connect_timeout;
  std::size_t pool_size = kDefaults.pool_size;
};

/// Checks a MongoDB URL as libmongoc would parse it. Returns "" when it is usable, else the
/// problem, with the URL's password never in it.
std::string check_uri(const std::string& uri);

/// "host:port[,host:port...]" of a URL, or its SRV name, without credentials ("" if invalid).
std::string display_hosts(const std::string& uri);

class Client final : public net::Client {
 public:
  /// Throws cachette::Error (invalid_argument) for a URL libmongoc refuses. Connections open
  /// lazily, on the first operation.
  explicit Client(ClientOptions options);
  ~Client() override;
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  void get(std::string_view key, const Queue& queue, void* token) override;
  void get_with_ttl(std::string_view key, const Queue& queue, void* token) override;
  void set(std::string_view key, std::string_view value, std::int64_t ttl_ms, const Queue& queue,
           void* token) override;
  void add(std::string_view key, std::string_view value, std::int64_t ttl_ms, const Queue& queue,
           void* token) override;
  void del(std::string_view key, const Queue& queue, void* token) override;
  void del_if_equal(std::string_view key, std::string_view value, const Queue& queue,
                    void* token) override;
  void get_many(std::span<const std::string_view> keys, const Queue& queue, void* token) override;
  void set_many(std::span<const KeyValue> items, std::int64_t ttl_ms, const Queue& queue,
                void* token) override;
  void clear_prefix(std::string_view prefix, const Queue& queue, void* token) override;
  void flush(const Queue& queue, void* token) override;
  void flush_expired(const Queue& queue, void* token) override;

  void close() override;
  net::ClientStats stats() const override;
  const std::string& name() const override { return name_; }

  /// One queued request (public so that the worker code in src/mongo can see it).
  struct Job {
    enum class Op : std::uint8_t {
      get,
      get_with_ttl,
      set,
      add,
      del,
      del_if_equal,
      get_many,
      set_many,
      clear_prefix,
      flush,
      flush_expired,
    };
    Op op = Op::get;
    std::string key;  ///< key, or prefix for clear_prefix
    std::string value;
    std::int64_t ttl_ms = 0;
    std::vector<std::string> keys;    ///< get_many; set_many keys
    std::vector<std::string> values;  ///< set_many values
    Queue queue;
    void* token = nullptr;
  };

  struct Shared;  ///< the pool, the queue and the counters, shared with the workers

 private:
  void submit(Job job);

  std::string name_;
  std::shared_ptr<Shared> shared_;
  std::vector<std::thread> workers_;
};

}  // namespace cachette::mongo
