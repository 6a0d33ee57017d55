#include "server.hpp"

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>
#include <tuple>

#include "http_handler.hpp"

namespace skein::app {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

// One browser's event stream: frames queued on the io thread, a timer to wake its writer.
struct SseClient {
  explicit SseClient(asio::any_io_executor ex) : wake(ex, asio::steady_timer::time_point::max()) {}
  std::deque<std::string> frames;
  asio::steady_timer wake;
};

std::string sse_frame(const RunEvent& e) {
  return std::string("event: ") + to_string(e.kind) +
         "\ndata: " + to_json(e).dump(-1, ' ', false, Json::error_handler_t::replace) + "\n\n";
}

RequestPolicy policy_of(const ServeOptions& o) { return {o.address, o.token, o.allow_hosts, o.allow_origins}; }

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Impl> {
  Impl(Host& h, ServeOptions o)
      : host(h), options(std::move(o)), policy(policy_of(options)), acceptor(io), stop_pipe(io) {}

  Host& host;
  ServeOptions options;
  RequestPolicy policy;
  asio::io_context io;
  tcp::acceptor acceptor;
  asio::posix::stream_descriptor stop_pipe;       // see Server::stop_when_readable
  std::vector<std::weak_ptr<SseClient>> clients;  // io thread only
  // The API's handlers take the host's locks and may touch the run store: not on the io thread.
  // Declared after `io`: joined before it is destroyed, so a handler never completes into a freed io.
  asio::thread_pool api_pool{2};

  void listen();
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> session(tcp::socket socket);
  asio::awaitable<void> stream_events(beast::tcp_stream& stream, const Request& req);
  asio::awaitable<void> refuse_and_close(beast::tcp_stream& stream, const ApiResponse& why);
  void publish(const std::string& frame);
};

void Server::Impl::listen() {
  beast::error_code ec;
  const auto address = asio::ip::make_address(options.address, ec);
  if (ec) throw Error("'" + options.address + "' is not an IP address");
  if (!address.is_loopback() && options.token.empty())
    throw Error("serving on " + options.address +
                " (not loopback) needs a token: pass --token or set SKEIN_TOKEN; requests must then carry "
                "'Authorization: Bearer <token>'");
  const tcp::endpoint endpoint(address, options.port);
  acceptor.open(endpoint.protocol());
  acceptor.set_option(asio::socket_base::reuse_address(true));
  acceptor.bind(endpoint, ec);
  if (ec) throw Error("cannot listen on " + options.address + ":" + std::to_string(options.port) + ": " + ec.message());
  acceptor.listen();
}

void Server::Impl::publish(const std::string& frame) {
  std::erase_if(clients, [](const auto& c) { return c.expired(); });
  for (const auto& weak : clients) {
    auto c = weak.lock();
    if (c->frames.size() < 10000) c->frames.push_back(frame);  // a reader that far behind loses events
    c->wake.cancel();
  }
}

asio::awaitable<void> Server::Impl::stream_events(beast::tcp_stream& stream, const Request& req) {
  http::response<http::empty_body> head{http::status::ok, req.version()};
  head.set(http::field::content_type, "text/event-stream");
  head.set(http::field::cache_control, "no-store");
  head.keep_alive(true);
  http::response_serializer<http::empty_body> serializer(head);
  auto [ec, n] = co_await http::async_write_header(stream, serializer, use_tuple);
  if (ec) co_return;
  auto client = std::make_shared<SseClient>(io.get_executor());
  clients.push_back(client);
  std::string out = ": connected\n\n";
  for (;;) {
    auto [wec, wn] = co_await asio::async_write(stream, asio::buffer(out), use_tuple);
    if (wec) co_return;
    out.clear();
    while (out.empty()) {
      if (client->frames.empty()) {  // frames published during the write are not waited for
        client->wake.expires_after(std::chrono::seconds(15));
        co_await client->wake.async_wait(use_tuple);
        if (client->frames.empty()) out = ": keep-alive\n\n";
      }
      for (; !client->frames.empty(); client->frames.pop_front()) out += client->frames.front();
    }
    stream.expires_after(std::chrono::minutes(1));  // a reader that stopped reading is dropped
  }
}

// Says why (413, 400), stops reading, and drains what the client still sends for a moment so that
// it can read the answer before the connection closes.
asio::awaitable<void> Server::Impl::refuse_and_close(beast::tcp_stream& stream, const ApiResponse& why) {
  Response res = json_response(why, 11, false);
  stream.expires_after(std::chrono::seconds(5));
  auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  std::array<char, 64 * 1024> sink;
  for (size_t drained = 0; !wec && drained < options.body_limit * 2;) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(sink), use_tuple);
    if (ec) break;
    drained += n;
  }
}

