// A stand-in HTTP server on 127.0.0.1 (Boost.Beast, its own thread) for backends whose real
// server cannot run here: it records each request's JSON body and answers with a set body and
// status (statuses queued first, then 200).
#pragma once
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "skein/json.hpp"

namespace skein::test {

class FakeHttpServer {
 public:
  // `reply`: the body of every 200 answer; `error_reply`: the body of any other.
  explicit FakeHttpServer(std::string reply, std::string error_reply = R"({"error":"busy"})")
      : reply_(std::move(reply)),
        error_reply_(std::move(error_reply)),
        acceptor_(io_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    boost::asio::co_spawn(io_, serve(), boost::asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }
  ~FakeHttpServer() {
    io_.stop();
    thread_.join();
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()); }
  void queue_status(int status) {
    std::lock_guard l(mu_);
    statuses_.push_back(status);
  }
  std::vector<Json> requests() {
    std::lock_guard l(mu_);
    return requests_;
  }

 private:
  boost::asio::awaitable<void> serve() {
    namespace http = boost::beast::http;
    for (;;) {
      auto socket = co_await acceptor_.async_accept(boost::asio::use_awaitable);
      boost::beast::flat_buffer buffer;
      http::request<http::string_body> req;
      co_await http::async_read(socket, buffer, req, boost::asio::use_awaitable);
      int status = 200;
      {
        std::lock_guard l(mu_);
        requests_.push_back(Json::parse(req.body()));
        if (!statuses_.empty()) status = statuses_.front(), statuses_.pop_front();
      }
      http::response<http::string_body> res{http::status(status), 11};
      res.body() = status == 200 ? reply_ : error_reply_;
      res.prepare_payload();
      co_await http::async_write(socket, res, boost::asio::use_awaitable);
    }
  }

  std::string reply_, error_reply_;
  boost::asio::io_context io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Json> requests_;
  std::deque<int> statuses_;
};

}  // namespace skein::test
