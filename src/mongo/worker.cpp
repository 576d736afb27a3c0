// One worker thread: takes every waiting job (up to a batch), runs the batch's reads as one
// `find`, its plain writes as one unordered bulk write and the rest one by one, then pushes
// the completions, grouped per queue.

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "cachette/mongo/detail/documents.hpp"
#include "cachette/mongo/detail/session.hpp"

namespace cachette::mongo::detail {
namespace {

using Job = Client::Job;
using Op = Job::Op;
using Result = net::Result;

class Session {
 public:
  Session(Client::Shared& shared, mongoc_client_t* client)
      : shared_(shared),
        client_(client),
        collection_(mongoc_client_get_collection(client, shared.database.c_str(),
                                                 shared.collection.c_str())) {}
  ~Session() { mongoc_collection_destroy(collection_); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void run(std::vector<Job>& batch) {
    now_ = now_ms();
    Result failure;
    if (!ensure_index(failure)) {
      for (Job& job : batch) complete(job, failure);
      push_completions();
      return;
    }
    std::vector<Job*> reads;
    std::vector<Job*> writes;
    std::vector<Job*> others;
    for (Job& job : batch) {
      if (job.op == Op::get || job.op == Op::get_with_ttl || job.op == Op::get_many) {
        reads.push_back(&job);
      } else if (job.op == Op::set || job.op == Op::set_many) {
        if (fits(job)) writes.push_back(&job);
      } else {
        others.push_back(&job);
      }
    }
    // Reads first and answered at once: they are what a request usually waits on. Every job
    // of the batch was queued before any of them completes, so any order is a valid one.
    if (!reads.empty()) run_reads(reads);
    push_completions();
    if (!writes.empty()) run_writes(writes);
    push_completions();
    for (Job* job : others) single(*job);
    push_completions();
  }

 private:
  void push_completions() {
    for (auto& [queue, completions] : out_) queue->push(completions);
    out_.clear();
  }

  Result error_of(const bson_error_t& error) {
    Result r;
    r.set_error(classify(error), shared_.name + ": " + error.message);
    return r;
  }

  void complete(Job& job, Result result) {
    auto& s = shared_;
    if (result.kind == Result::Kind::error) {
      s.errors.fetch_add(1, std::memory_order_relaxed);
      if (result.error_code == Errc::timeout) s.timeouts.fetch_add(1, std::memory_order_relaxed);
      if (result.error_code == Errc::connection || result.error_code == Errc::timeout) {
        set_connected(false);
      }
    } else {
      set_connected(true);
      if (job.op == Op::get || job.op == Op::get_with_ttl) {
        (result.kind == Result::Kind::nil ? s.misses : s.hits)
            .fetch_add(1, std::memory_order_relaxed);
      }
    }
    for (auto& [queue, completions] : out_) {
      if (queue == job.queue) {
        completions.push_back({job.token, std::move(result)});
        return;
      }
    }
    out_.emplace_back(job.queue, std::vector<net::Completion>{});
    out_.back().second.push_back({job.token, std::move(result)});
  }

  void set_connected(bool now_connected) {
    if (now_connected == connected_) return;
    connected_ = now_connected;
    if (now_connected) {
      shared_.connected.fetch_add(1, std::memory_order_relaxed);
    } else {
      shared_.connected.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  // Fails a write whose document MongoDB would refuse, before anything is sent.
  bool fits(Job& job) {
    std::size_t largest = job.key.size() + job.value.size();
    for (std::size_t i = 0; i < job.keys.size(); ++i) {
      largest = std::max(largest, job.keys[i].size() + job.values[i].size());
    }
    if (largest + kDocumentOverhead <= kMaxDocumentBytes) return true;
    Result r;
    r.set_error(Errc::value_too_large, shared_.name + ": an entry of " + std::to_string(largest) +
                                           " bytes exceeds MongoDB's 16 MiB document limit");
    complete(job, std::move(r));
    return false;
  }

  bool ensure_index(Result& failure) {
    if (shared_.index_ready.load(std::memory_order_acquire)) return true;
    Bson command = make_bson();
    BSON_APPEND_UTF8(command.get(), "createIndexes", shared_.collection.c_str());
    bson_t indexes;
    bson_t index;
    bson_t keys;
    BSON_APPEND_ARRAY_BEGIN(command.get(), "indexes", &indexes);
    BSON_APPEND_DOCUMENT_BEGIN(&indexes, "0", &index);
    BSON_APPEND_DOCUMENT_BEGIN(&index, "key", &keys);
    BSON_APPEND_INT32(&keys, "expires", 1);
    bson_append_document_end(&index, &keys);
    BSON_APPEND_UTF8(&index, "name", kTtlIndexName);
    BSON_APPEND_INT32(&index, "expireAfterSeconds", 0);
    bson_append_document_end(&indexes, &index);
    bson_append_array_end(command.get(), &indexes);
    mongoc_database_t* db = mongoc_client_get_database(client_, shared_.database.c_str());
    bson_t reply;
    bson_error_t error;
    const bool ok =
        mongoc_database_write_command_with_opts(db, command.get(), nullptr, &reply, &error);
    bson_destroy(&reply);
    mongoc_database_destroy(db);
    if (!ok) {
      const Errc code = classify(error);
      if (code == Errc::connection || code == Errc::timeout || code == Errc::auth) {
        failure = error_of(error);
        return false;
      }
      // Anything else (an index on `expires` with other options already exists, say) leaves
      // reclaiming to flush_expired; reads check `expires` themselves in any case.
    }
    shared_.index_ready.store(true, std::memory_order_release);
    return true;
  }

  void run_reads(std::vector<Job*>& jobs) {
    std::vector<const std::string*> keys;
    for (Job* job : jobs) {
      if (job->op == Op::get_many) {
        for (const std::string& k : job->keys) keys.push_back(&k);
      } else {
        keys.push_back(&job->key);
      }
    }
    Bson filter = make_bson();
    Bson opts = make_bson();
    bson_t projection;
    BSON_APPEND_DOCUMENT_BEGIN(opts.get(), "projection", &projection);
    BSON_APPEND_INT32(&projection, "value", 1);
    BSON_APPEND_INT32(&projection, "expires", 1);
    bson_append_document_end(opts.get(), &projection);
    if (keys.size() == 1) {
      append_key(filter.get(), "_id", *keys[0]);
      BSON_APPEND_INT64(opts.get(), "limit", 1);
      BSON_APPEND_BOOL(opts.get(), "singleBatch", true);
    } else {
      bson_t id;
      bson_t in;
      BSON_APPEND_DOCUMENT_BEGIN(filter.get(), "_id", &id);
      BSON_APPEND_ARRAY_BEGIN(&id, "$in", &in);
      char index_text[16];
      for (std::size_t i = 0; i < keys.size(); ++i) {
        const char* index_key = nullptr;
        const std::size_t n = bson_uint32_to_string(static_cast<std::uint32_t>(i), &index_key,
                                                    index_text, sizeof index_text);
        bson_append_utf8(&in, index_key, static_cast<int>(n), keys[i]->data(),
                         static_cast<int>(keys[i]->size()));
      }
      bson_append_array_end(&id, &in);
      bson_append_document_end(filter.get(), &id);
    }
    std::unordered_map<std::string, Entry> found;
    mongoc_cursor_t* cursor =
        mongoc_collection_find_with_opts(collection_, filter.get(), opts.get(), nullptr);
    const bson_t* doc = nullptr;
    while (mongoc_cursor_next(cursor, &doc)) {
      if (auto entry = read_entry(doc, now_)) {
        std::string key = entry->key;
        found.emplace(std::move(key), std::move(*entry));
      }
    }
    bson_error_t error;
    const bool failed = mongoc_cursor_error(cursor, &error);
    mongoc_cursor_destroy(cursor);
    for (Job* job : jobs) {
      if (failed) {
        complete(*job, error_of(error));
        continue;
      }
      Result r;
      if (job->op == Op::get_many) {
        r.kind = Result::Kind::values;
        for (const std::string& k : job->keys) {
          auto it = found.find(k);
          r.present.push_back(it != found.end() ? 1 : 0);
          r.items.push_back(it != found.end() ? it->second.value : std::string());
        }
      } else if (auto it = found.find(job->key); it != found.end()) {
        r.kind = job->op == Op::get ? Result::Kind::value : Result::Kind::ttl_value;
        r.value = it->second.value;
        const std::int64_t expires = it->second.expires_ms;
        r.integer = expires < 0 ? -1 : std::max<std::int64_t>(expires - now_, 1);
      }
      complete(*job, std::move(r));
    }
  }

  void run_writes(std::vector<Job*>& jobs) {
    Bson opts = make_bson();
    BSON_APPEND_BOOL(opts.get(), "ordered", false);
    mongoc_bulk_operation_t* bulk =
        mongoc_collection_create_bulk_operation_with_opts(collection_, opts.get());
    Bson upsert = make_bson();
    BSON_APPEND_BOOL(upsert.get(), "upsert", true);
    bson_error_t error;
    bool ok = true;
    auto add = [&](const std::string& key, const std::string& value, std::int64_t ttl_ms) {
      Bson selector = make_bson();
      append_key(selector.get(), "_id", key);
      Bson doc = entry_document(key, value, ttl_ms, now_);
      ok = ok && mongoc_bulk_operation_replace_one_with_opts(bulk, selector.get(), doc.get(),
                                                             upsert.get(), &error);
    };
    for (Job* job : jobs) {
      if (job->op == Op::set) {
        add(job->key, job->value, job->ttl_ms);
      } else {
        for (std::size_t i = 0; i < job->keys.size(); ++i) {
          add(job->keys[i], job->values[i], job->ttl_ms);
        }
      }
    }
    bson_t reply;
    if (ok) {
      ok = mongoc_bulk_operation_execute(bulk, &reply, &error) != 0;
      bson_destroy(&reply);
    }
    mongoc_bulk_operation_destroy(bulk);
    for (Job* job : jobs) {
      Result r;
      if (ok) {
        r.kind = Result::Kind::ok;
      } else {
        r = error_of(error);
      }
      complete(*job, std::move(r));
    }
  }

  using Write = bool (*)(mongoc_collection_t*, const bson_t*, const bson_t*, bson_t*,
                         bson_error_t*);

  // Runs one delete and completes `job` with the count `field` of its reply.
  Result counted(Write write, const bson_t* selector, const char* field = "deletedCount",
                 const bson_t* opts = nullptr) {
    bson_t reply;
    bson_error_t error;
    Result r;
    if (write(collection_, selector, opts, &reply, &error)) {
      r.kind = Result::Kind::integer;
      r.integer = reply_count(&reply, field);
    } else {
      r = error_of(error);
    }
    bson_destroy(&reply);
    return r;
  }

  void single(Job& job) {
    Bson selector = make_bson();
    switch (job.op) {
      case Op::add: {
        if (!fits(job)) return;
        // Matches only a dead entry; when the key is live the upsert's insert collides on _id.
        append_key(selector.get(), "_id", job.key);
        bson_t expires;
        BSON_APPEND_DOCUMENT_BEGIN(selector.get(), "expires", &expires);
        BSON_APPEND_DATE_TIME(&expires, "$lte", now_);
        bson_append_document_end(selector.get(), &expires);
        Bson doc = entry_document(job.key, job.value, job.ttl_ms, now_);
        Bson opts = make_bson();
        BSON_APPEND_BOOL(opts.get(), "upsert", true);
        bson_t reply;
        bson_error_t error;
        Result r;
        if (mongoc_collection_replace_one(collection_, selector.get(), doc.get(), opts.get(),
                                          &reply, &error)) {
          r.kind = Result::Kind::integer;
          r.integer = reply_count(&reply, "matchedCount") + reply_count(&reply, "upsertedCount");
        } else if (error.code == MONGOC_ERROR_DUPLICATE_KEY) {
          r.kind = Result::Kind::integer;
          r.integer = 0;
        } else {
          r = error_of(error);
        }
        bson_destroy(&reply);
        complete(job, std::move(r));
        return;
      }
      case Op::del:
      case Op::del_if_equal: {
        append_key(selector.get(), "_id", job.key);
        if (job.op == Op::del_if_equal) {
          bson_append_binary(selector.get(), "value", -1, BSON_SUBTYPE_BINARY,
                             reinterpret_cast<const std::uint8_t*>(job.value.data()),
                             static_cast<std::uint32_t>(job.value.size()));
        }
        append_live(selector.get(), now_);
        Result r = counted(mongoc_collection_delete_one, selector.get());
        if (job.op == Op::del && r.kind == Result::Kind::integer && r.integer == 0) {
          // A dead entry the TTL monitor has not reclaimed yet goes too, uncounted.
          Bson dead = make_bson();
          append_key(dead.get(), "_id", job.key);
          Result ignored = counted(mongoc_collection_delete_one, dead.get());
          if (ignored.kind == Result::Kind::error) r = ignored;
        }
        complete(job, std::move(r));
        return;
      }
      case Op::clear_prefix: {
        const std::string pattern = prefix_regex(job.key);
        BSON_APPEND_REGEX(selector.get(), "_id", pattern.c_str(), "");
        Bson live = make_bson();
        BSON_APPEND_REGEX(live.get(), "_id", pattern.c_str(), "");
        append_live(live.get(), now_);
        Result r = counted(mongoc_collection_delete_many, live.get());
        if (r.kind == Result::Kind::integer) {
          // Then the dead entries under the prefix, which are not entries to the caller.
          Result dead = counted(mongoc_collection_delete_many, selector.get());
          if (dead.kind == Result::Kind::error) r = dead;
        }
        complete(job, std::move(r));
        return;
      }
      case Op::flush: complete(job, counted(mongoc_collection_delete_many, selector.get())); return;
      case Op::flush_expired: {
        // Ours (a BSON date) and 0.1.x's (seconds as a number): MongoDB compares within a type.
        bson_t either;
        bson_t branch;
        bson_t cond;
        BSON_APPEND_ARRAY_BEGIN(selector.get(), "$or", &either);
        BSON_APPEND_DOCUMENT_BEGIN(&either, "0", &branch);
        BSON_APPEND_DOCUMENT_BEGIN(&branch, "expires", &cond);
        BSON_APPEND_DATE_TIME(&cond, "$lte", now_);
        bson_append_document_end(&branch, &cond);
        bson_append_document_end(&either, &branch);
        BSON_APPEND_DOCUMENT_BEGIN(&either, "1", &branch);
        BSON_APPEND_DOCUMENT_BEGIN(&branch, "expires", &cond);
        BSON_APPEND_DOUBLE(&cond, "$lte", static_cast<double>(now_) / 1000.0);
        bson_append_document_end(&branch, &cond);
        bson_append_document_end(&either, &branch);
        bson_append_array_end(selector.get(), &either);
        complete(job, counted(mongoc_collection_delete_many, selector.get()));
        return;
      }
      default: return;  // reads and plain writes are batched
    }
  }

  Client::Shared& shared_;
  mongoc_client_t* client_;
  mongoc_collection_t* collection_;
  std::int64_t now_ = 0;
  bool connected_ = false;
  std::vector<std::pair<Client::Queue, std::vector<net::Completion>>> out_;
};

}  // namespace

void run_worker(std::shared_ptr<Client::Shared> shared) {
  mongoc_client_t* client = nullptr;
  std::unique_ptr<Session> session;
  std::vector<Job> batch;
  for (;;) {
    {
      std::unique_lock lock(shared->mutex);
      shared->wake.wait(lock, [&] { return shared->closing || !shared->jobs.empty(); });
      if (shared->jobs.empty()) break;  // closing, nothing left
      while (!shared->jobs.empty() && batch.size() < kMaxBatch) {
        batch.push_back(std::move(shared->jobs.front()));
        shared->jobs.pop_front();
      }
    }
    if (client == nullptr) {
      bson_error_t error;
      mongoc_client_pool_t* pool = shared->open_pool(error);
      if (pool == nullptr) {
        for (Job& job : batch) {
          net::Result r;
          r.set_error(Errc::connection, shared->name + ": " + error.message);
          shared->errors.fetch_add(1, std::memory_order_relaxed);
          job.queue->push(net::Completion{job.token, std::move(r)});
        }
        batch.clear();
        continue;
      }
      client = mongoc_client_pool_pop(pool);
      session = std::make_unique<Session>(*shared, client);
    }
    session->run(batch);
    batch.clear();
  }
  session.reset();
  if (client != nullptr) mongoc_client_pool_push(shared->pool, client);
}

}  // namespace cachette::mongo::detail
