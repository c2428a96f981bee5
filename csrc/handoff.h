/* The hand-off of one part of a large inference call to a helper thread of fastmlp's own
 * (fastmlp/parallel.py starts the helpers; each serves one box).
 *
 * Why: through a Python thread pool, a part reached its helper through a queue, a futex
 * wake-up and the GIL, and the caller learnt of its end the same way. Traced on the AMD Zen 4 VM
 * (2 threads, 1,024 rows of 784-100-10, ~900 µs a call): the helper started its part 59 µs
 * after the call and the caller woke 55 µs after the helper's part ended. Here a helper, after
 * each part, spins for FM_HANDOFF_SPIN_TICKS (about 200 µs) waiting for the next one before it
 * goes to sleep in Python; a caller that finds it spinning hands a part over with one store,
 * and learns of its end by spinning (the caller's own part takes about as long), neither side
 * touching the GIL. A helper found asleep is woken through Python, as before.
 *
 * A box's states: SLEEPING (no helper is looking: the poster must wake it), IDLE (the helper
 * spins for a task), POSTED (a task waits), RUNNING (the helper took it), DONE (run; the owner
 * reads it and sets IDLE). One caller at a time owns a box (claim/release); the others run
 * their parts themselves. A posted task the helper has not taken can be withdrawn (the owner
 * failed before it could wake the helper).
 *
 * Atomics of csrc/team.h; a compiler without them gets no hand-off (FM_HANDOFF 0: the engine
 * splits through its Python pool).
 */
#ifndef FASTMLP_HANDOFF_H
#define FASTMLP_HANDOFF_H

#include "team.h"

#define FM_HANDOFF FM_TEAM_BARRIER

/* How long a helper spins for its next task after one, and a caller before it starts
 * yielding its time slice while it waits for a helper's part: time-stamp counter ticks on x86
 * (130-520 µs at 1-4 GHz; 200 µs on the AMD Zen 4 VMs' 2.6 GHz counter), pauses elsewhere.
 * Back to back calls of 1,024 M1 rows on 2 threads there: 1,137k samples/s through a Python pool,
 * 1,118k → 1,237k through the boxes with a 50 µs → 200 µs spin (the Python between two calls
 * outlasted the shorter spin now and then). Counted in time, not in pauses: a pause takes 24 ns
 * on those VMs and several times as long on other x86 cores. */
#if (defined(__GNUC__) || defined(_MSC_VER)) && (defined(__x86_64__) || defined(_M_X64))
#define FM_HANDOFF_SPIN_TICKS 520000
#if defined(_MSC_VER)
static inline unsigned long long fm_handoff_now(void) { return __rdtsc(); }
#else
static inline unsigned long long fm_handoff_now(void) { return __builtin_ia32_rdtsc(); }
#endif
#else
#define FM_HANDOFF_SPIN_TICKS 2000
static unsigned long long fm_handoff_ticks = 0;
static inline unsigned long long fm_handoff_now(void) { return fm_handoff_ticks++; }
#endif

enum { FM_BOX_SLEEPING = 0, FM_BOX_IDLE = 1, FM_BOX_POSTED = 2, FM_BOX_DONE = 3,
       FM_BOX_RUNNING = 4 };

typedef struct {
    volatile long state;
    volatile long owner;       /* 1 while a caller owns the box */
    void *volatile task;
} fm_box;

#if defined(__GNUC__)
static inline int fm_box_cas(volatile long *p, long expected, long desired) {
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
}
#elif defined(_MSC_VER)
static inline int fm_box_cas(volatile long *p, long expected, long desired) {
    return _InterlockedCompareExchange(p, desired, expected) == expected;
}
#else
static inline int fm_box_cas(volatile long *p, long expected, long desired) {
    if (*p != expected)
        return 0;
    *p = desired;
    return 1;
}
#endif

/* A box as no helper has started: sleeping, unowned. */
static inline void fm_box_reset(fm_box *b) {
    b->state = FM_BOX_SLEEPING;
    b->owner = 0;
    b->task = 0;
}

/* Caller: 1 if it now owns the box, 0 if another caller does. */
static inline int fm_box_claim(fm_box *b) { return fm_box_cas(&b->owner, 0, 1); }

static inline void fm_box_release(fm_box *b) { fm_team_store(&b->owner, 0); }

/* Owner: hands `task` to the box's helper; returns 1 if the helper was awake (it sees the task
 * now), 0 if it sleeps (the caller must wake it). */
