// Synchronous local stores. Calls hold the GIL: each operation takes microseconds, and
// values are copied straight from the store into a Python bytes object.

#include <nanobind/nanobind.h>
#include <nanobind/stl/string_view.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <exception>
#include <memory>
#include <vector>

#include "bind.hpp"
#include "cachette/error.hpp"
#include "cachette/memory_store.hpp"
#include "cachette/store.hpp"

namespace nb = nanobind;

namespace cachette::python {
namespace {

std::string_view view(const nb::bytes& b) {
  return {b.c_str(), b.size()};
}

struct GetResult {
  PyObject* value = nullptr;
};

struct GetTtlResult {
  PyObject* value = nullptr;
  std::int64_t ttl_ms = 0;
  std::int64_t age_ms = 0;
};

nb::object store_get(Store& store, std::string_view key) {
  GetResult out;
  store.visit(
      key,
      [](void* context, std::string_view value, std::int64_t, std::int64_t) {
        static_cast<GetResult*>(context)->value =
            PyBytes_FromStringAndSize(value.data(), static_cast<Py_ssize_t>(value.size()));
      },
      &out);
  if (out.value == nullptr) {
    if (PyErr_Occurred()) throw nb::python_error();
    return nb::none();
  }
  return nb::steal(out.value);
}

/// The value decoded as UTF-8 text (bytes that are not UTF-8 map to lone surrogates, as
/// Python's "surrogateescape" does), or None. Saves the vanilla codec a bytes object and a
/// Python-level decode on every hit.
nb::object store_get_text(Store& store, std::string_view key) {
  GetResult out;
  store.visit(
      key,
      [](void* context, std::string_view value, std::int64_t, std::int64_t) {
        static_cast<GetResult*>(context)->value = PyUnicode_DecodeUTF8(
            value.data(), static_cast<Py_ssize_t>(value.size()), "surrogateescape");
      },
      &out);
  if (out.value == nullptr) {
    if (PyErr_Occurred()) throw nb::python_error();
    return nb::none();
  }
  return nb::steal(out.value);
}

/// Stores a str as UTF-8 without an intermediate bytes object.
void store_put_text(Store& store, std::string_view key, nb::handle value, std::int64_t ttl_ms) {
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(value.ptr(), &size);
  if (data == nullptr) throw nb::python_error();  // not a str, or lone surrogates
  store.put(key, std::string_view(data, static_cast<std::size_t>(size)), ttl_ms);
}

/// (ttl_ms, age_ms, value) or None; ttl_ms is -1 for entries that never expire.
nb::object store_get_with_ttl(Store& store, std::string_view key) {
  GetTtlResult out;
  store.visit(
      key,
      [](void* context, std::string_view value, std::int64_t ttl_ms, std::int64_t age_ms) {
        auto* r = static_cast<GetTtlResult*>(context);
        r->value = PyBytes_FromStringAndSize(value.data(), static_cast<Py_ssize_t>(value.size()));
        r->ttl_ms = ttl_ms;
        r->age_ms = age_ms;
      },
      &out);
  if (out.value == nullptr) {
    if (PyErr_Occurred()) throw nb::python_error();
    return nb::none();
  }
  nb::object value = nb::steal(out.value);
  return nb::make_tuple(out.ttl_ms, out.age_ms, value);
}

// -- The hit path's readers (and the text writer)
// ------------------------------------------------------------- A reader is a builtin function
// (METH_O) bound to one store: calling it costs a plain C call, where a bound method goes through
// nanobind's overload dispatch, its self and argument casters and a Python string_view, which
// together cost more than the store lookup itself. Its self is a capsule holding the Store* and, as
// context, a reference to the store's Python object, which keeps the store alive as long as the
// reader.

// The capsules go unnamed: a named capsule costs a strcmp on every call, and only these
// functions, which made them, ever read them.
constexpr const char* kReaderCapsule = nullptr;

// Strings kept for repeated hits. A text hit builds a str from the entry's bytes, and for a
// 1 KiB value that copy (from memory the CPU has mostly not touched lately) is most of the
// hit's cost. The text reader keeps the strings it built, found again by the entry's stamp
// (Store::visit_stamped): a later hit on the same write returns the same str, immutable,
// without reading the bytes at all. A new write gets a new stamp, so nothing stale is ever
// returned. The table is 4-way set-associative, one cache line a set; the memory store's
// stamps count its writes, so entries written one after another share sets and lines, each
// in its own way. The strings held stay within a byte budget (a quarter of max_memory, at
// most 64 MiB), which is memory beyond max_memory. Only touched with the GIL held.
class TextMemo {
 public:
  /// Values shorter than this are not kept: pymalloc builds their strings from its own pools,
  /// about as fast as a kept one is found.
  static constexpr std::size_t kShortest = 512;

