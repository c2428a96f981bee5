/* A barrier for the threads of one training call (fastmlp's own thread team).
 *
 * Why spin: a training step at batch 32 lasts 0.1-1 ms and the team meets twice a step, so an
 * OS wake-up (tens of µs) would eat the gain. Why yield after a while: when the team has more
 * threads than free cores, a waiter spinning out its time slice would keep the thread it
 * waits for off the CPU. The team's threads exist only during one compiled call, so nothing
 * spins between calls.
 *
 * GCC/Clang: __atomic builtins; MSVC: Interlocked intrinsics; other compilers get no barrier
 * (FM_TEAM_BARRIER 0) and the caller runs its steps on one thread.
 */
#ifndef FASTMLP_TEAM_H
#define FASTMLP_TEAM_H

/* spins (with a pause each) before a waiter starts yielding its time slice */
#define FM_TEAM_SPINS 200

typedef struct {
    volatile long arrived;     /* threads at the barrier in this round */
    volatile long round;       /* bumped by the last to arrive, which releases the others */
    volatile long abandoned;   /* set when the team will not meet: every waiter returns 1 */
    long parties;
} fm_team_barrier;

#if defined(__GNUC__)
#define FM_TEAM_BARRIER 1
int sched_yield(void);
static inline long fm_team_load(volatile long *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static inline long fm_team_add(volatile long *p) { return __atomic_add_fetch(p, 1, __ATOMIC_ACQ_REL); }
static inline void fm_team_store(volatile long *p, long v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
static inline void fm_team_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}
static inline void fm_team_yield(void) { sched_yield(); }
#elif defined(_MSC_VER)
#define FM_TEAM_BARRIER 1
#include <intrin.h>
__declspec(dllimport) int __stdcall SwitchToThread(void);
static inline long fm_team_load(volatile long *p) { return _InterlockedOr(p, 0); }
static inline long fm_team_add(volatile long *p) { return _InterlockedIncrement(p); }
static inline void fm_team_store(volatile long *p, long v) { _InterlockedExchange(p, v); }
static inline void fm_team_pause(void) {
#if defined(_M_X64) || defined(_M_IX86)
    _mm_pause();
#endif
}
static inline void fm_team_yield(void) { SwitchToThread(); }
#else
#define FM_TEAM_BARRIER 0
static inline long fm_team_load(volatile long *p) { return *p; }
static inline long fm_team_add(volatile long *p) { return ++*p; }
static inline void fm_team_store(volatile long *p, long v) { *p = v; }
static inline void fm_team_pause(void) {}
static inline void fm_team_yield(void) {}
#endif

static inline void fm_team_barrier_init(fm_team_barrier *b, long parties) {
    b->arrived = 0;
    b->round = 0;
    b->abandoned = 0;
    b->parties = parties;
}

/* Releases every thread waiting now or later (a team whose threads did not all start). */
static inline void fm_team_barrier_abandon(fm_team_barrier *b) { fm_team_store(&b->abandoned, 1); }

/* Returns 0 once all `parties` threads have called it for this round (1 if the barrier was
 * abandoned). Every write a thread made before arriving is visible to every thread after it
 * leaves (acquire/release ordering). */
static inline int fm_team_barrier_wait(fm_team_barrier *b) {
    long round = fm_team_load(&b->round);
    if (fm_team_add(&b->arrived) == b->parties) {
        fm_team_store(&b->arrived, 0);
        fm_team_store(&b->round, round + 1);
        return 0;
    }
    for (long spins = 0; fm_team_load(&b->round) == round; spins++) {
        if (fm_team_load(&b->abandoned))
            return 1;
        if (spins < FM_TEAM_SPINS)
            fm_team_pause();
        else
            fm_team_yield();
    }
    return 0;
}

#endif
