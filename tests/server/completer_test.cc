// Completer: completions run in order on its one thread, and its destructor
// runs what was posted before it joins.
#include "server/batching/completer.h"

#include <future>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace qlinear::server::batching {
namespace {

TEST(CompleterTest, RunsInPostOrderOnItsThreadAndDrainsOnDestruction) {
  std::vector<int> order;
  std::vector<std::thread::id> threads;
  std::promise<void> release;
  int64_t pending_while_held = -1;
  {
    Completer completer;
    completer.Post([go = release.get_future()]() mutable { go.wait(); });
    for (int i = 0; i < 5; ++i) {
      completer.Post([&order, &threads, i] {
        order.push_back(i);
        threads.push_back(std::this_thread::get_id());
      });
    }
    pending_while_held = completer.pending();
    release.set_value();
  }
  EXPECT_EQ(pending_while_held, 6);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
  ASSERT_EQ(threads.size(), 5u);
  EXPECT_NE(threads[0], std::this_thread::get_id());
  for (const std::thread::id& t : threads) EXPECT_EQ(t, threads[0]);
}

TEST(CompleterTest, PendingFallsToZeroOnceCompletionsRan) {
  Completer completer;
  std::promise<void> ran;
  std::future<void> ran_future = ran.get_future();
  completer.Post([&ran] { ran.set_value(); });
  ran_future.wait();
  // The completion has run; pending drops right after it returns. A second
  // completion posted behind it observes the count without the first.
  std::promise<int64_t> seen;
  std::future<int64_t> seen_future = seen.get_future();
  completer.Post([&] { seen.set_value(completer.pending()); });
  EXPECT_EQ(seen_future.get(), 1);  // itself only
}

}  // namespace
}  // namespace qlinear::server::batching
