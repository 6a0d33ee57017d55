#include "worker.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <string_view>
#include <thread>
#include <tuple>

#include "shard_run.hpp"

namespace skein::cluster {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A shard attempt's scratch folder: no two attempts (a stale one and its retry) share one.
std::string fmt_scratch(const Claim& c) {
  return c.run + "-" + std::to_string(c.shard) + "-" + std::to_string(c.attempt);
}

constexpr std::string_view kScratchPrefix = "skein-worker-";

// Whether `fd` is the folder at `path` now (not one that replaced it, or none).
bool is_at(int fd, const fs::path& path) {
  struct stat opened {};
  struct stat there {};
  return fstat(fd, &opened) == 0 && lstat(path.c_str(), &there) == 0 && opened.st_dev == there.st_dev &&
         opened.st_ino == there.st_ino;
}

// The pid in a default scratch folder's name, skein-worker-<pid>-XXXXXX (or skein-worker-<pid>,
// the name before), or 0 for any other name.
pid_t scratch_pid(const std::string& name) {
  if (!name.starts_with(kScratchPrefix)) return 0;
  const std::string rest = name.substr(kScratchPrefix.size());
  const std::string digits = rest.substr(0, rest.find('-'));
  pid_t pid = 0;
  const auto [at, error] = std::from_chars(digits.data(), digits.data() + digits.size(), pid);
  if (error != std::errc() || at != digits.data() + digits.size() || std::to_string(pid) != digits) return 0;
  return pid > 1 ? pid : 0;
}

// `dir` opened (with `flags` too) and locked, if it is still the folder at its path once locked;
// else -1.
int lock_folder(const fs::path& dir, int flags = 0) {
  const int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC | flags);
  if (fd >= 0 && flock(fd, LOCK_EX | LOCK_NB) == 0 && is_at(fd, dir)) return fd;
  if (fd >= 0) close(fd);
  return -1;
}

// The default scratch folders of this machine's workers that were killed (SIGKILL leaves a worker
// no time to remove its own): folders of this user's whose process is gone and whose lock no
// worker holds (a worker in another PID namespace that shares the temp folder holds its own: see
// locked_scratch). Errors leave a folder where it is.
void remove_orphaned_scratch(const fs::path& temp) {
  std::error_code ec;
  for (auto it = fs::directory_iterator(temp, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const fs::path path = it->path();
    const pid_t pid = scratch_pid(path.filename().string());
    if (pid == 0 || kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive, or not this user's to know
    const int fd = lock_folder(path, O_NOFOLLOW);
    if (fd < 0) continue;  // gone, a symbolic link, not a folder, locked by a live worker, replaced
    struct stat st {};
    if (fstat(fd, &st) == 0 && st.st_uid == geteuid()) {
      std::error_code ignored;  // (another worker may be removing it too)
      fs::remove_all(path, ignored);
    }
    close(fd);
  }
}

// A new default scratch folder, <temp>/skein-worker-<pid>-XXXXXX (workers in other PID namespaces
// may have this pid too), and its lock, held for the worker's life. Made again if a remover took
// it before it was locked.
std::pair<fs::path, int> locked_scratch(const fs::path& temp) {
  for (int attempt = 0; attempt < 3; ++attempt) {
    std::string dir = (temp / (std::string(kScratchPrefix) + std::to_string(getpid()) + "-XXXXXX")).string();
    if (!mkdtemp(dir.data())) break;
    if (const int fd = lock_folder(dir); fd >= 0) return {dir, fd};
  }
  return {temp / (std::string(kScratchPrefix) + std::to_string(getpid())), -1};
}

std::string default_name() {
  char host[256] = {};
  gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(getpid());
}

}  // namespace

// Between the worker and the lease thread of a shard: why the shard's run was stopped, and the end
// of the shard's work (an eventfd, so the thread's wait on the database returns at once).
struct Worker::Held {
  std::mutex mu;
  std::string why;
  bool done = false;
  int wake = eventfd(0, EFD_CLOEXEC);
  ~Held() { close(wake); }
  void finish() {
    {
      std::lock_guard lock(mu);
      done = true;
    }
    const uint64_t one = 1;
    (void)!write(wake, &one, sizeof one);
  }
};

Worker::Worker(WorkerOptions options)
    : options_(std::move(options)), responses_(std::make_shared<PgResponseStore>(options_.url)) {
  if (options_.name.empty()) options_.name = default_name();
  if (options_.scratch.empty()) {
    const fs::path temp = fs::temp_directory_path();
    remove_orphaned_scratch(temp);
    std::tie(options_.scratch, scratch_lock_) = locked_scratch(temp);
  } else {
    std::error_code ec;
    fs::create_directories(options_.scratch, ec);
    scratch_lock_ = lock_folder(options_.scratch);
  }
  if (scratch_lock_ < 0) event("the scratch folder " + options_.scratch.string() + " could not be made and locked");
}

Worker::~Worker() {
  if (broker_) {  // a worker ends by releasing its engines
    broker_->flush(true);
    broker_->settle();
  }
  std::error_code ec;
  fs::remove(options_.scratch, ec);  // empty by now: each shard removes its own folder
  if (scratch_lock_ >= 0) close(scratch_lock_);
}

void Worker::run() {
  milliseconds backoff(100);
  bool reached = false;
  for (;;) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    try {
      ShardQueue queue(options_.url);
      queue.listen("skein_work");
      reached = true;
      backoff = milliseconds(100);
      while (work_once(queue)) {
        std::lock_guard lock(mu_);
        if (stopping_) return;
      }
      return;
    } catch (const pg::Error& e) {
      if (!reached) throw;
      event(std::string("database: ") + e.what() + "; reconnecting in " + std::to_string(backoff.count()) + " ms");
      {
        std::lock_guard lock(mu_);
        ++stats_.reconnects;
      }
      pause(backoff);
      backoff = std::min(backoff * 2, milliseconds(5000));
    }
  }
}