asio::awaitable<void> Server::Impl::session(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(options.body_limit);
    parser.header_limit(64 * 1024);
    stream.expires_after(options.header_timeout);  // idle or stalled: closed
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, use_tuple);
    Verdict verdict;  // checked once, before any of the body is read: a refused request costs no memory
    if (!ec) {
      verdict = check_request(policy, parser.get());
      if (verdict.refusal) {
        co_await refuse_and_close(stream, *verdict.refusal);
        co_return;
      }
    }
    if (!ec && !parser.is_done()) {
      stream.expires_after(std::chrono::minutes(5));
      std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, use_tuple);
    }
    if (ec == http::error::body_limit) {
      co_await refuse_and_close(
          stream, error_response(413, to_string(ErrorCode::resource_exhausted),
                                 "the body is over the limit of " + std::to_string(options.body_limit) + " bytes"));
      co_return;
    }
    if (ec && ec.category() == beast::error_code(http::error::end_of_stream).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message) {
      co_await refuse_and_close(stream, error_response(400, to_string(ErrorCode::invalid_argument),
                                                       "malformed HTTP request: " + ec.message()));
      co_return;
    }
    if (ec) break;
    stream.expires_after(std::chrono::minutes(1));  // for the answer: a client that never reads goes
    Request req = parser.release();
    if (is_event_stream(req)) {
      co_await stream_events(stream, req);
      break;
    }
    // No cancellation slot passed on: Boost 1.81's co_spawn throws operation_aborted out of a
    // child cancelled while it ran, on the pool's thread (std::terminate); the loop's next wait sees it.
    Response res = co_await asio::co_spawn(
        api_pool, [&]() -> asio::awaitable<Response> { co_return respond(host, policy, req, verdict); },
        asio::bind_cancellation_slot(asio::cancellation_slot(), asio::use_awaitable));
    auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
    if (wec || !res.keep_alive()) break;
  }
  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
}

asio::awaitable<void> Server::Impl::accept_loop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
    if (ec == asio::error::operation_aborted) co_return;
    if (ec) {  // out of descriptors, say: try again a little later rather than spin
      asio::steady_timer pause(io, std::chrono::milliseconds(50));
      co_await pause.async_wait(use_tuple);
      continue;
    }
    asio::co_spawn(io, session(std::move(socket)), asio::detached);
  }
}

Server::Server(Host& host, ServeOptions options) : impl_(std::make_shared<Impl>(host, std::move(options))) {
  impl_->listen();
  std::weak_ptr<Impl> weak = impl_;
  host.registry().subscribe([weak](const RunEvent& e) {
    if (auto self = weak.lock())  // the queued handler holds no reference: a stopped server is freed
      asio::post(self->io, [weak, frame = sse_frame(e)] {
        if (auto live = weak.lock()) live->publish(frame);
      });
  });
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
}

// The pool is joined here, on the caller's thread, before the host it uses can go: the registry's
// listener may hold the last reference to Impl and free it later, on its own thread.
Server::~Server() {
  stop();
  impl_->api_pool.stop();
  impl_->api_pool.join();
}

unsigned short Server::port() const { return impl_->acceptor.local_endpoint().port(); }

void Server::run() { impl_->io.run(); }

void Server::stop() { impl_->io.stop(); }

void Server::stop_when_readable(int fd) {
  impl_->stop_pipe.assign(::dup(fd));
  impl_->stop_pipe.async_wait(asio::posix::stream_descriptor::wait_read, [impl = impl_.get()](beast::error_code ec) {
    if (!ec) impl->io.stop();
  });
}

}  // namespace skein::app
