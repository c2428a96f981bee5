# Declarations of csrc/team.h (the barrier of a training call's threads) and csrc/transpose.h.

cdef extern from "team.h" nogil:
    enum:
        FM_TEAM_BARRIER
    ctypedef struct fm_team_barrier:
        pass
    void fm_team_barrier_init(fm_team_barrier *b, long parties)
    int fm_team_barrier_wait(fm_team_barrier *b)
    void fm_team_barrier_abandon(fm_team_barrier *b)
    void fm_team_store(long *p, long v)

cdef extern from "transpose.h" nogil:
    void fm_transpose_f(int level, const float *src, float *dst, Py_ssize_t ldd, Py_ssize_t rows,
                        Py_ssize_t cols)
    void fm_transpose_rows_f(int level, const float *w, float *wt, Py_ssize_t n_in,
                             Py_ssize_t n_out, Py_ssize_t i0, Py_ssize_t i1)
