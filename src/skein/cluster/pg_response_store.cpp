#include "pg_response_store.hpp"

#include <algorithm>
#include <boost/asio/async_result.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iterator>
#include <map>
#include <utility>

#include "shard_queue.hpp"
#include "skein/cross_thread_completion.hpp"

namespace skein::cluster {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr size_t kRowsPerInsert = 500;       // two parameters a row
constexpr size_t kBytesPerInsert = 8 << 20;  // of replies (twice that as hex): far below a message's 1 GB
constexpr milliseconds kFirstBackoff{100}, kMaxBackoff{5000};
constexpr int kMaxFailures = 5;  // of one chunk's statement, in a row

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
    stop_ = force_ = true;  // one more attempt for what waits, back-off or not
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
    give_up_beyond_cap();
  }
  wake_.notify_one();
}

bool PgResponseStore::flush(milliseconds timeout) {
  std::unique_lock l(mu_);
  force_ = true;  // one connect attempt now, back-off or not
  wake_.notify_all();
  return written_.wait_for(l, timeout, [&] { return waiting_.empty() && writing_ == 0; });
}

// Lookups first (answered from the connection there is, or "nothing" at once), then the waiting
// replies a chunk at a time, so a lookup never waits behind a long backlog.
void PgResponseStore::loop() {
  connection(true);
  std::unique_lock l(mu_);
  for (;;) {
    if (!lookups_.empty()) {
      std::vector<Lookup> lookups;
      lookups.swap(lookups_);
      l.unlock();
      answer(lookups);
      if (!db_) connection(false);  // for the next ones, unless in back-off
      l.lock();
      continue;
    }
    if (waiting_.empty()) {
      force_ = false;  // a flush with nothing to write
      written_.notify_all();
      if (stop_) return;
      wake_.wait(l);
      continue;
    }
    const bool force = std::exchange(force_, false);
    if (!db_ && !force && Clock::now() < away_until_) {
      if (stop_) {  // the attempt on stop failed: what waits is given up
        waiting_.clear();
        continue;
      }
      wake_.wait_until(l, away_until_, [&] { return stop_ || force_ || !lookups_.empty(); });
      continue;
    }
    std::vector<Reply> chunk = take_chunk();
    writing_ = chunk.size();
    l.unlock();
    const Outcome outcome = write(chunk, force);
    l.lock();
    writing_ = 0;
    if (outcome == Outcome::again) {  // back in front of what came since (a refused chunk is given up)
      waiting_.insert(waiting_.begin(), std::make_move_iterator(chunk.begin()), std::make_move_iterator(chunk.end()));
      give_up_beyond_cap();
    }
    written_.notify_all();
  }
}

void PgResponseStore::give_up_beyond_cap() {
  if (waiting_.size() > kMaxWaiting) waiting_.erase(waiting_.begin(), waiting_.end() - long(kMaxWaiting));
}

// Up to kRowsPerInsert replies and kBytesPerInsert bytes, sorted by key without repeats: two
// workers inserting the same keys take their row locks in one order (no deadlock between them).
std::vector<PgResponseStore::Reply> PgResponseStore::take_chunk() {
  size_t n = 0, bytes = 0;
  while (n < waiting_.size() && n < kRowsPerInsert && (n == 0 || bytes + waiting_[n].second.size() <= kBytesPerInsert))
    bytes += waiting_[n++].second.size();
  std::vector<Reply> chunk(std::make_move_iterator(waiting_.begin()),
                           std::make_move_iterator(waiting_.begin() + long(n)));
  waiting_.erase(waiting_.begin(), waiting_.begin() + long(n));
  std::stable_sort(chunk.begin(), chunk.end(), [](const Reply& a, const Reply& b) { return a.first < b.first; });
  chunk.erase(
      std::unique(chunk.begin(), chunk.end(), [](const Reply& a, const Reply& b) { return a.first == b.first; }),
      chunk.end());
  return chunk;
}

void PgResponseStore::answer(std::vector<Lookup>& lookups) {
  std::map<std::string, std::string> found;
  if (db_) try {
      std::vector<std::string> keys;
      for (const auto& q : lookups) keys.push_back(q.key);
      const pg::Result r = db_->exec(
          "SELECT key, encode(reply, 'hex') FROM skein_responses WHERE key = ANY($1::text[])", {key_array(keys)});
      for (int i = 0; i < r.rows(); ++i) found.emplace(r.text(i, 0), pg::from_hex(r.text(i, 1)));
    } catch (const pg::Error& e) {
      lost(e);
    }
  for (auto& q : lookups) {
    auto it = found.find(q.key);
    q.answer(it != found.end() ? std::optional(it->second) : std::nullopt);
  }
}

PgResponseStore::Outcome PgResponseStore::write(const std::vector<Reply>& chunk, bool force) {
  pg::Connection* db = connection(force);
  if (!db) return Outcome::again;
  std::string sql = "INSERT INTO skein_responses (key, reply) VALUES ";
  std::vector<pg::Param> params;
  for (size_t i = 0; i < chunk.size(); ++i) {
    sql += (i ? ", ($" : "($") + std::to_string(2 * i + 1) + ", $" + std::to_string(2 * i + 2) + "::bytea)";
    params.push_back(chunk[i].first);
    params.push_back(pg::bytea_text(chunk[i].second));
  }
  try {
    db->exec(sql + " ON CONFLICT (key) DO NOTHING", params);  // sent again after a loss: a no-op
    backoff_ = kFirstBackoff;                                 // only a statement that went through ends the back-off
    failures_ = 0;
    return Outcome::written;
  } catch (const pg::Error& e) {
    // A deadlock or serialization failure, the server short of resources or cancelling statements
    // is worth another try, after the back-off, as a lost connection is, unless this chunk has
    // failed kMaxFailures times on a connection that was there (it may be what breaks it).
    // Anything else the database never will take: given up.
    if (!e.transient()) return Outcome::refused;
    lost(e);
    if (++failures_ < kMaxFailures) return Outcome::again;
    failures_ = 0;
    return Outcome::refused;
  }
}

pg::Connection* PgResponseStore::connection(bool force) {
  if (db_) return db_.get();
  if (!force && Clock::now() < away_until_) return nullptr;
  try {
    auto db = std::make_unique<pg::Connection>(url_);
    ensure_schema(*db);
    db_ = std::move(db);
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
