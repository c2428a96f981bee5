from libc.stdint cimport int64_t

cdef class UpdateRule:
    cdef readonly Py_ssize_t size
    cdef readonly bint is_double
    cdef public long long iterations
    cdef public double learning_rate
    cdef readonly list slots
    # learning-rate schedule (SCHEDULES code 0: the constant learning_rate)
    cdef int _schedule
    cdef float _initial, _decay_steps, _decay_rate, _alpha, _warmup_target, _warmup_steps
    cdef bint _staircase, _warmup
    cdef object _boundaries_array, _values_array
    cdef const int64_t[::1] _boundaries
    cdef const float[::1] _values
    # gradient transforms and weight decay, over the weight arrays (offset, size) in _seg
    cdef double _clipnorm, _clipvalue, _global_clipnorm, _weight_decay
    cdef bint _decays
    cdef bint _whole_only        # a step cannot be applied in parts (state beyond the slots)
    cdef int _split_level        # float32 square roots split by csrc/split_sqrt.h (0: not)
    cdef object _segments
    cdef int64_t *_seg
    cdef Py_ssize_t _n_segments
    cdef double _learning_rate_now(self) noexcept nogil
    cdef void _clip_norms(self, void *g) noexcept nogil
    cdef void apply(self, void *w, const void *g) noexcept nogil
    cdef bint splits(self) noexcept nogil
    cdef double begin_step(self) noexcept nogil
    cdef void cancel_step(self) noexcept nogil
    cdef void apply_part(self, void *w, void *g, double lr, Py_ssize_t lo,
                         Py_ssize_t n) noexcept nogil
    cdef void _update(self, void *w, const void *g, double lr, Py_ssize_t lo,
                      Py_ssize_t n) noexcept nogil
