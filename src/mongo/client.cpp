#include "cachette/mongo/client.hpp"

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>

#include "cachette/mongo/detail/documents.hpp"
#include "cachette/mongo/detail/session.hpp"

namespace cachette::mongo {
namespace {

// While check_uri parses a URL on this thread, libmongoc's log lines land here: they say
// more than its error ("Port could not be parsed"), and a warning ("Unsupported URI option")
// is a URL we refuse too, rather than an option silently ignored.
thread_local std::vector<std::string>* t_log_capture = nullptr;

void on_log(mongoc_log_level_t level, const char*, const char* message, void*) {
  if (t_log_capture != nullptr && level <= MONGOC_LOG_LEVEL_WARNING) {
    t_log_capture->emplace_back(message);
  }
  // Everything else is dropped: libmongoc would print each failed server check to stderr, and
  // the errors that matter reach the caller as completions.
}

void init_driver() {
  static std::once_flag once;
  // mongoc_cleanup is never called: worker threads may outlive interpreter shutdown.
  std::call_once(once, [] {
    mongoc_init();
    mongoc_log_set_handler(on_log, nullptr);
  });
}

// The password of a URL as written (and decoded), so it can be kept out of messages.
std::vector<std::string> secrets_of(const std::string& uri, const mongoc_uri_t* parsed) {
  std::vector<std::string> out;
  if (parsed != nullptr && mongoc_uri_get_password(parsed) != nullptr) {
    out.emplace_back(mongoc_uri_get_password(parsed));
  }
  const auto scheme = uri.find("://");
  if (scheme != std::string::npos) {
    const auto slash = uri.find('/', scheme + 3);
    const std::string authority =
        uri.substr(scheme + 3, slash == std::string::npos ? std::string::npos : slash - scheme - 3);
    const auto at = authority.rfind('@');
    if (at != std::string::npos) {
      const std::string userinfo = authority.substr(0, at);
      const auto colon = userinfo.find(':');
      if (colon != std::string::npos) out.push_back(userinfo.substr(colon + 1));
    }
  }
  return out;
}

std::string scrub(std::string message, const std::vector<std::string>& secrets) {
  for (const std::string& secret : secrets) {
    if (secret.empty()) continue;
    for (auto pos = message.find(secret); pos != std::string::npos;
         pos = message.find(secret, pos)) {
      message.replace(pos, secret.size(), "***");
    }
  }
  return message;
}

struct UriDeleter {
  void operator()(mongoc_uri_t* u) const { mongoc_uri_destroy(u); }
};
using Uri = std::unique_ptr<mongoc_uri_t, UriDeleter>;

Uri parse(const std::string& uri, std::string& problem) {
  init_driver();
  bson_error_t error;
  Uri parsed(mongoc_uri_new_with_error(uri.c_str(), &error));
  if (!parsed) problem = scrub(error.message, secrets_of(uri, nullptr));
  return parsed;
}

std::string hosts_of(const mongoc_uri_t* uri) {
  if (const char* srv = mongoc_uri_get_srv_hostname(uri)) return srv;
  std::string out;
  for (const mongoc_host_list_t* h = mongoc_uri_get_hosts(uri); h != nullptr; h = h->next) {
    if (!out.empty()) out += ',';
    out += h->host_and_port;
  }
  return out;
}

// libmongoc reads the client certificate and its key from one PEM file.
std::string join_pem(const std::string& cert, const std::string& key) {
  char path[] = "/tmp/cachette-mongo-XXXXXX.pem";
  const int fd = ::mkstemps(path, 4);  // created 0600
  if (fd < 0) throw Error(Errc::invalid_argument, "cannot create the joined TLS PEM file");
  ::close(fd);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  for (const std::string& file : {cert, key}) {
    std::ifstream in(file, std::ios::binary);
    if (!in) {
      std::remove(path);
      throw Error(Errc::invalid_argument, "cannot read the TLS file " + file);
    }
    out << in.rdbuf() << '\n';
  }
  return path;
}

}  // namespace

std::string check_uri(const std::string& uri) {
  std::vector<std::string> log;
  init_driver();
  t_log_capture = &log;
  std::string problem;
  Uri parsed = parse(uri, problem);
  t_log_capture = nullptr;
  if (parsed && log.empty()) return {};
  std::string out = problem;
  for (const std::string& line : log) {
    if (out.find(line) != std::string::npos) continue;
    out += out.empty() ? "" : "; ";
    out += line;
  }
  return scrub(out, secrets_of(uri, parsed.get()));
}

std::string display_hosts(const std::string& uri) {
  std::string problem;
  Uri parsed = parse(uri, problem);
  return parsed ? hosts_of(parsed.get()) : std::string();
}

Client::Shared::~Shared() {
  if (pool != nullptr) mongoc_client_pool_destroy(pool);
  if (uri != nullptr) mongoc_uri_destroy(uri);
  if (!pem_file.empty()) std::remove(pem_file.c_str());
}

mongoc_client_pool_t* Client::Shared::open_pool(bson_error_t& error) {
  std::lock_guard lock(pool_mutex);
  if (pool != nullptr) return pool;
  pool = mongoc_client_pool_new_with_error(uri, &error);
  if (pool == nullptr) return nullptr;
  mongoc_client_pool_set_error_api(pool, MONGOC_ERROR_API_VERSION_2);
  mongoc_client_pool_max_size(pool, static_cast<std::uint32_t>(pool_size));
  mongoc_client_pool_set_appname(pool, "cachette");
  return pool;
}

Client::Client(ClientOptions options) : shared_(std::make_shared<Shared>()) {
  std::string problem;
  Uri uri = parse(options.uri, problem);
  if (!uri) throw Error(Errc::invalid_argument, "invalid MongoDB URL: " + problem);
  const auto ms = [](std::chrono::milliseconds d) { return static_cast<std::int32_t>(d.count()); };
  mongoc_uri_set_option_as_int32(uri.get(), MONGOC_URI_SOCKETTIMEOUTMS, ms(options.timeout));
  mongoc_uri_set_option_as_int32(uri.get(), MONGOC_URI_CONNECTTIMEOUTMS,
                                 ms(options.connect_timeout));
  // An unreachable server must fail an operation within its timeout.
  mongoc_uri_set_option_as_int32(uri.get(), MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                 ms(options.timeout));
  const bool tls_files = !options.tls_ca_file.empty() || !options.tls_cert_file.empty() ||
                         !options.tls_key_file.empty();
  if (tls_files) {
    mongoc_uri_set_option_as_bool(uri.get(), MONGOC_URI_TLS, true);
    if (!options.tls_ca_file.empty()) {
      mongoc_uri_set_option_as_utf8(uri.get(), MONGOC_URI_TLSCAFILE, options.tls_ca_file.c_str());
    }
    std::string pem = options.tls_cert_file;
    if (!options.tls_key_file.empty() && options.tls_key_file != options.tls_cert_file) {
      pem = shared_->pem_file = join_pem(options.tls_cert_file, options.tls_key_file);
    }
    if (!pem.empty()) {
      mongoc_uri_set_option_as_utf8(uri.get(), MONGOC_URI_TLSCERTIFICATEKEYFILE, pem.c_str());
    }
  }
  name_ = "mongodb " + hosts_of(uri.get());
  shared_->uri = uri.release();
  shared_->database = std::move(options.database);
  shared_->collection = std::move(options.collection);
  shared_->name = name_;
  shared_->pool_size = std::max<std::size_t>(options.pool_size, 1);
  for (std::size_t i = 0; i < shared_->pool_size; ++i) {
    workers_.emplace_back(detail::run_worker, shared_);
  }
}

Client::~Client() {
  close();
  for (std::thread& t : workers_) t.join();
}

void Client::submit(Job job) {
  shared_->requests.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(shared_->mutex);
    if (!shared_->closing) {
      shared_->jobs.push_back(std::move(job));
      shared_->wake.notify_one();
      return;
    }
  }
  net::Result r;
  r.set_error(Errc::closed, name_ + ": the client is closed");
  job.queue->push(net::Completion{job.token, std::move(r)});
}

