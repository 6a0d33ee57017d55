// The chain executor (v0): records stream in batches of batch_size; for each Step every record of
// the batch is in flight at once, so the engine batches them; outputs and error records are
// written as each batch completes, so memory does not grow with the dataset.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <ctime>
#include <filesystem>

#include "chain_graph.hpp"
#include "exec_worker.hpp"
#include "gather.hpp"
#include "input_reader.hpp"
#include "run_writer.hpp"
#include "skein/broker.hpp"
#include "skein/chain.hpp"
#include "step_call.hpp"

namespace skein {
namespace {

namespace asio = boost::asio;

struct Record {
  long long row_id = 0;
  size_t line = 0;
  Json history;
  std::string id;  // stable: the row id, then `.k` for the k-th record of each fan-out
};

bool is_builtin(const std::string& fn) { return fn == "filter" || fn == "map" || fn == "explode" || fn == "exec"; }

// filter and map keep one record per record; explode, exec and native functions may multiply them.
bool apply_fans_out(const Apply& a) { return a.fn != "filter" && a.fn != "map"; }

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

class ChainRun {
 public:
  ChainRun(const Chain& chain, const RunOptions& options)
      : chain_(chain),
        options_(options),
        writer_(options.output_dir),
        batch_size_(size_t(options.batch_size.value_or(chain.batch_size))),
        broker_(options.broker) {
    if (!broker_) {  // a broker for this run alone, with the chain's engines and `local`
      own_broker_ = std::make_unique<Broker>();
      broker_ = own_broker_.get();
    }
    if (!broker_->contains("local")) broker_->add(local_engine_config());
    for (const auto& [name, config] : chain.engines)
      if (own_broker_ || !broker_->contains(name)) broker_->add(config);
    summary_.output_dir = writer_.dir().string();
    std::vector<std::string> paths;
    declare_nodes(chain.steps, "", paths);
    writer_.start(paths);
  }

  RunSummary run() {
    const auto t0 = std::chrono::steady_clock::now();
    started_at_ = utc_now();
    writer_.run_json(run_json("running"));
    writer_.json_file("graph.json", chain_graph(chain_));
    asio::io_context io;
    std::exception_ptr failure;
    asio::co_spawn(io, main(), [&](std::exception_ptr e) { failure = e; });
    io.run();
    leases_.clear();
    if (own_broker_) broker_->flush(true);  // a chain run ends by releasing its engines
    summary_.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    summary_.status = failure ? "failed" : "done";
    if (failure) summary_.error = describe(failure);
    writer_.flush();
    writer_.run_json(run_json(summary_.status));
    if (failure) std::rethrow_exception(failure);
    return summary_;
  }

 private:
  static std::string describe(std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      return ex.what();
    } catch (...) {
      return "unknown error";
    }
  }

  asio::awaitable<void> main() {
    InputReader reader(options_.input_path);
    if (!chain_.input) warn("the chain declares no `input:` type: input records are read as plain objects");
    for (;;) {
      std::vector<Record> batch = read_batch(reader);
      if (batch.empty() && at_end_) break;
      co_await run_nodes(chain_.steps, batch, "");
      summary_.records_out += batch.size();
      for (const auto& r : batch) writer_.line("flattened", flatten_history(r.history, r.id));
      writer_.flush();
      if (at_end_) break;
    }
  }

  void warn(const std::string& message) {
    if (options_.on_warning) options_.on_warning(message);
  }

  std::vector<Record> read_batch(InputReader& reader) {
    std::vector<Record> batch;
    while (batch.size() < batch_size_) {
      auto line = reader.next();
      if (!line) {
        at_end_ = true;
        break;
      }
      const long long row_id = next_row_++;
      ++summary_.records_in;
      if (!line->record) {
        record_error({row_id, "input", line->line, line->raw, line->error});
        continue;
      }
      if (chain_.input) {
        std::string reason;
        for (const auto& e : chain_.input->validate(*line->record)) reason += (reason.empty() ? "" : "; ") + e;
        if (!reason.empty()) {
          record_error({row_id, "input", line->line, line->raw,
                        "line " + std::to_string(line->line) + ": record does not match the input type: " + reason});
          continue;
        }
      }
      batch.push_back({row_id, line->line, Json{{"chain_input", std::move(*line->record)}, {"row_id", row_id}},
                       std::to_string(row_id)});
    }
    return batch;
  }

  void record_error(const ErrorRecord& e) {
    ++summary_.errors;
    writer_.error(e);
  }

  // Every node's path ("verdict", "fr/translate_fr") in the summary and the run folder; registered
  // functions are checked before anything runs.
  void declare_nodes(const std::vector<Node>& nodes, const std::string& prefix, std::vector<std::string>& paths) {
    for (const auto& node : nodes) {
      if (const Parallel* p = std::get_if<Parallel>(&node)) {
        for (const auto& b : p->branches) declare_nodes(b.steps, prefix + b.id + "/", paths);
        continue;
      }
      if (const Branch* b = std::get_if<Branch>(&node)) {
        declare_nodes(b->steps, prefix + b->id + "/", paths);
        continue;
      }
      const std::string path = prefix + node_id(node);
      summary_.nodes[path];
      paths.push_back(path);
      const Apply* a = std::get_if<Apply>(&node);
      if (a && !is_builtin(a->fn) && !chain_.functions.count(a->fn))
        throw ConfigError(a->at, "apply '" + a->id + "': no function named '" + a->fn + "' is registered");
    }
  }

