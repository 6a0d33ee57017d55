// The graph run loop (SPEC §4).
#include "skein/graph_run.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <optional>

#include "cancelled.hpp"
#include "dep_resolver.hpp"
#include "skein/engine.hpp"
#include "util/loop_yield.hpp"
#include "util/run_on.hpp"

namespace skein {

const char* to_string(LedgerKind kind) {
  switch (kind) {
    case LedgerKind::choose:
      return "choose";
    case LedgerKind::dep:
      return "dep";
    case LedgerKind::fill:
      return "fill";
    case LedgerKind::gate:
      return "gate";
    case LedgerKind::make:
      return "make";
  }
  return "?";
}

namespace asio = boost::asio;

namespace {

constexpr const char* kEnd = "end";

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// An LM reply as the ledger keeps it (built outside coroutines: GCC 12 miscompiles braced lists
// of literals in a coroutine frame).
template <typename T>
Json ledger_entry(const LMReply<T>& reply) {
  return json_object("value", reply.value, "prompt", reply.tokens.prompt, "generated", reply.tokens.generated);
}

LedgerKey key_at(size_t node, LedgerKind kind, const std::string& key = {}) {
  return LedgerKey{int64_t(node), kind, key};
}

void check_value(const Field& f, const Json& v, const std::string& what) {
  if (!f.type) return;
  if (const std::string reason = f.type->why_invalid(v); !reason.empty())
    throw Error(what + " '" + f.name + "' does not match its type: " + reason);
}

class GraphRun {
 public:
  // `o` outlives the run (it sits beside it in run()'s frame).
  GraphRun(const Graph& g, GraphRunOptions& o)
      : g_(g),
        lm_(o.lm),
        observer_(o.observer),
        ledger_(o.ledger),
        slice_ns_(o.slice.count()),
        effects_(!o.effects.empty()),
        handlers_(!o.handlers.empty()),
        o_(o) {}
  ~GraphRun() {
    if (deps_) deps_->abandon();
  }
  GraphRun(const GraphRun&) = delete;
  GraphRun& operator=(const GraphRun&) = delete;

  // The run of `g` from `input`: the loop, in one frame with the run's state (a frame fewer per
  // run than a member coroutine called from run_graph: with thousands of runs in flight, each
  // turn finds a run's memory out of the cache, so less of it is faster).
  static asio::awaitable<GraphResult> run(const Graph& g, Json input, GraphRunOptions options) {
    if (!options.blocking) options.blocking = co_await asio::this_coro::executor;
    GraphRun self(g, options);
    if (!self.lm_) throw ConfigError({self.g_.file, 0}, "a graph run needs an LM");
    std::optional<TraceEntry> current;  // the node being produced; none: route from the last one
    self.slice_start_ns_ = now_ns();
    int64_t node_start = self.observer_ ? self.slice_start_ns_ : 0;
    if (self.o_.resume_trace.empty()) {
      self.at_ = &self.g_.nodes.at(self.g_.start);
      if (self.observer_) self.observer_->node_entered(self.at_->name);
      current = TraceEntry{self.g_.start, self.start_fields(*self.at_, std::move(input))};
    } else {
      self.trace_ = std::move(self.o_.resume_trace);
      self.at_ = &self.g_.nodes.at(self.trace_.back().type);
    }
    try {
      if (current && automatic(*self.at_)) co_await self.resolve_automatic(*self.at_, *current);
      self.trace_.reserve(std::clamp<size_t>(self.g_.nodes.size(), 4, 16));  // a run's usual length, without regrowth
      for (;;) {
        if (current) {
          // At every node by default; with a slice (GraphRunOptions::slice), a time budget like
          // Tokio's budget of operations per task: each yield sends the run to the back of the
          // loop's queue, behind thousands of runs whose memory leaves the cache meanwhile.
          if (!self.slice_ns_ || now_ns() - self.slice_start_ns_ >= self.slice_ns_) {
            co_await yield_to_loop();  // to other runs
            if (self.slice_ns_) self.slice_start_ns_ = now_ns();
          }
          if (self.g_.max_iters && self.trace_.size() >= size_t(self.g_.max_iters))
            throw Error("max_iters (" + std::to_string(self.g_.max_iters) + ") reached without ending the run");
          if (has(*self.at_, FieldSource::gate)) co_await self.resolve_gates(*self.at_, *current);
          self.trace_.push_back(std::move(*current));
          if (self.observer_)
            self.observer_->node_done(self.trace_.size() - 1, self.trace_.back(), node_start, now_ns());
          if (self.effects_) co_await self.run_effects(self.trace_.back());
        }
        const TraceEntry& here = self.trace_.back();  // trace_ does not grow again before the next node
        node_start = self.observer_ ? now_ns() : 0;
        std::string next;  // (not `?:` around the co_await: GCC 12 miscompiles that)
        if (self.routed_without_a_call(*self.at_)) {
          // What the co_await of a call would do: a cancelled run goes no further (the node's
          // effect, say, may have ended after the cancel).
          throw_if_cancelled((co_await asio::this_coro::cancellation_state).cancelled());
          next = self.at_->only_successor();
        } else {
          next = co_await self.route(here);
        }
        check_successor(*self.at_, next);
        if (next == kEnd) break;
        self.at_ = &self.g_.nodes.at(next);
        if (self.observer_) self.observer_->node_entered(self.at_->name);
        current = TraceEntry{std::move(next), empty_object()};
        // The chosen node: its deps and recalls, then the model's fields (no call when there are none).
        if (automatic(*self.at_)) co_await self.resolve_automatic(*self.at_, *current);
        if (has(*self.at_, FieldSource::plain)) {
          Json values = co_await self.fill(*self.at_, *current, here);
          take_fill(*self.at_, *current, std::move(values));
        }
      }
    } catch (const GraphError&) {
      throw;
    } catch (const std::exception& e) {  // every error carries the node and the trace so far
      throw GraphError(self.at_->name, self.trace_, e.what());
    }
    TraceEntry terminal = self.trace_.back();
    DepCache resolved = self.deps_ ? self.deps_->resolved() : std::move(self.o_.dep_cache);
    co_return GraphResult{std::move(terminal), std::move(self.trace_), std::move(resolved), self.tokens_};
  }

