// A mutex that clang's -Wthread-safety analysis knows, and the annotations for what it guards
// (libstdc++'s std::mutex carries none). With clang, state marked SKEIN_GUARDED_BY(mu) read or
// written without `mu` held, or a SKEIN_REQUIRES(mu) function called without it, is a warning,
// an error in the CI build (the clang build of scripts/test.sh); other compilers ignore them.
// See https://clang.llvm.org/docs/ThreadSafetyAnalysis.html, whose mutex.h this follows.
//
// Condition variables wait on the std::unique_lock a MutexLock holds (native()); their predicate
// is a loop around wait() in the annotated function: a lambda is analysed as a function of its
// own, which holds no lock unless it says so (`[&]() SKEIN_REQUIRES(mu) {…}`).
#pragma once
#include <mutex>

#if defined(__clang__)
#define SKEIN_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define SKEIN_THREAD_ANNOTATION(x)
#endif

#define SKEIN_CAPABILITY(x) SKEIN_THREAD_ANNOTATION(capability(x))
#define SKEIN_SCOPED_CAPABILITY SKEIN_THREAD_ANNOTATION(scoped_lockable)
#define SKEIN_GUARDED_BY(x) SKEIN_THREAD_ANNOTATION(guarded_by(x))
#define SKEIN_PT_GUARDED_BY(x) SKEIN_THREAD_ANNOTATION(pt_guarded_by(x))
#define SKEIN_REQUIRES(...) SKEIN_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define SKEIN_EXCLUDES(...) SKEIN_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define SKEIN_ACQUIRE(...) SKEIN_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define SKEIN_RELEASE(...) SKEIN_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define SKEIN_NO_THREAD_SAFETY_ANALYSIS SKEIN_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace skein {

class SKEIN_CAPABILITY("mutex") Mutex {
 public:
  void lock() SKEIN_ACQUIRE() { m_.lock(); }
  void unlock() SKEIN_RELEASE() { m_.unlock(); }
  std::mutex& native() { return m_; }

 private:
  std::mutex m_;
};

// Holds `mu` for its scope; unlock() and lock() let go of it and take it again inside that scope.
class SKEIN_SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) SKEIN_ACQUIRE(mu) : lock_(mu.native()) {}
  ~MutexLock() SKEIN_RELEASE() {}
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void unlock() SKEIN_RELEASE() { lock_.unlock(); }
  void lock() SKEIN_ACQUIRE() { lock_.lock(); }
  // For std::condition_variable::wait: it lets go of the mutex and takes it again before returning.
  std::unique_lock<std::mutex>& native() { return lock_; }

 private:
  std::unique_lock<std::mutex> lock_;
};

}  // namespace skein
