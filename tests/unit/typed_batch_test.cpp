// generate_typed_all (a chain Step's batch without a coroutine per record): each request gets the
// outcome generate_typed would give it, replies may come from the engine's thread or at once, a
// refused reply is asked again with the reason, a cancellation cancels every request in flight and
// is rethrown once all have completed, and an exception that ends one request is rethrown once the
// others have ended.
#include <gtest/gtest.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <mutex>
#include <thread>

#include "engine/typed_batch.hpp"

namespace skein {
namespace {

namespace asio = boost::asio;

TypePtr type_a() {
  return std::make_shared<Type>(
      "A", Json{{"type", "object"}, {"properties", {{"a", {{"type", "integer"}}}}}, {"required", {"a"}}});
}

// Request i ("<i>" as its user message), seed 7, of type A.
std::vector<GenerateRequest> requests(int n) {
  std::vector<GenerateRequest> reqs(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    reqs[size_t(i)].messages = {{"system", "s"}, {"user", std::to_string(i)}};
    reqs[size_t(i)].output = type_a();
    reqs[size_t(i)].sampling.seed = 7;
  }
  return reqs;
}

// Answers by request and attempt: i % 3 == 0 valid at once, 1 refused once then valid, 2 never
// valid (not JSON). From its own thread, or at once on the caller's (`inline_replies`). Notes
// every request it is given.
class ScriptedEngine : public Engine {
 public:
  explicit ScriptedEngine(bool inline_replies) : inline_(inline_replies) {
    if (!inline_) thread_ = std::thread([this] { io_.run(); });
  }
  ~ScriptedEngine() override {
    work_.reset();
    if (thread_.joinable()) thread_.join();
  }
  const std::string& name() const override { return name_; }
  std::shared_ptr<PendingRequest> submit(GenerateRequest req, std::function<void(GenerateResult)> done) override {
    const int i = std::stoi(req.messages[1].content);
    const size_t attempt = (req.messages.size() - 2) / 2;  // each retry adds the reply and the reason
    {
      std::lock_guard l(mu);
      seen.push_back(req);
    }
    GenerateResult r;
    r.finish = Finish::stop;
    r.text = i % 3 == 0 || (i % 3 == 1 && attempt == 1) ? R"({"a": )" + std::to_string(i) + "}"
             : i % 3 == 1                               ? R"({"b": 1})"
                                                        : "not json";
    r.prompt_tokens = 10;
    r.generated_tokens = 3;
    if (inline_)
      done(std::move(r));
    else
      asio::post(io_, [done = std::move(done), r = std::move(r)]() mutable { done(std::move(r)); });
    return std::make_shared<Nothing>();
  }
  std::mutex mu;
  std::vector<GenerateRequest> seen;

 private:
  struct Nothing : PendingRequest {
    void cancel() override {}
  };
  bool inline_;
  std::string name_ = "scripted";
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::thread thread_;
};

std::vector<TypedOutcome> all_at_once(Engine& engine, std::vector<GenerateRequest> reqs, int retries) {
  asio::io_context io;
  auto f = asio::co_spawn(io, generate_typed_all(engine, std::move(reqs), retries), asio::use_future);
  io.run();
  return f.get();
}

TypedOutcome one_by_one(Engine& engine, GenerateRequest req, int retries) {
  asio::io_context io;
  auto f = asio::co_spawn(io, generate_typed(engine, std::move(req), retries), asio::use_future);
  io.run();
  return f.get();
}

class TypedBatchTest : public testing::TestWithParam<bool> {};

TEST_P(TypedBatchTest, EachRequestGetsTheOutcomeGenerateTypedGivesIt) {
  ScriptedEngine batch_engine(GetParam()), single_engine(GetParam());
  const std::vector<TypedOutcome> got = all_at_once(batch_engine, requests(9), 2);
  ASSERT_EQ(got.size(), 9u);
  for (int i = 0; i < 9; ++i) {
    SCOPED_TRACE(i);
    const TypedOutcome want = one_by_one(single_engine, requests(9)[size_t(i)], 2);
    const TypedOutcome& o = got[size_t(i)];
    EXPECT_EQ(o.output, want.output);
    EXPECT_EQ(o.raw, want.raw);
    EXPECT_EQ(o.reason, want.reason);
    EXPECT_EQ(o.attempts, want.attempts);
    EXPECT_EQ(o.engine_calls, want.engine_calls);
    EXPECT_EQ(o.prompt_tokens, want.prompt_tokens);
    EXPECT_EQ(o.generated_tokens, want.generated_tokens);
    EXPECT_FALSE(o.cancelled);
    EXPECT_EQ(o.attempts, i % 3 == 0 ? 1 : i % 3 == 1 ? 2 : 3);
    EXPECT_EQ(o.output.has_value(), i % 3 != 2);
  }
  EXPECT_EQ(got[1].output, Json({{"a", 1}}));
  EXPECT_NE(got[2].reason.find("not valid JSON"), std::string::npos) << got[2].reason;
  // The retry of request 1 showed the refused reply and why, under the next seed.
  std::lock_guard l(batch_engine.mu);
  ASSERT_EQ(batch_engine.seen.size(), 3u + 6u + 9u);  // 1, 2 and 3 attempts for three requests each
  const GenerateRequest* retry = nullptr;
  for (const auto& r : batch_engine.seen)
    if (r.messages[1].content == "1" && r.messages.size() == 4) retry = &r;
  ASSERT_NE(retry, nullptr);
  EXPECT_EQ(retry->messages[2].role, "assistant");
  EXPECT_EQ(retry->messages[2].content, R"({"b": 1})");
  EXPECT_NE(retry->messages[3].content.find("That reply is invalid"), std::string::npos);
  EXPECT_EQ(retry->sampling.seed, 8u);
}

INSTANTIATE_TEST_SUITE_P(Replies, TypedBatchTest, testing::Values(false, true),
                         [](const auto& info) { return info.param ? "AtOnce" : "FromTheEnginesThread"; });

// Holds every request until it is cancelled and then released (release_cancelled(), from any
// thread), then completes it from its own thread: as cancelled, or request "0" as an engine error
// (a reply that would be retried, were the batch not stopping).
class HoldingEngine : public Engine {
 public:
  HoldingEngine() : thread_([this] { io_.run(); }) {}
  ~HoldingEngine() override {
    work_.reset();
    thread_.join();
  }
  const std::string& name() const override { return name_; }
  std::shared_ptr<PendingRequest> submit(GenerateRequest req, std::function<void(GenerateResult)> done) override {
    ++submitted;
    return std::make_shared<Held>(*this, std::move(done), req.messages[1].content == "0");
  }
  void release_cancelled() {
    std::vector<std::function<void()>> replies;
    {
      std::lock_guard l(mu_);
      replies.swap(cancelled_replies_);
    }
    for (auto& reply : replies) asio::post(io_, std::move(reply));
  }
  std::atomic<int> submitted{0}, cancelled{0}, completed{0};  // completed: counted before the callback
  std::function<void()> on_cancel = [] {};                    // called in cancel(), on the canceller's thread

