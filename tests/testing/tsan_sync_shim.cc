// TSan interposition shim for Debian's uninstrumented Abseil and gRPC
// (docs/operations.md "Sanitizer builds").
//
// Debian's libabsl_synchronization.so is not built with TSan, so TSan sees
// neither the lock nor the unlock of an absl::Mutex: state guarded by one
// looks unsynchronized (false reports), and real races on it are not told
// apart. Linked into a TSan test binary, this file defines the exported
// entry points of absl::Mutex, CondVar, Notification and BlockingCounter.
// The executable comes first in the dynamic linker's lookup, so every call
// to them, from our code and from libgrpc (whose gpr_mu and grpc_core::Mutex
// are absl::Mutex) alike, lands here. Each one forwards to the real function
// (dlsym RTLD_NEXT) wrapped in TSan's mutex annotations (sanitizer/
// tsan_interface.h), the same ones an Abseil built with TSan emits: TSan then
// sees each Mutex as a mutex (happens-before from every unlock to the next
// lock, lock-order checks, "mutex held" in its reports).
//
// It also gives TSan gRPC's completion-queue contract, which libgrpc
// implements with atomics TSan cannot see: starting an operation with a tag
// (grpc_call_start_batch, grpc_server_request_*call) releases on the tag,
// and the completion queue handing the tag back (grpc_completion_queue_next,
// _pluck) acquires it. That is the edge from a reactor's Finish/StartWrite
// on one thread to its OnDone/OnWriteDone on another.
//
// Built only with -fsanitize=thread (tests/CMakeLists.txt), for tests run
// with TSAN_OPTIONS=ignore_noninstrumented_modules=1 (scripts/
// ci-sanitize.sh). It also turns off Abseil's own deadlock detector (its
// graph lives in uninstrumented code and TSan's detector replaces it), as an
// Abseil built with TSan does.
#include <dlfcn.h>
#include <grpc/grpc.h>
#include <sanitizer/tsan_interface.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

#if ABSL_OPTION_USE_INLINE_NAMESPACE != 1 || \
    !defined(ABSL_OPTION_INLINE_NAMESPACE_NAME)
#error "the mangled names below assume Debian's inline namespace absl::debian3"
#endif

// Notification's notified_yet_ follows its Mutex; HasBeenNotified() is an
// inline acquire load of it (instrumented), so Notify() releases there.
static_assert(sizeof(absl::Mutex) == sizeof(void*), "absl::Mutex layout");
static_assert(sizeof(absl::Notification) == 2 * sizeof(void*),
              "absl::Notification layout");