static inline int fm_box_post(fm_box *b, void *task) {
    b->task = task;
    for (;;) {
        if (fm_box_cas(&b->state, FM_BOX_IDLE, FM_BOX_POSTED))
            return 1;
        if (fm_box_cas(&b->state, FM_BOX_SLEEPING, FM_BOX_POSTED))
            return 0;
    }
}

/* One round of a wait begun at `start`: a pause for FM_HANDOFF_SPIN_TICKS, then the time slice
 * yielded (the thread waited for may need this core). */
static inline void fm_handoff_backoff(unsigned long long start) {
    if (fm_handoff_now() - start < FM_HANDOFF_SPIN_TICKS)
        fm_team_pause();
    else
        fm_team_yield();
}

/* Owner: waits until the helper has run the posted task (its writes are then visible), and
 * leaves the box idle. */
static inline void fm_box_wait_done(fm_box *b) {
    unsigned long long start = fm_handoff_now();
    while (fm_team_load(&b->state) != FM_BOX_DONE)
        fm_handoff_backoff(start);
    fm_team_store(&b->state, FM_BOX_IDLE);
}

/* Helper: the next posted task, spinning up to FM_HANDOFF_SPIN_TICKS for it once the box is
 * idle; NULL once the box is SLEEPING (marked so here, or a box not served before), and the
 * poster of the next task then wakes the helper. While the owner has not yet read DONE, the
 * helper waits for it. */
static inline void *fm_box_next(fm_box *b) {
    unsigned long long start = fm_handoff_now();
    for (;;) {
        long state = fm_team_load(&b->state);
        if (state == FM_BOX_POSTED && fm_box_cas(&b->state, FM_BOX_POSTED, FM_BOX_RUNNING))
            return b->task;
        if (state == FM_BOX_SLEEPING)
            return 0;
        if (state == FM_BOX_IDLE && fm_handoff_now() - start >= FM_HANDOFF_SPIN_TICKS
                && fm_box_cas(&b->state, FM_BOX_IDLE, FM_BOX_SLEEPING))
            return 0;
        fm_team_pause();
    }
}

/* Owner: takes back a posted task the helper has not taken (1; the box is then SLEEPING, and
 * a helper still spinning goes to sleep), or 0 if the helper has it (wait for it). */
static inline int fm_box_withdraw(fm_box *b) {
    return fm_box_cas(&b->state, FM_BOX_POSTED, FM_BOX_SLEEPING);
}

/* Owner: hands `task` to the helper only if it is awake (1; the box was IDLE), else posts
 * nothing (0) and the owner decides whether a wake-up pays (a one-row call would end before
 * a sleeping helper woke). */
static inline int fm_box_post_awake(fm_box *b, void *task) {
    b->task = task;
    return fm_box_cas(&b->state, FM_BOX_IDLE, FM_BOX_POSTED);
}

/* Owner: takes back a posted task the helper has not taken, leaving the box IDLE for a helper
 * that is awake or has been woken (1), or 0 if the helper has it (wait for it). */
static inline int fm_box_take_back(fm_box *b) {
    return fm_box_cas(&b->state, FM_BOX_POSTED, FM_BOX_IDLE);
}

/* Owner: marks a sleeping box IDLE before waking its helper, so that it spins for tasks once
 * awake (1); 0 if the box was not sleeping. fm_box_calm undoes it if the wake-up fails. */
static inline int fm_box_rouse(fm_box *b) {
    return fm_box_cas(&b->state, FM_BOX_SLEEPING, FM_BOX_IDLE);
}

static inline void fm_box_calm(fm_box *b) { fm_box_cas(&b->state, FM_BOX_IDLE, FM_BOX_SLEEPING); }

/* One participant's share of a split step: the next unclaimed chunk of *claimed's counter
 * (0, 1, ...), or `chunks` or more when none is left. */
static inline long fm_claim_chunk(volatile long *claimed) { return fm_team_add(claimed) - 1; }

/* A chunk is written: counted in *finished (its writes visible to whoever reads the count). */
static inline void fm_chunk_done(volatile long *finished) { fm_team_add(finished); }

/* Waits until `chunks` chunks are counted in *finished (fm_handoff_backoff: a participant
 * descheduled mid-chunk must get the core back). */
static inline void fm_chunks_wait(volatile long *finished, long chunks) {
    unsigned long long start = fm_handoff_now();
    while (fm_team_load(finished) < chunks)
        fm_handoff_backoff(start);
}

/* Helper: the task has run (its writes are visible to the owner once it sees DONE). */
static inline void fm_box_done(fm_box *b) { fm_team_store(&b->state, FM_BOX_DONE); }

#endif
