#include "apply_calls.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "skein/error.hpp"
#include "util/run_on.hpp"

namespace skein {

namespace asio = boost::asio;

const char* to_string(ApplyKind kind) {
  switch (kind) {
    case ApplyKind::filter:
      return "filter";
    case ApplyKind::map:
      return "map";
    case ApplyKind::explode:
      return "explode";
    case ApplyKind::exec:
      return "exec";
    case ApplyKind::native:
      return "native";
  }
  return "?";
}

std::string fn_name(const Apply& a) { return a.kind == ApplyKind::native ? a.fn : to_string(a.kind); }

bool apply_fans_out(const Apply& a) { return a.kind != ApplyKind::filter && a.kind != ApplyKind::map; }

bool is_built_in(const Apply& a) {
  return a.kind == ApplyKind::filter || a.kind == ApplyKind::map || a.kind == ApplyKind::explode;
}

bool kept_by(const Apply& filter, const Json& history) { return filter.where->truthy(history); }

Json mapped(const Apply& map, const Json& history) {
  Json out = object_with_room(map.set.size());
  for (const auto& [key, expr] : map.set) out[key] = expr->value(history);
  return out;
}

Json::array_t exploded(const Apply& explode, const Json& history) {
  Json list = explode.field->value(history);
  if (!list.is_array()) throw Error("`" + explode.field->source() + "` is not a list but " + list.type_name());
  return std::move(list.get_ref<Json::array_t&>());
}

std::string apply_failure(const Apply& a, std::string_view why) { return "apply '" + a.id + "': " + std::string(why); }

std::vector<Json> built_in_outputs(const Apply& a, const Json& history) {
  if (a.kind == ApplyKind::filter) return kept_by(a, history) ? std::vector<Json>{true} : std::vector<Json>{};
  if (a.kind == ApplyKind::map) {
    std::vector<Json> outputs;  // not a braced list: that would copy the output
    outputs.push_back(mapped(a, history));
    return outputs;
  }
  return exploded(a, history);
}

asio::awaitable<std::vector<ApplyOutcome>> ApplyCalls::outputs(const Apply& a, const std::string& path,
                                                               std::vector<const Json*> histories) {
  std::vector<ApplyOutcome> out(histories.size());
  if (a.kind == ApplyKind::exec) {
    for (size_t i = 0; i < histories.size(); ++i) {
      try {
        ExecWorker* worker = co_await exec_worker(a, path);
        out[i].outputs = co_await worker->call(*histories[i]);
      } catch (const boost::system::system_error& e) {
        if (e.code() == boost::asio::error::operation_aborted) throw;  // cancelled
        out[i].error = e.what();
      } catch (const std::exception& e) {
        out[i].error = e.what();
      }
    }
    co_return out;
  }
  auto each = [&](auto&& fn) {
    for (size_t i = 0; i < histories.size(); ++i) try {
        out[i].outputs = fn(*histories[i]);
      } catch (const std::exception& e) {
        out[i].error = e.what();
      }
  };
  if (is_built_in(a)) {
    each([&](const Json& h) { return built_in_outputs(a, h); });
    co_return out;
  }
  const auto& fn = chain_.functions.at(a.fn);  // user code: on the blocking executor, the loop goes on
  auto all = [&] { each(fn); };                // (a stop reaches the run once it has returned)
  co_await run_on(blocking(), all);
  co_return out;
}

asio::awaitable<ExecWorker*> ApplyCalls::exec_worker(const Apply& a, const std::string& path) {
  auto& worker = workers_[path];
  if (worker && worker->dead()) {  // timed out or exited: a fresh one
    co_await worker->close();
    worker.reset();
  }
  if (!worker) {
    std::string dir = chain_.file.empty() ? "." : std::filesystem::path(chain_.file).parent_path().string();
    if (dir.empty()) dir = ".";
    std::optional<std::chrono::milliseconds> timeout;
    if (a.timeout) timeout = std::chrono::milliseconds(int64_t(*a.timeout * 1000));
    const std::string log = (run_dir_ / path / "stderr.log").string();  // no temporaries in a co_await (GCC 12)
    worker = co_await ExecWorker::start(a.command, dir, log, timeout);
  }
  co_return worker.get();
}

asio::any_io_executor ApplyCalls::blocking() {
  if (!blocking_) {  // only a run with a native function pays for threads of its own
    own_pool_ = std::make_unique<asio::thread_pool>(2);
    blocking_ = own_pool_->get_executor();
  }
  return blocking_;
}

asio::awaitable<void> ApplyCalls::close() {
  for (auto& [path, worker] : workers_)
    if (worker) co_await worker->close();
  workers_.clear();
}

}  // namespace skein