 private:
  static bool has(const NodeType& node, FieldSource source) {
    return std::any_of(node.fields.begin(), node.fields.end(), [&](const Field& f) { return f.source == source; });
  }

  // Whether `node` has fields made before the model's: deps and recalls (resolve_automatic).
  static bool automatic(const NodeType& node) { return has(node, FieldSource::dep) || has(node, FieldSource::recall); }

  // The caller's input: exactly the start node's plain fields, each of its type.
  Json start_fields(const NodeType& start, Json input) const {
    if (!input.is_object()) throw ConfigError({g_.file, 0}, "the input must be a JSON object");
    Json fields = empty_object();
    for (const auto& f : start.fields) {
      if (f.source != FieldSource::plain) continue;
      if (!input.contains(f.name))
        throw ConfigError(start.where, "the input lacks '" + f.name + "', a field of the start node " + start.name);
      try {
        check_value(f, input[f.name], "input field");
      } catch (const Error& e) {
        throw ConfigError(start.where, e.what());
      }
      fields[f.name] = input[f.name];
      input.erase(f.name);
    }
    if (!input.empty())
      throw ConfigError(start.where, "the input has '" + input.begin().key() + "', which the start node " + start.name +
                                         " does not declare");
    return fields;
  }

  // Deps (concurrently, each at most once per run) and recalls.
  asio::awaitable<void> resolve_automatic(const NodeType& node, TraceEntry& entry) {
    std::vector<std::string> names;
    for (const auto& f : node.fields)
      if (f.source == FieldSource::dep && !g_.nodes.count(f.dep)) names.push_back(f.dep);
    std::map<std::string, Json> values;
    if (!names.empty()) values = co_await deps().values(names, int64_t(trace_.size()));
    for (const auto& f : node.fields) {
      if (f.source == FieldSource::dep && !g_.nodes.count(f.dep)) {
        check_value(f, values.at(f.dep), "dep field");
        entry.fields[f.name] = values.at(f.dep);
      } else if (f.source == FieldSource::dep) {  // a node-typed dep: the model makes it from the node before
        const NodeType& made = g_.nodes.at(f.dep);
        const TraceEntry& from = trace_.empty() ? entry : trace_.back();
        LedgerKey key = key_at(trace_.size(), LedgerKind::make, f.name);
        entry.fields[f.name] = co_await asked<Json>(
            std::move(key), [&] { return lm_->make(from, made); }, [&](const Json& v) { check_model_values(made, v); });
      } else if (f.source == FieldSource::recall) {
        std::optional<Json> v = recall(g_, trace_, f.recall);
        if (!v) throw Error("field '" + f.name + "': nothing to recall of type " + f.recall);
        entry.fields[f.name] = std::move(*v);
      }
    }
  }

