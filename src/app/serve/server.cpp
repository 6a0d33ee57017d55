#include "server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <deque>

#include "api.hpp"
#include "dashboard_html.hpp"
#include "runtime/run_json.hpp"

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
  return "event: " + e.kind + "\ndata: " + runtime::to_json(e).dump() + "\n\n";
}

// The value of `key` in the target's query string ("" if absent).
std::string query_value(std::string_view target, std::string_view key) {
  const size_t q = target.find('?');
  if (q == std::string_view::npos) return "";
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (pair.substr(0, key.size()) == key && pair.size() > key.size() && pair[key.size()] == '=')
      return std::string(pair.substr(key.size() + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return "";
}

bool same(std::string_view a, std::string_view b) {  // without an early exit on the first difference
  if (a.size() != b.size()) return false;
  unsigned char diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Impl> {
  Impl(Host& h, ServeOptions o) : host(h), options(std::move(o)), acceptor(io), signals(io, SIGINT, SIGTERM) {}

  Host& host;
  ServeOptions options;
  asio::io_context io;
  tcp::acceptor acceptor;
  asio::signal_set signals;
  std::vector<std::weak_ptr<SseClient>> clients;  // io thread only

  void listen();
  asio::awaitable<void> accept_loop();
  asio::awaitable<void> session(tcp::socket socket);
  asio::awaitable<void> stream_events(beast::tcp_stream& stream, const Request& req);
  bool authorized(const Request& req) const;
  Response respond(const Request& req);
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

bool Server::Impl::authorized(const Request& req) const {
  if (options.token.empty()) return true;
  const auto header = req[http::field::authorization];
  if (header.starts_with("Bearer ") && same(header.substr(7), options.token)) return true;
  return same(query_value(req.target(), "token"), options.token);
}

Response Server::Impl::respond(const Request& req) {
  Response res{http::status::ok, req.version()};
  res.set(http::field::server, "skein");
  res.set(http::field::cache_control, "no-store");
  res.keep_alive(req.keep_alive());
  const std::string target(req.target());
  const std::string path = target.substr(0, target.find('?'));
  if (!authorized(req)) {
    res.result(http::status::unauthorized);
    res.set(http::field::www_authenticate, "Bearer");
    res.set(http::field::content_type, "application/json");
    res.body() = Json{{"error", "a token is required: 'Authorization: Bearer <token>' (or ?token=<token>)"}}.dump();
  } else if (req.method() == http::verb::get && (path == "/" || path == "/index.html")) {
    res.set(http::field::content_type, "text/html; charset=utf-8");
    res.body() = dashboard_html();
  } else {
    const ApiResponse api = handle_api(host, {std::string(req.method_string()), path, req.body()});
    res.result(static_cast<http::status>(api.status));
    res.set(http::field::content_type, "application/json");
    res.body() = api.body.dump();
  }
  res.prepare_payload();
  return res;
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
    auto [wec, wn] = co_await asio::async_write(stream.socket(), asio::buffer(out), use_tuple);
    if (wec) co_return;
    out.clear();
    while (out.empty()) {
      client->wake.expires_after(std::chrono::seconds(15));
      co_await client->wake.async_wait(use_tuple);
      if (client->frames.empty()) out = ": keep-alive\n\n";
      for (; !client->frames.empty(); client->frames.pop_front()) out += client->frames.front();
    }
  }
}

asio::awaitable<void> Server::Impl::session(tcp::socket socket) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    stream.expires_after(std::chrono::minutes(5));
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
    if (ec) break;
    stream.expires_never();
    Request req = parser.release();
    if (req.target().starts_with("/api/events") && req.method() == http::verb::get && authorized(req)) {
      co_await stream_events(stream, req);
      break;
    }
    Response res = respond(req);
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
    if (ec) continue;
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
  impl_->signals.async_wait([this](const beast::error_code& ec, int) {
    if (!ec) stop();
  });
}

Server::~Server() { stop(); }

unsigned short Server::port() const { return impl_->acceptor.local_endpoint().port(); }

void Server::run() { impl_->io.run(); }

void Server::stop() { impl_->io.stop(); }

}  // namespace skein::app