namespace {

using absl::Condition;
using absl::Duration;
using absl::Time;

void* Real(const char* name) {
  void* f = dlsym(RTLD_NEXT, name);
  if (f == nullptr) {
    std::fprintf(stderr, "tsan_sync_shim: %s not found\n", name);
    std::abort();
  }
  return f;
}

// Depth of shim calls on this thread. Abseil's functions call each other
// through the PLT too (AwaitWithTimeout calls AwaitWithDeadline, Notify
// calls Lock), so those inner calls land here as well: only the outermost
// call is annotated, the inner ones forward as they are.
thread_local int tls_depth = 0;

struct Depth {
  Depth() { ++tls_depth; }
  ~Depth() { --tls_depth; }
};

// The real function `name`, looked up once.
#define QL_REAL_FUNCTION(type, name) \
  static const auto real = reinterpret_cast<type>(Real(name))

// The same for Abseil's functions; an inner call forwards to it at once.
#define QL_REAL(type, name, ...)               \
  QL_REAL_FUNCTION(type, name);                \
  if (tls_depth > 0) return real(__VA_ARGS__); \
  const Depth depth

constexpr unsigned kRead = __tsan_mutex_read_lock;
constexpr unsigned kTry = __tsan_mutex_try_lock;
constexpr unsigned kTryFailed = __tsan_mutex_try_lock_failed;

void PreLock(void* m, unsigned flags) { __tsan_mutex_pre_lock(m, flags); }
void PostLock(void* m, unsigned flags) { __tsan_mutex_post_lock(m, flags, 0); }
void Unlocked(void* m, unsigned flags) {
  __tsan_mutex_pre_unlock(m, flags);
  __tsan_mutex_post_unlock(m, flags);
}

// The address HasBeenNotified() loads.
void* NotifiedYet(const void* n) {
  return const_cast<char*>(static_cast<const char*>(n) + sizeof(absl::Mutex));
}

struct DisableAbslDeadlockDetection {
  DisableAbslDeadlockDetection() {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
} disable_absl_deadlock_detection;

}  // namespace

// The definitions below are extern "C" functions named with the mangled
// names of absl's member functions (`this` is the first argument; absl's
// Duration and Time are trivially copyable, passed by value as there).
#define QL_SHIM(ret, mangled, ...) extern "C" ret mangled(__VA_ARGS__)

// ---- absl::Mutex -----------------------------------------------------------

QL_SHIM(void, _ZN4absl7debian35Mutex4LockEv, void* m);
void _ZN4absl7debian35Mutex4LockEv(void* m) {
  QL_REAL(void (*)(void*), "_ZN4absl7debian35Mutex4LockEv", m);
  PreLock(m, 0);
  real(m);
  PostLock(m, 0);
}

QL_SHIM(void, _ZN4absl7debian35Mutex10ReaderLockEv, void* m);
void _ZN4absl7debian35Mutex10ReaderLockEv(void* m) {
  QL_REAL(void (*)(void*), "_ZN4absl7debian35Mutex10ReaderLockEv", m);
  PreLock(m, kRead);
  real(m);
  PostLock(m, kRead);
}

QL_SHIM(void, _ZN4absl7debian35Mutex6UnlockEv, void* m);
void _ZN4absl7debian35Mutex6UnlockEv(void* m) {
  QL_REAL(void (*)(void*), "_ZN4absl7debian35Mutex6UnlockEv", m);
  __tsan_mutex_pre_unlock(m, 0);
  real(m);
  __tsan_mutex_post_unlock(m, 0);
}

QL_SHIM(void, _ZN4absl7debian35Mutex12ReaderUnlockEv, void* m);
void _ZN4absl7debian35Mutex12ReaderUnlockEv(void* m) {
  QL_REAL(void (*)(void*), "_ZN4absl7debian35Mutex12ReaderUnlockEv", m);
  __tsan_mutex_pre_unlock(m, kRead);
  real(m);
  __tsan_mutex_post_unlock(m, kRead);
}

QL_SHIM(bool, _ZN4absl7debian35Mutex7TryLockEv, void* m);
bool _ZN4absl7debian35Mutex7TryLockEv(void* m) {
  QL_REAL(bool (*)(void*), "_ZN4absl7debian35Mutex7TryLockEv", m);
  PreLock(m, kTry);
  const bool locked = real(m);
  PostLock(m, kTry | (locked ? 0 : kTryFailed));
  return locked;
}

QL_SHIM(bool, _ZN4absl7debian35Mutex13ReaderTryLockEv, void* m);
bool _ZN4absl7debian35Mutex13ReaderTryLockEv(void* m) {
  QL_REAL(bool (*)(void*), "_ZN4absl7debian35Mutex13ReaderTryLockEv", m);
  PreLock(m, kRead | kTry);
  const bool locked = real(m);
  PostLock(m, kRead | kTry | (locked ? 0 : kTryFailed));
  return locked;
}

// LockWhen*: a lock (held on return, even after a timeout).
QL_SHIM(void, _ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE, void* m,
        const Condition& c);
void _ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE(void* m,
                                                       const Condition& c) {
  QL_REAL(void (*)(void*, const Condition&),
          "_ZN4absl7debian35Mutex8LockWhenERKNS0_9ConditionE", m, c);
  PreLock(m, 0);
  real(m, c);
  PostLock(m, 0);
}

QL_SHIM(void, _ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE, void* m,
        const Condition& c);
void _ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE(
    void* m, const Condition& c) {
  QL_REAL(void (*)(void*, const Condition&),
          "_ZN4absl7debian35Mutex14ReaderLockWhenERKNS0_9ConditionE", m, c);
  PreLock(m, kRead);
  real(m, c);
  PostLock(m, kRead);
}

QL_SHIM(
    bool,
    _ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE,
    void* m, const Condition& c, Duration d);
bool _ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    void* m, const Condition& c, Duration d) {
  QL_REAL(bool (*)(void*, const Condition&, Duration),
          "_ZN4absl7debian35Mutex19LockWhenWithTimeoutERKNS0_"
          "9ConditionENS0_8DurationE",
          m, c, d);
  PreLock(m, 0);
  const bool met = real(m, c, d);
  PostLock(m, 0);
  return met;
}