  asio::awaitable<void> run_nodes(const std::vector<Node>& nodes, std::vector<Record>& batch, std::string prefix) {
    for (const auto& node : nodes) {
      if (const Step* step = std::get_if<Step>(&node)) {
        co_await run_step(*step, batch, prefix);
        continue;
      }
      if (const Apply* a = std::get_if<Apply>(&node)) {
        run_apply(*a, batch, prefix);
        continue;
      }
      std::vector<const Branch*> group;  // a lone branch is a group of one
      if (const Branch* b = std::get_if<Branch>(&node))
        group.push_back(b);
      else
        for (const auto& br : std::get<Parallel>(node).branches) group.push_back(&br);
      co_await run_branches(group, batch, prefix);
    }
  }

  // Each branch runs on its own copy of the batch, all at once; then each join puts the branch's
  // last output into the records it came from.
  asio::awaitable<void> run_branches(std::vector<const Branch*> branches, std::vector<Record>& batch,
                                     std::string prefix) {
    std::vector<std::vector<Record>> copies(branches.size(), batch);
    co_await gather(branches.size(), [&](size_t i) -> asio::awaitable<void> {
      co_await run_nodes(branches[i]->steps, copies[i], prefix + branches[i]->id + "/");
    });
    for (size_t i = 0; i < branches.size(); ++i)
      if (branches[i]->join) join(*branches[i], copies[i], batch);
  }

  static void join(const Branch& b, const std::vector<Record>& results, std::vector<Record>& batch) {
    const std::vector<std::string> keys = history_keys(b.steps.back());
    if (keys.empty()) return;
    std::map<std::string, std::vector<const Json*>> by_origin;  // a record's id -> the branch's outputs for it
    for (const auto& r : results)
      if (r.history.contains(keys[0])) by_origin[origin_of(r.id, batch)].push_back(&r.history.at(keys[0]));
    for (auto& rec : batch) {
      auto it = by_origin.find(rec.id);
      if (it == by_origin.end())
        rec.history[*b.join] = nullptr;
      else if (!fans_out(b.steps))
        rec.history[*b.join] = *it->second[0];
      else {
        Json list = Json::array();
        for (const Json* v : it->second) list.push_back(*v);
        rec.history[*b.join] = std::move(list);
      }
    }
  }

  // Whether records can multiply in these nodes (explode, exec, native functions): then a join is a
  // list for every record, whatever each record's count, so its shape does not depend on the data.
  static bool fans_out(const std::vector<Node>& nodes) {
    for (const auto& node : nodes) {
      if (const Apply* a = std::get_if<Apply>(&node); a && apply_fans_out(*a)) return true;
      if (const Branch* b = std::get_if<Branch>(&node); b && b->join && fans_out(b->steps)) return true;
      if (const Parallel* p = std::get_if<Parallel>(&node))
        for (const auto& br : p->branches)
          if (br.join && fans_out(br.steps)) return true;
    }
    return false;
  }

  // The id of the batch record a branch record descends from ("3.1" comes from "3").
  static std::string origin_of(const std::string& id, const std::vector<Record>& batch) {
    for (const auto& rec : batch)
      if (id == rec.id || id.rfind(rec.id + ".", 0) == 0) return rec.id;
    return id;
  }

  asio::awaitable<void> run_step(const Step& step, std::vector<Record>& batch, std::string prefix) {
    if (batch.empty()) co_return;  // e.g. every record of the batch was bad input
    const std::string path = prefix + step.id;
    Engine& engine = engine_for(step.engine);
    std::vector<StepOutcome> outcomes(batch.size());
    co_await gather(batch.size(), [&](size_t i) -> asio::awaitable<void> {
      outcomes[i] = co_await call_step(step, engine, batch[i].history);
    });
    NodeCounts& counts = summary_.nodes[path];
    std::vector<Record> kept;
    for (size_t i = 0; i < batch.size(); ++i) {
      ++counts.in;
      counts.prompt_tokens += outcomes[i].prompt_tokens;
      counts.generated_tokens += outcomes[i].generated_tokens;
      if (!outcomes[i].output) {
        ++counts.errors;
        record_error({batch[i].row_id, path, batch[i].line, outcomes[i].raw, outcomes[i].reason});
        continue;
      }
      ++counts.out;
      writer_.output(path, batch[i].row_id, batch[i].id, *outcomes[i].output);
      batch[i].history[step.id] = std::move(*outcomes[i].output);
      kept.push_back(std::move(batch[i]));
    }
    batch = std::move(kept);
    if (options_.on_progress) options_.on_progress({path, counts.in, counts.errors});
  }

