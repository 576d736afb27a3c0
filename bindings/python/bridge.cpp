#include "bridge.hpp"

#include "bind.hpp"

#include <unistd.h>

#include <algorithm>

#include <vector>

#include "cachette/net/detail/engine.hpp"

namespace nb = nanobind;

namespace cachette::python {
namespace {

// Interpreter-lifetime objects, deliberately never destroyed (no work at interpreter exit).
struct Names {
  PyObject* get_running_loop;
  PyObject* done;
  PyObject* set_result;
  PyObject* set_exception;
  PyObject* is_closed;
  PyObject* exception_classes[16];
};

Names& names() {
  static Names* n = [] {
    auto* out = new Names{};
    nb::object asyncio = nb::module_::import_("asyncio");
    out->get_running_loop = nb::object(asyncio.attr("get_running_loop")).release().ptr();
    out->done = PyUnicode_InternFromString("done");
    out->set_result = PyUnicode_InternFromString("set_result");
    out->set_exception = PyUnicode_InternFromString("set_exception");
    out->is_closed = PyUnicode_InternFromString("is_closed");
    return out;
  }();
  return *n;
}

PyObject* exception_for(Errc code, const std::string& message) {
  const auto index = static_cast<std::size_t>(code);
  PyObject*& cls = names().exception_classes[index < 16 ? index : 15];
  if (cls == nullptr) {
    nb::object exceptions = nb::module_::import_("cachette.exceptions");
    cls = nb::object(exceptions.attr(exception_class_name(code))).release().ptr();
  }
  return PyObject_CallOneArg(cls, nb::str(message.data(), message.size()).ptr());
}

PyObject* bytes_of(const std::string& s) {
  return PyBytes_FromStringAndSize(s.data(), static_cast<Py_ssize_t>(s.size()));
}

// The Python value of a successful result (a new reference), or nullptr with an exception set.
// Stored values become bytes, or str when the request asked for text.
PyObject* value_of(const net::Result& r, Reply reply) {
  auto stored = [reply](const std::string& s) {
    return reply == Reply::text ? text_of(s) : bytes_of(s);
  };
  using Kind = net::Result::Kind;
  switch (r.kind) {
    case Kind::nil:
    case Kind::ok:
    case Kind::error: Py_RETURN_NONE;
    case Kind::integer: return PyLong_FromLongLong(r.integer);
    case Kind::value: return stored(r.value);
    case Kind::ttl_value: {
      PyObject* value = stored(r.value);
      if (value == nullptr) return nullptr;
      PyObject* ttl = PyLong_FromLongLong(r.integer);
      if (ttl == nullptr) {
        Py_DECREF(value);
        return nullptr;
      }
      PyObject* pair = PyTuple_New(2);
      PyTuple_SET_ITEM(pair, 0, ttl);
      PyTuple_SET_ITEM(pair, 1, value);
      return pair;
    }
    case Kind::values: {
      PyObject* items = PyList_New(static_cast<Py_ssize_t>(r.items.size()));
      if (items == nullptr) return nullptr;
      for (std::size_t i = 0; i < r.items.size(); ++i) {
        PyObject* item;
        if (i < r.present.size() && r.present[i] != 0) {
          item = stored(r.items[i]);
          if (item == nullptr) {
            Py_DECREF(items);
            return nullptr;
          }
        } else {
          item = Py_NewRef(Py_None);
        }
        PyList_SET_ITEM(items, static_cast<Py_ssize_t>(i), item);
      }
      return items;
    }
    case Kind::list: {
      PyObject* items = PyList_New(static_cast<Py_ssize_t>(r.items.size()));
      if (items == nullptr) return nullptr;
      for (std::size_t i = 0; i < r.items.size(); ++i) {
        PyObject* item = bytes_of(r.items[i]);
        if (item == nullptr) {
          Py_DECREF(items);
          return nullptr;
        }
        PyList_SET_ITEM(items, static_cast<Py_ssize_t>(i), item);
      }
      PyObject* cursor = PyLong_FromLongLong(r.integer);
      PyObject* pair = PyTuple_New(2);
      PyTuple_SET_ITEM(pair, 0, cursor);
      PyTuple_SET_ITEM(pair, 1, items);
      return pair;
    }
  }
  Py_RETURN_NONE;
}

struct Registry {
  std::vector<std::shared_ptr<Channel>> channels;
  Channel* last = nullptr;
  // Queues of closed loops, drained (futures released) until the engine lets go of them.
  std::vector<std::shared_ptr<net::CompletionQueue>> orphans;
};

Registry& registry() {
  static Registry* r = new Registry();
  return *r;
}

void release_tokens(net::CompletionQueue& queue) {
  std::vector<net::Completion> batch;
  queue.drain(batch);
  for (net::Completion& c : batch) Py_DECREF(token_future(c.token));
}

// Drops the channels of closed loops (and, after a fork, of the parent's engine).
void sweep(Registry& r) {
  const std::uint64_t generation = net::detail::Engine::generation();
  for (auto it = r.channels.begin(); it != r.channels.end();) {
    Channel& ch = **it;
    bool drop = ch.generation() != generation;
    if (!drop) {
      PyObject* closed = PyObject_CallMethodNoArgs(ch.loop(), names().is_closed);
      drop = closed == Py_True || closed == nullptr;
      Py_XDECREF(closed);
      PyErr_Clear();
    }
    if (drop) {
      if (ch.generation() == generation) r.orphans.push_back(ch.queue());
      if (r.last == &ch) r.last = nullptr;
      it = r.channels.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = r.orphans.begin(); it != r.orphans.end();) {
    release_tokens(**it);
    it = it->use_count() == 1 ? r.orphans.erase(it) : it + 1;
  }
}

}  // namespace

Channel::Channel(nb::handle loop)
    : loop_(nb::borrow(loop)),
      create_future_(loop_.attr("create_future")),
      call_soon_(loop_.attr("call_soon")),
      queue_(std::make_shared<net::CompletionQueue>()),
      generation_(net::detail::Engine::generation()),
      pid_(::getpid()) {}

void Channel::register_reader(const std::shared_ptr<Channel>& self) {
  // The callback holds only a weak reference: a dropped channel is never touched.
  std::weak_ptr<Channel> weak = self;
  loop_.attr("add_reader")(queue_->fd(), nb::cpp_function([weak] {
                             if (std::shared_ptr<Channel> channel = weak.lock()) channel->drain();
                           }));
  flush_ = nb::cpp_function([weak] {
    if (std::shared_ptr<Channel> channel = weak.lock()) {
      channel->flush_scheduled_ = false;
      channel->batch_.flush();
    }
  });
}

void Channel::schedule_flush() {
  if (flush_scheduled_ || batch_.empty()) return;
  // call_soon runs the flush after every callback already ready in this iteration of the
  // loop: the handlers woken together submit together.
  PyObject* handle = PyObject_CallOneArg(call_soon_.ptr(), flush_.ptr());
  if (handle == nullptr) {
    PyErr_Clear();  // a closing loop: send at once rather than never
    batch_.flush();
    return;
  }
  Py_DECREF(handle);
  flush_scheduled_ = true;
}

Channel::~Channel() {
  // A forked child shares its parent's epoll instance: removing the reader there would
  // unregister the parent's. The child only forgets the channel.
  if (::getpid() != pid_) {
    batch_.abandon();
    return;
  }
  PyObject* removed = PyObject_CallMethod(loop_.ptr(), "remove_reader", "i", queue_->fd());
  Py_XDECREF(removed);
  PyErr_Clear();  // a closed loop has no readers left to remove
}

PyObject* Channel::create_future() {
  return PyObject_CallNoArgs(create_future_.ptr());
}

void Channel::drain() {
  queue_->drain(completions_);
  pending_ -= std::min(pending_, completions_.size());
  const Names& n = names();
  for (net::Completion& c : completions_) {
    PyObject* future = token_future(c.token);
    PyObject* done = PyObject_CallMethodNoArgs(future, n.done);
    // A cancelled future stays untouched: its reply was consumed, nothing else to do.
    if (done == Py_False) {
      PyObject* outcome;
      PyObject* method;
      if (c.result.kind == net::Result::Kind::error) {
        outcome = exception_for(c.result.error_code, c.result.value);
        method = n.set_exception;
      } else {
        outcome = value_of(c.result, token_reply(c.token));
        method = n.set_result;
      }
      if (outcome == nullptr) {
        // Could not build the value (out of memory): the future gets that error instead.
        PyObject *type, *value, *traceback;
        PyErr_Fetch(&type, &value, &traceback);
        PyErr_NormalizeException(&type, &value, &traceback);
        Py_XDECREF(type);
        Py_XDECREF(traceback);
        outcome = value;
        method = n.set_exception;
      }
      if (outcome != nullptr) {
        PyObject* r = PyObject_CallMethodOneArg(future, method, outcome);
        Py_XDECREF(r);
        Py_DECREF(outcome);
      }
    }
    Py_XDECREF(done);
    PyErr_Clear();  // a closed loop may refuse to schedule callbacks; nothing to report to
    Py_DECREF(future);
  }
  completions_.clear();
}

Channel& current_channel() {
  PyObject* loop = PyObject_CallNoArgs(names().get_running_loop);
  if (loop == nullptr) throw nb::python_error();
  nb::object owned = nb::steal(loop);
  Registry& r = registry();
  if (r.last != nullptr && r.last->loop() == loop &&
      r.last->generation() == net::detail::Engine::generation()) {
    return *r.last;
  }
  sweep(r);
  for (auto& ch : r.channels) {
    if (ch->loop() == loop) {
      r.last = ch.get();
      return *ch;
    }
  }
  auto channel = std::make_shared<Channel>(owned);
  channel->register_reader(channel);
  Channel* raw = channel.get();
  r.channels.push_back(std::move(channel));
  r.last = raw;
  return *raw;
}

void bind_bridge(nb::module_& m) {
  m.def(
      "bridge_channels", [] { return registry().channels.size(); },
      "Event loops with a live completion channel (for tests).");
}

}  // namespace cachette::python