QL_SHIM(
    bool,
    _ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE,
    void* m, const Condition& c, Time t);
bool _ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE(
    void* m, const Condition& c, Time t) {
  QL_REAL(bool (*)(void*, const Condition&, Time),
          "_ZN4absl7debian35Mutex20LockWhenWithDeadlineERKNS0_"
          "9ConditionENS0_4TimeE",
          m, c, t);
  PreLock(m, 0);
  const bool met = real(m, c, t);
  PostLock(m, 0);
  return met;
}

QL_SHIM(
    bool,
    _ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE,
    void* m, const Condition& c, Duration d);
bool _ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    void* m, const Condition& c, Duration d) {
  QL_REAL(bool (*)(void*, const Condition&, Duration),
          "_ZN4absl7debian35Mutex25ReaderLockWhenWithTimeoutERKNS0_"
          "9ConditionENS0_8DurationE",
          m, c, d);
  PreLock(m, kRead);
  const bool met = real(m, c, d);
  PostLock(m, kRead);
  return met;
}

QL_SHIM(
    bool,
    _ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE,
    void* m, const Condition& c, Time t);
bool _ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE(
    void* m, const Condition& c, Time t) {
  QL_REAL(bool (*)(void*, const Condition&, Time),
          "_ZN4absl7debian35Mutex26ReaderLockWhenWithDeadlineERKNS0_"
          "9ConditionENS0_4TimeE",
          m, c, t);
  PreLock(m, kRead);
  const bool met = real(m, c, t);
  PostLock(m, kRead);
  return met;
}

// Await*: called and returning with the lock held. Inside, the mutex is
// released while the condition is false and acquired again before the
// return: an unlock then a lock. Annotated in writer mode: neither our code
// nor gRPC awaits under a reader lock (TSan would report the mismatch).
QL_SHIM(void, _ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE, void* m,
        const Condition& c);
void _ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE(void* m,
                                                    const Condition& c) {
  QL_REAL(void (*)(void*, const Condition&),
          "_ZN4absl7debian35Mutex5AwaitERKNS0_9ConditionE", m, c);
  Unlocked(m, 0);
  PreLock(m, 0);
  real(m, c);
  PostLock(m, 0);
}

QL_SHIM(
    bool,
    _ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE,
    void* m, const Condition& c, Duration d);
bool _ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE(
    void* m, const Condition& c, Duration d) {
  QL_REAL(bool (*)(void*, const Condition&, Duration),
          "_ZN4absl7debian35Mutex16AwaitWithTimeoutERKNS0_"
          "9ConditionENS0_8DurationE",
          m, c, d);
  Unlocked(m, 0);
  PreLock(m, 0);
  const bool met = real(m, c, d);
  PostLock(m, 0);
  return met;
}

QL_SHIM(bool,
        _ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE,
        void* m, const Condition& c, Time t);
bool _ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE(
    void* m, const Condition& c, Time t) {
  QL_REAL(bool (*)(void*, const Condition&, Time),
          "_ZN4absl7debian35Mutex17AwaitWithDeadlineERKNS0_"
          "9ConditionENS0_4TimeE",
          m, c, t);
  Unlocked(m, 0);
  PreLock(m, 0);
  const bool met = real(m, c, t);
  PostLock(m, 0);
  return met;
}

// ~Mutex: TSan counts a destroy as a write to the mutex. A Mutex of ours
// (destroyed from this executable's code) is annotated, so a destroy that
// races a use is reported. gRPC's own (destroyed from libgrpc) are not:
// gRPC frees an object after its last reference drops, through atomics
// TSan cannot see, so the destroy would be reported against the last
// unlock on another thread. Their memory is freed anyway, which clears
// TSan's state of the address.
extern "C" char __executable_start;
extern "C" char etext;

static bool CalledFromExecutable(const void* return_address) {
  const char* pc = static_cast<const char*>(return_address);
  return pc >= &__executable_start && pc < &etext;
}

