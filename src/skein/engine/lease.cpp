// Lease: a handle on an engine of the shared BrokerCore (its release is the core's).
#include <utility>

#include "broker_core.hpp"

namespace skein {

using detail::BrokerCore;
using detail::BrokerEntry;

Lease::Lease(Lease&& other) noexcept
    : core_(std::move(other.core_)),
      entry_(std::exchange(other.entry_, nullptr)),
      engine_(std::exchange(other.engine_, nullptr)) {}

Lease& Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    release();
    core_ = std::move(other.core_);
    entry_ = std::exchange(other.entry_, nullptr);
    engine_ = std::exchange(other.engine_, nullptr);
  }
  return *this;
}

Lease::~Lease() { release(); }

const std::string& Lease::name() const { return entry_->config.name; }

void Lease::release() {
  if (!entry_) return;
  core_->release(entry_);
  entry_ = nullptr;
  engine_ = nullptr;
  core_.reset();
}

}  // namespace skein
