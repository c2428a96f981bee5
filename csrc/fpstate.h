/* Flush-to-zero / denormals-are-zero for fastmlp's own compiled loops, scoped: set on entry,
 * the caller's state restored on exit, so the user's own floating-point code is unaffected.
 *
 * Why: Adam's moments decay into subnormal floats wherever gradients are zero (dead ReLUs),
 * and subnormal arithmetic is many times slower. TensorFlow's CPU kernels flush denormals the
 * same way, so Keras parity is kept. The flags are per thread (MXCSR on x86, FPCR on AArch64);
 * elsewhere these are no-ops.
 */
#ifndef FASTMLP_FPSTATE_H
#define FASTMLP_FPSTATE_H

#if defined(__SSE__) || defined(_M_X64) || (defined(_M_IX86_FP) && _M_IX86_FP >= 1)
#include <xmmintrin.h>
#define FM_FTZ_DAZ 0x8040u /* MXCSR bit 15 flush-to-zero, bit 6 denormals-are-zero */
static inline unsigned long long fm_flush_denormals_begin(void) {
    unsigned int old = _mm_getcsr();
    _mm_setcsr(old | FM_FTZ_DAZ);
    return old;
}
static inline void fm_flush_denormals_end(unsigned long long old) { _mm_setcsr((unsigned int)old); }
#elif defined(__aarch64__) && defined(__GNUC__)
static inline unsigned long long fm_flush_denormals_begin(void) {
    unsigned long long old;
    __asm__ __volatile__("mrs %0, fpcr" : "=r"(old));
    __asm__ __volatile__("msr fpcr, %0" : : "r"(old | (1ull << 24))); /* FZ */
    return old;
}
static inline void fm_flush_denormals_end(unsigned long long old) {
    __asm__ __volatile__("msr fpcr, %0" : : "r"(old));
}
#else
static inline unsigned long long fm_flush_denormals_begin(void) { return 0; }
static inline void fm_flush_denormals_end(unsigned long long old) { (void)old; }
#endif

#endif