QL_SHIM(void, _ZN4absl7debian35MutexD1Ev, void* m);
void _ZN4absl7debian35MutexD1Ev(void* m) {
  QL_REAL(void (*)(void*), "_ZN4absl7debian35MutexD1Ev", m);
  if (CalledFromExecutable(__builtin_return_address(0))) {
    __tsan_mutex_destroy(m, 0);
  }
  real(m);
}

QL_SHIM(void, _ZN4absl7debian35MutexD2Ev, void* m);
void _ZN4absl7debian35MutexD2Ev(void* m) {
  QL_REAL(void (*)(void*), "_ZN4absl7debian35MutexD2Ev", m);
  if (CalledFromExecutable(__builtin_return_address(0))) {
    __tsan_mutex_destroy(m, 0);
  }
  real(m);
}

// ---- absl::CondVar: Wait* unlocks `mu` and locks it again. -----------------

QL_SHIM(void, _ZN4absl7debian37CondVar4WaitEPNS0_5MutexE, void* cv, void* mu);
void _ZN4absl7debian37CondVar4WaitEPNS0_5MutexE(void* cv, void* mu) {
  QL_REAL(void (*)(void*, void*), "_ZN4absl7debian37CondVar4WaitEPNS0_5MutexE",
          cv, mu);
  Unlocked(mu, 0);
  PreLock(mu, 0);
  real(cv, mu);
  PostLock(mu, 0);
}

QL_SHIM(bool,
        _ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE,
        void* cv, void* mu, Duration d);
bool _ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE(
    void* cv, void* mu, Duration d) {
  QL_REAL(bool (*)(void*, void*, Duration),
          "_ZN4absl7debian37CondVar15WaitWithTimeoutEPNS0_"
          "5MutexENS0_8DurationE",
          cv, mu, d);
  Unlocked(mu, 0);
  PreLock(mu, 0);
  const bool timed_out = real(cv, mu, d);
  PostLock(mu, 0);
  return timed_out;
}

QL_SHIM(bool, _ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE,
        void* cv, void* mu, Time t);
bool _ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE(void* cv,
                                                                       void* mu,
                                                                       Time t) {
  QL_REAL(bool (*)(void*, void*, Time),
          "_ZN4absl7debian37CondVar16WaitWithDeadlineEPNS0_"
          "5MutexENS0_4TimeE",
          cv, mu, t);
  Unlocked(mu, 0);
  PreLock(mu, 0);
  const bool timed_out = real(cv, mu, t);
  PostLock(mu, 0);
  return timed_out;
}

// ---- absl::Notification: Notify releases, a wait that saw it acquires. ----

QL_SHIM(void, _ZN4absl7debian312Notification6NotifyEv, void* n);
void _ZN4absl7debian312Notification6NotifyEv(void* n) {
  QL_REAL(void (*)(void*), "_ZN4absl7debian312Notification6NotifyEv", n);
  __tsan_release(NotifiedYet(n));
  real(n);
}

QL_SHIM(void, _ZNK4absl7debian312Notification19WaitForNotificationEv,
        const void* n);
void _ZNK4absl7debian312Notification19WaitForNotificationEv(const void* n) {
  QL_REAL(void (*)(const void*),
          "_ZNK4absl7debian312Notification19WaitForNotificationEv", n);
  real(n);
  __tsan_acquire(NotifiedYet(n));
}

QL_SHIM(
    bool,
    _ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE,
    const void* n, Duration d);
bool _ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_8DurationE(
    const void* n, Duration d) {
  QL_REAL(bool (*)(const void*, Duration),
          "_ZNK4absl7debian312Notification30WaitForNotificationWithTimeoutENS0_"
          "8DurationE",
          n, d);
  const bool notified = real(n, d);
  if (notified) __tsan_acquire(NotifiedYet(n));
  return notified;
}

QL_SHIM(
    bool,
    _ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE,
    const void* n, Time t);
bool _ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_4TimeE(
    const void* n, Time t) {
  QL_REAL(
      bool (*)(const void*, Time),
      "_ZNK4absl7debian312Notification31WaitForNotificationWithDeadlineENS0_"
      "4TimeE",
      n, t);
  const bool notified = real(n, t);
  if (notified) __tsan_acquire(NotifiedYet(n));
  return notified;
}

// ---- absl::BlockingCounter: each decrement releases, Wait acquires. -------

