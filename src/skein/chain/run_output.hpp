// A chain run's folder written on a thread of its own, so that no file work holds up the run's
// loop: the loop hands over each finished batch's lines (and maybe a checkpoint) and goes on with
// the next batch. They are written in the order handed over, so a checkpoint's file positions cover
// every batch before it. (The records themselves stay on the loop: formatting their rows and
// freeing them on this thread measured slower than on the loop, every allocation then crossing
// between the two cores.)
//
// Threads: put() on the run's loop (one loop); finish() off any loop, once the loop has stopped.
// Memory: at most kBatchesAhead batches wait; put() waits for room without blocking the loop.
// Errors: the first write error fails the run: put() and finish() rethrow it; later batches are dropped.
#pragma once
#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <exception>
#include <memory>
#include <mutex>
#include <vector>

#include "line_blocks.hpp"
#include "run_writer.hpp"
#include "util/loop_event.hpp"

namespace skein {

// A finished batch: its lines, then, if `run` is not null, a checkpoint: `run` becomes run.json,
// its ["resume"]["files"] set to where every file got.
struct BatchOutput {
  LineBlocks lines;
  Json run;
};

class RunOutput {
 public:
  static constexpr size_t kBatchesAhead = 4;

  // `writer` is used on this object's thread from the first put() until finish() returns.
  explicit RunOutput(RunWriter& writer) : writer_(writer) {}
  ~RunOutput() { pool_.join(); }
  RunOutput(const RunOutput&) = delete;
  RunOutput& operator=(const RunOutput&) = delete;

  // Hands `batch` over; waits while kBatchesAhead are waiting. Throws the first write error.
  boost::asio::awaitable<void> put(BatchOutput batch);
  // Blocks until every batch handed over is written; throws the first write error. Then `writer`
  // is the caller's again.
  void finish();
  // finish() without the error: every batch handed over is written (or dropped after an error).
  void join() { pool_.join(); }
  // The last checkpoint written (null before the first): read after finish().
  const Json& last_checkpoint() const { return last_checkpoint_; }

 private:
  void write(BatchOutput& batch);  // on pool_
  void rethrow();

  RunWriter& writer_;
  boost::asio::thread_pool pool_{1};
  size_t waiting_ = 0;         // batches handed over and not yet written: the loop's
  LoopEvent* room_ = nullptr;  // put()'s while it waits for room: set when a batch is written
  std::mutex mu_;
  std::exception_ptr error_;  // guarded by mu_
  Json last_checkpoint_;      // pool_'s until finish()
};

// Joins the output's thread when it goes. Made right after the loop's io_context: the thread, which
// posts to that loop, stops before the loop goes, whatever happens.
struct JoinOnExit {
  RunOutput& output;
  ~JoinOnExit() { output.join(); }
};

}  // namespace skein