  explicit TextMemo(std::uint64_t budget) : budget_(budget) {}
  ~TextMemo() {
    for (Set& set : sets_) {
      for (Slot& slot : set.ways) Py_XDECREF(slot.text);
    }
  }
  TextMemo(const TextMemo&) = delete;
  TextMemo& operator=(const TextMemo&) = delete;

  /// The string kept for `stamp` (borrowed), or nullptr.
  PyObject* find(std::uint64_t stamp) const noexcept {
    if (stamp == 0 || sets_.empty()) return nullptr;
    for (const Slot& slot : sets_[(stamp / kWays) % kSets].ways) {
      if (slot.stamp == stamp) return slot.text;
    }
    return nullptr;
  }

  /// Bytes the kept strings occupy (beyond the store's max_memory).
  std::uint64_t held() const noexcept { return held_; }

  /// Lets go of every kept string (the store was flushed).
  void clear() noexcept {
    for (Set& set : sets_) {
      for (Slot& slot : set.ways) {
        Py_CLEAR(slot.text);
        slot.stamp = 0;
      }
    }
    held_ = 0;
  }

  /// Lets go of the string kept for `stamp`, if any (its entry was written again).
  void drop(std::uint64_t stamp) noexcept {
    if (stamp == 0 || sets_.empty()) return;
    for (Slot& slot : sets_[(stamp / kWays) % kSets].ways) {
      if (slot.stamp == stamp) {
        held_ -= size_of(slot.text);
        Py_CLEAR(slot.text);
        slot.stamp = 0;
        return;
      }
    }
  }

  /// Keeps `text` (a str) for later hits on `stamp`.
  void keep(std::uint64_t stamp, PyObject* text) {
    const std::uint64_t bytes = size_of(text);
    if (stamp == 0 || bytes > budget_ / 16) return;  // a few huge values must not fill it
    if (sets_.empty()) sets_.resize(kSets);
    Set& set = sets_[(stamp / kWays) % kSets];
    Slot* victim = &set.ways[stamp % kWays];  // consecutive stamps take different ways
    for (Slot& slot : set.ways) {
      if (slot.text == nullptr) {
        victim = &slot;
        break;
      }
    }
    if (victim->text != nullptr) {
      held_ -= size_of(victim->text);
      Py_CLEAR(victim->text);  // a str: its deallocation runs no Python code
      victim->stamp = 0;
    }
    if (held_ + bytes > budget_) return;
    *victim = Slot{stamp, Py_NewRef(text)};
    held_ += bytes;
  }

 private:
  static constexpr std::size_t kSets = 4096;  // 16,384 strings at most; the table is 256 KiB
  static constexpr std::size_t kWays = 4;
  struct Slot {
    std::uint64_t stamp = 0;
    PyObject* text = nullptr;
  };
  struct alignas(64) Set {
    Slot ways[kWays];
  };

  // What a str occupies, near enough.
  static std::uint64_t size_of(PyObject* text) noexcept {
    const auto length = static_cast<std::uint64_t>(PyUnicode_GET_LENGTH(text));
    return (PyUnicode_IS_ASCII(text) ? sizeof(PyASCIIObject) : sizeof(PyCompactUnicodeObject)) +
           (length + 1) * PyUnicode_KIND(text);
  }

