"""Fused optimizer updates over one flat parameter buffer: one call updates the whole model.

Each rule keeps its slots (momenta, accumulators) as flat arrays the size of the parameter
buffer, and follows Keras's update_step formulas (keras/src/optimizers/*.py) exactly.
"""
from libc.math cimport sqrt, pow, sqrtf, powf, floorf, cosf, isfinite
from libc.stdint cimport int64_t
cimport numpy as cnp
import numpy as np

from fastmlp._kernels.checks import check_array

cnp.import_array()

from fastmlp._kernels.elementwise cimport (
    fm_sgd_f, fm_sgd_d, fm_sgd_momentum_f, fm_sgd_momentum_d, fm_adagrad_d,
    fm_rmsprop_d, fm_adam_f, fm_adam_d, fm_nadam_f, fm_nadam_d, fm_sum_squares_f,
    fm_sum_squares_d, fm_scale_f, fm_scale_d, fm_clip_values_f, fm_clip_values_d,
    fm_weight_decay_f, fm_weight_decay_d, fm_flush_denormals_begin, fm_flush_denormals_end)

cdef extern from "split_sqrt.h" nogil:
    int fm_split_sqrt_level()
    int fm_split_sqrt_default(int rule)
    enum:
        FM_SPLIT_ADAM
        FM_SPLIT_RMSPROP
        FM_SPLIT_ADAGRAD
    void fm_adam_f_split(int level, float *w, const float *g, float *m, float *v, Py_ssize_t n,
                         float alpha, float one_minus_b1, float one_minus_b2, float eps)
    void fm_rmsprop_f_split(int level, float *w, const float *g, float *v, float *m,
                            Py_ssize_t n, float lr, float rho, float rest, float momentum,
                            float eps)
    void fm_adagrad_f_split(int level, float *w, const float *g, float *acc, Py_ssize_t n,
                            float lr, float eps)
    int64_t fm_sqrt_by_fma_mismatches(unsigned long long lo, unsigned long long hi,
                                      int64_t *taken)

# Learning-rate schedules the rules evaluate themselves, each step, in float32 as Keras does
# (keras/src/optimizers/schedules/learning_rate_schedule.py), at the step count before the step.
SCHEDULES = {"constant": 0, "exponential": 1, "piecewise": 2, "cosine": 3}


