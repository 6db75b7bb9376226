#include "server/memory_reclaimer.h"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "tests/testing/proc_status.h"

namespace qlinear::server {
namespace {

MemoryReclaimer::Options NoThread() {
  MemoryReclaimer::Options options;
  options.backlog_requests = 100;
  options.quiet_trim_polls = 0;
  options.period = absl::ZeroDuration();
  return options;
}

TEST(MemoryReclaimerTest, AQuietServerTrimsEveryQuietTrimPolls) {
  MemoryReclaimer::Options options = NoThread();
  options.quiet_trim_polls = 3;
  int64_t inflight = 5;  // quiet: 5 * 8 < 100
  MemoryReclaimer reclaimer([&] { return inflight; }, options);
  EXPECT_FALSE(reclaimer.Poll());
  EXPECT_FALSE(reclaimer.Poll());
  EXPECT_TRUE(reclaimer.Poll());  // the third sample without a trim
  EXPECT_EQ(reclaimer.trims(), 1);
  // Busy samples count but do not trim; the first quiet one after them does.
  inflight = 40;
  EXPECT_FALSE(reclaimer.Poll());
  EXPECT_FALSE(reclaimer.Poll());
  EXPECT_FALSE(reclaimer.Poll());
  EXPECT_FALSE(reclaimer.Poll());
  inflight = 0;
  EXPECT_TRUE(reclaimer.Poll());
  EXPECT_EQ(reclaimer.trims(), 2);
  // A drained backlog trims at once and restarts the count.
  inflight = 300;
  EXPECT_FALSE(reclaimer.Poll());
  inflight = 1;
  EXPECT_TRUE(reclaimer.Poll());
  EXPECT_FALSE(reclaimer.Poll());
  EXPECT_FALSE(reclaimer.Poll());
  EXPECT_TRUE(reclaimer.Poll());
  EXPECT_EQ(reclaimer.trims(), 4);
}

TEST(MemoryReclaimerTest, TrimsOnceEachTimeABacklogDrains) {
  int64_t inflight = 0;
  MemoryReclaimer reclaimer([&] { return inflight; }, NoThread());
  // Below the backlog size: never.
  for (int64_t n : {0, 50, 99, 3, 0}) {
    inflight = n;
    EXPECT_FALSE(reclaimer.Poll()) << n;
  }
  // A backlog, still draining: not yet.
  for (int64_t n : {150, 400, 120, 13}) {
    inflight = n;
    EXPECT_FALSE(reclaimer.Poll()) << n;
  }
  inflight = 12;  // 12 * 8 < 100: drained
  EXPECT_TRUE(reclaimer.Poll());
  EXPECT_EQ(reclaimer.trims(), 1);
  // Once per backlog.
  inflight = 0;
  EXPECT_FALSE(reclaimer.Poll());
  inflight = 100;
  EXPECT_FALSE(reclaimer.Poll());
  inflight = 1;
  EXPECT_TRUE(reclaimer.Poll());
  EXPECT_EQ(reclaimer.trims(), 2);
}

TEST(MemoryReclaimerTest, TheThreadSamplesAndStops) {
  std::atomic<int64_t> inflight{500};
  absl::Notification sampled;
  MemoryReclaimer::Options options;
  options.backlog_requests = 100;
  options.quiet_trim_polls = 0;
  options.period = absl::Milliseconds(1);
  MemoryReclaimer reclaimer(
      [&] {
        const int64_t n = inflight.load();
        if (n == 500 && !sampled.HasBeenNotified()) sampled.Notify();
        return n;
      },
      options);
  // The thread has seen the backlog; it trims once the backlog drains.
  sampled.WaitForNotification();
  inflight = 0;
  EXPECT_TRUE(reclaimer.AwaitTrims(1, absl::Seconds(30)));
  EXPECT_EQ(reclaimer.trims(), 1);
}

// What it is for: the buffers of a drained backlog, freed but kept resident
// by the allocator (a live block above them pins the heap top), leave the
// resident set.
TEST(MemoryReclaimerTest, ReturnsTheFreedBuffersOfABacklog) {
  if (!::qlinear::testing::MallocIsGlibcs())
    GTEST_SKIP() << "not glibc's allocator";
  std::vector<char*> buffers;
  for (int i = 0; i < 16384; ++i) {  // 64 MiB of 4 KiB request buffers
    char* b = static_cast<char*>(std::malloc(4096));
    std::memset(b, 1, 4096);
    buffers.push_back(b);
  }
  char* pin = static_cast<char*>(std::malloc(4096));
  std::memset(pin, 1, 4096);
  for (char* b : buffers) std::free(b);
  const size_t resident = ::qlinear::testing::ProcStatusBytes("RssAnon");

  int64_t inflight = 1000;
  MemoryReclaimer reclaimer([&] { return inflight; }, NoThread());
  EXPECT_FALSE(reclaimer.Poll());
  inflight = 0;
  EXPECT_TRUE(reclaimer.Poll());
  EXPECT_LT(::qlinear::testing::ProcStatusBytes("RssAnon") + (32u << 20),
            resident);
  std::free(pin);
}

}  // namespace
}  // namespace qlinear::server