  // Apply: each record to 0..n records; a failing expression or function makes an error record.
  void run_apply(const Apply& a, std::vector<Record>& batch, const std::string& prefix) {
    const std::string path = prefix + a.id;
    NodeCounts& counts = summary_.nodes[path];
    std::vector<Record> kept;
    for (auto& rec : batch) {
      ++counts.in;
      std::vector<Json> outputs;
      try {
        outputs = apply_outputs(a, path, rec.history);
      } catch (const std::exception& e) {
        ++counts.errors;
        record_error({rec.row_id, path, rec.line, "", std::string("apply '") + a.id + "': " + e.what()});
        continue;
      }
      const bool fan_out = apply_fans_out(a);
      for (size_t k = 0; k < outputs.size(); ++k) {
        Record r{rec.row_id, rec.line, rec.history, fan_out ? rec.id + "." + std::to_string(k) : rec.id};
        r.history[a.id] = outputs[k];
        writer_.output(path, r.row_id, r.id, outputs[k]);
        kept.push_back(std::move(r));
        ++counts.out;
      }
    }
    batch = std::move(kept);
    if (options_.on_progress) options_.on_progress({path, counts.in, counts.errors});
  }

  std::vector<Json> apply_outputs(const Apply& a, const std::string& path, const Json& history) {
    if (a.fn == "exec") return exec_worker(a, path).call(history);
    if (a.fn == "filter") return a.where->truthy(history) ? std::vector<Json>{true} : std::vector<Json>{};
    if (a.fn == "map") {
      Json out = Json::object();
      for (const auto& [key, expr] : a.set) out[key] = expr->value(history);
      return {out};
    }
    if (a.fn == "explode") {
      Json list = a.field->value(history);
      if (!list.is_array()) throw Error("`" + a.field->source() + "` is not a list but " + list.type_name());
      return std::vector<Json>(list.begin(), list.end());
    }
    return chain_.functions.at(a.fn)(history);
  }

  ExecWorker& exec_worker(const Apply& a, const std::string& path) {
    auto& worker = exec_workers_[a.id];
    if (!worker) {
      const std::string dir = chain_.file.empty() ? "." : std::filesystem::path(chain_.file).parent_path().string();
      worker = std::make_unique<ExecWorker>(a.command, dir.empty() ? "." : dir,
                                            (writer_.dir() / path / "stderr.log").string());
    }
    return *worker;
  }

  // The run keeps one lease per engine from its first use to the end, so consecutive steps on an
  // engine never restart it.
  Engine& engine_for(const std::string& name) {
    auto it = leases_.find(name);
    if (it != leases_.end()) return it->second.engine();
    Lease lease = broker_->acquire(name);
    for (const auto& s : broker_->status())
      if (s.name == name) {
        summary_.engine_load_seconds[name] = s.load_seconds;
        models_[name] = s.backend + ":" + s.model;
      }
    return leases_.emplace(name, std::move(lease)).first->second.engine();
  }

  Json run_json(const std::string& status) const {
    Json engines = Json::object();
    for (const auto& [name, model] : models_)
      engines[name] = {{"model", model}, {"load_seconds", summary_.engine_load_seconds.at(name)}};
    Json nodes = Json::object();
    for (const auto& [id, c] : summary_.nodes)
      nodes[id] = {{"in", c.in},
                   {"out", c.out},
                   {"errors", c.errors},
                   {"prompt_tokens", c.prompt_tokens},
                   {"generated_tokens", c.generated_tokens}};
    Json run{
        {"chain", chain_.name},
        {"file", chain_.file},
        {"file_sha256", chain_.file_sha256},
        {"skein_version", SKEIN_VERSION},
        {"input", options_.input_path},
        {"status", status},
        {"started_at", started_at_},
        {"ended_at", status == "running" ? Json() : Json(utc_now())},
        {"batch_size", batch_size_},
        {"engines", engines},
        {"counts",
         {{"records_in", summary_.records_in}, {"records_out", summary_.records_out}, {"errors", summary_.errors}}},
        {"nodes", nodes}};
    if (!summary_.error.empty()) run["error"] = summary_.error;
    return run;
  }

  const Chain& chain_;
  const RunOptions& options_;
  RunWriter writer_;
  size_t batch_size_;
  RunSummary summary_;
  std::string started_at_;
  std::unique_ptr<Broker> own_broker_;
  Broker* broker_ = nullptr;
  std::map<std::string, Lease> leases_;
  std::map<std::string, std::unique_ptr<ExecWorker>> exec_workers_;
  std::map<std::string, std::string> models_;
  long long next_row_ = 0;
  bool at_end_ = false;
};

}  // namespace

RunSummary run_chain(const Chain& chain, const RunOptions& options) {
  if (chain.steps.empty()) throw ConfigError({chain.file, 0}, "the chain has no steps");
  if (options.output_dir.empty()) throw ConfigError({chain.file, 0}, "no output folder given");
  return ChainRun(chain, options).run();
}

}  // namespace skein
