// The hook is called under the lock, so detach() returning means it is no longer running (the run
// can then destroy what it posts to).
#include "skein/chain.hpp"

namespace skein {

void ChainStop::request() {
  std::lock_guard l(mu_);
  if (requested_) return;
  requested_ = true;
  if (on_request_) on_request_();
}

bool ChainStop::requested() const {
  std::lock_guard l(mu_);
  return requested_;
}

void ChainStop::attach(std::function<void()> on_request) {
  std::lock_guard l(mu_);
  on_request_ = std::move(on_request);
  if (requested_) on_request_();
}

void ChainStop::detach() {
  std::lock_guard l(mu_);
  on_request_ = nullptr;
}

}  // namespace skein