cdef class UpdateRule:
    """Base of the compiled rules: `step(w, g)` applies one update in place, GIL released.

    Before each update, as Keras's optimizers do: the learning rate of this step (constant or
    a schedule of the step count), the gradient clipped (clipnorm per weight array,
    global_clipnorm over all, or clipvalue elementwise; only one), then decoupled weight decay.
    Weight arrays are the `segments` (offset, size) of the flat buffer (set_transforms).
    """

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
        self._whole_only = False
        self._schedule = 0
        self._segments = np.array([[0, size]], dtype=np.int64)
        self._n_segments = 1
        self._seg = <int64_t *>cnp.PyArray_DATA(<cnp.ndarray>self._segments)
        self._split_level = 0  # the rules with a split loop set their CPU's default

    @property
    def split_level(self):
        """The path of a float32 Adam, RMSprop or Adagrad step: 1 (one vector in 2 has its
        square roots taken by FMAs, csrc/split_sqrt.h), 2 (one in 4) or 0 (the elementwise
        clone alone), up to split_sqrt_level(); the same bits at every level. Each rule
        starts at the level measured fastest on this CPU's vendor (split_sqrt_default).
        AMSGrad, float64 and the other rules take the clone."""
        return self._split_level

    @split_level.setter
    def split_level(self, value):
        if isinstance(value, bool) or not (isinstance(value, int)
                                           and 0 <= value <= fm_split_sqrt_level()):
            raise ValueError(f"`split_level` must be an integer in [0, {fm_split_sqrt_level()}] "
                             f"on this CPU; received {value!r}")
        self._split_level = value

    def _new_slot(self, double fill=0.0):
        slot = np.full(self.size, fill, dtype=np.float64 if self.is_double else np.float32)
        self.slots.append(slot)
        return slot

    def set_schedule(self, kind, double initial=0, double decay_steps=1, double decay_rate=1,
                     bint staircase=False, double alpha=0, warmup_target=None,
                     double warmup_steps=0, boundaries=(), values=()):
        """Makes the learning rate a function of the step count (SCHEDULES), Keras's formulas."""
        if kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {kind!r}; expected one of {sorted(SCHEDULES)}")
        if kind in ("exponential", "cosine") and not decay_steps > 0:
            raise ValueError(f"`decay_steps` must be > 0; received {decay_steps}")
        if kind == "piecewise":
            b = np.asarray(boundaries, dtype=np.int64).ravel()
            v = np.asarray(values, dtype=np.float32).ravel()
            if len(v) != len(b) + 1 or len(b) < 1:
                raise ValueError(f"a piecewise schedule needs one more value than boundaries; "
                                 f"received {len(b)} boundaries and {len(v)} values")
            self._boundaries, self._values = b, v
        self._schedule = SCHEDULES[kind]
        self._initial = <float>initial
        self._decay_steps = <float>decay_steps
        self._decay_rate = <float>decay_rate
        self._staircase = staircase
        self._alpha = <float>alpha
        self._warmup = warmup_target is not None
        self._warmup_target = <float>(warmup_target or 0)
        self._warmup_steps = <float>warmup_steps

    def set_transforms(self, clipnorm=None, clipvalue=None, global_clipnorm=None,
                       weight_decay=None, segments=None):
        """Gradient clipping and weight decay (None: off), over the weight arrays `segments`,
        (offset, size) pairs covering the buffer in order."""
        given = [v for v in (clipnorm, clipvalue, global_clipnorm) if v is not None]
        if len(given) > 1:
            raise ValueError("only one of clipnorm, clipvalue and global_clipnorm can be set")
        for name, value in (("clipnorm", clipnorm), ("clipvalue", clipvalue),
                            ("global_clipnorm", global_clipnorm), ("weight_decay", weight_decay)):
            if value is not None and not (isfinite(value) and value >= 0):
                raise ValueError(f"`{name}` must be a non-negative finite number; received {value}")
        if segments is not None:
            table = np.asarray(segments, dtype=np.int64).reshape(-1, 2)
            # each segment starts where the one before ends (no negative indices: this module
            # is compiled without wraparound)
            starts = np.concatenate([[0], np.cumsum(table[:, 1])])
            if (len(table) == 0 or (table[:, 1] < 1).any()
                    or (table[:, 0] != starts[:len(table)]).any() or starts[len(table)] != self.size):
                raise ValueError(f"`segments` must tile the {self.size} weights in order; "
                                 f"received {table.tolist()}")
            self._segments = np.ascontiguousarray(table)
            self._n_segments = len(table)
            self._seg = <int64_t *>cnp.PyArray_DATA(<cnp.ndarray>self._segments)
        self._clipnorm = clipnorm or 0.0
        self._clipvalue = clipvalue or 0.0
        self._global_clipnorm = global_clipnorm or 0.0
        self._weight_decay = weight_decay or 0.0
        self._decays = weight_decay is not None

    def current_learning_rate(self) -> float:
        """The learning rate of the next step."""
        return self._learning_rate_now()

    cdef double _learning_rate_now(self) noexcept nogil:
        cdef float step = <float>self.iterations, p, done
        cdef Py_ssize_t i, n
        if self._schedule == 0:
            return self.learning_rate
        if self._schedule == 1:
            p = step / self._decay_steps
            if self._staircase:
                p = floorf(p)
            return self._initial * powf(self._decay_rate, p)
        if self._schedule == 2:
            n = self._boundaries.shape[0]
            if self.iterations <= self._boundaries[0]:
                return self._values[0]
            for i in range(1, n):
                if self.iterations <= self._boundaries[i]:
                    return self._values[i]
            return self._values[n]
        # cosine, after an optional linear warmup
        if not self._warmup:
            step = min(step, self._decay_steps)
            return self._initial * ((1 - self._alpha) * (<float>0.5 * (1 + cosf(<float>3.14159265358979323846 * (step / self._decay_steps)))) + self._alpha)
        step = min(step, self._decay_steps + self._warmup_steps)
        if step < self._warmup_steps:
            return (self._warmup_target - self._initial) * (step / self._warmup_steps) + self._initial
        done = step - self._warmup_steps
        return self._warmup_target * ((1 - self._alpha) * (<float>0.5 * (1 + cosf(<float>3.14159265358979323846 * (done / self._decay_steps)))) + self._alpha)

    cdef void _clip_norms(self, void *g) noexcept nogil:
        """clipnorm and global_clipnorm, which read the whole gradient (elementwise clipping and
        weight decay are in apply_part)."""
        cdef Py_ssize_t k, off, n
        cdef double norm, total
        if self._clipnorm > 0:
            for k in range(self._n_segments):
                off, n = self._seg[2 * k], self._seg[2 * k + 1]
                if self.is_double:
                    norm = sqrt(fm_sum_squares_d(<double *>g + off, n))
                    fm_scale_d(<double *>g + off, n, self._clipnorm, max(norm, self._clipnorm))
                else:
                    norm = sqrt(fm_sum_squares_f(<float *>g + off, n))
                    fm_scale_f(<float *>g + off, n, <float>self._clipnorm,
                               <float>max(<float>norm, <float>self._clipnorm))
        elif self._global_clipnorm > 0:
            total = fm_sum_squares_d(<double *>g, self.size) if self.is_double else fm_sum_squares_f(<float *>g, self.size)
            norm = sqrt(total)
            # Keras's scale: clip · min(1 / norm, 1 / clip), NaN for a non-finite norm
            if self.is_double:
                fm_scale_d(<double *>g, self.size, self._global_clipnorm * min(1.0 / norm, 1.0 / self._global_clipnorm) + (norm - norm), 1.0)
            else:
                fm_scale_f(<float *>g, self.size, <float>self._global_clipnorm * min(<float>1.0 / <float>norm, <float>1.0 / <float>self._global_clipnorm) + <float>(norm - norm), 1.0)

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
        """One step: the learning rate at this step count, clipping and weight decay (g may be
        scaled in place: it is the gradient buffer of this step), then the rule's update."""
        self._clip_norms(<void *>g)
        self.apply_part(w, <void *>g, self.begin_step(), 0, self.size)

    cdef bint splits(self) noexcept nogil:
        """Whether a step can be applied in parts, one per thread (begin_step, apply_part):
        nothing it does needs the whole gradient (clipnorm, global_clipnorm) and the rule
        keeps no state but its slots."""
        return not self._whole_only and self._clipnorm == 0 and self._global_clipnorm == 0

    cdef double begin_step(self) noexcept nogil:
        """Advances the step count for a step applied in parts; returns its learning rate."""
        cdef double lr = self._learning_rate_now()
        self.iterations += 1
        return lr

    cdef void cancel_step(self) noexcept nogil:
        """Undoes begin_step, for a step that will not be applied."""
        self.iterations -= 1

    cdef void apply_part(self, void *w, void *g, double lr, Py_ssize_t lo,
                         Py_ssize_t n) noexcept nogil:
        """Elements [lo, lo + n) of the step begun by begin_step (learning rate lr): what
        apply does to them, when splits() says the parts are independent."""
        if self._clipvalue > 0:
            if self.is_double:
                fm_clip_values_d(<double *>g + lo, n, self._clipvalue)
            else:
                fm_clip_values_f(<float *>g + lo, n, <float>self._clipvalue)
        if self._decays:
            if self.is_double:
                fm_weight_decay_d(<double *>w + lo, n, self._weight_decay, lr)
            else:
                fm_weight_decay_f(<float *>w + lo, n, <float>self._weight_decay, <float>lr)
        self._update(w, g, lr, lo, n)

    cdef void _update(self, void *w, const void *g, double lr, Py_ssize_t lo,
                      Py_ssize_t n) noexcept nogil:
        """The rule's update of elements [lo, lo + n), the step count already advanced."""
        pass

    def step(self, w, g):
        """w := update(w, g) on flat C-contiguous arrays of this rule's size and dtype (g is
        not changed)."""
        dtype = np.float64 if self.is_double else np.float32
        check_array(w, "w", dtype, (self.size,), writeable=True)
        check_array(g, "g", dtype, (self.size,))
        g = np.array(g, copy=True)  # clipping scales the step's own copy
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

    cdef void _update(self, void *w, const void *g, double lr, Py_ssize_t lo,
                      Py_ssize_t n) noexcept nogil:
        if self.momentum == 0:
            if self.is_double:
                fm_sgd_d(<double *>w + lo, <const double *>g + lo, n, lr)
            else:
                fm_sgd_f(<float *>w + lo, <const float *>g + lo, n, <float>lr)
        elif self.is_double:
            fm_sgd_momentum_d(<double *>w + lo, <const double *>g + lo, <double *>self._m_ptr + lo,
                              n, lr, self.momentum, self.nesterov)
        else:
            fm_sgd_momentum_f(<float *>w + lo, <const float *>g + lo, <float *>self._m_ptr + lo,
                              n, <float>lr, <float>self.momentum, self.nesterov)


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
        self._split_level = fm_split_sqrt_default(FM_SPLIT_ADAGRAD)

    cdef void _update(self, void *w, const void *g, double lr, Py_ssize_t lo,
                      Py_ssize_t n) noexcept nogil:
        if self.is_double:
            fm_adagrad_d(<double *>w + lo, <const double *>g + lo, <double *>self._acc_ptr + lo,
                         n, lr, self.epsilon)
        else:
            fm_adagrad_f_split(self._split_level, <float *>w + lo, <const float *>g + lo,
                               <float *>self._acc_ptr + lo, n, <float>lr, <float>self.epsilon)


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
        self._split_level = fm_split_sqrt_default(FM_SPLIT_RMSPROP)

    cdef void _update(self, void *w, const void *g, double lr, Py_ssize_t lo,
                      Py_ssize_t n) noexcept nogil:
        # no momentum slot: its pointer stays NULL
        cdef Py_ssize_t m_lo = lo if self._m_ptr != NULL else 0
        if self.is_double:
            fm_rmsprop_d(<double *>w + lo, <const double *>g + lo, <double *>self._v_ptr + lo,
                         <double *>self._m_ptr + m_lo, n, lr, self.rho, 1.0 - self.rho,
                         self.momentum, self.epsilon)
        else:
            fm_rmsprop_f_split(self._split_level, <float *>w + lo, <const float *>g + lo,
                               <float *>self._v_ptr + lo, <float *>self._m_ptr + m_lo, n,
                               <float>lr, <float>self.rho, <float>(1.0 - self.rho),
                               <float>self.momentum, <float>self.epsilon)


