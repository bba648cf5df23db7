// Clang's thread-safety attributes, so that "this field is guarded by that
// mutex" is checked by the compiler (-Wthread-safety) instead of stated in a
// comment. Other compilers see nothing. The names follow clang's
// documentation (ThreadSafetyAnalysis.html), as LevelDB's
// port/thread_annotations.h does.
#ifndef KVTIER_SRC_UTIL_THREAD_ANNOTATIONS_H_
#define KVTIER_SRC_UTIL_THREAD_ANNOTATIONS_H_

#if defined(__clang__)
#define KVTIER_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define KVTIER_THREAD_ANNOTATION(x)
#endif

// A type that is a lock (kvtier::Mutex).
#define CAPABILITY(x) KVTIER_THREAD_ANNOTATION(capability(x))
// An RAII type that holds a lock for its lifetime (kvtier::MutexLock).
#define SCOPED_CAPABILITY KVTIER_THREAD_ANNOTATION(scoped_lockable)

// Data members: read or written only with the lock held.
#define GUARDED_BY(x) KVTIER_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) KVTIER_THREAD_ANNOTATION(pt_guarded_by(x))

// Functions: the caller must hold (REQUIRES) or must not hold (EXCLUDES) the
// lock; ACQUIRE and RELEASE mark functions that take or drop it.
#define REQUIRES(...) KVTIER_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) KVTIER_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) KVTIER_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) KVTIER_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define ASSERT_CAPABILITY(x) KVTIER_THREAD_ANNOTATION(assert_capability(x))
#define RETURN_CAPABILITY(x) KVTIER_THREAD_ANNOTATION(lock_returned(x))

// For the rare function the analysis cannot follow; say why where it is used.
#define NO_THREAD_SAFETY_ANALYSIS KVTIER_THREAD_ANNOTATION(no_thread_safety_analysis)

#endif  // KVTIER_SRC_UTIL_THREAD_ANNOTATIONS_H_