bool Worker::work_once(ShardQueue& queue) {
  if (!options_.only_run.empty() && queue.progress(options_.only_run).state != ChainStatus::running) return false;
  const std::optional<Claim> claim = queue.claim(options_.name, options_.lease, options_.only_run);
  if (!claim) {
    queue.wait(milliseconds(250));  // a submit NOTIFYs skein_work; expired leases are seen on the next try
    return true;
  }
  work(queue, *claim);
  return true;
}

void Worker::work(ShardQueue& queue, const Claim& claim) {
  const std::string shard =
      claim.run + "/" + std::to_string(claim.shard) + " (attempt " + std::to_string(claim.attempt) + ")";
  event("claimed " + shard);
  ChainStop stop;
  {
    std::lock_guard lock(mu_);
    if (stopping_) stop.request();
    current_ = &stop;
  }
  Held held;
  // The lease thread (started first: the lease runs from the claim), for as long as the shard is
  // in hand: however the work ends, the thread is told and joined and stop() no longer reaches it.
  struct InHand {
    Worker& w;
    Held& held;
    std::thread lease;
    InHand(Worker& worker, Held& h, std::function<void()> hold) : w(worker), held(h), lease(std::move(hold)) {}
    ~InHand() {
      held.finish();
      lease.join();
      std::lock_guard lock(w.mu_);
      w.current_ = nullptr;
    }
  };
  std::optional<InHand> in_hand;
  in_hand.emplace(*this, held, [&] { hold_lease(claim, stop, held); });
  std::optional<ShardResult> result;
  std::string failure;
  try {
    const std::optional<RunSpec> spec = queue.run(claim.run);
    if (!spec) throw NotFoundError("the run is gone");
    const std::string input = queue.input_text(claim);
    const Chain& chain = chain_of(*spec);
    RunOptions o;
    if (spec->options.contains("batch_size")) o.batch_size = spec->options["batch_size"].get<int>();
    if (spec->options.value("cache", true)) o.response_store = responses_;
    o.broker = &broker_for(claim.run);
    o.stop = &stop;
    o.on_warning = [&](const std::string& w) {
      if (first_warning(claim.run, w)) event(shard + ": " + w);
    };
    result = run_shard(chain, o, claim, input, options_.scratch / fmt_scratch(claim));
    // The shard's replies in the cache before it is done (a re-run then makes no call); a database
    // slower than that only costs calls, the commit below finds out whether it is there at all.
    if (o.response_store) responses_->flush(options_.lease / 2);
  } catch (const CancelledError&) {
  } catch (const pg::Error& e) {
    if (e.lost()) throw;  // the connection: run() reconnects; the shard waits for its lease
    failure = e.what();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  in_hand.reset();
  std::string why;
  {
    std::lock_guard lock(held.mu);
    why = held.why;
  }
  if (result) {
    try {
      const Commit c = queue.commit(claim, *result);
      {
        std::lock_guard lock(mu_);
        ++(c == Commit::done ? stats_.committed : stats_.fenced);
      }
      event((c == Commit::done ? "committed " : "fenced (another attempt owns it) ") + shard);
      return;
    } catch (const pg::Error& e) {
      if (e.lost()) throw;  // run() reconnects; the lease runs out and the shard is done again
      failure = e.what();   // the database refused the result: an attempt that failed
    }
  }
  if (!failure.empty() && !stop.requested()) {
    const bool run_failed = queue.fail(claim, failure, kMaxAttempts);
    {
      std::lock_guard lock(mu_);
      ++stats_.failed;
    }
    event("failed " + shard + ": " + failure + (run_failed ? " (the run fails)" : " (another attempt follows)"));
    pause(milliseconds(1000));  // a machine that fails every shard does not burn through them
    return;
  }
  {
    std::lock_guard lock(mu_);
    ++stats_.abandoned;
  }
  event("left " + shard + (why.empty() ? "" : ": " + why));
}

Broker& Worker::broker_for(const std::string& run) {
  if (broker_ && broker_run_ == run) return *broker_;
  if (broker_) {  // another run's engines (its `main` may be another model): released first
    broker_->flush(true);
    broker_->settle();
    broker_.reset();
  }
  broker_ = std::make_unique<Broker>(options_.broker, options_.factory);
  declare_engines(*broker_, options_.engines);
  broker_run_ = run;
  return *broker_;
}

void Worker::hold_lease(const Claim& claim, ChainStop& stop, Held& held) {
  const auto give_up = [&](const std::string& why) {
    std::lock_guard lock(held.mu);
    held.why = why;
    stop.request();
  };
  try {
    if (!lease_db_) {  // kept from shard to shard: a connection costs the server a process
      lease_db_ = std::make_unique<ShardQueue>(options_.url);
      lease_db_->listen("skein_cancel");
    }
    ShardQueue& q = *lease_db_;
    auto beat = Clock::now();  // at once: a cancel NOTIFYed before the LISTEN fails this heartbeat
    for (;;) {
      {
        std::lock_guard lock(held.mu);
        if (held.done) return;
      }
      if (Clock::now() >= beat) {
        if (!q.heartbeat(claim, options_.lease)) return give_up("the lease was lost (expired or the run ended)");
        beat = Clock::now() + options_.lease / 3;
      }
      const auto until_beat = std::chrono::ceil<milliseconds>(beat - Clock::now());
      for (const auto& n : q.wait(std::max(milliseconds(1), until_beat), held.wake))  // or the shard's end
        if (n.payload == claim.run) return give_up("the run was cancelled");
    }
  } catch (const std::exception& e) {  // pg::Error: the connection is made again for the next shard
    lease_db_.reset();
    give_up(std::string("the database was lost: ") + e.what());
  }
}

const Chain& Worker::chain_of(const RunSpec& spec) {
  auto it = chains_.find(spec.id);
  if (it != chains_.end()) return it->second;
  chains_.clear();  // the runs worked on before: done or going on elsewhere (parsing again is cheap)
  return chains_[spec.id] = parse_chain(spec.chain_text, spec.options.value("file", spec.id + ".yaml"));
}

void Worker::stop() {
  std::lock_guard lock(mu_);
  stopping_ = true;
  if (current_) current_->request();
  wake_.notify_all();
}

WorkerStats Worker::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

bool Worker::first_warning(const std::string& run, const std::string& warning) {
  std::lock_guard lock(mu_);
  if (warned_.size() > 64 && !warned_.count(run)) warned_.clear();  // a bound over a long life
  return warned_[run].insert(warning).second;
}

void Worker::event(const std::string& line) {
  if (options_.on_event) options_.on_event(line);
}

void Worker::pause(milliseconds d) {
  std::unique_lock lock(mu_);
  wake_.wait_for(lock, d, [&] { return stopping_; });
}

}  // namespace skein::cluster