  std::vector<Set> sets_;
  std::uint64_t budget_;
  std::uint64_t held_ = 0;
};

// What a reader's capsule points to.
struct Reader {
  Store* store;
  std::shared_ptr<TextMemo> memo;  // the text reader's and writer's: one per store
};

constexpr std::uint64_t kMemoCeiling = 64ull << 20;

// The store's table of kept strings, made on first use. Its text reader keeps strings in it;
// its text writer drops the string of each entry it replaces, so strings of values written
// over do not linger. Capsules hold their store alive, and the table lives as long as they do.
std::vector<std::pair<Store*, std::weak_ptr<TextMemo>>>& memos() {
  static auto* all = new std::vector<std::pair<Store*, std::weak_ptr<TextMemo>>>();
  return *all;
}

// The store's table if it has one (nullptr otherwise).
std::shared_ptr<TextMemo> existing_memo(const Store& store) {
  std::erase_if(memos(), [](const auto& entry) { return entry.second.expired(); });
  for (const auto& [owner, memo] : memos()) {
    if (owner == &store) return memo.lock();
  }
  return nullptr;
}

std::shared_ptr<TextMemo> memo_for(Store& store) {
  if (std::shared_ptr<TextMemo> memo = existing_memo(store)) return memo;
  const std::uint64_t capacity = store.stats().capacity;  // 0: no byte budget (file store)
  if (capacity == 0) return nullptr;
  auto memo = std::make_shared<TextMemo>(std::min(capacity / 4, kMemoCeiling));
  memos().emplace_back(&store, memo);
  return memo;
}

void release_reader(PyObject* capsule) {
  delete static_cast<Reader*>(PyCapsule_GetPointer(capsule, kReaderCapsule));
  Py_XDECREF(static_cast<PyObject*>(PyCapsule_GetContext(capsule)));
}

// Sets the cachette exception for an engine error, as the module's translator does.
void set_python_error(const Error& e) {
  PyObject* exceptions = PyImport_ImportModule("cachette.exceptions");
  PyObject* cls =
      exceptions ? PyObject_GetAttrString(exceptions, exception_class_name(e.code())) : nullptr;
  Py_XDECREF(exceptions);
  if (cls != nullptr) {
    PyErr_SetString(cls, e.what());
    Py_DECREF(cls);
  }
}

struct TextHit {
  TextMemo* memo;
  PyObject* value = nullptr;
};

template <bool Text>
PyObject* read_hit(PyObject* capsule, PyObject* key) {
  auto* reader = static_cast<Reader*>(PyCapsule_GetPointer(capsule, kReaderCapsule));
  if (reader == nullptr) return nullptr;
  Store* store = reader->store;
  Py_ssize_t size = 0;
  const char* data = PyUnicode_Check(key) ? PyUnicode_AsUTF8AndSize(key, &size) : nullptr;
  if (data == nullptr) {
    // The same error as the bound methods give for such a key (the facade maps it).
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "key must be str encodable as UTF-8, not %.100s",
                 Py_TYPE(key)->tp_name);
    return nullptr;
  }
  TextHit out{reader->memo.get()};
  try {
    const std::string_view k(data, static_cast<std::size_t>(size));
    if constexpr (Text) {
      store->visit_stamped(
          k,
          [](void* context, std::string_view value, std::uint64_t stamp) {
            auto* hit = static_cast<TextHit*>(context);
            // A short string (pymalloc's sizes) is built about as fast as it is found.
            TextMemo* memo = value.size() >= TextMemo::kShortest ? hit->memo : nullptr;
            if (memo != nullptr) {
              if (PyObject* kept = memo->find(stamp)) {
                hit->value = Py_NewRef(kept);
                return;
              }
            }
            hit->value = text_of(value);
            if (hit->value != nullptr && memo != nullptr) memo->keep(stamp, hit->value);
          },
          &out);
    } else {
      store->visit(
          k,
          [](void* context, std::string_view value, std::int64_t, std::int64_t) {
            static_cast<TextHit*>(context)->value =
                PyBytes_FromStringAndSize(value.data(), static_cast<Py_ssize_t>(value.size()));
          },
          &out);
    }
  } catch (const Error& e) {
    Py_XDECREF(out.value);
    set_python_error(e);
    return nullptr;
  } catch (const std::exception& e) {
    Py_XDECREF(out.value);
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
  if (out.value == nullptr && !PyErr_Occurred()) Py_RETURN_NONE;
  return out.value;
}

// (key, value, ttl_ms): put_text's work. A key that is not UTF-8 text raises TypeError, a
// value with lone surrogates UnicodeEncodeError, as the bound methods do.
PyObject* write_text(PyObject* capsule, PyObject* const* args, Py_ssize_t nargs) {
  auto* reader = static_cast<Reader*>(PyCapsule_GetPointer(capsule, kReaderCapsule));
  if (reader == nullptr) return nullptr;
  Store* store = reader->store;
  if (nargs != 3) {
    PyErr_Format(PyExc_TypeError, "write_text takes (key, value, ttl_ms), got %zd arguments",
                 nargs);
    return nullptr;
  }
  Py_ssize_t key_size = 0;
  const char* key =
      PyUnicode_Check(args[0]) ? PyUnicode_AsUTF8AndSize(args[0], &key_size) : nullptr;
  if (key == nullptr) {
    PyErr_Clear();
    PyErr_Format(PyExc_TypeError, "key must be str encodable as UTF-8, not %.100s",
                 Py_TYPE(args[0])->tp_name);
    return nullptr;
  }
  if (!PyUnicode_Check(args[1])) {
    PyErr_Format(PyExc_TypeError, "value must be str, not %.100s", Py_TYPE(args[1])->tp_name);
    return nullptr;
  }
  Py_ssize_t value_size = 0;
  const char* value = PyUnicode_AsUTF8AndSize(args[1], &value_size);
  if (value == nullptr) return nullptr;  // lone surrogates: UnicodeEncodeError
  const long long ttl_ms = PyLong_AsLongLong(args[2]);
  if (ttl_ms == -1 && PyErr_Occurred()) return nullptr;
  try {
    const std::uint64_t replaced =
        store->put_stamped(std::string_view(key, static_cast<std::size_t>(key_size)),
                           std::string_view(value, static_cast<std::size_t>(value_size)), ttl_ms);
    if (reader->memo) reader->memo->drop(replaced);
  } catch (const Error& e) {
    set_python_error(e);
    return nullptr;
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
    return nullptr;
  }
  Py_RETURN_NONE;
}

// CPython's own idiom for METH_FASTCALL: the table's slot is typed PyCFunction, and going
// through void (*)() tells the compiler the cast is meant.
PyMethodDef kTextWriter = {"write_text",
                           reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&write_text)),
                           METH_FASTCALL, "put_text(key, value, ttl_ms)."};
