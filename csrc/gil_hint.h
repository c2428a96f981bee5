/* A hint that lets a predict call that has finished its work wait for the GIL by spinning a
 * moment instead of sleeping, when another predict call has just taken the GIL back.
 *
 * Why: Python's GIL puts a thread that finds it held to sleep on a condition variable. With two
 * request threads calling a model whose call is a few µs (1 to 2 µs of it holding the GIL),
 * a thread that finishes its compiled work while the other holds the GIL sleeps, and on a VM
 * the wake-up can take longer than the other thread's whole next call: the other thread takes
 * the GIL again first, and the two run one at a time. Spinning while the other thread is
 * still in the short Python part of its call, then asking for the GIL once it has let go,
 * avoids the sleep.
 *
 * The hint is a time, in time-stamp counter ticks: when a predict call last took the GIL back
 * (0: it has let go since). A waiter spins only while that time is recent (FM_GIL_HINT_TICKS,
 * 2.5-10 µs at the counter's 1-4 GHz): a thread that took the GIL and went on to other Python
 * work costs a waiter that long at most, then the waiter asks for the GIL as before. Nothing
 * depends on the hint being right: it only decides how long a thread spins before the same
 * call into Python it always makes.
 *
 * GCC/Clang on x86 (the counter and the pause are builtins there); elsewhere the functions do
 * nothing (FM_GIL_HINT 0). */
#ifndef FASTMLP_GIL_HINT_H
#define FASTMLP_GIL_HINT_H

#define FM_GIL_HINT_TICKS 10000

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define FM_GIL_HINT 1

static unsigned long long fm_gil_taken = 0;

static inline unsigned long long fm_gil_hint_now(void) {
    return __builtin_ia32_rdtsc() | 1; /* never 0 */
}

/* The calling thread took the GIL back after its compiled work. */
static inline void fm_gil_hint_taken(void) {
    __atomic_store_n(&fm_gil_taken, fm_gil_hint_now(), __ATOMIC_RELAXED);
}

/* The calling thread let the GIL go for its compiled work. */
static inline void fm_gil_hint_released(void) {
    __atomic_store_n(&fm_gil_taken, 0, __ATOMIC_RELAXED);
}

/* Whether a thread spins on: the GIL is recorded as taken (recorded != 0), at `taken`, less
 * than FM_GIL_HINT_TICKS before `now`. */
static inline int fm_gil_hint_spins(unsigned long long recorded, unsigned long long taken,
                                    unsigned long long now) {
    return recorded != 0 && now - taken < FM_GIL_HINT_TICKS;
}

/* The record as it stands (0: let go since). */
static inline unsigned long long fm_gil_hint_recorded(void) {
    return __atomic_load_n(&fm_gil_taken, __ATOMIC_RELAXED);
}

/* Before taking the GIL back: spins while another predict call took it less than
 * FM_GIL_HINT_TICKS ago and has not let it go since. */
static inline void fm_gil_hint_wait(void) {
    unsigned long long taken = fm_gil_hint_recorded();
    while (fm_gil_hint_spins(fm_gil_hint_recorded(), taken, fm_gil_hint_now()))
        __builtin_ia32_pause();
}
#else
#define FM_GIL_HINT 0
static inline int fm_gil_hint_spins(unsigned long long recorded, unsigned long long taken,
                                    unsigned long long now) {
    (void)recorded; (void)taken; (void)now;
    return 0;
}
static inline unsigned long long fm_gil_hint_recorded(void) { return 0; }
static inline void fm_gil_hint_taken(void) {}
static inline void fm_gil_hint_released(void) {}
static inline void fm_gil_hint_wait(void) {}
#endif

#endif
