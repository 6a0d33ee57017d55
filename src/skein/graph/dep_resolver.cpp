#include "dep_resolver.hpp"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "cancelled.hpp"
#include "engine/process/process_slots.hpp"
#include "engine/process/subprocess.hpp"
#include "first_failure.hpp"
#include "skein/engine.hpp"
#include "spooled_exec.hpp"
#include "util/run_on.hpp"

namespace skein {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace {

// An `exec` dep: params as one JSON object on stdin, one JSON value on stdout. Asynchronous: the
// child is fed, read and awaited on the run's loop, holding a process slot but no thread.
asio::awaitable<std::string> run_exec(const DepSpec& spec, const Json& params, const std::string& cwd,
                                      const DepResolver::OnProcess& on_process) {
  ProcessSlot slot = co_await acquire_process_slot();
  SpawnOptions o;
  o.argv = spec.exec;
  o.cwd = cwd;
  o.stdout_pipe = true;
  o.stdin_pipe = true;
  Subprocess p = co_await Subprocess::async_spawn(std::move(o));
  if (on_process) on_process(p.pid(), true);
  struct Ended {
    const DepResolver::OnProcess& tell;
    pid_t group;
    ~Ended() {
      if (tell) tell(group, false);
    }
  } ended{on_process, p.pid()};
  const auto ex = co_await asio::this_coro::executor;
  asio::posix::stream_descriptor to(ex, p.release_stdin()), from(ex, p.release_stdout());
  const std::string in = params.dump() + "\n";
  auto feed = [&]() -> asio::awaitable<void> {  // written while the reply is read: neither can stall
    boost::system::error_code ec;               // a command that does not read its input is its own business
    co_await asio::async_write(to, asio::buffer(in), asio::redirect_error(asio::use_awaitable, ec));
    to.close();
  };
  std::string out = co_await (feed() && read_to_end(from));
  co_await p.async_stop(std::chrono::milliseconds(100));
  co_return out;
}

Error dep_failed(const std::string& name, const std::exception& e) {
  return Error("dep '" + name + "' failed: " + e.what());
}

Json printed_value(const DepSpec& spec, const std::string& out) {
  try {
    return Json::parse(out);
  } catch (const Json::exception&) {
    throw Error("command " + spec.exec[0] + " printed no JSON value: " + out.substr(0, 200));
  }
}

}  // namespace

DepResolver::DepResolver(const Graph& graph, DepCache seeded, asio::any_io_executor blocking, Recall recall,
                         GraphObserver* observer, OnProcess on_process, RunLedger* ledger)
    : graph_(graph),
      seeded_(std::move(seeded)),
      blocking_(std::move(blocking)),
      recall_(std::move(recall)),
      observer_(observer),
      on_process_(std::move(on_process)),
      ledger_(ledger) {}

asio::awaitable<Json> DepResolver::value(const std::string& name, int64_t at) {
  const auto self = shared_from_this();  // alive while this dep runs, even past its run
  const asio::any_io_executor own = co_await asio::this_coro::executor;
  if (std::optional<Json> now = inline_value(name, own)) co_return std::move(*now);  // seeded ones too
  auto& slot = slots_[name];
  if (!slot) {  // the first user computes; later ones wait for it
    slot = std::make_shared<Slot>();
    slot->ready = std::make_unique<LoopEvent>(own);
    std::shared_ptr<Slot> mine = slot;
    const int64_t start = now_ns();
    std::exception_ptr error;
    try {
      mine->value = co_await computed(name, at);
    } catch (...) {
      error = std::current_exception();
    }
    settle(*mine, name, start, error);
  }
  std::shared_ptr<Slot> s = slot;
  while (!s->done) {
    boost::system::error_code ec;
    co_await s->ready->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (s->error) std::rethrow_exception(s->error);
  co_return s->value;
}

asio::awaitable<void> DepResolver::fetch_into(std::shared_ptr<DepResolver> self, std::string name, int64_t at,
                                              std::shared_ptr<std::vector<Json>> out, size_t i) {
  (*out)[i] = co_await self->value(name, at);
}

asio::awaitable<std::map<std::string, Json>> DepResolver::values(std::vector<std::string> names, int64_t at) {
  if (names.empty()) co_return std::map<std::string, Json>();
  const asio::any_io_executor own = co_await asio::this_coro::executor;
  if (names.size() == 1)  // no task needed to stay cancellable
    if (std::optional<Json> now = inline_value(names[0], own)) {
      std::map<std::string, Json> out;
      out.emplace(std::move(names[0]), std::move(*now));
      co_return out;
    }
  auto got = std::make_shared<std::vector<Json>>(names.size());
  std::vector<asio::awaitable<void>> tasks;
  for (size_t i = 0; i < names.size(); ++i) tasks.push_back(fetch_into(shared_from_this(), names[i], at, got, i));
  co_await all_or_first_failure(std::move(tasks));
  std::map<std::string, Json> out;
  for (size_t i = 0; i < names.size(); ++i) out[names[i]] = std::move((*got)[i]);
  co_return out;
}

bool DepResolver::computed_inline(const std::string& name, const asio::any_io_executor& own) const {
  if (ledger_ || blocking_ != own || !graph_.functions.count(name)) return false;
  const auto spec = graph_.deps.find(name);
  if (spec == graph_.deps.end()) return true;
  return spec->second.exec.empty() && std::none_of(spec->second.params.begin(), spec->second.params.end(),
                                                   [](const auto& p) { return p.second.dep.has_value(); });
}

std::optional<Json> DepResolver::inline_value(const std::string& name, const asio::any_io_executor& own) {
  if (auto it = seeded_.find(name); it != seeded_.end()) return it->second;
  if (!computed_inline(name, own)) return std::nullopt;
  auto& slot = slots_[name];
  if (slot && !slot->done) return std::nullopt;  // computed by a path that suspends: wait for it
  if (!slot) {
    slot = std::make_shared<Slot>();
    const int64_t start = now_ns();
    std::exception_ptr error;
    try {
      DepSpec undeclared;
      const DepSpec& spec = spec_of(name, undeclared);
      Json params = Json::object();
      for (const auto& [param, source] : spec.params) params[param] = recalled(param, *source.recall);
      slot->value = graph_.functions.at(name)(params);  // by the dep's name, as compute() calls it
    } catch (const std::exception& e) {
      error = std::make_exception_ptr(dep_failed(name, e));
    } catch (...) {
      error = std::current_exception();
    }
    settle(*slot, name, start, error);
  }
  if (slot->error) std::rethrow_exception(slot->error);
  return slot->value;
}

void DepResolver::settle(Slot& slot, const std::string& name, int64_t start, std::exception_ptr error) {
  std::string failure;
  if (error) try {
      std::rethrow_exception(error);
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "unknown error";
    }
  slot.error = std::move(error);
  slot.done = true;  // before the observer, who may throw
  if (slot.ready) slot.ready->set();
  if (observer_) observer_->dep_done(name, start, now_ns(), failure);
}

const DepSpec& DepResolver::spec_of(const std::string& name, DepSpec& undeclared) const {
  const auto it = graph_.deps.find(name);
  if (it != graph_.deps.end()) return it->second;
  undeclared.name = name;  // a native function of no parameters
  return undeclared;
}

Json DepResolver::recalled(const std::string& param, const std::string& type) const {
  if (!recall_) throw Error("the run is over");
  std::optional<Json> v = recall_(type);
  if (!v) throw Error("parameter '" + param + "': nothing to recall of type " + type);
  return std::move(*v);
}

asio::awaitable<Json> DepResolver::params_of(const DepSpec& spec, int64_t at) {
  std::vector<std::string> deps;
  for (const auto& [param, source] : spec.params)
    if (source.dep) deps.push_back(*source.dep);
  const auto dep_values = co_await values(deps, at);
  Json params = Json::object();
  for (const auto& [param, source] : spec.params) {
    if (source.dep)
      params[param] = dep_values.at(*source.dep);
    else
      params[param] = recalled(param, *source.recall);
  }
  co_return params;
}

namespace {
// Built outside the coroutine: GCC 12 cannot initialise an aggregate with a literal in its frame.
LedgerKey dep_key(const std::string& name) { return LedgerKey{-1, LedgerKind::dep, name}; }
Json dep_entry(const Json& value, int64_t at) { return json_object("value", value, "at", at); }
}  // namespace

// From the ledger, else computed and recorded before anyone uses it.
asio::awaitable<Json> DepResolver::computed(const std::string& name, int64_t at) {
  if (!ledger_) co_return co_await compute(name, at);
  LedgerKey key = dep_key(name);
  if (std::optional<Json> got = ledger_->find(key)) co_return got->at("value");
  Json value = co_await compute(name, at);
  if (!ledger_) co_return value;      // abandoned meanwhile: the run is over
  Json entry = dep_entry(value, at);  // named: GCC 12 destroys some temporaries of a co_await twice
  throw_if_cancelled((co_await asio::this_coro::cancellation_state).cancelled());  // as a co_await would
  if (!ledger_->record_at_once(key, entry)) co_await ledger_->record(std::move(key), std::move(entry));
  co_return value;
}

asio::awaitable<Json> DepResolver::compute(const std::string& name, int64_t at) {
  try {
    DepSpec undeclared;
    const DepSpec& spec = spec_of(name, undeclared);
    const Json params = co_await params_of(spec, at);
    if (!spec.exec.empty()) {
      // Named, not a temporary in the co_await: GCC 12 destroys a ?: temporary there twice.
      std::string cwd = std::filesystem::path(graph_.file).parent_path().string();
      if (cwd.empty()) cwd = ".";
      const auto spool = ledger_ ? ledger_->spool() : std::filesystem::path();
      std::string out;
      if (spool.empty())
        out = co_await run_exec(spec, params, cwd, on_process_);
      else
        out = co_await run_spooled_exec(spec, params, cwd, on_process_, spool, blocking_);
      co_return printed_value(spec, out);
    }
    if (!graph_.functions.count(name)) throw Error("no function is registered under this name");
    // A native function runs on the blocking executor; the run loop goes on meanwhile.
    auto call = [this, &name, &params] { return graph_.functions.at(name)(params); };
    co_return co_await run_on(blocking_, call);
  } catch (const std::exception& e) {
    throw dep_failed(name, e);
  }
}

DepCache DepResolver::resolved() const {
  DepCache out = seeded_;
  for (const auto& [name, slot] : slots_)
    if (slot->done && !slot->error) out[name] = slot->value;
  return out;
}

}  // namespace skein
