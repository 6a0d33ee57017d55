// The graph run loop (SPEC §4).
#include "skein/graph_run.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "dep_resolver.hpp"

namespace skein {

namespace asio = boost::asio;

namespace {

constexpr const char* kEnd = "end";

std::string joined(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

void check_value(const Field& f, const Json& v, const std::string& what) {
  if (!f.type) return;
  std::string reason;
  for (const auto& e : f.type->validate(v)) reason += (reason.empty() ? "" : "; ") + e;
  if (!reason.empty()) throw Error(what + " '" + f.name + "' does not match its type: " + reason);
}

class GraphRun {
 public:
  GraphRun(const Graph& g, GraphRunOptions o)
      : g_(g),
        o_(std::move(o)),
        deps_(std::make_shared<DepResolver>(g, o_.dep_cache, o_.blocking,
                                            [this](const std::string& type) { return recall(g_, trace_, type); })) {}
  ~GraphRun() { deps_->abandon(); }
  GraphRun(const GraphRun&) = delete;
  GraphRun& operator=(const GraphRun&) = delete;

  asio::awaitable<GraphResult> run(Json input) {
    if (!o_.lm) throw ConfigError({g_.file, 0}, "a graph run needs an LM");
    const NodeType* node = &g_.nodes.at(g_.start);
    TraceEntry current{g_.start, start_fields(*node, std::move(input))};
    co_await guarded(*node, resolve_automatic(*node, current));
    for (int iters = 1;; ++iters) {
      co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);  // yield to other runs
      if (g_.max_iters && iters > g_.max_iters)
        throw GraphError(node->name, trace_,
                         "max_iters (" + std::to_string(g_.max_iters) + ") reached without ending the run");
      co_await guarded(*node, resolve_gates(*node, current));
      trace_.push_back(std::move(current));
      const TraceEntry& here = trace_.back();  // trace_ does not grow again before the next node
      run_effects(here);
      const std::string next = co_await guarded(*node, route(*node, here));
      if (next == kEnd) break;
      const NodeType& target = g_.nodes.at(next);
      TraceEntry filled{next, Json::object()};
      co_await guarded(target, make(target, filled, here));
      current = std::move(filled);
      node = &target;
    }
    TraceEntry terminal = trace_.back();
    co_return GraphResult{std::move(terminal), std::move(trace_), deps_->resolved(), tokens_};
  }

 private:
  // Errors become GraphErrors carrying the node and the trace so far.
  template <typename T>
  asio::awaitable<T> guarded(const NodeType& node, asio::awaitable<T> step) {
    try {
      co_return co_await std::move(step);
    } catch (const GraphError&) {
      throw;
    } catch (const std::exception& e) {
      throw GraphError(node.name, trace_, e.what());
    }
  }

  // The caller's input: exactly the start node's plain fields, each of its type.
  Json start_fields(const NodeType& start, Json input) const {
    if (!input.is_object()) throw ConfigError({g_.file, 0}, "the input must be a JSON object");
    Json fields = Json::object();
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
    if (!names.empty()) values = co_await deps_->values(names);
    for (const auto& f : node.fields) {
      if (f.source == FieldSource::dep && !g_.nodes.count(f.dep)) {
        check_value(f, values.at(f.dep), "dep field");
        entry.fields[f.name] = values.at(f.dep);
      } else if (f.source == FieldSource::dep) {  // a node-typed dep: the model makes it from the node before
        const NodeType& made = g_.nodes.at(f.dep);
        const TraceEntry& from = trace_.empty() ? entry : trace_.back();
        entry.fields[f.name] = checked(made, counted(co_await o_.lm->make(from, made)));
      } else if (f.source == FieldSource::recall) {
        std::optional<Json> v = recall(g_, trace_, f.recall);
        if (!v) throw Error("field '" + f.name + "': nothing to recall of type " + f.recall);
        entry.fields[f.name] = std::move(*v);
      }
    }
  }

  asio::awaitable<void> resolve_gates(const NodeType& node, TraceEntry& entry) {
    for (const auto& f : node.fields) {
      if (f.source != FieldSource::gate || entry.fields.contains(f.name)) continue;
      if (!o_.answer_gate) throw Error("field '" + f.name + "' is a gate and nobody can answer it here");
      Json answer = co_await o_.answer_gate(f.gate, f, entry.fields);
      check_value(f, answer, "gate answer for");
      entry.fields[f.name] = std::move(answer);
    }
  }

  // The next node type: a native handler's choice, else the LM's decision.
  asio::awaitable<std::string> route(const NodeType& node, const TraceEntry& entry) {
    std::vector<std::string> candidates = node.next;
    if (candidates.empty()) candidates = {kEnd};
    std::string next;
    if (auto h = o_.handlers.find(node.name); h != o_.handlers.end())
      next = h->second(entry);
    else
      next = counted(co_await o_.lm->decide(node, entry));
    if (std::find(candidates.begin(), candidates.end(), next) == candidates.end())
      throw Error("routed to '" + next + "', which is not among the successors (" + joined(candidates) + ")");
    co_return next;
  }

  // The chosen node: its deps and recalls, then the model's fields; fields in declared order.
  asio::awaitable<void> make(const NodeType& target, TraceEntry& filled, const TraceEntry& source) {
    co_await resolve_automatic(target, filled);
    Json values = co_await fill_node(target, filled.fields, source);
    for (auto& [k, v] : values.items()) filled.fields[k] = std::move(v);
    Json ordered = Json::object();
    for (const auto& f : target.fields)
      if (filled.fields.contains(f.name)) ordered[f.name] = filled.fields[f.name];
    filled.fields = std::move(ordered);
  }

  // The fields of `target` the model produces; no call when there are none.
  asio::awaitable<Json> fill_node(const NodeType& target, const Json& resolved, const TraceEntry& source) {
    if (model_fields(target).empty()) co_return Json::object();
    co_return checked(target, counted(co_await o_.lm->fill(target, resolved, target.instruction_text(), source)));
  }

  // The model's values for `target`, each present and of its field's type.
  static Json checked(const NodeType& target, Json values) {
    for (const Field* f : model_fields(target)) {
      if (!values.contains(f->name)) throw Error("the model gave no value for field '" + f->name + "'");
      check_value(*f, values[f->name], "field");
    }
    return values;
  }

  template <typename T>
  T counted(LMReply<T> reply) {
    tokens_ += reply.tokens;
    return std::move(reply.value);
  }

  void run_effects(const TraceEntry& entry) {
    for (const char* key : {entry.type.c_str(), "*"})
      if (auto it = o_.effects.find(key); it != o_.effects.end()) it->second(entry);
  }

  const Graph& g_;
  GraphRunOptions o_;
  std::vector<TraceEntry> trace_;
  LMTokens tokens_;
  std::shared_ptr<DepResolver> deps_;
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
  if (!options.blocking) options.blocking = co_await asio::this_coro::executor;
  GraphRun run(graph, std::move(options));
  co_return co_await run.run(std::move(input));
}

GraphResult run_graph_sync(const Graph& graph, Json input, GraphRunOptions options) {
  asio::io_context io;
  asio::thread_pool pool(4);
  options.blocking = pool.get_executor();
  std::optional<GraphResult> result;
  std::exception_ptr failure;
  asio::co_spawn(io, run_graph(graph, std::move(input), std::move(options)), [&](std::exception_ptr e, GraphResult r) {
    if (e)
      failure = e;
    else
      result = std::move(r);
  });
  io.run();
  pool.join();
  if (failure) std::rethrow_exception(failure);
  return std::move(*result);
}

}  // namespace skein
