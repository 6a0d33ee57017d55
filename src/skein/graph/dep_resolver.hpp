// Deps of one graph run: each function's value computed at most once (concurrent users share one
// computation), parameters that are deps resolved concurrently first, blocking functions run on a
// separate executor so the run loop never stalls; `exec` commands are awaited asynchronously on the
// loop (see run_exec). A pre-seeded value is never computed. The first
// failure fails the deps being awaited at once; siblings still running finish in the background
// and their values are dropped. Make it with std::make_shared; the graph must outlive every dep
// function still running.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "skein/graph_run.hpp"
#include "util/loop_event.hpp"

namespace skein {

class DepResolver : public std::enable_shared_from_this<DepResolver> {
 public:
  using Recall = std::function<std::optional<Json>(const std::string& type)>;
  using OnProcess = std::function<void(int group, bool running)>;
  // With a `ledger`, a dep it holds is never computed and one computed is recorded before its
  // value is used; `exec` deps then run through its spool.
  DepResolver(const Graph& graph, DepCache seeded, boost::asio::any_io_executor blocking, Recall recall,
              GraphObserver* observer = nullptr, OnProcess on_process = nullptr, RunLedger* ledger = nullptr);

  // The value of dep `name`, needed first by the node at index `at`. Throws Error naming the dep
  // (and the one below it that failed).
  boost::asio::awaitable<Json> value(const std::string& name, int64_t at);
  // Several at once, concurrently; the first failure is rethrown as soon as it happens.
  boost::asio::awaitable<std::map<std::string, Json>> values(std::vector<std::string> names, int64_t at);

  DepCache resolved() const;
  // The run is over: deps still running stop at their next step instead of reading the run.
  void abandon() {
    recall_ = nullptr;
    observer_ = nullptr;
    ledger_ = nullptr;  // a resumed run may own the ledger's record of it by now
  }

 private:
  struct Slot {
    bool done = false;
    Json value;
    std::exception_ptr error;
    std::unique_ptr<LoopEvent> ready;
  };
  boost::asio::awaitable<Json> compute(const std::string& name, int64_t at);
  boost::asio::awaitable<Json> computed(const std::string& name, int64_t at);
  static boost::asio::awaitable<void> fetch_into(std::shared_ptr<DepResolver> self, std::string name, int64_t at,
                                                 std::shared_ptr<std::vector<Json>> out, size_t i);
  boost::asio::awaitable<Json> params_of(const DepSpec& spec, int64_t at);
  Json recalled(const std::string& param, const std::string& type) const;  // a parameter's recalled value
  // Whether dep `name` is computed without suspending: a native function run on the run's own loop
  // (`own`), none of whose parameters is a dep, and no ledger to record it in.
  bool computed_inline(const std::string& name, const boost::asio::any_io_executor& own) const;
  // A seeded value, or such a dep's value, computed here and now when it is not yet (no
  // coroutine, no event: none can wait for a computation that never suspends). Nothing when `name`
  // is neither, or when its computation is under way elsewhere.
  std::optional<Json> inline_value(const std::string& name, const boost::asio::any_io_executor& own);
  const DepSpec& spec_of(const std::string& name, DepSpec& undeclared) const;
  // A computation's end: its slot done (its waiters woken), then the observer told.
  void settle(Slot& slot, const std::string& name, int64_t start, std::exception_ptr error);

  const Graph& graph_;
  DepCache seeded_;
  boost::asio::any_io_executor blocking_;
  Recall recall_;
  GraphObserver* observer_;
  OnProcess on_process_;  // called on the run's loop
  RunLedger* ledger_;
  std::map<std::string, std::shared_ptr<Slot>> slots_;
};

}  // namespace skein