PyMethodDef kTextReader = {"read_text", &read_hit<true>, METH_O,
                           "The value under key as str (UTF-8), or None."};
PyMethodDef kBytesReader = {"read_bytes", &read_hit<false>, METH_O,
                            "The value under key as bytes, or None."};

nb::object make_reader(nb::handle self, Store& store, PyMethodDef* def) {
  auto reader = std::make_unique<Reader>(Reader{&store, nullptr});
  if (def == &kTextReader || def == &kTextWriter) reader->memo = memo_for(store);
  nb::object capsule = nb::steal(PyCapsule_New(reader.get(), kReaderCapsule, &release_reader));
  if (!capsule.is_valid()) throw nb::python_error();
  reader.release();  // the capsule owns it now
  if (PyCapsule_SetContext(capsule.ptr(), Py_NewRef(self.ptr())) != 0) {
    Py_DECREF(self.ptr());
    throw nb::python_error();
  }
  PyObject* function = PyCFunction_New(def, capsule.ptr());
  if (function == nullptr) throw nb::python_error();
  return nb::steal(function);
}

nb::dict store_stats(const Store& store) {
  StoreStats s = store.stats();
  nb::dict d;
  d["hits"] = s.hits;
  d["misses"] = s.misses;
  d["evictions"] = s.evictions;
  d["expirations"] = s.expirations;
  d["entries"] = s.entries;
  d["bytes"] = s.bytes;
  d["capacity"] = s.capacity;
  const std::shared_ptr<TextMemo> memo = existing_memo(store);
  d["kept_bytes"] = memo ? memo->held() : 0;
  return d;
}

}  // namespace

void bind_store(nb::module_& m) {
  nb::class_<Store>(m, "Store")
      .def("get", &store_get, nb::arg("key"))
      .def("get_with_ttl", &store_get_with_ttl, nb::arg("key"))
      .def(
          "put",
          [](Store& s, std::string_view key, const nb::bytes& value, std::int64_t ttl_ms) {
            s.put(key, view(value), ttl_ms);
          },
          nb::arg("key"), nb::arg("value"), nb::arg("ttl_ms"))
      .def("get_text", &store_get_text, nb::arg("key"))
      .def("put_text", &store_put_text, nb::arg("key"), nb::arg("value"), nb::arg("ttl_ms"))
      .def("erase", &Store::erase, nb::arg("key"))
      .def("erase_prefix", &Store::erase_prefix, nb::arg("prefix"))
      .def("flush",
           [](Store& s) {
             const std::uint64_t removed = s.flush();
             if (std::shared_ptr<TextMemo> memo = existing_memo(s)) memo->clear();
             return removed;
           })
      .def("flush_expired", &Store::flush_expired)
      .def("stats", &store_stats)
      .def(
          "text_reader",
          [](nb::handle self) { return make_reader(self, nb::cast<Store&>(self), &kTextReader); },
          "A function of one key returning get_text(key), without a method call's dispatch.")
      .def(
          "bytes_reader",
          [](nb::handle self) { return make_reader(self, nb::cast<Store&>(self), &kBytesReader); },
          "A function of one key returning get(key), without a method call's dispatch.")
      .def(
          "text_writer",
          [](nb::handle self) { return make_reader(self, nb::cast<Store&>(self), &kTextWriter); },
          "A function (key, value, ttl_ms) doing put_text, without a method call's dispatch.");

  nb::class_<MemoryStore, Store>(m, "MemoryStore")
      .def(
          "__init__",
          [](MemoryStore* self, std::uint64_t max_memory, std::uint32_t shards) {
            new (self) MemoryStore(MemoryStoreOptions{max_memory, shards, {}});
          },
          nb::arg("max_memory") = kDefaults.max_memory,
          nb::arg("shards") = kDefaults.memory_shards);
}

}  // namespace cachette::python
