#include "cachette/net/connection.hpp"

#include "cachette/net/operation.hpp"

namespace cachette::net {

void CompletionSink::add(const Request& request, Result&& result) {
  if (request.token == nullptr) return;
  if (!request.queue) {
    // A step of a whole operation: its continuation decides what comes next.
    static_cast<Continuation*>(request.token)->resume(std::move(result));
    return;
  }
  for (Group& g : groups_) {
    if (g.queue == request.queue) {
      g.items.push_back({request.token, std::move(result)});
      return;
    }
  }
  groups_.push_back({request.queue, {}});
  groups_.back().items.push_back({request.token, std::move(result)});
}

void CompletionSink::flush() {
  for (Group& g : groups_) g.queue->push(g.items);
  groups_.clear();
}

Connection::Connection(std::unique_ptr<Protocol> protocol) : protocol_(std::move(protocol)) {}

void Connection::extend_deadline(Clock::time_point deadline) {
  if (!in_flight_.empty() && in_flight_.front().deadline < deadline) {
    in_flight_.front().deadline = deadline;
  }
}

std::optional<Clock::time_point> Connection::oldest_deadline() const {
  if (in_flight_.empty()) return std::nullopt;
  return in_flight_.front().deadline;
}

void Connection::on_connected(Clock::time_point handshake_deadline) {
  protocol_->reset();
  pending_.clear();
  writing_ = false;
  reply_index_ = 0;
  front_result_ = Result{};
  std::span<const Request> steps = protocol_->handshake(pending_);
  handshake_left_ = steps.size();
  for (Request step : steps) {
    step.token = nullptr;
    step.deadline = handshake_deadline;
    in_flight_.push_back(std::move(step));
  }
  state_ = handshake_left_ == 0 ? State::ready : State::handshaking;
}

void Connection::enqueue(std::string& bytes, std::vector<Request>& requests) {
  if (pending_.empty()) {
    pending_.swap(bytes);
  } else {
    pending_.append(bytes);
  }
  bytes.clear();
  for (Request& r : requests) in_flight_.push_back(std::move(r));
  requests.clear();
}

const std::string* Connection::begin_write() {
  if (writing_ || pending_.empty()) return nullptr;
  writing_buffer_.clear();
  writing_buffer_.swap(pending_);
  writing_ = true;
  return &writing_buffer_;
}

void Connection::on_written() {
  writing_ = false;
  // Keep a moderate buffer for the next batch; give back what a huge value needed.
  if (writing_buffer_.capacity() > (1u << 20)) std::string().swap(writing_buffer_);
}

bool Connection::on_read(std::size_t n, CompletionSink& sink) {
  protocol_->commit(n);
  while (!in_flight_.empty()) {
    Request& front = in_flight_.front();
    const ReadStatus status = protocol_->read_reply(front.op, reply_index_, front_result_);
    if (status == ReadStatus::need_more) return true;
    if (status == ReadStatus::fatal) {
      failure_ = Error(Errc::protocol, protocol_->fatal_message());
      return false;
    }
    if (++reply_index_ < front.replies) continue;
    Result result = std::move(front_result_);
    front_result_ = Result{};
    reply_index_ = 0;
    if (front.token == nullptr) {
      // A handshake step: its failure is the connection's.
      in_flight_.pop_front();
      if (result.kind == Result::Kind::error) {
        failure_ = Error(result.error_code, result.value);
        return false;
      }
      if (handshake_left_ > 0 && --handshake_left_ == 0) state_ = State::ready;
      continue;
    }
    sink.add(front, std::move(result));
    in_flight_.pop_front();
  }
  // Bytes nobody asked for: only out-of-band messages may arrive unasked.
  Result stray;
  const ReadStatus status = protocol_->read_reply(0xffff, 0, stray);
  if (status == ReadStatus::fatal) {
    failure_ = Error(Errc::protocol, protocol_->fatal_message());
    return false;
  }
  if (status == ReadStatus::reply) {
    failure_ = Error(Errc::protocol, "the server sent a reply nobody asked for");
    return false;
  }
  return true;
}

void Connection::on_closed(Errc code, const std::string& message, CompletionSink& sink) {
  for (Request& r : in_flight_) {
    Result result;
    result.set_error(code, message);
    sink.add(r, std::move(result));
  }
  in_flight_.clear();
  pending_.clear();
  reply_index_ = 0;
  front_result_ = Result{};
  handshake_left_ = 0;
  writing_ = false;
  state_ = State::disconnected;
}

}  // namespace cachette::net