_SPLIT_RULES = {"adam": FM_SPLIT_ADAM, "rmsprop": FM_SPLIT_RMSPROP, "adagrad": FM_SPLIT_ADAGRAD}


def split_sqrt_level() -> int:
    """The highest `split_level`: 2 where float32 Adam, RMSprop and Adagrad can take some of
    their square roots by FMAs (csrc/split_sqrt.h: a CPU with AVX-512), else 0."""
    return fm_split_sqrt_level()


def split_sqrt_default(rule: str) -> int:
    """The `split_level` a new rule ('adam', 'rmsprop' or 'adagrad') starts at on this CPU,
    the one measured fastest on its vendor: Intel 1 for all three; AMD 2 for Adam and
    RMSprop, 1 for Adagrad; 0 without AVX-512."""
    if rule not in _SPLIT_RULES:
        raise ValueError(f"`rule` must be one of {sorted(_SPLIT_RULES)}; received {rule!r}")
    return fm_split_sqrt_default(_SPLIT_RULES[rule])


def sqrt_path() -> str:
    """How float32 Adam, RMSprop and Adagrad take their square roots on this CPU by default,
    for the benchmark's report."""
    levels = {name: split_sqrt_default(name.lower()) for name in ("Adam", "RMSprop", "Adagrad")}
    if not any(levels.values()):
        return "the elementwise clone's"
    shares = {0: "none (the clone's loop)", 1: "1 in 2", 2: "1 in 4"}
    return "AVX-512, vectors' square roots by FMAs instead of the divider: " + ", ".join(
        f"{name} {shares[level]}" for name, level in levels.items())


