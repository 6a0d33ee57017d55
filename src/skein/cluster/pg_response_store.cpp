#include "pg_response_store.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iterator>
#include <map>

#include "shard_queue.hpp"
#include "skein/cross_thread_completion.hpp"

namespace skein::cluster {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kRowsPerInsert = 500;  // two parameters a row
constexpr milliseconds kFirstBackoff{100}, kMaxBackoff{5000};

// The lookups' keys as a text[] literal, each quoted.
std::string key_array(const std::vector<std::string>& keys) {
  std::string out = "{";
  for (const auto& k : keys) {
    out += out.size() > 1 ? ",\"" : "\"";
    for (char c : k) {
      if (c == '"' || c == '\\') out += '\\';
      out += c;
    }
    out += '"';
  }
  return out + "}";
}

}  // namespace

PgResponseStore::PgResponseStore(std::string url) : url_(std::move(url)), thread_([this] { loop(); }) {}

PgResponseStore::~PgResponseStore() {
  {
    std::lock_guard l(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

asio::awaitable<std::optional<std::string>> PgResponseStore::lookup(std::string key) {
  auto initiate = [&](auto handler) {
    auto done = detail::cross_thread_completion(std::move(handler));
    {
      std::lock_guard l(mu_);
      lookups_.push_back(
          {std::move(key), [done](std::optional<std::string> reply) mutable { done(std::move(reply)); }});
    }
    wake_.notify_one();
  };
  co_return co_await asio::async_initiate<decltype(asio::use_awaitable), void(std::optional<std::string>)>(
      initiate, asio::use_awaitable);
}

void PgResponseStore::keep(std::string key, std::string text) {
  {
    std::lock_guard l(mu_);
    waiting_.emplace_back(std::move(key), std::move(text));
  }
  wake_.notify_one();
}

bool PgResponseStore::flush(milliseconds timeout) {
  std::unique_lock l(mu_);
  return written_.wait_for(l, timeout, [&] { return waiting_.empty() && writing_ == 0; });
}

PgResponseStore::Stats PgResponseStore::stats() const {
  std::lock_guard l(mu_);
  return stats_;
}

void PgResponseStore::loop() {
  std::unique_lock l(mu_);
  for (;;) {
    if (lookups_.empty() && waiting_.empty()) {
      if (stop_) return;
      wake_.wait(l);
      continue;
    }
    std::vector<Lookup> lookups;
    std::vector<Reply> replies;
    lookups.swap(lookups_);
    replies.swap(waiting_);
    writing_ = replies.size();
    l.unlock();
    answer(lookups);
    const bool written = replies.empty() || write(replies);
    l.lock();
    writing_ = 0;
    if (!written && stop_) {
      stats_.dropped += (long long)replies.size();  // stopping while the database is away
    } else if (!written) {
      // Back in front of what came since, oldest first; beyond kMaxWaiting the oldest are given up.
      replies.insert(replies.end(), std::make_move_iterator(waiting_.begin()), std::make_move_iterator(waiting_.end()));
      waiting_ = std::move(replies);
      if (waiting_.size() > kMaxWaiting) {
        const size_t over = waiting_.size() - kMaxWaiting;
        waiting_.erase(waiting_.begin(), waiting_.begin() + long(over));
        stats_.dropped += (long long)over;
      }
      // Out the back-off, unless a lookup comes (answered "nothing" at once) or the store ends.
      wake_.wait_until(l, away_until_, [&] { return stop_ || !lookups_.empty(); });
    }
    written_.notify_all();
  }
}

void PgResponseStore::answer(std::vector<Lookup>& lookups) {
  if (lookups.empty()) return;
  std::map<std::string, std::string> found;
  if (pg::Connection* db = connection()) try {
      std::vector<std::string> keys;
      for (const auto& q : lookups) keys.push_back(q.key);
      const pg::Result r = db->exec("SELECT key, encode(reply, 'hex') FROM skein_responses WHERE key = ANY($1::text[])",
                                    {key_array(keys)});
      for (int i = 0; i < r.rows(); ++i) found.emplace(r.text(i, 0), pg::from_hex(r.text(i, 1)));
    } catch (const pg::Error& e) {
      lost(e);
    }
  long long hits = 0;
  for (auto& q : lookups) {
    auto it = found.find(q.key);
    hits += it != found.end();
    q.answer(it != found.end() ? std::optional(it->second) : std::nullopt);
  }
  std::lock_guard l(mu_);
  stats_.hits += hits;
  stats_.misses += (long long)lookups.size() - hits;
}

bool PgResponseStore::write(const std::vector<Reply>& replies) {
  pg::Connection* db = connection();
  if (!db) return false;
  try {
    for (size_t at = 0; at < replies.size(); at += kRowsPerInsert) {
      const size_t n = std::min(kRowsPerInsert, replies.size() - at);
      std::string sql = "INSERT INTO skein_responses (key, reply) VALUES ";
      std::vector<pg::Param> params;
      for (size_t i = 0; i < n; ++i) {
        sql += (i ? ", ($" : "($") + std::to_string(2 * i + 1) + ", $" + std::to_string(2 * i + 2) + "::bytea)";
        params.push_back(replies[at + i].first);
        params.push_back(pg::bytea_text(replies[at + i].second));
      }
      db->exec(sql + " ON CONFLICT (key) DO NOTHING", params);  // a chunk sent again after a loss: no-op
      std::lock_guard l(mu_);
      stats_.written += (long long)n;
    }
    return true;
  } catch (const pg::Error& e) {
    if (e.lost()) return lost(e), false;
    std::lock_guard l(mu_);  // refused (it never will take them): given up
    stats_.dropped += (long long)replies.size();
    return true;
  }
}

pg::Connection* PgResponseStore::connection() {
  if (db_) return db_.get();
  if (Clock::now() < away_until_) return nullptr;
  try {
    auto db = std::make_unique<pg::Connection>(url_);
    ensure_schema(*db);
    db_ = std::move(db);
    backoff_ = kFirstBackoff;
  } catch (const pg::Error& e) {
    lost(e);
  }
  return db_.get();
}

void PgResponseStore::lost(const pg::Error&) {
  db_.reset();
  away_until_ = Clock::now() + backoff_;
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
}

}  // namespace skein::cluster