  // The run's deps, made at the first node that has one: most runs never need them.
  DepResolver& deps() {
    if (!deps_)
      deps_ = std::make_shared<DepResolver>(
          g_, o_.dep_cache, o_.blocking, [this](const std::string& type) { return recall(g_, trace_, type); },
          o_.observer, o_.on_process, o_.ledger);
    return *deps_;
  }

  // All the node's open gates at once, so they can be answered in any order.
  asio::awaitable<void> resolve_gates(const NodeType& node, TraceEntry& entry) {
    std::vector<const Field*> open;
    for (const auto& f : node.fields)
      if (f.source == FieldSource::gate && !entry.fields.contains(f.name)) open.push_back(&f);
    if (open.empty()) co_return;
    if (!o_.answer_gates) throw Error("field '" + open[0]->name + "' is a gate and nobody can answer it here");
    Json answers = co_await o_.answer_gates(node, open, entry.fields);
    for (const Field* f : open) {
      if (!answers.contains(f->name)) throw Error("gate '" + f->name + "' was not answered");
      check_value(*f, answers[f->name], "gate answer for");
      entry.fields[f->name] = std::move(answers[f->name]);
    }
  }

  // Whether the node after `node` is its only successor (or the end): no handler, no model call.
  bool routed_without_a_call(const NodeType& node) const { return node.next.size() < 2 && !handler_of(node); }

  // The node type after `here` (the current node, at_) when it takes a call: a handler's or the
  // model's choice. Not a coroutine (a frame fewer per transition): the call's own awaitable, whose
  // functions hold pointers to what outlives it (the run, its trace).
  asio::awaitable<std::string> route(const TraceEntry& here) {
    if (const auto* handler = handler_of(*at_)) return on_blocking([handler, h = &here] { return (*handler)(*h); });
    return asked<std::string>(
        key_at(trace_.size(), LedgerKind::choose), [this, h = &here] { return lm_->decide(*at_, *h); },
        [this](const std::string& to) { check_successor(*at_, to); });
  }

  // An LM call's value: from the ledger when it was asked before, else asked and, once `check`
  // (which throws for a reply the run refuses) passes, recorded before the run acts on it: a
  // refused reply is asked again by a resume. Its tokens are counted either way.
  template <typename T, typename Call, typename Check>
  asio::awaitable<T> asked(LedgerKey key, Call call, Check check) {
    if (ledger_)
      if (std::optional<Json> got = ledger_->find(key)) {
        const LMTokens cost{got->value("prompt", 0LL), got->value("generated", 0LL)};
        tokens_ += cost;
        if (observer_) observer_->lm_replayed(cost);
        T value = got->at("value").template get<T>();
        check(value);
        co_return value;
      }
    LMReply<T> reply = co_await call();
    tokens_ += reply.tokens;  // spent, refused or not
    check(reply.value);
    if (ledger_) {
      Json entry = ledger_entry(reply);  // named: GCC 12 destroys some temporaries of a co_await twice
      // A cancel that came meanwhile ends the run here, whether or not the record below is awaited.
      const asio::cancellation_state state =
          co_await asio::this_coro::cancellation_state;  // (named: GCC 12, a template)
      throw_if_cancelled(state.cancelled());
      if (!ledger_->record_at_once(key, entry)) co_await ledger_->record(std::move(key), std::move(entry));
    }
    co_return std::move(reply.value);
  }

  // The native handler that routes from `node` in code, if one is registered.
  const std::function<std::string(const TraceEntry&)>* handler_of(const NodeType& node) const {
    if (!handlers_) return nullptr;
    auto h = o_.handlers.find(node.name);
    return h == o_.handlers.end() ? nullptr : &h->second;
  }

  // User code (a handler, an effect) runs on the blocking executor; the loop goes on meanwhile.
  template <typename F>
  asio::awaitable<std::invoke_result_t<F&>> on_blocking(F f) {
    co_return co_await run_on(o_.blocking, f);
  }

  static void check_successor(const NodeType& node, const std::string& next) {
    if (node.next.empty() ? next == kEnd : std::find(node.next.begin(), node.next.end(), next) != node.next.end())
      return;
    throw Error("routed to '" + next + "', which is not among the successors (" +
                (node.next.empty() ? std::string(kEnd) : joined(node.next)) + ")");
  }

