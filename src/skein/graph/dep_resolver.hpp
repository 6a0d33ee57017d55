// Deps of one graph run: each function's value computed at most once (concurrent users share one
// computation), parameters that are deps resolved concurrently first, blocking functions run on a
// separate executor so the run loop never stalls. A pre-seeded value is never computed.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "skein/graph_run.hpp"

namespace skein {

class DepResolver {
 public:
  using Recall = std::function<std::optional<Json>(const std::string& type)>;
  DepResolver(const Graph& graph, DepCache seeded, boost::asio::any_io_executor blocking, Recall recall);

  // The value of dep `name`. Throws Error naming the dep (and the one below it that failed).
  boost::asio::awaitable<Json> value(const std::string& name);
  // Several at once, concurrently; the first failure is rethrown when all have finished.
  boost::asio::awaitable<std::map<std::string, Json>> values(const std::vector<std::string>& names);

  DepCache resolved() const;

 private:
  struct Slot {
    bool done = false;
    Json value;
    std::exception_ptr error;
    std::unique_ptr<boost::asio::steady_timer> ready;
  };
  boost::asio::awaitable<Json> compute(const std::string& name);
  boost::asio::awaitable<Json> params_of(const DepSpec& spec);
  Json call(const DepSpec& spec, const Json& params) const;

  const Graph& graph_;
  DepCache seeded_;
  boost::asio::any_io_executor blocking_;
  Recall recall_;
  std::map<std::string, std::shared_ptr<Slot>> slots_;
};

}  // namespace skein
