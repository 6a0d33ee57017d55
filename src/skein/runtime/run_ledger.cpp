#include "run_ledger.hpp"

#include <boost/asio/async_result.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "skein/cross_thread_completion.hpp"

namespace skein::runtime {

namespace asio = boost::asio;

StoreLedger::StoreLedger(RunStore* store, std::string run, std::filesystem::path spool, std::map<LedgerKey, Json> known)
    : store_(store),
      run_(std::move(run)),
      spool_(store ? std::move(spool) : std::filesystem::path()),
      entries_(std::move(known)) {}

std::optional<Json> StoreLedger::find(const LedgerKey& key) const {
  std::lock_guard l(mu_);
  auto it = entries_.find(key);
  return it == entries_.end() ? std::nullopt : std::optional<Json>(it->second);
}

void StoreLedger::note(LedgerKey key, Json value) {
  {
    std::lock_guard l(mu_);
    entries_[key] = value;
  }
  if (store_) store_->put(LedgerRow{run_, std::move(key), std::move(value), nullptr});
}

bool StoreLedger::record_at_once(LedgerKey& key, Json& value) {
  if (store_) return false;
  std::lock_guard l(mu_);  // memory only: the entry itself, not a copy
  entries_.insert_or_assign(std::move(key), std::move(value));
  return true;
}

asio::awaitable<void> StoreLedger::record(LedgerKey key, Json value) {
  if (record_at_once(key, value)) co_return;
  {
    std::lock_guard l(mu_);
    entries_[key] = value;
  }
  auto initiate = [&](auto handler) {
    auto done = detail::cross_thread_completion(std::move(handler));
    store_->put(LedgerRow{run_, std::move(key), std::move(value), [done]() mutable { done(); }});
  };
  co_await asio::async_initiate<decltype(asio::use_awaitable), void()>(std::move(initiate), asio::use_awaitable);
}

std::map<LedgerKey, Json> StoreLedger::entries() const {
  std::lock_guard l(mu_);
  return entries_;
}

}  // namespace skein::runtime