QL_SHIM(bool, _ZN4absl7debian315BlockingCounter14DecrementCountEv, void* b);
bool _ZN4absl7debian315BlockingCounter14DecrementCountEv(void* b) {
  QL_REAL(bool (*)(void*),
          "_ZN4absl7debian315BlockingCounter14DecrementCountEv", b);
  __tsan_release(b);
  const bool zero = real(b);
  if (zero) __tsan_acquire(b);
  return zero;
}

QL_SHIM(void, _ZN4absl7debian315BlockingCounter4WaitEv, void* b);
void _ZN4absl7debian315BlockingCounter4WaitEv(void* b) {
  QL_REAL(void (*)(void*), "_ZN4absl7debian315BlockingCounter4WaitEv", b);
  real(b);
  __tsan_acquire(b);
}

// ---- gRPC's completion queue: an operation started with a tag happens
// before the completion queue hands that tag back (gRPC's API contract; its
// implementation, lock-free queues and reference counts in libgrpc, is
// invisible to TSan). libgrpc++ calls these through the PLT; the server's
// callback API runs its callbacks from a thread that takes them out of a
// completion queue with grpc_completion_queue_next.

extern "C" grpc_call_error grpc_call_start_batch(grpc_call* call,
                                                 const grpc_op* ops,
                                                 size_t nops, void* tag,
                                                 void* reserved) {
  QL_REAL_FUNCTION(
      grpc_call_error(*)(grpc_call*, const grpc_op*, size_t, void*, void*),
      "grpc_call_start_batch");
  __tsan_release(tag);
  return real(call, ops, nops, tag, reserved);
}

extern "C" grpc_call_error grpc_server_request_call(
    grpc_server* server, grpc_call** call, grpc_call_details* details,
    grpc_metadata_array* request_metadata,
    grpc_completion_queue* cq_bound_to_call,
    grpc_completion_queue* cq_for_notification, void* tag_new) {
  QL_REAL_FUNCTION(
      grpc_call_error(*)(grpc_server*, grpc_call**, grpc_call_details*,
                         grpc_metadata_array*, grpc_completion_queue*,
                         grpc_completion_queue*, void*),
      "grpc_server_request_call");
  __tsan_release(tag_new);
  return real(server, call, details, request_metadata, cq_bound_to_call,
              cq_for_notification, tag_new);
}

extern "C" grpc_call_error grpc_server_request_registered_call(
    grpc_server* server, void* registered_method, grpc_call** call,
    gpr_timespec* deadline, grpc_metadata_array* request_metadata,
    grpc_byte_buffer** optional_payload,
    grpc_completion_queue* cq_bound_to_call,
    grpc_completion_queue* cq_for_notification, void* tag_new) {
  QL_REAL_FUNCTION(
      grpc_call_error(*)(grpc_server*, void*, grpc_call**, gpr_timespec*,
                         grpc_metadata_array*, grpc_byte_buffer**,
                         grpc_completion_queue*, grpc_completion_queue*, void*),
      "grpc_server_request_registered_call");
  __tsan_release(tag_new);
  return real(server, registered_method, call, deadline, request_metadata,
              optional_payload, cq_bound_to_call, cq_for_notification, tag_new);
}

extern "C" grpc_event grpc_completion_queue_next(grpc_completion_queue* cq,
                                                 gpr_timespec deadline,
                                                 void* reserved) {
  QL_REAL_FUNCTION(grpc_event(*)(grpc_completion_queue*, gpr_timespec, void*),
                   "grpc_completion_queue_next");
  const grpc_event event = real(cq, deadline, reserved);
  if (event.type == GRPC_OP_COMPLETE) __tsan_acquire(event.tag);
  return event;
}

extern "C" grpc_event grpc_completion_queue_pluck(grpc_completion_queue* cq,
                                                  void* tag,
                                                  gpr_timespec deadline,
                                                  void* reserved) {
  QL_REAL_FUNCTION(
      grpc_event(*)(grpc_completion_queue*, void*, gpr_timespec, void*),
      "grpc_completion_queue_pluck");
  const grpc_event event = real(cq, tag, deadline, reserved);
  if (event.type == GRPC_OP_COMPLETE) __tsan_acquire(event.tag);
  return event;
}