namespace {

Client::Job job_of(Client::Job::Op op, const Client::Queue& queue, void* token,
                   std::string_view key = {}, std::string_view value = {},
                   std::int64_t ttl_ms = 0) {
  Client::Job job;
  job.op = op;
  job.key.assign(key);
  job.value.assign(value);
  job.ttl_ms = ttl_ms;
  job.queue = queue;
  job.token = token;
  return job;
}

}  // namespace

void Client::get(std::string_view key, const Queue& queue, void* token) {
  submit(job_of(Job::Op::get, queue, token, key));
}

void Client::get_with_ttl(std::string_view key, const Queue& queue, void* token) {
  submit(job_of(Job::Op::get_with_ttl, queue, token, key));
}

void Client::set(std::string_view key, std::string_view value, std::int64_t ttl_ms,
                 const Queue& queue, void* token) {
  submit(job_of(Job::Op::set, queue, token, key, value, ttl_ms));
}

void Client::add(std::string_view key, std::string_view value, std::int64_t ttl_ms,
                 const Queue& queue, void* token) {
  submit(job_of(Job::Op::add, queue, token, key, value, ttl_ms));
}

void Client::del(std::string_view key, const Queue& queue, void* token) {
  submit(job_of(Job::Op::del, queue, token, key));
}