 private:
  struct Held : PendingRequest {
    Held(HoldingEngine& e, std::function<void(GenerateResult)> d, bool error)
        : engine(e), done(std::move(d)), as_error(error) {}
    void cancel() override {
      if (std::exchange(fired, true)) return;
      ++engine.cancelled;
      {
        std::lock_guard l(engine.mu_);
        engine.cancelled_replies_.push_back([&e = engine, done = std::move(done), error = as_error] {
          ++e.completed;
          GenerateResult r;
          r.finish = error ? Finish::error : Finish::cancelled;
          r.error = error ? "lost" : "";
          done(std::move(r));
        });
      }
      engine.on_cancel();
    }
    HoldingEngine& engine;
    std::function<void(GenerateResult)> done;
    bool as_error;
    bool fired = false;
  };
  std::string name_ = "holding";
  std::mutex mu_;
  std::vector<std::function<void()>> cancelled_replies_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(io_);
  std::thread thread_;
};

// Cancelled twice (a registry may emit again), the second time while the batch waits for the four
// requests it cancelled, none of which has completed yet: the batch waits for all four all the
// same, asks none again (not even the one whose reply would be retried), and then rethrows the
// cancel.
TEST(TypedBatchCancelTest, ACancelCancelsEveryRequestInFlightAndIsRethrownOnceAllHaveCompleted) {
  HoldingEngine engine;
  asio::io_context io;
  asio::cancellation_signal stop;
  auto f = asio::co_spawn(io, generate_typed_all(engine, requests(4), 2),
                          asio::bind_cancellation_slot(stop.slot(), asio::use_future));
  // Runs once the coroutine has asked all four and waits (its start was posted first).
  asio::post(io, [&] { stop.emit(asio::cancellation_type::terminal); });
  bool again = false;
  engine.on_cancel = [&] {  // the replies are released only after the second cancel
    if (std::exchange(again, true)) return;
    asio::post(io, [&] {
      stop.emit(asio::cancellation_type::terminal);
      engine.release_cancelled();
    });
  };
  io.run();
  EXPECT_EQ(engine.completed, 4);  // the batch waited for every request it cancelled
  try {
    f.get();
    FAIL() << "a cancelled batch returned";
  } catch (const boost::system::system_error& e) {
    EXPECT_EQ(e.code(), asio::error::operation_aborted);
  }
  EXPECT_EQ(engine.submitted, 4);
  EXPECT_EQ(engine.cancelled, 4);
}

// Throws from submit at request "1"'s second attempt (its first reply is refused); answers the
// others at once.
class ThrowingEngine : public Engine {
 public:
  const std::string& name() const override { return name_; }
  std::shared_ptr<PendingRequest> submit(GenerateRequest req, std::function<void(GenerateResult)> done) override {
    const bool retry = req.messages.size() > 2;
    if (req.messages[1].content == "1" && retry) throw std::runtime_error("no room");
    ++answered;
    GenerateResult r;
    r.finish = Finish::stop;
    r.text = req.messages[1].content == "1" ? R"({"b": 1})" : R"({"a": 0})";
    done(std::move(r));
    return nullptr;
  }
  int answered = 0;

 private:
  std::string name_ = "throwing";
};

// As gather rethrows a coroutine's exception: the other requests end first, then the batch throws.
TEST(TypedBatchCancelTest, ASubmitThatThrowsIsRethrownOnceEveryOtherRequestHasEnded) {
  ThrowingEngine engine;
  try {
    all_at_once(engine, requests(3), 1);
    FAIL() << "the batch returned";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "no room");
  }
  EXPECT_EQ(engine.answered, 3);  // "0", "2", and "1"'s first attempt
  EXPECT_TRUE(all_at_once(engine, {}, 1).empty());
}

}  // namespace
}  // namespace skein
