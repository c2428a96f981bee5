/* Listed rows of a matrix brought into cache one 64-byte line at a time, by a loop that has
 * other work to do (fastmlp's own GEMM, csrc/small_gemm.h, touches a line every few
 * iterations of its inner loop).
 *
 * Why: the next shuffled training batch's rows lie anywhere in a dataset far larger than the
 * caches, and copying them in one go runs at what one core draws from DRAM (8.5 GB/s on a
 * AMD Zen 4 VM: 9-10% of an M1 step at batch 32 and 128); prefetching them all at once stalls the
 * same way. The GEMMs of the step before run from cache and leave DRAM idle: touching the next
 * batch's lines a few at a time while they run overlaps the transfer with their FMAs, and the
 * gather then copies from cache. A prefetch has no effect on any result, and a row index
 * outside the matrix is skipped (the gather refuses it).
 */
#ifndef FASTMLP_PREFETCH_H
#define FASTMLP_PREFETCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *base;          /* the matrix: n_total rows of row_bytes bytes */
    ptrdiff_t offset, span;    /* the bytes of each row to bring in: [offset, offset + span) */
    const int64_t *rows;       /* the indices of the rows to bring in, in order */
    ptrdiff_t n_rows, n_total, row_bytes;
    ptrdiff_t next_row;        /* the cursor: rows[next_row], its line at `line` (NULL: none yet) */
    const char *line;
    const char *end;
} fm_prefetch;

#if defined(__GNUC__)
#define FM_PREFETCH_LINE(p) __builtin_prefetch((p), 0, 3)
#else
#define FM_PREFETCH_LINE(p) ((void)(p))
#endif

static inline void fm_prefetch_init(fm_prefetch *pf, const void *base, ptrdiff_t n_total,
                                    ptrdiff_t row_bytes, const int64_t *rows, ptrdiff_t n_rows) {
    pf->base = (const char *)base;
    pf->rows = rows;
    pf->n_rows = n_rows;
    pf->n_total = n_total;
    pf->row_bytes = row_bytes;
    pf->offset = 0;
    pf->span = row_bytes;
    pf->next_row = 0;
    pf->line = NULL;
    pf->end = NULL;
}

/* The same for bytes [offset, offset + span) of each row alone (a thread that reads those
 * columns of the rows, and only those). */
static inline void fm_prefetch_init_window(fm_prefetch *pf, const void *base, ptrdiff_t n_total,
                                           ptrdiff_t row_bytes, ptrdiff_t offset,
                                           ptrdiff_t span, const int64_t *rows,
                                           ptrdiff_t n_rows) {
    fm_prefetch_init(pf, base, n_total, row_bytes, rows, n_rows);
    pf->offset = offset;
    pf->span = span;
}

/* The address of the next line to bring in (advancing the cursor), or NULL when every listed
 * row has been covered. A row's lines run from the line holding its first byte to the one
 * holding its last. */
static inline const char *fm_prefetch_step(fm_prefetch *pf) {
    while (pf->line == NULL || pf->line >= pf->end) {
        if (pf->next_row >= pf->n_rows)
            return NULL;
        int64_t r = pf->rows[pf->next_row++];
        if (r < 0 || r >= pf->n_total || pf->span <= 0)
            continue;
        const char *start = pf->base + r * pf->row_bytes + pf->offset;
        pf->line = (const char *)((uintptr_t)start & ~(uintptr_t)63);
        pf->end = start + pf->span;
    }
    const char *at = pf->line;
    pf->line += 64;
    return at;
}

/* Brings the next line in (nothing once the list is covered). */
static inline void fm_prefetch_next(fm_prefetch *pf) {
    const char *at = fm_prefetch_step(pf);
    if (at != NULL)
        FM_PREFETCH_LINE(at);
}

#endif