def sqrt_by_fma_mismatches(lo, hi, bint flush=True):
    """For the tests: (lanes taken, lanes differing from vsqrtps) of csrc/split_sqrt.h's FMA
    square root over the float32 bit patterns [lo, hi), 0 <= lo <= hi <= 2**32, with
    flush-to-zero and denormals-are-zero set (as in training) or in the caller's state."""
    if fm_split_sqrt_level() < 1:
        raise RuntimeError("this CPU or build has no split square roots (split_sqrt_level() is 0)")
    if not (isinstance(lo, int) and isinstance(hi, int) and 0 <= lo <= hi <= 1 << 32):
        raise ValueError(f"need integers 0 <= lo <= hi <= 2**32; received lo={lo!r}, hi={hi!r}")
    cdef unsigned long long a = lo, b = hi
    cdef int64_t taken = 0, bad
    cdef unsigned long long fp_state
    with nogil:
        if flush:
            fp_state = fm_flush_denormals_begin()
        bad = fm_sqrt_by_fma_mismatches(a, b, &taken)
        if flush:
            fm_flush_denormals_end(fp_state)
    return int(taken), int(bad)


cdef class AdamRule(UpdateRule):
    """m += (g − m)(1−β1), v += (g² − v)(1−β2), w -= α·m/(√v + ε), α = lr·√(1−β2ᵗ)/(1−β1ᵗ);
    with amsgrad, v̂ := max(v̂, v) takes v's place in the step."""
    cdef public double beta_1, beta_2, epsilon
    cdef readonly bint amsgrad
    cdef object _m, _v, _v_hat
    cdef void *_m_ptr
    cdef void *_v_ptr
    cdef void *_v_hat_ptr

    def __init__(self, size, dtype, learning_rate, beta_1, beta_2, epsilon, amsgrad=False):
        super().__init__(size, dtype, learning_rate)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        self._m = self._new_slot()
        self._v = self._new_slot()
        self._m_ptr = cnp.PyArray_DATA(<cnp.ndarray>self._m)
        self._v_ptr = cnp.PyArray_DATA(<cnp.ndarray>self._v)
        self._v_hat_ptr = NULL
        if amsgrad:
            self._v_hat = self._new_slot()
            self._v_hat_ptr = cnp.PyArray_DATA(<cnp.ndarray>self._v_hat)
        self._split_level = fm_split_sqrt_default(FM_SPLIT_ADAM)

    cdef void _update(self, void *w, const void *g, double lr, Py_ssize_t lo,
                      Py_ssize_t n) noexcept nogil:
        # α in the variables' dtype, as Keras computes it: in float32, 1 − β2ᵗ loses digits to
        # cancellation (6e-6 of α at t = 2), and parity means losing the same ones
        cdef double t = <double>self.iterations
        cdef double alpha
        cdef float tf = <float>t, b1 = <float>self.beta_1, b2 = <float>self.beta_2
        cdef float alpha_f, c1, c2
        cdef Py_ssize_t v_hat_lo = lo if self._v_hat_ptr != NULL else 0  # NULL without amsgrad
        if self.is_double:
            alpha = lr * sqrt(1.0 - pow(self.beta_2, t)) / (1.0 - pow(self.beta_1, t))
            fm_adam_d(<double *>w + lo, <const double *>g + lo, <double *>self._m_ptr + lo,
                      <double *>self._v_ptr + lo, <double *>self._v_hat_ptr + v_hat_lo, n, alpha, 1.0 - self.beta_1,
                      1.0 - self.beta_2, self.epsilon)
        else:
            alpha_f = <float>lr * sqrtf(<float>1 - powf(b2, tf)) / (<float>1 - powf(b1, tf))
            c1 = <float>(1.0 - self.beta_1)
            c2 = <float>(1.0 - self.beta_2)
            if self._v_hat_ptr == NULL:
                fm_adam_f_split(self._split_level, <float *>w + lo, <const float *>g + lo,
                                <float *>self._m_ptr + lo, <float *>self._v_ptr + lo, n, alpha_f,
                                c1, c2, <float>self.epsilon)
            else:
                fm_adam_f(<float *>w + lo, <const float *>g + lo, <float *>self._m_ptr + lo,
                          <float *>self._v_ptr + lo, <float *>self._v_hat_ptr + v_hat_lo, n,
                          alpha_f, c1, c2, <float>self.epsilon)


