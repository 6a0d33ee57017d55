// A graph run's ledger in the registry (see RunLedger in skein/graph_run.hpp): its entries in
// memory (loaded from the store for a resumed or forked run), each new one queued to the store; a
// record completes on the run's loop once the store has committed it. Its spool is the run's own
// folder under the store's (<state dir>/spool/<run>). Thread-safe: gate answers are noted from
// whichever thread answers them.
#pragma once
#include <mutex>

#include "skein/graph_run.hpp"
#include "skein/run_store.hpp"

namespace skein::runtime {

class StoreLedger : public RunLedger {
 public:
  // `store` may be null (nothing durable; no spool), else it must outlive the ledger.
  StoreLedger(RunStore* store, std::string run, std::filesystem::path spool, std::map<LedgerKey, Json> known = {});

  std::optional<Json> find(const LedgerKey& key) const override;
  boost::asio::awaitable<void> record(LedgerKey key, Json value) override;
  bool record_at_once(LedgerKey& key, Json& value) override;  // without a store
  std::filesystem::path spool() const override { return spool_; }

  // Records without waiting for the store (a gate's answer: the run acts on it later, and the
  // store writes in order).
  void note(LedgerKey key, Json value);
  std::map<LedgerKey, Json> entries() const;

 private:
  RunStore* store_;
  std::string run_;
  std::filesystem::path spool_;
  mutable std::mutex mu_;
  std::map<LedgerKey, Json> entries_;
};

}  // namespace skein::runtime
