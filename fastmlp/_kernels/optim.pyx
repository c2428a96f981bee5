"""Fused optimizer updates over one flat parameter buffer: one call updates the whole model.

Each rule keeps its slots (momenta, accumulators) as flat arrays the size of the parameter
buffer, and follows Keras's update_step formulas (keras/src/optimizers/*.py) exactly.
"""
from libc.math cimport sqrt, pow
import numpy as np

from fastmlp._kernels.elementwise cimport (fm_sgd_f, fm_sgd_d, fm_sgd_momentum_f,
    fm_sgd_momentum_d, fm_adagrad_f, fm_adagrad_d, fm_rmsprop_f, fm_rmsprop_d,
    fm_adam_f, fm_adam_d)


cdef class UpdateRule:
    """Base of the compiled rules: `step(w, g)` applies one update in place, GIL released."""

    def __init__(self, Py_ssize_t size, dtype, double learning_rate):
        self.size = size
        self.is_double = np.dtype(dtype) == np.float64
        self.iterations = 0
        self.learning_rate = learning_rate
        self.slots = []

    def _new_slot(self, double fill=0.0):
        slot = np.full(self.size, fill, dtype=np.float64 if self.is_double else np.float32)
        self.slots.append(slot)
        return slot

    cdef void apply(self, void *w, const void *g) noexcept nogil:
        pass

    def step(self, w, g):
        """w := update(w, g) on flat C-contiguous arrays of this rule's size and dtype."""
        dtype = np.float64 if self.is_double else np.float32
        for name, arr in (("w", w), ("g", g)):
            if arr.dtype != dtype or arr.shape != (self.size,) or not arr.flags.c_contiguous:
                raise ValueError(f"{name} must be a contiguous {np.dtype(dtype).name} array of "
                                 f"shape ({self.size},); received {arr.dtype} {arr.shape}")
        if not w.flags.writeable:
            raise ValueError("w must be writeable")
        cdef char[::1] w_bytes = w.view(np.int8)
        cdef const char[::1] g_bytes = g.view(np.int8)
        with nogil:
            self.apply(&w_bytes[0], &g_bytes[0])


cdef class SGDRule(UpdateRule):
    """w -= lr·g; with momentum m := μ·m − lr·g, w += m (Nesterov: w += μ·m − lr·g)."""
    cdef public double momentum
    cdef public bint nesterov
    cdef object _m
    cdef void *_m_ptr

    def __init__(self, size, dtype, learning_rate, momentum, nesterov):
        super().__init__(size, dtype, learning_rate)
        self.momentum = momentum
        self.nesterov = nesterov
        self._m = self._new_slot()
        self._m_ptr = <void *><size_t>self._m.ctypes.data

    cdef void apply(self, void *w, const void *g) noexcept nogil:
        self.iterations += 1
        if self.momentum == 0:
            if self.is_double:
                fm_sgd_d(<double *>w, <const double *>g, self.size, self.learning_rate)
            else:
                fm_sgd_f(<float *>w, <const float *>g, self.size, <float>self.learning_rate)
        elif self.is_double:
            fm_sgd_momentum_d(<double *>w, <const double *>g, <double *>self._m_ptr, self.size,
                              self.learning_rate, self.momentum, self.nesterov)
        else:
            fm_sgd_momentum_f(<float *>w, <const float *>g, <float *>self._m_ptr, self.size,
                              <float>self.learning_rate, <float>self.momentum, self.nesterov)


cdef class AdagradRule(UpdateRule):
    """acc += g², w -= lr·g / √(acc + ε)."""
    cdef public double epsilon
    cdef object _acc
    cdef void *_acc_ptr

    def __init__(self, size, dtype, learning_rate, initial_accumulator_value, epsilon):
        super().__init__(size, dtype, learning_rate)
        self.epsilon = epsilon
        self._acc = self._new_slot(initial_accumulator_value)
        self._acc_ptr = <void *><size_t>self._acc.ctypes.data

    cdef void apply(self, void *w, const void *g) noexcept nogil:
        self.iterations += 1
        if self.is_double:
            fm_adagrad_d(<double *>w, <const double *>g, <double *>self._acc_ptr, self.size,
                         self.learning_rate, self.epsilon)
        else:
            fm_adagrad_f(<float *>w, <const float *>g, <float *>self._acc_ptr, self.size,
                         <float>self.learning_rate, <float>self.epsilon)


cdef class RMSpropRule(UpdateRule):
    """v := ρ·v + (1−ρ)·g², step = lr·g/√(v + ε); with momentum m := μ·m + step, w -= m."""
    cdef public double rho, momentum, epsilon
    cdef object _v, _m
    cdef void *_v_ptr
    cdef void *_m_ptr

    def __init__(self, size, dtype, learning_rate, rho, momentum, epsilon):
        super().__init__(size, dtype, learning_rate)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self._v = self._new_slot()
        self._v_ptr = <void *><size_t>self._v.ctypes.data
        self._m_ptr = NULL
        if momentum > 0:
            self._m = self._new_slot()
            self._m_ptr = <void *><size_t>self._m.ctypes.data

    cdef void apply(self, void *w, const void *g) noexcept nogil:
        self.iterations += 1
        if self.is_double:
            fm_rmsprop_d(<double *>w, <const double *>g, <double *>self._v_ptr,
                         <double *>self._m_ptr, self.size, self.learning_rate, self.rho,
                         self.momentum, self.epsilon)
        else:
            fm_rmsprop_f(<float *>w, <const float *>g, <float *>self._v_ptr,
                         <float *>self._m_ptr, self.size, <float>self.learning_rate,
                         <float>self.rho, <float>self.momentum, <float>self.epsilon)


cdef class AdamRule(UpdateRule):
    """m += (g − m)(1−β1), v += (g² − v)(1−β2), w -= α·m/(√v + ε), α = lr·√(1−β2ᵗ)/(1−β1ᵗ)."""
    cdef public double beta_1, beta_2, epsilon
    cdef object _m, _v
    cdef void *_m_ptr
    cdef void *_v_ptr

    def __init__(self, size, dtype, learning_rate, beta_1, beta_2, epsilon):
        super().__init__(size, dtype, learning_rate)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self._m = self._new_slot()
        self._v = self._new_slot()
        self._m_ptr = <void *><size_t>self._m.ctypes.data
        self._v_ptr = <void *><size_t>self._v.ctypes.data

    cdef void apply(self, void *w, const void *g) noexcept nogil:
        self.iterations += 1
        cdef double t = <double>self.iterations
        cdef double alpha = (self.learning_rate * sqrt(1.0 - pow(self.beta_2, t))
                             / (1.0 - pow(self.beta_1, t)))
        if self.is_double:
            fm_adam_d(<double *>w, <const double *>g, <double *>self._m_ptr, <double *>self._v_ptr,
                      self.size, alpha, self.beta_1, self.beta_2, self.epsilon)
        else:
            fm_adam_f(<float *>w, <const float *>g, <float *>self._m_ptr, <float *>self._v_ptr,
                      self.size, <float>alpha, <float>self.beta_1, <float>self.beta_2,
                      <float>self.epsilon)