cdef class NadamRule(UpdateRule):
    """Keras's Nadam: Adam with Nesterov momentum and the momentum schedule
    μₜ = β1·(1 − 0.5·0.96ᵗ); the product of the μ's so far is the rule's `u_product`."""
    cdef public double beta_1, beta_2, epsilon, u_product
    cdef object _m, _v
    cdef void *_m_ptr
    cdef void *_v_ptr

    def __init__(self, size, dtype, learning_rate, beta_1, beta_2, epsilon):
        super().__init__(size, dtype, learning_rate)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.u_product = 1.0
        self._whole_only = True  # u_product advances once a step
        self._m = self._new_slot()
        self._v = self._new_slot()
        self._m_ptr = cnp.PyArray_DATA(<cnp.ndarray>self._m)
        self._v_ptr = cnp.PyArray_DATA(<cnp.ndarray>self._v)

    def get_state(self):
        """(iterations, slots + [u_product as a one-element array])."""
        iterations, slots = UpdateRule.get_state(self)
        return iterations, slots + [np.array([self.u_product], self._m.dtype)]

    def set_state(self, iterations, slots):
        slots = list(slots)
        if len(slots) != len(self.slots) + 1:
            raise ValueError(f"NadamRule has {len(self.slots)} slots and u_product; received "
                             f"{len(slots)} arrays")
        last = len(slots) - 1  # (no negative indices: this module is compiled without wraparound)
        u = np.asarray(slots[last], dtype=np.float64).ravel()
        if u.shape != (1,) or not 0 < u[0] <= 1:
            raise ValueError(f"u_product must be one number in (0, 1]; received {slots[last]!r}")
        UpdateRule.set_state(self, iterations, slots[:last])
        self.u_product = float(u[0])

    cdef void _update(self, void *w, const void *g, double lr, Py_ssize_t lo,
                      Py_ssize_t n) noexcept nogil:
        # (never in parts: u_product is state of its own; lo is 0 and n the size)
        # iterations is already this step's number t; Keras updates u_product first, then
        # steps with t (local_step) and t + 1 (next_step), every factor in the variables' dtype
        cdef double t = <double>self.iterations
        cdef double u_t, u_t_1, u_prod_1
        cdef float tf = <float>t, b1 = <float>self.beta_1, b2 = <float>self.beta_2
        cdef float u_tf, u_t_1f, u_prodf, u_prod_1f
        if self.is_double:
            self.u_product = self.u_product * self.beta_1 * (1.0 - 0.5 * pow(0.96, t))
            u_t = self.beta_1 * (1.0 - 0.5 * pow(0.96, t))
            u_t_1 = self.beta_1 * (1.0 - 0.5 * pow(0.96, t + 1))
            u_prod_1 = self.u_product * u_t_1
            fm_nadam_d(<double *>w, <const double *>g, <double *>self._m_ptr, <double *>self._v_ptr,
                       self.size, lr, self.beta_1, self.beta_2, self.epsilon, u_t, u_t_1,
                       self.u_product, u_prod_1, pow(self.beta_2, t))
        else:
            u_prodf = <float>self.u_product * b1 * (<float>1.0 - <float>0.5 * powf(<float>0.96, tf))
            self.u_product = u_prodf
            u_tf = b1 * (<float>1.0 - <float>0.5 * powf(<float>0.96, tf))
            u_t_1f = b1 * (<float>1.0 - <float>0.5 * powf(<float>0.96, tf + 1))
            u_prod_1f = u_prodf * u_t_1f
            fm_nadam_f(<float *>w, <const float *>g, <float *>self._m_ptr, <float *>self._v_ptr,
                       self.size, <float>lr, b1, b2, <float>self.epsilon, u_tf, u_t_1f, u_prodf,
                       u_prod_1f, powf(b2, tf))
