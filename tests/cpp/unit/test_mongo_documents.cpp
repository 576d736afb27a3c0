// The MongoDB client's pure parts: prefix patterns, documents, error classes, URL checks, and
// what a closed client answers. No server.

#include <gtest/gtest.h>

#include <mongoc/mongoc.h>

#include <cctype>
#include <cstring>
#include <optional>
#include <string>

#include "cachette/mongo/client.hpp"
#include "cachette/mongo/detail/documents.hpp"

namespace cachette::mongo {
namespace {

using detail::prefix_regex;

// Reads a pattern back as PCRE would, for the subset prefix_regex may emit: `^`, then literal
// characters, `\xHH`, and a backslash before punctuation. nullopt for anything else, such as
// an unescaped metacharacter or an escape that would mean a class (`\d`, `\w`).
std::optional<std::string> literal_prefix(const std::string& pattern) {
  if (pattern.empty() || pattern[0] != '^') return std::nullopt;
  const std::string meta = "\\^$.|?*+()[]{}";
  std::string out;
  for (std::size_t i = 1; i < pattern.size(); ++i) {
    const char c = pattern[i];
    if (c != '\\') {
      if (meta.find(c) != std::string::npos) return std::nullopt;
      out.push_back(c);
      continue;
    }
    if (++i == pattern.size()) return std::nullopt;
    const char e = pattern[i];
    if (e == 'x' && i + 2 < pattern.size()) {
      out.push_back(static_cast<char>(std::stoi(pattern.substr(i + 1, 2), nullptr, 16)));
      i += 2;
    } else if (std::isalnum(static_cast<unsigned char>(e))) {
      return std::nullopt;
    } else {
      out.push_back(e);
    }
  }
  return out;
}

TEST(MongoPrefixRegex, AnchorsAndEscapesEveryMetacharacter) {
  EXPECT_EQ(prefix_regex("user:"), "^user\\:");
  EXPECT_EQ(prefix_regex("a.b*"), "^a\\.b\\*");
  EXPECT_EQ(prefix_regex(std::string("n\0l", 3)), "^n\\x00l");
  EXPECT_EQ(prefix_regex("é"), "^é");
  const std::string awkward = std::string("^$.|?*+()[]{}\\/ -:\n\x7f", 20) + '\0' + "é";
  EXPECT_EQ(literal_prefix(prefix_regex(awkward)), awkward);
  EXPECT_EQ(literal_prefix(prefix_regex("a.b*:")), "a.b*:");
  EXPECT_EQ(literal_prefix(prefix_regex("")), "");
}

TEST(MongoDocuments, EntryRoundTripsAndExpiry) {
  const std::int64_t now = 1'700'000'000'000;
  const std::string value("\0\xff bytes", 8);
  detail::Bson doc = detail::entry_document("k", value, 5000, now);
  auto live = detail::read_entry(doc.get(), now);
  ASSERT_TRUE(live.has_value());
  EXPECT_EQ(live->key, "k");
  EXPECT_EQ(live->value, value);
  EXPECT_EQ(live->expires_ms, now + 5000);
  EXPECT_FALSE(detail::read_entry(doc.get(), now + 5000).has_value());  // expires <= now

  detail::Bson forever = detail::entry_document("f", "v", 0, now);
  bson_iter_t it;
  EXPECT_FALSE(bson_iter_init_find(&it, forever.get(), "expires"));
  auto never = detail::read_entry(forever.get(), now + 1'000'000'000);
  ASSERT_TRUE(never.has_value());
  EXPECT_EQ(never->expires_ms, -1);
}

TEST(MongoDocuments, ForeignDocumentsAreNotEntries) {
  // 0.1.x: a generated ObjectId, the key in `key`, expires as epoch seconds.
  bson_oid_t oid;
  bson_oid_init(&oid, nullptr);
  detail::Bson old;
  BSON_APPEND_OID(old.get(), "_id", &oid);
  BSON_APPEND_UTF8(old.get(), "key", "k");
  BSON_APPEND_BINARY(old.get(), "value", BSON_SUBTYPE_BINARY,
                     reinterpret_cast<const std::uint8_t*>("x"), 1);
  BSON_APPEND_INT64(old.get(), "expires", 4'000'000'000);
  EXPECT_FALSE(detail::read_entry(old.get(), 0).has_value());
  // A string value rather than binary is not ours either.
  detail::Bson text;
  BSON_APPEND_UTF8(text.get(), "_id", "k");
  BSON_APPEND_UTF8(text.get(), "value", "x");
  EXPECT_FALSE(detail::read_entry(text.get(), 0).has_value());
}

bson_error_t error_of(std::uint32_t domain, std::uint32_t code, const char* message) {
  bson_error_t e{};
  e.domain = domain;
  e.code = code;
  std::strncpy(e.message, message, sizeof e.message - 1);
  return e;
}

TEST(MongoErrors, ClassifiedByCause) {
  EXPECT_EQ(detail::classify(error_of(MONGOC_ERROR_SERVER_SELECTION,
                                      MONGOC_ERROR_SERVER_SELECTION_FAILURE,
                                      "No suitable servers found: [connection refused]")),
            Errc::connection);
  EXPECT_EQ(detail::classify(error_of(MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_SOCKET,
                                      "Failed to read 4 bytes: socket error or timeout")),
            Errc::timeout);
  EXPECT_EQ(detail::classify(error_of(MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_AUTHENTICATE,
                                      "Authentication failed.")),
            Errc::auth);
  EXPECT_EQ(detail::classify(error_of(MONGOC_ERROR_SERVER, 18, "Authentication failed")),
            Errc::auth);
  EXPECT_EQ(detail::classify(error_of(MONGOC_ERROR_SERVER, 10334, "BSONObj size")),
            Errc::value_too_large);
  EXPECT_EQ(detail::classify(error_of(MONGOC_ERROR_SERVER, 2, "bad value")), Errc::protocol);
}

TEST(MongoUrl, CheckedWithoutThePassword) {
  EXPECT_EQ(check_uri("mongodb://localhost:27017"), "");
  EXPECT_EQ(check_uri("mongodb+srv://cluster0.example.net"), "");
  const std::string problem = check_uri("mongodb://me:pw-secret@db:99999");
  EXPECT_NE(problem.find("Port could not be parsed"), std::string::npos) << problem;
  EXPECT_EQ(problem.find("pw-secret"), std::string::npos) << problem;
  EXPECT_NE(check_uri("mongodb://db/?unknownOption=1"), "");
  EXPECT_EQ(display_hosts("mongodb://me:pw@a:1,b:2/x"), "a:1,b:2");
  EXPECT_EQ(display_hosts("mongodb+srv://cluster0.example.net"), "cluster0.example.net");
}

TEST(MongoClient, RefusesABadUrlWithATypedError) {
  ClientOptions o;
  o.uri = "mongodb://me:pw-secret@";
  try {
    Client client(o);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), Errc::invalid_argument);
    EXPECT_EQ(std::string(e.what()).find("pw-secret"), std::string::npos);
  }
}

TEST(MongoClient, ClosedClientCompletesEveryCallWithClosed) {
  ClientOptions o;
  o.uri = "mongodb://127.0.0.1:1";
  Client client(o);
  EXPECT_EQ(client.name(), "mongodb 127.0.0.1:1");
  client.close();
  auto queue = std::make_shared<net::CompletionQueue>();
  client.get("k", queue, reinterpret_cast<void*>(1));
  client.flush(queue, reinterpret_cast<void*>(2));
  std::vector<net::Completion> out;
  ASSERT_EQ(queue->drain(out), 2u);
  for (const auto& c : out) {
    EXPECT_EQ(c.result.kind, net::Result::Kind::error);
    EXPECT_EQ(c.result.error_code, Errc::closed);
  }
  EXPECT_EQ(client.stats().requests, 2u);
}

TEST(MongoClient, EmptyBulkCallsCompleteAtOnce) {
  ClientOptions o;
  o.uri = "mongodb://127.0.0.1:1";
  Client client(o);
  auto queue = std::make_shared<net::CompletionQueue>();
  client.get_many({}, queue, reinterpret_cast<void*>(1));
  client.set_many({}, 1000, queue, reinterpret_cast<void*>(2));
  std::vector<net::Completion> out;
  ASSERT_EQ(queue->drain(out), 2u);
  EXPECT_EQ(out[0].result.kind, net::Result::Kind::values);
  EXPECT_EQ(out[1].result.kind, net::Result::Kind::ok);
}

}  // namespace
}  // namespace cachette::mongo