  // The model's values for the plain fields of `target` (`filled` holds its deps and recalls so
  // far), made from `source`. Not a coroutine, as route().
  asio::awaitable<Json> fill(const NodeType& target, const TraceEntry& filled, const TraceEntry& source) {
    return asked<Json>(
        key_at(trace_.size(), LedgerKind::fill),
        [this, t = &target, f = &filled, s = &source] { return lm_->fill(*t, f->fields, t->instruction_text(), *s); },
        [t = &target](const Json& v) { check_model_values(*t, v); });
  }

  // The model's values and the node's other fields, in declared order.
  static void take_fill(const NodeType& target, TraceEntry& filled, Json values) {
    Json ordered = empty_object();
    for (const auto& f : target.fields) {
      Json& from = f.source == FieldSource::plain ? values : filled.fields;
      if (auto it = from.find(f.name); it != from.end()) ordered[f.name] = std::move(*it);
    }
    filled.fields = std::move(ordered);
  }

  // The model's values for `target`: each present and of its field's type, else Error.
  static void check_model_values(const NodeType& target, const Json& values) {
    for (const auto& f : target.fields) {
      if (f.source != FieldSource::plain) continue;
      if (!values.contains(f.name)) throw Error("the model gave no value for field '" + f.name + "'");
      check_value(f, values[f.name], "field");
    }
  }

  asio::awaitable<void> run_effects(const TraceEntry& entry) {
    for (const char* key : {entry.type.c_str(), "*"})
      if (auto it = o_.effects.find(key); it != o_.effects.end())
        co_await on_blocking([&] {
          it->second(entry);
          return true;
        });
  }

  // What every node reads, side by side: with thousands of runs in flight, a run's turn finds its
  // memory out of the cache, a line per place read (o_'s members are spread over several).
  const Graph& g_;
  GraphLM* const lm_;
  GraphObserver* const observer_;
  RunLedger* const ledger_;
  const int64_t slice_ns_;
  const bool effects_, handlers_;
  const NodeType* at_ = nullptr;  // the node errors are attributed to
  int64_t slice_start_ns_ = 0;    // when the run started or last took the loop back (with a slice)
  std::vector<TraceEntry> trace_;
  LMTokens tokens_;
  GraphRunOptions& o_;
  std::shared_ptr<DepResolver> deps_;  // (deps())
};

}  // namespace

std::optional<Json> recall(const Graph& graph, const std::vector<TraceEntry>& trace, const std::string& type) {
  for (auto it = trace.rbegin(); it != trace.rend(); ++it)
    if (it->type == type) return it->fields;
  for (auto it = trace.rbegin(); it != trace.rend(); ++it) {
    const NodeType& node = graph.nodes.at(it->type);
    for (const auto& f : node.fields)
      if (f.source == FieldSource::plain && f.type && f.type->name() == type && it->fields.contains(f.name) &&
          !it->fields[f.name].is_null())
        return it->fields[f.name];
  }
  return std::nullopt;
}

asio::awaitable<GraphResult> run_graph(const Graph& graph, Json input, GraphRunOptions options) {
  return GraphRun::run(graph, std::move(input), std::move(options));
}

namespace {
// run_graph_sync's blocking executor: one pool for the process, started at the first call (four
// threads started and joined per call cost a 3-node run 130-160 us, nearly all of it). Never
// destroyed: a call from another static's destructor or a thread still running at exit finds it.
asio::thread_pool& sync_blocking_pool() {
  static auto& pool = *new asio::thread_pool(4);
  return pool;
}
}  // namespace

GraphResult run_graph_sync(const Graph& graph, Json input, GraphRunOptions options) {
  asio::io_context io(1);  // this thread alone runs it
  // Called from user code on the shared pool (a sub-graph run by a dep): a pool of its own, or
  // nested calls could take every thread of the shared one while their deps wait behind them.
  std::optional<asio::thread_pool> nested;
  if (!options.blocking) {
    if (sync_blocking_pool().get_executor().running_in_this_thread())
      options.blocking = nested.emplace(4).get_executor();
    else
      options.blocking = sync_blocking_pool().get_executor();
  }
  std::optional<GraphResult> result;
  std::exception_ptr failure;
  asio::co_spawn(io, run_graph(graph, std::move(input), std::move(options)), [&](std::exception_ptr e, GraphResult r) {
    if (e)
      failure = e;
    else
      result = std::move(r);
  });
  io.run();
  if (nested) nested->join();
  if (failure) std::rethrow_exception(failure);
  return std::move(*result);
}

}  // namespace skein