void Client::del_if_equal(std::string_view key, std::string_view value, const Queue& queue,
                          void* token) {
  submit(job_of(Job::Op::del_if_equal, queue, token, key, value));
}

void Client::get_many(std::span<const std::string_view> keys, const Queue& queue, void* token) {
  if (keys.empty()) {
    net::Result r;
    r.kind = net::Result::Kind::values;
    queue->push(net::Completion{token, std::move(r)});
    return;
  }
  Job job = job_of(Job::Op::get_many, queue, token);
  job.keys.assign(keys.begin(), keys.end());
  submit(std::move(job));
}

void Client::set_many(std::span<const KeyValue> items, std::int64_t ttl_ms, const Queue& queue,
                      void* token) {
  if (items.empty()) {
    net::Result r;
    r.kind = net::Result::Kind::ok;
    queue->push(net::Completion{token, std::move(r)});
    return;
  }
  Job job = job_of(Job::Op::set_many, queue, token, {}, {}, ttl_ms);
  for (const auto& [key, value] : items) {
    job.keys.emplace_back(key);
    job.values.emplace_back(value);
  }
  submit(std::move(job));
}

void Client::clear_prefix(std::string_view prefix, const Queue& queue, void* token) {
  submit(job_of(Job::Op::clear_prefix, queue, token, prefix));
}

void Client::flush(const Queue& queue, void* token) {
  submit(job_of(Job::Op::flush, queue, token));
}

void Client::flush_expired(const Queue& queue, void* token) {
  submit(job_of(Job::Op::flush_expired, queue, token));
}

void Client::close() {
  std::deque<Job> pending;
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->closing) return;
    shared_->closing = true;
    pending.swap(shared_->jobs);
  }
  shared_->wake.notify_all();
  for (Job& job : pending) {
    net::Result r;
    r.set_error(Errc::closed, name_ + ": the client was closed");
    job.queue->push(net::Completion{job.token, std::move(r)});
  }
}

net::ClientStats Client::stats() const {
  const Shared& s = *shared_;
  net::ClientStats out;
  out.hits = s.hits.load(std::memory_order_relaxed);
  out.misses = s.misses.load(std::memory_order_relaxed);
  out.requests = s.requests.load(std::memory_order_relaxed);
  out.errors = s.errors.load(std::memory_order_relaxed);
  out.timeouts = s.timeouts.load(std::memory_order_relaxed);
  out.connected = s.connected.load(std::memory_order_relaxed);
  return out;
}

}  // namespace cachette::mongo
