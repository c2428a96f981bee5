"""Fused optimizer updates over one flat parameter buffer: one call updates the whole model.

Each rule keeps its slots (momenta, accumulators) as flat arrays the size of the parameter
buffer, and follows Keras's update_step formulas (keras/src/optimizers/*.py) exactly.
"""
from libc.math cimport sqrt, pow, sqrtf, powf
cimport numpy as cnp
import numpy as np

from fastmlp._kernels.checks import check_array

cnp.import_array()

from fastmlp._kernels.elementwise cimport (fm_sgd_f, fm_sgd_d, fm_sgd_momentum_f,
    fm_sgd_momentum_d, fm_adagrad_f, fm_adagrad_d, fm_rmsprop_f, fm_rmsprop_d,
    fm_adam_f, fm_adam_d, fm_flush_denormals_begin, fm_flush_denormals_end)


cdef class UpdateRule:
    """Base of the compiled rules: `step(w, g)` applies one update in place, GIL released."""

    def __init__(self, Py_ssize_t size, dtype, double learning_rate):
        if size < 1:
            raise ValueError(f"`size` must be a positive integer; received {size}")
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"`dtype` must be float32 or float64; received {dtype}")
        if self.slots is not None:
            raise RuntimeError(f"this {type(self).__name__} is already initialised")
        self.size = size
        self.is_double = np.dtype(dtype) == np.float64
        self.iterations = 0
        self.learning_rate = learning_rate
        self.slots = []

    def _new_slot(self, double fill=0.0):
        slot = np.full(self.size, fill, dtype=np.float64 if self.is_double else np.float32)
        self.slots.append(slot)
        return slot

    def __reduce__(self):
        raise TypeError(f"a compiled {type(self).__name__} holds raw pointers into its slots and "
                        "cannot be pickled or copied on its own; use get_state()/set_state(), or "
                        "pickle the optimizer or the model")

    def get_state(self):
        """(iterations, copies of the slots): a checkpoint that set_state restores."""
        return int(self.iterations), [slot.copy() for slot in self.slots]

    def set_state(self, iterations, slots):
        """Restores a checkpoint of get_state(): the values are copied into this rule's slots."""
        slots = list(slots)
        if len(slots) != len(self.slots):
            raise ValueError(f"{type(self).__name__} has {len(self.slots)} slots; received {len(slots)}")
        arrays = [np.asarray(value) for value in slots]
        for i, (slot, value) in enumerate(zip(self.slots, arrays)):
            if value.shape != slot.shape:
                raise ValueError(f"slot {i} must have shape {slot.shape}; received {value.shape}")
        if isinstance(iterations, bool) or int(iterations) != iterations or iterations < 0:
            raise ValueError(f"`iterations` must be a non-negative integer; received {iterations!r}")
        for slot, value in zip(self.slots, arrays):
            slot[...] = value
        self.iterations = int(iterations)

    cdef void apply(self, void *w, const void *g) noexcept nogil:
        pass

    def step(self, w, g):
        """w := update(w, g) on flat C-contiguous arrays of this rule's size and dtype."""
        dtype = np.float64 if self.is_double else np.float32
        check_array(w, "w", dtype, (self.size,), writeable=True)
        check_array(g, "g", dtype, (self.size,))
        cdef void *w_ptr = cnp.PyArray_DATA(<cnp.ndarray>w)
        cdef const void *g_ptr = cnp.PyArray_DATA(<cnp.ndarray>g)
        cdef unsigned long long fp_state
        with nogil:
            fp_state = fm_flush_denormals_begin()  # as in the training loop (network._run)
            self.apply(w_ptr, g_ptr)
            fm_flush_denormals_end(fp_state)


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
        self._m_ptr = cnp.PyArray_DATA(<cnp.ndarray>self._m)

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
        self._acc_ptr = cnp.PyArray_DATA(<cnp.ndarray>self._acc)

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
        self._v_ptr = cnp.PyArray_DATA(<cnp.ndarray>self._v)
        self._m_ptr = NULL
        if momentum > 0:
            self._m = self._new_slot()
            self._m_ptr = cnp.PyArray_DATA(<cnp.ndarray>self._m)

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
        self._m_ptr = cnp.PyArray_DATA(<cnp.ndarray>self._m)
        self._v_ptr = cnp.PyArray_DATA(<cnp.ndarray>self._v)

    cdef void apply(self, void *w, const void *g) noexcept nogil:
        self.iterations += 1
        # α in the variables' dtype, as Keras computes it: in float32, 1 − β2ᵗ loses digits to
        # cancellation (6e-6 of α at t = 2), and parity means losing the same ones
        cdef double t = <double>self.iterations
        cdef double alpha
        cdef float tf = <float>t, b1 = <float>self.beta_1, b2 = <float>self.beta_2
        cdef float alpha_f
        if self.is_double:
            alpha = (self.learning_rate * sqrt(1.0 - pow(self.beta_2, t))
                     / (1.0 - pow(self.beta_1, t)))
            fm_adam_d(<double *>w, <const double *>g, <double *>self._m_ptr, <double *>self._v_ptr,
                      self.size, alpha, self.beta_1, self.beta_2, self.epsilon)
        else:
            alpha_f = <float>self.learning_rate * sqrtf(1.0 - powf(b2, tf)) / (1.0 - powf(b1, tf))
            fm_adam_f(<float *>w, <const float *>g, <float *>self._m_ptr, <float *>self._v_ptr,
                      self.size, alpha_f, b1, b2, <float>self.epsilon)
