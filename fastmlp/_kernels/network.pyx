"""The whole-network step: forward, loss gradient, backward and optimizer for many batches in
one compiled call with the GIL released.

A Network is a plan (a C array of steps of a few kinds: dense, activation, dropout, batch
normalization; their sizes, activation, offsets) over flat buffers: every layer's weights are
views of one parameter vector, the trainable ones first (gradients and optimizer slots cover
that prefix, in the same layout, so one optimizer call updates everything) and the
non-trainable ones (batch normalization's moving statistics) after them.

What Python hands over is checked here, at the boundary, before any loop runs without the
GIL: sizes are Py_ssize_t end to end (each BLAS dimension at most 2³¹ − 1), every array's
dtype, shape, contiguity, alignment and writeability, the indices it will gather, and that the
labels or targets are the ones the loss and accuracy read. Training (train, gradient,
gemm_steps) uses scratch the Network owns, so one such call runs at a time and a second one
raises RuntimeError. predict and evaluate read the weights they are given (the engine passes
a published snapshot) with scratch of their own: any number of threads may call them at once.
"""
from cython cimport floating
from libc.math cimport isfinite
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t
from cpython.pyport cimport PY_SSIZE_T_MAX
from libc.stdlib cimport calloc, free, malloc
from libc.string cimport memcpy
cimport numpy as cnp

import threading

import numpy as np

from fastmlp._kernels.blas cimport gemm
from fastmlp._kernels.dense cimport (dense_forward, dense_backward, forward_gemm,
                                     weight_gradient_gemm)
from fastmlp._kernels.small_gemm cimport (FM_MR, FM_PACK_ALIGN, FM_PACKED_MIN_ROWS, aligned_floats,
                                          fm_pack_weights, fm_packed_floats, fm_prefetch,
                                          fm_prefetch_init, fm_prefetch_init_window, fm_sgemm_small,
                                          fm_sgemm_small_kept,
                                          fm_nonzeros, fm_kept_pays, fm_sgemv_kept, fm_kept,
                                          fm_kept_blocks, fm_kept_mask_words, fm_kept_of_rows,
                                          fm_kept_of_columns, fm_kept_of_mask_rows,
                                          fm_kept_of_mask_columns, fm_gather_row, fm_row_mask,
                                          fm_small_gemm_level)
from fastmlp._kernels.loss cimport loss_and_grad, accuracy_sum
from fastmlp._kernels.optim cimport UpdateRule
from fastmlp._kernels.elementwise cimport (FM_LINEAR, FM_RELU, FM_SOFTMAX, fm_flush_denormals_begin, fm_all_finite_f,
                                           fm_all_finite_d, fm_copy_finite_f, fm_copy_finite_d,
                                           fm_flush_denormals_end, fm_bias_act_f, fm_bias_act_d,
                                           fm_act_backward_f, fm_act_backward_d, fm_bias_act_ld_f,
                                           fm_act_backward_ld_f)
from fastmlp._kernels.dropout cimport (fm_dropout_key, fm_dropout_rows_key,
                                       fm_dropout_threshold, fm_dropout_cols_f, fm_dropout_cols_d)
from fastmlp._kernels.team cimport (FM_TEAM_BARRIER, fm_team_barrier, fm_team_barrier_init,
                                    fm_team_barrier_wait, fm_team_barrier_abandon, fm_team_store,
                                    fm_transpose_f, fm_transpose_rows_f)
cdef extern from "gil_hint.h" nogil:
    enum:
        FM_GIL_HINT
    void fm_gil_hint_taken()
    void fm_gil_hint_released()
    void fm_gil_hint_wait()
    unsigned long long fm_gil_hint_recorded()
    int fm_gil_hint_spins(unsigned long long recorded, unsigned long long taken,
                          unsigned long long now)
    enum:
        FM_GIL_HINT_TICKS
cdef extern from "handoff.h" nogil:
    enum:
        FM_HANDOFF
    ctypedef struct fm_box:
        long state
    void fm_box_reset(fm_box *b)
    int fm_box_claim(fm_box *b)
    void fm_box_release(fm_box *b)
    int fm_box_post(fm_box *b, void *task)
    void fm_box_wait_done(fm_box *b)
    void *fm_box_next(fm_box *b)
    void fm_box_done(fm_box *b)
    int fm_box_withdraw(fm_box *b)
    int fm_box_post_awake(fm_box *b, void *task)
    int fm_box_take_back(fm_box *b)
    int fm_box_rouse(fm_box *b)
    void fm_box_calm(fm_box *b)
    long fm_claim_chunk(long *claimed)
    void fm_chunk_done(long *finished)
    void fm_chunks_wait(long *finished, long chunks)
    unsigned long long fm_handoff_now()
    enum:
        FM_HANDOFF_SPIN_TICKS
from fastmlp._kernels.regularizers cimport (fm_penalty_f, fm_penalty_d, fm_constrain_f,
                                            fm_constrain_d)
from fastmlp._kernels.batch_norm cimport (fm_bn_affine_f, fm_bn_affine_d, fm_bn_apply_f,
                                          fm_bn_apply_d, fm_bn_train_forward_f,
                                          fm_bn_train_forward_d, fm_bn_backward_f,
                                          fm_bn_backward_d, fm_bn_update_moving_f,
                                          fm_bn_update_moving_d)

from fastmlp._kernels.checks import BLAS_MAX, check_array
from fastmlp._kernels.cpu_cache import l2_cache_bytes
from fastmlp._kernels.codes import (CONSTRAINT_CODES, check_metrics, check_activation, check_alpha, check_loss,
                                    fuses, needs, needs_pre)
from fastmlp._kernels.loss import check_labels_or_targets

cnp.import_array()

# Rows of one inference pass are capped so that its two scratch halves hold at most this many
# elements whatever N is (16 MiB of float32), while GEMMs stay large enough to run at speed.
cdef Py_ssize_t SCRATCH_ELEMENTS = 1 << 22

# On fastmlp's own GEMM, an inference pass holds at most this many elements of its widest layer
# (128 KiB of float32) and at least PASS_MIN_ROWS rows: each layer's output is then still in
# the core's L2 when the next layer reads it, where a 1,024-row pass sends it to L3 and back
# (AMD Zen 4 VM, batch 1024, paired A/B against one 1,024-row pass: M2 +4-5% on 1 thread, +0-2% on
# 2; M1 +1-3%).
cdef Py_ssize_t PASS_ELEMENTS = 1 << 15
cdef Py_ssize_t PASS_MIN_ROWS = 32

# A chunk of a split inference call (predict_parts) but its last holds at least this many
# multiply-adds (M1: 54 rows, M2: 18, rounded up to a tile's rows): a pass reads every weight
# from L2, which costs about 2 rows' products whatever the model, and the last chunks decide
# how long a thread waits for another's. Intel Xeon VM, 2 threads, paired calls against one
# fixed half a thread: with 2^21 (30 / 12 rows) M1 512 rows ×0.97, with 2^22 ×0.99; M2 ×1.2.
cdef Py_ssize_t CHUNK_MIN_MACS = 1 << 22

# Inference and evaluation calls of FM_PACKED_MIN_ROWS rows or more read the published weights
# packed for fastmlp's own GEMM (csrc/packed_weights.h). The first such call of PACK_MIN_ROWS
# rows, or the PACK_AFTER_CALLS-th such call, since a publish packs them. Measured (AMD Zen 4 VM,
# 1 thread): packing costs about 3.5 rows' time of M2 (21 µs) and of M1 (13 µs); packed, a call
# of 3 rows runs 1.44× as fast, 8 rows 1.11×, 32 rows 1.04×, 1,024 rows 1.02-1.05×. A call of
# PACK_MIN_ROWS rows pays for packing itself; a service's stream of small calls packs at its
# PACK_AFTER_CALLS-th call; a training loop that publishes between one or two predicts never
# packs.
PACK_MIN_ROWS = 128
PACK_AFTER_CALLS = 4

# A float32 inference call of one or two rows (they read the weights in place) may split its
# dense steps' columns with part helper 0 (`set_wide_threads`): each thread takes chunks of
# WIDE_CHUNKS column blocks a step as it comes (a helper that is slow or descheduled leaves
# its chunks to the caller), the step's output complete before the next reads it; the last
# step runs on the caller. Each column's arithmetic is the same, so are the bits. Only for a
# network of WIDE_MIN_MACS multiply-adds a row or more before its last step (below, the
# hand-over costs what it saves), only while the helper is awake (spinning after a part: a
# one-row call ends before a sleeping helper could wake), and only while no other call has
# run beside one for WIDE_QUIET_TICKS (about 10 ms): request threads then keep a core each.
# Measured (AMD Zen 4 VM, M2 784-300-200-100-10, one row, C loop): 15.3 µs alone, 8.0 µs split.
# A lone call of three rows or more (under the engine's large-call split) hands its first
# half of the rows to helper 0 under the same rule, from SPLIT_MIN_MACS multiply-adds in all.
cdef enum:
    WIDE_CHUNKS = 2
WIDE_MIN_MACS = 1 << 17
SPLIT_MIN_MACS = 1 << 21
# A lone call of this many multiply-adds or more (M2: 27 rows) that finds the helper asleep
# wakes it and posts its half anyway: its own half outlasts the wake-up (tens of µs here);
# smaller ones leave a sleeping helper to a stream of calls (see _lone_begin).
cdef Py_ssize_t WAKE_MIN_MACS = 1 << 23
# What a call hands helper 0 (Network._lone_begin): nothing (WHOLE: not a lone call the rule
# lets share; ALONE: one that could, with the helper asleep), its columns, or half its rows.
cdef enum Lone:
    WHOLE, ALONE, COLUMNS, ROWS
cdef unsigned long long WIDE_QUIET_TICKS = 26000000

# Training's forward x·W and weight gradient xᵀ·dz run on fastmlp's own GEMM up to
# plan.own_gemm_max multiply-adds, on BLAS above (dx = dz·Wᵀ on BLAS outside a team, unless
# plan.solo_transposes); the engine sets both (set_train_gemm_max) from the BLAS thread count,
# these are the defaults.
cdef Py_ssize_t TRAIN_OWN_GEMM_MAX = 1 << 22


cdef inline int _train_level(const Plan *plan, Py_ssize_t rows, const Step *s) noexcept nogil:
    """The GEMM level of a training product of this step: the plan's, or BLAS (0) past the
    plan's limit (none when a thread team trains: BLAS's threads would fight the team's)."""
    return plan.train_level if rows * s.n_in * s.n_out <= plan.own_gemm_max else 0

# The most threads one training call runs on, and the least a thread's share of a step must
# hold: rows, and multiply-adds of forward and backward. Each step, every thread reads all the
# weights and writes its part of them, so a part crosses between cores each step whatever the
# batch; on the AMD Zen 4 VM (2 cores, Fashion-MNIST, Adam) two threads gave, against one:
#   16 rows a thread (batch 32): M1 ×0.99, M2 ×1.12;  32 rows: ×1.29, ×1.35;  64: ×1.58, ×1.72
# in the VM's good phases, and ×0.3-0.6 below 64 rows a thread in its slow ones (see the README).
# (Measured before each member updated its share on a copy of its own, which made two threads
# 8-22% faster at 32-64 rows a thread; at 16 rows, M1 ×1.12-1.24 and M2 ×0.96-1.09 against
# one member on two cores in good phases, ×0.5 in a slow one: the bound stays.)
TEAM_MAX = 64
TEAM_MIN_ROWS = 32
TEAM_MIN_MACS = 1 << 20
# A unit team (batches that team_size leaves to one thread): the least multiply-adds of
# forward and backward a thread's units of a step must hold. AMD Zen 4 VM, Fashion-MNIST, Adam,
# batch 32, two threads against one: M1 ×1.48-1.58, M2 ×1.71-1.72 (at batch 128 M1 ×1.46 and
# M2 ×1.37 against the row team's ×1.67 and ×1.31 in the same minutes: see UNITS_BELOW_ROWS).
# Threads owning kernel *columns* instead ran at ×0.27 / ×0.32: a row of a kernel whose
# width is not a multiple of 16 floats puts a cache line astride the two threads' columns in
# every row, and the weights', gradients' and slots' lines then bounced between the cores.
UNIT_MIN_MACS = 1 << 20
# Where both kinds of team may train a call, the unit team takes it when the team sharing the
# rows would give a thread fewer than UNITS_BELOW_ROWS rows, or when the weights and a gradient
# of them (8 bytes a parameter) overflow one core's L2 cache (cpu_cache.l2_cache_bytes): each
# member of a rows team reads all the weights and writes a whole gradient every step, a unit
# team's member its units' share of each. Intel Xeon (Emerald Rapids, 2 MiB L2) VM, Fashion-MNIST, Adam,
# two threads, unit team against rows team, paired epochs (median): 784-100-10 ×1.06 at batch
# 64, ×0.97 at 128, ×0.94 at 256; 784-300-200-100-10 ×1.23 / ×1.04 / ×1.01; 784-256-128-10
# ×1.15 / ×1.04 / ×0.93; 784-512-10 ×1.44 / ×1.29 / ×1.15. On the AMD Zen 4 VM (1 MiB L2) at batch
# 128: 784-100-10 ×0.87, 784-300-200-100-10 ×1.05 (the figures above).
UNITS_BELOW_ROWS = 64
cdef enum:
    TEAM_BLOCK = 512  # elements of the gradient a team member sums at a time (in L1)
    UNIT_BLOCK = 16  # a unit team member's units come in blocks of this many


# The kinds of step, and their names in the step specs Python hands over.
cdef enum Kind:
    DENSE, ACTIVATION, DROPOUT, BATCH_NORM

KINDS = {"dense": DENSE, "activation": ACTIVATION, "dropout": DROPOUT, "batch_norm": BATCH_NORM}


cdef struct Step:
    Kind kind
    Py_ssize_t n_in, n_out
    # element offsets into the parameter buffer (−1: none): a dense kernel and bias, or batch
    # normalization's gamma and beta (trainable) and moving mean and variance (not)
    Py_ssize_t w_off, b_off, mean_off, var_off
    Py_ssize_t out_off           # per-row offset of this step's output in the training activations
    Py_ssize_t pre_off           # per-row offset of its kept pre-activation (−1: none kept)
    Py_ssize_t stat_off          # offset of batch normalization's batch statistics (3 × n_out)
    Py_ssize_t wt_off            # offset of a dense kernel's transpose in the Wᵀ buffer (−1: none)
    int act
    double alpha                 # the activation's parameter (leaky ReLU slope, ELU alpha)
    double rate                  # dropout
    uint64_t seed                # dropout: the layer's seed
    double momentum, epsilon     # batch normalization
    bint frozen                  # trainable=False: weights neither regularized nor updated
    # penalties (l1, l2) of the kernel, the bias and the output (Keras's regularizers), and the
    # constraints (codes of csrc/constraints.h, max_value) of the kernel and the bias
    double kernel_l1, kernel_l2, bias_l1, bias_l2, activity_l1, activity_l2
    int kernel_constraint, bias_constraint
    double kernel_max, bias_max


cdef struct Plan:
    Step *steps
    Py_ssize_t n_steps, n_inputs, n_outputs, max_width, max_hidden, total_units
    Py_ssize_t trainable         # parameters [0, trainable) have gradients and optimizer slots
    Py_ssize_t stats_size
    int loss
    int n_metrics                # the metrics computed on the outputs, up to MAX_METRICS
    int metrics[8]
    int top_k[8]
    bint fused
    double epsilon
    # the forward GEMMs (x·W) of inference and of training: fastmlp's own float32 GEMM at this
    # level (csrc/small_gemm.h), or BLAS (0); training's products run on it up to
    # own_gemm_max multiply-adds
    int predict_level, train_level
    Py_ssize_t own_gemm_max
    bint solo_transposes         # a lone training thread's dx = dz·Wᵀ on the own GEMM too
    # a first dense step on the own GEMM skips the inputs a whole block of rows has zero, in
    # its forward product and its kernel's gradient (csrc/kept_inputs.h; the same values)
    bint keep_inputs
    Py_ssize_t wt_size           # elements of the Wᵀ buffer (every dense kernel but the first's)


cdef struct Scratch:
    void *acts
    void *delta_a
    void *delta_b
    void *x_batch
    int32_t *labels_batch
    void *targets_batch
    void *weights_batch          # the gathered sample weights of a shuffled batch
    void *stats                  # batch normalization's batch statistics, every such step
    void *tmp                    # 2 × max_width, a step's per-column temporaries
    # the first dense step's kept inputs (csrc/kept_inputs.h), its forward's or its kernel
    # gradient's in turn, and the rows' bit masks they are made from (NULL: none kept)
    int32_t *kept
    Py_ssize_t *kept_at
    uint64_t *kept_masks
    # for tests, since the scratch was made: [0] products run over kept lists, [1] of those
    # the ones whose lists came from the masks _batch made, [2] one-thread training steps
    # that prefetched the next batch (a Call holds a copy of this struct, so the counts live
    # in the arrays)
    Py_ssize_t *counts


cdef enum Op:
    # PASS_SUMS: an EVALUATE call split across threads, its last step (_add_pass_sums)
    TRAIN, PREDICT, EVALUATE, PASS_SUMS, GRADIENT, GEMMS

cdef enum Fault:
    # a team's members report the largest of theirs
    OK, NONFINITE_LOSS, NONFINITE_X, BAD_INDEX


cdef struct Member:
    # one thread of a training team: its scratch and gradient buffer, its share of the
    # trainable parameters (reduced and updated by it), and its results for the current step
    Scratch scratch
    void *grads
    void *own_params             # its own copy of the parameters: it updates [lo, hi) there
    void *parts                  # a unit team's: two batch × max_width buffers of its x·W parts
    void *transposes             # and two more: a step's dzᵀ, and its units' dx transposed
    Py_ssize_t lo, hi
    Py_ssize_t rows
    double loss
    double metric_sums[8]
    Fault fault


cdef struct Team:
    fm_team_barrier barrier
    Py_ssize_t size
    Member *members
    bint splits                  # the update rule applies a step in parts
    bint units                   # each member owns units of every layer (_unit_steps)
    double lr                    # the learning rate of the step being applied in parts


cdef struct Wide:
    # the chunks of each step of a wide call (n_steps counters each): taken, and written
    long *claimed
    long *finished
    long helper_chunks           # chunks the helper wrote (it alone writes this)


cdef struct Call:
    # what one entry point hands its loop: a copy of the plan (its loss settings cannot change
    # under a running loop), pointers checked by the entry point, and the results
    Op op
    Plan plan
    Scratch scratch
    void *rule
    void *grads
    void *wt                     # the Wᵀ buffer (NULL: dx = dz·Wᵀ by BLAS reading W)
    Team *team                   # the threads of a TRAIN call (NULL: the calling thread alone)
    const void *x
    const int32_t *labels
    const void *targets
    const void *weights          # per-sample loss weights (NULL: none)
    const int64_t *order
    void *out
    void *work
    const float *packed          # PREDICT, EVALUATE: the weights packed (NULL: read in place)
    const int64_t *packed_at     # and where each step's kernel starts in them (−1: none)
    Wide *wide                   # PREDICT: its dense steps' columns shared with a helper (NULL: none)
    # PREDICT: the weights are finite, so a pass may skip products of zero inputs: a one-row
    # pass its input's zeros in every dense step (csrc/sparse_row.h), a longer one its first
    # step's inputs zero across a block of rows (csrc/kept_inputs.h)
    bint skip_zeros
    # PREDICT, EVALUATE: each pass checks that its x is finite (in its first product's lists
    # where it builds them, which read every element anyway), and x_not_finite says one was
    # not. TRAIN: each step checks its batch's rows of x as it gathers them (NONFINITE_X)
    bint check_x
    bint x_not_finite
    bint helping                 # a helper's copy of a wide call: it stops before the last step
    # EVALUATE: NULL, or where each pass writes its activity penalty, loss and metric sums
    # (2 + n_metrics doubles a pass, from the call's first) instead of adding them up
    double *pass_sums
    Py_ssize_t rows, first, n_steps, batch
    Py_ssize_t units             # GEMMS: a unit team's size, whose member 0's products run (1: all)
    uint64_t seed                # this epoch's dropout seed
    double loss_sum
    double metric_sums[8]
    Py_ssize_t samples, bad_step
    Fault fault


# The boxes through which helper threads take parts of large inference calls (csrc/handoff.h):
# box i is served by helper i (fastmlp/parallel.py starts them; serve_box is their loop).
cdef enum:
    HELPERS_MAX_C = 63
HELPERS_MAX = HELPERS_MAX_C
cdef fm_box _boxes[HELPERS_MAX_C]  # a C static: zeroed, which is sleeping and unowned

# Lone calls (WIDE_CHUNKS): how many threads one may use (1: none shares), how to start helper
# 0 (a callable returning its wake event, or None), that event once started, when the last
# call that could share ended; and, for the quiet rule, inference and training calls running
# now and until when no call may share. Read and written with the GIL held.
cdef Py_ssize_t _wide_threads = 1
cdef object _wide_starter = None
cdef object _wide_wake = None
cdef unsigned long long _wide_last = 0
cdef Py_ssize_t _in_flight = 0
cdef unsigned long long _shared_until = 0
cdef Py_ssize_t _lone_posted = 0    # for wide_state: calls that posted a share to helper 0,
cdef Py_ssize_t _helper_chunks = 0  # the column chunks it wrote for wide calls,
cdef Py_ssize_t _helper_parts = 0   # and the row halves it ran


cdef inline bint _alone_at(unsigned long long now):
    """Whether a call beginning at `now` runs alone: none in flight, and none beside another
    for WIDE_QUIET_TICKS (GIL held)."""
    return _in_flight == 0 and now >= _shared_until


cdef bint _call_begins():
    """Counts a call in (GIL held); whether it runs alone (_alone_at)."""
    global _in_flight, _shared_until
    cdef unsigned long long now = fm_handoff_now()
    cdef bint alone = _alone_at(now)
    if _in_flight > 0:
        _shared_until = now + WIDE_QUIET_TICKS
    _in_flight += 1
    return alone


cdef void _call_ends():
    global _in_flight
    _in_flight -= 1


def set_wide_threads(Py_ssize_t threads, starter=None):
    """How many threads one lone inference call may use (see WIDE_CHUNKS, SPLIT_MIN_MACS): 2
    or more lets it share its columns or rows with part helper 0, which starter() starts and
    returns the wake event of (None if it cannot); 1 runs every call on its calling thread."""
    global _wide_threads, _wide_starter, _wide_wake
    if threads < 1:
        raise ValueError(f"`threads` must be >= 1; received {threads}")
    if threads >= 2 and not callable(starter):
        raise ValueError("`starter` must be callable when `threads` >= 2")
    _wide_threads, _wide_starter = threads, starter
    if threads < 2:
        _wide_wake = None


def set_wide_quiet_ticks(unsigned long long ticks) -> int:
    """Test hook: how long (in fm_handoff_now's ticks) calls go on counting as shared after two
    overlapped (default WIDE_QUIET_TICKS, about 10 ms), a window that from now on ends `ticks`
    from now at the latest; returns the previous value. A test that reads the state right
    after two callers stop lengthens it, so a slow thread join on a busy machine cannot
    outlast it."""
    global WIDE_QUIET_TICKS, _shared_until
    cdef unsigned long long previous = WIDE_QUIET_TICKS
    WIDE_QUIET_TICKS = ticks
    _shared_until = min(_shared_until, fm_handoff_now() + ticks)
    return previous


def wide_state() -> dict:
    """Test hook: the wide calls' settings and counts (see WIDE_CHUNKS)."""
    return {"threads": _wide_threads, "helper": _wide_wake is not None, "in_flight": _in_flight,
            "alone": _alone_at(fm_handoff_now()),
            "posted": _lone_posted, "helper_chunks": _helper_chunks,
            "helper_parts": _helper_parts}


cdef void _lone_free(Call *c, Part *part, int mode, bint taken_back):
    """Counts a lone call's share that has ended (GIL held), frees what it held, and notes
    when a call that could share ended (a stream: the next one wakes a sleeping helper)."""
    global _lone_posted, _helper_chunks, _helper_parts, _wide_last
    if mode != WHOLE:
        _wide_last = fm_handoff_now()
    if mode == COLUMNS or mode == ROWS:
        _lone_posted += 1
    if mode == COLUMNS:
        _helper_chunks += c.wide.helper_chunks
        free(c.wide)
        c.wide = NULL
    elif mode == ROWS:
        _helper_parts += not taken_back
        free(part.call.work)
        part.call.work = NULL


cdef struct Chunks:
    # a split inference call's rows, in chunks its threads claim in turn (predict_parts,
    # evaluate on threads)
    const char *x
    char *out                    # predict's outputs (NULL: evaluate's calls write pass sums)
    size_t x_row, out_row        # bytes of a row of x, of out
    const Py_ssize_t *starts     # chunk i: rows [starts[i], starts[i + 1])
    long count
    long claimed                 # chunks handed out (fm_claim_chunk; count or more: none left)
    # evaluate: its labels, targets and sample weights (NULL: none), and where pass j's sums go
    const int32_t *labels
    const char *targets
    const char *weights
    size_t item                  # bytes of an element
    double *sums
    Py_ssize_t sums_per_pass


cdef struct Part:
    # one part of a split inference call: its call (rows, scratch, packs) and the weights; with
    # chunks (not NULL), the call runs the chunks it claims instead of its own rows
    Call call
    void *params
    bint is_double
    Chunks *chunks


cdef void _run_part(Part *p) noexcept nogil:
    """Runs part p: its call, or the chunks of p.chunks it claims until none is left (the call
    takes each chunk's rows in turn). A chunk whose x is not finite ends the claiming for
    every thread: the call's output is dropped."""
    cdef Chunks *q = p.chunks
    cdef long i
    cdef Py_ssize_t start
    if q == NULL:
        _run(&p.call, p.params, p.is_double)
        return
    while True:
        i = fm_claim_chunk(&q.claimed)
        if i >= q.count:
            return
        start = q.starts[i]
        p.call.x = q.x + start * q.x_row
        p.call.rows = q.starts[i + 1] - start
        if q.sums == NULL:
            p.call.out = q.out + start * q.out_row
        else:
            # chunks start at a pass of evaluate's (p.call.batch rows)
            p.call.labels = q.labels + start if q.labels != NULL else NULL
            p.call.targets = q.targets + start * q.out_row if q.targets != NULL else NULL
            p.call.weights = q.weights + start * q.item if q.weights != NULL else NULL
            p.call.pass_sums = q.sums + start // p.call.batch * q.sums_per_pass
        _run(&p.call, p.params, p.is_double)
        if p.call.x_not_finite:
            fm_team_store(&q.claimed, q.count)  # the others stop at their next claim
            return


cdef Py_ssize_t *_chunk_starts(Py_ssize_t rows, Py_ssize_t threads, Py_ssize_t most,
                               Py_ssize_t least, Py_ssize_t unit, long *count) except NULL:
    """The bounds of a split inference call's chunks (a malloc'd array of count[0] + 1 row
    indices, from 0 to rows; the caller frees it). Guided: each chunk 1/(2·threads) of the
    rows left, a multiple of `unit` rows (a tile's) from `least` to `most` (a pass) rounded
    to it, the last what is left: the first chunks are large, and the last ones, which
    decide how long one thread waits for another's, small."""
    cdef Py_ssize_t start, size, n = 0, i
    cdef Py_ssize_t *starts = NULL
    if rows < 1 or threads < 1 or most < 1 or least < 1 or unit < 1:
        raise ValueError(f"_chunk_starts: rows {rows}, threads {threads}, most {most}, least "
                         f"{least} and unit {unit} must be positive")
    least = (least + unit - 1) // unit * unit
    most = max(least, most // unit * unit)
    for i in range(2):
        start = 0
        n = 0
        while start < rows:
            if i:
                starts[n] = start
            size = (rows - start + 2 * threads - 1) // (2 * threads)
            size = min(max(least, (size + unit - 1) // unit * unit), most)
            start += min(size, rows - start)
            n += 1
        if i == 0:
            starts = <Py_ssize_t *>malloc((n + 1) * sizeof(Py_ssize_t))
            if starts == NULL:
                raise MemoryError()
    starts[n] = rows
    count[0] = n
    return starts


def chunk_starts(Py_ssize_t rows, Py_ssize_t threads, Py_ssize_t most, Py_ssize_t least,
                 Py_ssize_t unit=FM_MR):
    """Test hook: the bounds of predict_parts' chunks (_chunk_starts) as a list, 0 to rows."""
    cdef long count
    cdef Py_ssize_t *starts = _chunk_starts(rows, threads, most, least, unit, &count)
    try:
        return [starts[i] for i in range(count + 1)]
    finally:
        free(starts)


cdef int _share_parts(Part *ps, Py_ssize_t parts, wakes) except -1:
    """Runs parts ps[0..parts) of a split call whose chunks they claim: part k < parts − 1 goes
    to helper k when this call can claim its box (wakes[k]: its threading.Event, set when the
    helper sleeps), the last on the calling thread, which claims chunks until none is left
    and then waits for the helpers' last ones (a part no box took has nothing left to claim).
    After an exception between posting and waiting (waking a helper failed), a part no helper
    has taken is withdrawn and one a helper runs is waited for before it propagates: the
    parts' buffers may then be freed. GIL held."""
    cdef bint posted[HELPERS_MAX_C]
    cdef Py_ssize_t k
    if not 1 <= parts <= HELPERS_MAX_C + 1:
        raise ValueError(f"a split call takes 1 to {HELPERS_MAX_C + 1} parts; received {parts}")
    for k in range(parts - 1):
        posted[k] = False
    try:
        for k in range(parts - 1):
            if FM_HANDOFF and fm_box_claim(&_boxes[k]):
                posted[k] = True
                if not fm_box_post(&_boxes[k], &ps[k]):
                    wakes[k].set()
        with nogil:
            _run_part(&ps[parts - 1])
            for k in range(parts - 1):
                if posted[k]:
                    fm_box_wait_done(&_boxes[k])
                    fm_box_release(&_boxes[k])
                    posted[k] = False
    finally:
        for k in range(parts - 1):
            if posted[k]:
                if not fm_box_withdraw(&_boxes[k]):
                    with nogil:
                        fm_box_wait_done(&_boxes[k])
                fm_box_release(&_boxes[k])
    return 0


def serve_box(Py_ssize_t index, wake):
    """The loop of helper thread `index` (fastmlp.parallel starts it): runs the parts posted to
    its box, spinning for the next after each (csrc/handoff.h), and sleeps on `wake` (a
    threading.Event, set by a caller that posts to the sleeping box) once the box is marked
    SLEEPING. Never returns."""
    if not 0 <= index < HELPERS_MAX:
        raise ValueError(f"`index` must lie in [0, {HELPERS_MAX}); received {index}")
    cdef fm_box *box = &_boxes[index]
    cdef Part *part
    while True:
        with nogil:
            part = <Part *>fm_box_next(box)
            while part != NULL:
                _run_part(part)
                fm_box_done(box)
                part = <Part *>fm_box_next(box)
        wake.wait()
        wake.clear()


def reset_boxes():
    """Every box as no helper has served it (sleeping, unowned): in a forked child, which has
    none of the parent's helper threads."""
    global _wide_wake, _in_flight, _shared_until
    cdef Py_ssize_t i
    for i in range(HELPERS_MAX):
        fm_box_reset(&_boxes[i])
    _wide_wake = None  # started again by the next wide call
    _in_flight = 0     # the forking thread is in no call, and no other thread came along
    _shared_until = 0


def box_state(Py_ssize_t index) -> int:
    """Test hook: the state of box `index` (0 sleeping, 1 idle, 2 posted, 3 done, 4 running)."""
    if not 0 <= index < HELPERS_MAX:
        raise ValueError(f"`index` must lie in [0, {HELPERS_MAX}); received {index}")
    return _boxes[index].state


HANDOFF = bool(FM_HANDOFF)


cdef void _use_packs(Call *c, packs):
    """c reads the packed kernels of Network._packs_for (None: the weights in place); the
    caller keeps packs alive while c runs."""
    if packs is None:
        c.packed, c.packed_at = NULL, NULL
    else:
        c.packed = aligned_floats(<cnp.ndarray>packs[2])
        c.packed_at = <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>packs[3])


cdef void _point(Scratch *sc, tuple arrays):
    """sc := pointers into the arrays of Network._new_scratch."""
    sc.acts = cnp.PyArray_DATA(<cnp.ndarray>arrays[0])
    sc.delta_a = cnp.PyArray_DATA(<cnp.ndarray>arrays[1])
    sc.delta_b = cnp.PyArray_DATA(<cnp.ndarray>arrays[2])
    sc.x_batch = cnp.PyArray_DATA(<cnp.ndarray>arrays[3])
    sc.labels_batch = <int32_t *>cnp.PyArray_DATA(<cnp.ndarray>arrays[4])
    sc.targets_batch = cnp.PyArray_DATA(<cnp.ndarray>arrays[5])
    sc.stats = cnp.PyArray_DATA(<cnp.ndarray>arrays[6])
    sc.tmp = cnp.PyArray_DATA(<cnp.ndarray>arrays[7])
    sc.weights_batch = cnp.PyArray_DATA(<cnp.ndarray>arrays[8])
    # size 0 where the plan keeps no inputs
    sc.kept = <int32_t *>cnp.PyArray_DATA(<cnp.ndarray>arrays[9]) if len(arrays[9]) else NULL
    sc.kept_at = <Py_ssize_t *>cnp.PyArray_DATA(<cnp.ndarray>arrays[10]) if sc.kept else NULL
    sc.kept_masks = <uint64_t *>cnp.PyArray_DATA(<cnp.ndarray>arrays[11]) if sc.kept else NULL
    sc.counts = <Py_ssize_t *>cnp.PyArray_DATA(<cnp.ndarray>arrays[12])


cdef inline bint _well_formed(object arr, int typenum, int ndim, Py_ssize_t d0, Py_ssize_t d1,
                              bint writeable):
    """The fast path of checks.check_array, in a few C reads per call (one-sample predict
    pays for three arrays): an aligned C-contiguous native-endian array of this type and shape
    (−1: any),
    writeable when asked. False sends the caller to check_array for the error message."""
    if not cnp.PyArray_Check(arr):
        return False
    cdef cnp.ndarray a = <cnp.ndarray>arr
    if cnp.PyArray_TYPE(a) != typenum or cnp.PyArray_NDIM(a) != ndim:
        return False
    if not (cnp.PyArray_ISCARRAY_RO(a) and cnp.PyArray_ISNOTSWAPPED(a)):
        return False
    if writeable and not cnp.PyArray_ISWRITEABLE(a):
        return False
    cdef cnp.npy_intp *dims = cnp.PyArray_DIMS(a)
    return (d0 < 0 or dims[0] == d0) and (ndim < 2 or d1 < 0 or dims[1] == d1)


# Measurement switches (bench/ablation.py switches each off in turn, to measure what it buys);
# both on unless a measurement turns them off. Read by compiled code without the GIL: a plain
# C flag each.
cdef bint _flushing = True
cdef bint _prefetching = True


def set_flush_denormals(bint on) -> None:
    """For the benchmark's ablation: whether this module's calls (fit, evaluate, predict) run
    with denormals flushed to zero (on, the default; UpdateRule.step flushes regardless). Off,
    Adam's moments may decay into subnormals and run slower; the caller's floating-point state
    is left alone either way."""
    global _flushing
    _flushing = on


def flush_denormals() -> bool:
    """Whether this module's calls flush denormals to zero (set_flush_denormals)."""
    return _flushing


def set_prefetch_batches(bint on) -> None:
    """For the benchmark's ablation: whether a training step brings the next shuffled batch's
    rows into cache while its products run (on, the default). The same results either way."""
    global _prefetching
    _prefetching = on


def prefetch_batches() -> bool:
    """Whether training steps prefetch the next batch's rows (set_prefetch_batches)."""
    return _prefetching


cdef inline unsigned long long _flush_begin(bint flush) noexcept nogil:
    return fm_flush_denormals_begin() if flush else 0


cdef inline void _flush_end(bint flush, unsigned long long fp_state) noexcept nogil:
    # only what _flush_begin read goes back: writing 0 to MXCSR would unmask every FP exception
    if flush:
        fm_flush_denormals_end(fp_state)


cdef void _run(Call *c, void *params, bint is_double) noexcept nogil:
    """The one place that picks the float or the double instance of the loops, and that runs
    them with denormals flushed to zero (the caller's floating-point state restored after;
    unless set_flush_denormals turned the flush off, for a measurement)."""
    cdef bint flush = _flushing  # read once: a switch made meanwhile cannot unpair the two
    cdef unsigned long long fp_state = _flush_begin(flush)
    if is_double:
        _dispatch[double](c, <double *>params)
    else:
        _dispatch[float](c, <float *>params)
    _flush_end(flush, fp_state)


cdef void _dispatch(Call *c, floating *params) noexcept nogil:
    if c.op in (TRAIN, GEMMS) and c.wt != NULL:
        # the weights may have changed since the last call (set_weights, a rewind)
        _transpose_weights(&c.plan, params, <floating *>c.wt, 0, PY_SSIZE_T_MAX)
    if c.op == TRAIN and c.team != NULL:
        if floating is float:
            if c.team.units:
                _unit_steps(c, params, 0)
                return
        _team_steps(c, params, 0)
    elif c.op == TRAIN:
        _train_steps(c, params)
    elif c.op == PREDICT:
        _predict(c, params)
    elif c.op == EVALUATE:
        _evaluate(c, params)
    elif c.op == PASS_SUMS:
        _add_pass_sums(c, params)
    elif c.op == GRADIENT:
        c.loss_sum = _forward_backward(&c.plan, &c.scratch, params, <const floating *>c.wt,
                                       <floating *>c.grads, <const floating *>c.x, c.labels,
                                       <const floating *>c.targets, <const floating *>c.weights,
                                       c.rows, c.rows, 0, True, c.seed, 0, NULL, NULL)
    elif floating is float and c.team != NULL:
        _member_gemms(c, params, 0)  # GEMMS, with the team's members at once
    else:
        _gemms_only(c, params)


def _check_step(Py_ssize_t l, spec, Py_ssize_t trainable, Py_ssize_t size):
    """One step spec, checked: every size in range, every weight inside its part of params."""
    if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
        raise ValueError(f"step {l}: a step is a dict whose 'kind' is one of {sorted(KINDS)}; "
                         f"received {spec!r}")
    kind = KINDS[spec["kind"]]
    out = {"kind": kind, "w_off": -1, "b_off": -1, "mean_off": -1, "var_off": -1,
           "act": FM_LINEAR, "alpha": 0.0, "rate": 0.0, "seed": 0, "momentum": 0.0,
           "epsilon": 0.0}
    a, b = int(spec.get("n_in", 0)), int(spec.get("n_out", 0))
    if not (1 <= a <= BLAS_MAX and 1 <= b <= BLAS_MAX):
        raise ValueError(f"step {l}: sizes must lie in [1, {BLAS_MAX}]; received {a} -> {b}")
    if kind != DENSE and a != b:
        raise ValueError(f"step {l}: a {spec['kind']} step keeps its width; received {a} -> {b}")
    out["n_in"], out["n_out"] = a, b

    def region(key, count, lo, hi, what, optional=True):
        off = int(spec.get(key, -1))
        if off == -1 and optional:
            return -1
        if off < lo or off + count > hi:
            raise ValueError(f"step {l}: its {what} ({count} values at offset {off}) must lie in "
                             f"params[{lo}:{hi}]")
        return off

    frozen = bool(spec.get("frozen", False))
    out["frozen"] = frozen
    weights_end = size if frozen else trainable  # frozen weights have no gradient slots
    for key in ("kernel_l1", "kernel_l2", "bias_l1", "bias_l2", "activity_l1", "activity_l2",
                "kernel_max", "bias_max"):
        value = float(spec.get(key, 0.0))
        if not (value >= 0 and value < float("inf")):
            raise ValueError(f"step {l}: {key} must be a non-negative finite number; received {value}")
        out[key] = value
    for key in ("kernel_constraint", "bias_constraint"):
        code = spec.get(key, 0)
        if isinstance(code, bool) or code not in CONSTRAINT_CODES.values():
            raise ValueError(f"step {l}: unknown {key} code {code!r}")
        out[key] = code
    if kind != DENSE and any(out[k] for k in ("kernel_l1", "kernel_l2", "bias_l1", "bias_l2",
                                              "activity_l1", "activity_l2", "kernel_constraint",
                                              "bias_constraint")):
        raise ValueError(f"step {l}: only dense steps take regularizers and constraints")
    if kind in (DENSE, ACTIVATION):
        out["act"] = check_activation(spec.get("activation"))
        out["alpha"] = check_alpha(out["act"], float(spec.get("alpha", 0.0)))
    if kind == DENSE:
        out["w_off"] = region("w_off", a * b, 0, weights_end, "kernel", optional=False)
        out["b_off"] = region("b_off", b, 0, weights_end, "bias")
    elif kind == DROPOUT:
        rate = float(spec.get("rate", -1))
        if not 0 <= rate < 1:
            raise ValueError(f"step {l}: a dropout rate must lie in [0, 1); received {rate}")
        seed = spec.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 64:
            raise ValueError(f"step {l}: a dropout seed must be an integer in [0, 2**64); "
                             f"received {seed!r}")
        out["rate"], out["seed"] = rate, int(seed)
    elif kind == BATCH_NORM:
        out["w_off"] = region("w_off", b, 0, weights_end, "gamma")
        out["b_off"] = region("b_off", b, 0, weights_end, "beta")
        out["mean_off"] = region("mean_off", b, trainable, size, "moving mean", optional=False)
        out["var_off"] = region("var_off", b, trainable, size, "moving variance", optional=False)
        momentum, eps = float(spec.get("momentum", 0.99)), float(spec.get("epsilon", 1e-3))
        if not (0 <= momentum <= 1 and 0 < eps < float("inf")):
            raise ValueError(f"step {l}: batch normalization needs momentum in [0, 1] and a "
                             f"positive finite epsilon; received {momentum}, {eps}")
        out["momentum"], out["epsilon"] = momentum, eps
    return out


def _metric_pairs(metrics):
    """(code, k) pairs from one code (0: none) or a sequence of codes or pairs."""
    if isinstance(metrics, int):
        return [] if metrics == 0 else check_metrics([metrics])
    return check_metrics(list(metrics))


cdef void _set_metrics(Plan *plan, pairs):
    plan.n_metrics = len(pairs)
    for i, (code, k) in enumerate(pairs):
        plan.metrics[i] = code
        plan.top_k[i] = k


cdef tuple _sums(Call *c):
    return tuple(c.metric_sums[i] for i in range(c.plan.n_metrics))


cdef inline void _add_metrics(const Plan *plan, double *sums, const floating *outputs,
                              const int32_t *labels, const floating *targets,
                              Py_ssize_t rows) noexcept nogil:
    """sums[i] += metric i's sum over `rows` rows of the outputs (a call's sums, or a team
    member's of its rows)."""
    cdef int i
    for i in range(plan.n_metrics):
        sums[i] += accuracy_sum(plan.metrics[i], outputs, labels, targets, rows,
                                plan.n_outputs, plan.top_k[i])


class InputNotFinite(ValueError):
    """A call told to check x (check_x=True) found NaN or infinity in it: Network.train in a
    row of step `step` (that step was not applied, the steps of the call before it were),
    Network.evaluate anywhere (step None; its sums were dropped)."""

    def __init__(self, step=None):
        super().__init__("`x` holds NaN or infinity" + (
            "" if step is None else f" in a row of step {step}; that step was not applied"))
        self.step = step


cdef class Network:
    """Compiled plan of a chain of steps over flat parameter and gradient buffers.

    Args:
        params: flat C-contiguous float32/float64 array holding every weight (trained in place).
        grads: flat array of the same dtype, of the trainable prefix's size (`trainable`).
        steps: one dict a step, input to output: "kind" ('dense', 'activation', 'dropout',
            'batch_norm'), "n_in", "n_out"; a dense step "activation" (a code of
            fastmlp._kernels.codes), "alpha", "w_off", "b_off" (−1: no bias); an activation
            step "activation", "alpha"; a dropout step "rate", "seed"; a batch normalization
            step "w_off" (gamma), "b_off" (beta; −1: none), "mean_off", "var_off", "momentum",
            "epsilon". Trainable weights lie in [0, trainable), moving statistics after it.
        trainable: the size of the trainable prefix of params.
    """
    cdef Plan plan
    cdef readonly bint is_double, has_dropout
    cdef readonly object dtype, params, grads
    cdef readonly Py_ssize_t size, trainable, capacity
    cdef object _scratch_arrays
    cdef Scratch _scratch
    cdef object _wt              # the Wᵀ buffer (plan.wt_size float32), made by the first team
    cdef object _team_arrays     # the helper threads' scratch and gradients, for _team_key
    cdef object _team_key
    cdef bint _busy
    cdef int _typenum
    cdef object _published         # the weights readers see: the engine's published snapshot
    cdef object _packs             # (published, level, buffer, offsets) of its packed kernels
    cdef object _finite_of         # the published snapshot _published_finite was found for
    cdef bint _published_finite    # whether every element of it is finite (_skips_zeros)
    cdef Py_ssize_t _pack_min_rows  # a call this large packs them (PACK_MIN_ROWS)
    cdef Py_ssize_t _unpacked_calls  # calls that could have read packs since the publish
    cdef Py_ssize_t _fast_rows     # predict_published takes up to this many rows
    cdef Py_ssize_t _wide_min_macs  # WIDE_MIN_MACS, or as a test set it
    cdef bint _wide_ok             # its one- and two-row calls may split (see WIDE_CHUNKS)
    cdef Py_ssize_t _split_min_macs  # SPLIT_MIN_MACS, or as a test set it
    cdef Py_ssize_t _row_macs      # multiply-adds of one row's dense steps
    cdef Py_ssize_t _units_below_rows  # UNITS_BELOW_ROWS, or as a test set it
    cdef Py_ssize_t _cache_bytes   # the L2 cache's bytes, or as a test set them
    cdef bint _split_ok            # its lone calls of 3+ rows may hand half to helper 0
    cdef int _row_ndim             # and rows of this shape (0: not set)
    cdef cnp.npy_intp _row_dims[8]

    def __cinit__(self):
        self.plan.steps = NULL
        self.plan.loss = -1

    def __dealloc__(self):
        free(self.plan.steps)

    def __init__(self, params, grads, steps, trainable):
        if self.plan.steps != NULL:
            raise RuntimeError("this Network is already initialised")
        dtype = getattr(params, "dtype", None)
        if dtype not in (np.float32, np.float64):
            raise ValueError(f"`params` must be a float32 or float64 array; received {dtype}")
        check_array(params, "params", dtype, (None,), writeable=True)
        size = params.shape[0]
        if isinstance(trainable, bool) or not isinstance(trainable, (int, np.integer)) or not 0 <= trainable <= size:
            raise ValueError(f"`trainable` must be an integer in [0, {size}]; received {trainable!r}")
        trainable = int(trainable)
        check_array(grads, "grads", dtype, (trainable,), writeable=True)
        if np.shares_memory(params, grads):
            raise ValueError("`params` and `grads` must not share memory")
        specs = list(steps)
        if not specs:
            raise ValueError("a Network needs one or more steps")
        checked = [_check_step(l, spec, trainable, size) for l, spec in enumerate(specs)]
        for l in range(1, len(checked)):
            if checked[l]["n_in"] != checked[l - 1]["n_out"]:
                raise ValueError(f"step {l} takes {checked[l]['n_in']} inputs but step {l - 1} "
                                 f"gives {checked[l - 1]['n_out']}")
        n = len(checked)
        self.plan.steps = <Step *>calloc(n, sizeof(Step))
        if self.plan.steps == NULL:
            raise MemoryError()
        total = stats = transposed = 0
        for l, spec in enumerate(checked):
            keep_pre = spec["kind"] == DENSE and needs_pre(spec["act"])
            # a dense step after the first passes a gradient back: dx = dz·Wᵀ
            has_wt = spec["kind"] == DENSE and l > 0
            self.plan.steps[l] = Step(
                kind=spec["kind"], n_in=spec["n_in"], n_out=spec["n_out"], w_off=spec["w_off"],
                b_off=spec["b_off"], mean_off=spec["mean_off"], var_off=spec["var_off"],
                out_off=total, pre_off=total + spec["n_out"] if keep_pre else -1,
                stat_off=stats, wt_off=transposed if has_wt else -1, act=spec["act"],
                alpha=spec["alpha"], rate=spec["rate"],
                seed=spec["seed"], momentum=spec["momentum"], epsilon=spec["epsilon"],
                frozen=spec["frozen"], kernel_l1=spec["kernel_l1"], kernel_l2=spec["kernel_l2"],
                bias_l1=spec["bias_l1"], bias_l2=spec["bias_l2"],
                activity_l1=spec["activity_l1"], activity_l2=spec["activity_l2"],
                kernel_constraint=spec["kernel_constraint"],
                bias_constraint=spec["bias_constraint"], kernel_max=spec["kernel_max"],
                bias_max=spec["bias_max"])
            total += spec["n_out"] * (2 if keep_pre else 1)
            stats += 3 * spec["n_out"] if spec["kind"] == BATCH_NORM else 0
            transposed += spec["n_in"] * spec["n_out"] if has_wt else 0
        self.plan.n_steps = n
        self.plan.n_inputs = checked[0]["n_in"]
        self.plan.n_outputs = checked[n - 1]["n_out"]
        self.plan.max_width = max(max(s["n_in"], s["n_out"]) for s in checked)
        self.plan.max_hidden = max([s["n_out"] for s in checked[:n - 1]] or [1])
        self.plan.total_units = total
        self.plan.trainable = trainable
        self.plan.stats_size = max(stats, 1)
        # float32 forward GEMMs on fastmlp's own kernel: inference always (it runs on the
        # calling thread alone, so request threads scale), training up to TRAIN_OWN_GEMM_MAX
        self.plan.predict_level = 0 if dtype == np.float64 else fm_small_gemm_level()
        self.plan.train_level = self.plan.predict_level
        self.plan.own_gemm_max = TRAIN_OWN_GEMM_MAX
        self.plan.solo_transposes = False
        self.plan.keep_inputs = dtype == np.float32 and checked[0]["kind"] == DENSE
        self.plan.wt_size = transposed
        self._wt = None
        self._team_arrays = None
        self._team_key = None
        self.has_dropout = any(s["kind"] == DROPOUT for s in checked)
        self.dtype = dtype
        self.is_double = dtype == np.float64
        self._typenum = cnp.NPY_DOUBLE if self.is_double else cnp.NPY_FLOAT
        self.params = params
        self.grads = grads
        self.size = size
        self.trainable = trainable
        self.capacity = 0
        self._pack_min_rows = PACK_MIN_ROWS
        self._units_below_rows = UNITS_BELOW_ROWS
        self._cache_bytes = l2_cache_bytes()
        self._wide_min_macs = WIDE_MIN_MACS
        self._split_min_macs = SPLIT_MIN_MACS
        self._refresh_wide()

    cdef void _refresh_wide(self):
        """_wide_ok := whether this network's few-row calls may split (WIDE_CHUNKS): float32 on
        fastmlp's own GEMM, dense and dropout steps only, no softmax before the last step, and
        _wide_min_macs multiply-adds a row before the last step."""
        cdef const Step *s
        cdef Py_ssize_t l, macs = 0, last = self.plan.n_steps - 1
        cdef bint own = not self.is_double and self.plan.predict_level > 0
        cdef bint ok = own and last >= 1
        self._row_macs = 0
        for l in range(self.plan.n_steps):
            s = &self.plan.steps[l]
            if s.kind == DENSE:
                self._row_macs += s.n_in * s.n_out
                if l < last:
                    ok = ok and s.act != FM_SOFTMAX
                    macs += s.n_in * s.n_out
            elif s.kind != DROPOUT:
                ok = False
        self._wide_ok = ok and macs >= self._wide_min_macs
        # rows split whatever the steps (each row's outputs are its own); on fastmlp's GEMM
        # only, never beside BLAS's threads
        self._split_ok = own

    @property
    def wide(self) -> bool:
        """Whether this network's one- and two-row inference calls may split with a helper
        (see WIDE_CHUNKS; set_wide_threads says whether they do)."""
        return self._wide_ok

    def set_wide_min_macs(self, Py_ssize_t macs):
        """For tests and the benchmark: split few-row calls from `macs` multiply-adds a row
        before the last step (default WIDE_MIN_MACS)."""
        if macs < 0:
            raise ValueError(f"`macs` must be >= 0; received {macs}")
        self._wide_min_macs = macs
        self._refresh_wide()

    def split_rows_from(self) -> int:
        """The fewest rows (3 or more) of a lone inference call that hands half of them to a
        helper (see SPLIT_MIN_MACS), or 0 where none does (float64, BLAS)."""
        if not self._split_ok:
            return 0
        cdef Py_ssize_t per_row = max(1, self._row_macs)
        return max(FM_PACKED_MIN_ROWS, (self._split_min_macs + per_row - 1) // per_row)

    def set_split_min_macs(self, Py_ssize_t macs):
        """For tests and the benchmark: lone calls of 3+ rows split from `macs` multiply-adds
        in all (default SPLIT_MIN_MACS)."""
        if macs < 0:
            raise ValueError(f"`macs` must be >= 0; received {macs}")
        self._split_min_macs = macs

    @property
    def published(self):
        """The weights readers see: the engine's published snapshot, which it replaces and
        never modifies (predict_published reads it, and its packed kernels are kept for it
        until the next one)."""
        return self._published

    @published.setter
    def published(self, weights):
        self._published = weights
        self._packs = None
        self._unpacked_calls = 0

    @property
    def pack_min_rows(self) -> int:
        """The fewest rows of a call that packs the published weights (PACK_MIN_ROWS)."""
        return self._pack_min_rows

    def set_pack_min_rows(self, Py_ssize_t rows):
        """Sets pack_min_rows, for tests and the benchmark, and drops the packs; 0: never
        pack."""
        if rows < 0:
            raise ValueError(f"`rows` must be >= 0; received {rows}")
        self._pack_min_rows = rows
        self._packs = None
        self._unpacked_calls = 0

    @property
    def packed(self) -> bool:
        """Whether the published weights are packed now (csrc/packed_weights.h)."""
        packs = self._packs
        return packs is not None and packs[0] is self._published

    def skips_zeros(self, params) -> bool:
        """Whether inference passes over params skip products of zero inputs: a one-row pass
        reads only the rows of each dense kernel where the step's input is not zero, a longer
        one skips in its first product the inputs a block of rows has zero (_skips_zeros)."""
        return self._skips_zeros(params)

    def pack_for_call(self, params, Py_ssize_t rows) -> bool:
        """Packs the published weights by the rule for a call of `rows` rows reading `params`,
        before that call splits into parts (each part a smaller call); returns whether they
        are packed."""
        return self._packs_for(params, rows) is not None

    cdef object _packs_for(self, params, Py_ssize_t rows):
        """(published, level, buffer, offsets): the published weights' kernels packed for the
        inference GEMM, when `params` is the published snapshot and a call of `rows` rows reads
        packs (see PACK_MIN_ROWS); None: read them in place. Packs with the GIL held, so that
        threads calling at once pack once (and count their calls exactly)."""
        cdef int level = self.plan.predict_level
        if (rows < FM_PACKED_MIN_ROWS or level == 0 or self.is_double or self._pack_min_rows == 0
                or params is not self._published):
            return None
        packs = self._packs
        if packs is not None and packs[0] is params and packs[1] == level:
            return packs
        self._unpacked_calls += 1
        if rows < self._pack_min_rows and self._unpacked_calls < PACK_AFTER_CALLS:
            return None
        cdef const Step *s
        cdef Py_ssize_t l, floats, total = 0
        cdef cnp.ndarray offsets = np.full(self.plan.n_steps, -1, np.int64)
        cdef int64_t *at = <int64_t *>cnp.PyArray_DATA(offsets)
        for l in range(self.plan.n_steps):
            s = &self.plan.steps[l]
            floats = fm_packed_floats(level, s.n_in, s.n_out) if s.kind == DENSE else 0
            if floats > 0:
                at[l] = total
                total += floats
        if total == 0:
            return None
        cdef cnp.ndarray buffer = np.empty(total + FM_PACK_ALIGN, np.float32)
        cdef float *base = aligned_floats(buffer)
        cdef const float *w = <const float *>cnp.PyArray_DATA(<cnp.ndarray>params)
        for l in range(self.plan.n_steps):
            s = &self.plan.steps[l]
            if at[l] >= 0:
                fm_pack_weights(level, s.n_in, s.n_out, w + s.w_off, s.n_out, base + at[l])
        packs = (params, level, buffer, offsets)
        self._packs = packs
        return packs

    def __reduce__(self):
        raise TypeError("a compiled fastmlp Network holds raw pointers and cannot be pickled or "
                        "copied on its own; pickle or copy.deepcopy the model instead")

    # ----- the plan ------------------------------------------------------------------------
    @property
    def n_layers(self) -> int:
        return self.plan.n_steps

    @property
    def n_inputs(self) -> int:
        return self.plan.n_inputs

    @property
    def n_outputs(self) -> int:
        return self.plan.n_outputs

    @property
    def loss(self) -> int:
        """The loss code set by set_loss (−1: none yet)."""
        return self.plan.loss

    @property
    def metric_kinds(self) -> tuple:
        """The (metric code, k) pairs of the training plan."""
        return tuple((self.plan.metrics[i], self.plan.top_k[i]) for i in range(self.plan.n_metrics))

    @property
    def fused(self) -> bool:
        """Whether the output activation is folded into the loss gradient."""
        return self.plan.fused

    @property
    def gemm_levels(self) -> tuple:
        """(inference, training): which GEMM computes the forward x·W — fastmlp's own float32
        GEMM at that level (2 AVX-512, 1 AVX2 with FMA) or BLAS (0)."""
        return self.plan.predict_level, self.plan.train_level

    @property
    def train_gemm_max(self) -> int:
        """Training's GEMMs of up to this many multiply-adds run on fastmlp's own kernel when
        the calling thread trains alone, the larger ones on BLAS (set_train_gemm_max)."""
        return self.plan.own_gemm_max

    @property
    def solo_transposes(self) -> bool:
        """Whether a lone training thread computes dx = dz·Wᵀ on fastmlp's own GEMM too,
        reading a transpose of the weights it refreshes after each update (else BLAS reads W)."""
        return self.plan.solo_transposes

    @property
    def keeps_inputs(self) -> bool:
        """Whether a first dense step on fastmlp's own GEMM skips, in its forward product and
        its kernel's gradient, the inputs that a whole block of 6 rows (6 inputs) has zero
        (csrc/kept_inputs.h): the same values; float32 models whose first layer is Dense."""
        return self.plan.keep_inputs

    @property
    def kept_products(self) -> int:
        """For tests: how many first-layer products of training steps the calling thread ran
        over kept lists since its scratch was made (keeps_inputs)."""
        return self._scratch.counts[0] if self.capacity else 0

    @property
    def prefetched_steps(self) -> int:
        """For tests: how many one-thread training steps brought the next shuffled batch's rows
        into cache since the scratch was made (set_prefetch_batches)."""
        return self._scratch.counts[2] if self.capacity else 0

    @property
    def masked_kept_products(self) -> int:
        """For tests: how many of kept_products ran over lists made from the bit masks _batch
        made as it took the batch's rows (fm_gather_row, fm_row_mask), not from a read of
        the batch of their own."""
        return self._scratch.counts[1] if self.capacity else 0

    def set_keeps_inputs(self, bint keep):
        """For tests and the benchmark: keeps_inputs on (where the model allows it) or off."""
        if self._busy:
            raise RuntimeError("set_keeps_inputs while a training call runs")
        allowed = not self.is_double and self.plan.n_steps > 0 and self.plan.steps[0].kind == DENSE
        self.plan.keep_inputs = keep and allowed
        self.capacity = 0  # scratch made again, with (or without) room for the lists
        self._team_arrays = None
        self._team_key = None

    def set_train_gemm_max(self, Py_ssize_t macs, bint transposes=False):
        """Sets train_gemm_max and solo_transposes (the engine's rule: engine.train_gemm_rule)."""
        if macs < 0:
            raise ValueError(f"`macs` must be >= 0; received {macs}")
        if self._busy:
            raise RuntimeError("set_train_gemm_max while a training call runs")
        self.plan.own_gemm_max = macs
        self.plan.solo_transposes = transposes

    def train_gemm_level(self, Py_ssize_t rows, Py_ssize_t step) -> int:
        """The level training's forward and weight-gradient GEMMs of dense step `step` run at
        for `rows` rows (the rule the training loop applies: the plan's level up to
        train_gemm_max multiply-adds, BLAS above)."""
        self._require_ready()
        if not 0 <= step < self.plan.n_steps or self.plan.steps[step].kind != DENSE:
            raise ValueError(f"`step` must be the index of a dense step; received {step}")
        return _train_level(&self.plan, rows, &self.plan.steps[step])

    def set_gemm_levels(self, int predict, int train):
        """Chooses the forward GEMMs (see gemm_levels), for tests and the benchmark: each at
        most what this CPU runs, and 0 for float64 networks."""
        top = 0 if self.is_double else fm_small_gemm_level()
        for name, level in (("predict", predict), ("train", train)):
            if not 0 <= level <= top:
                raise ValueError(f"`{name}` must be in [0, {top}] for this network on this CPU; "
                                 f"received {level}")
        if self._busy:
            raise RuntimeError("set_gemm_levels while a training call runs")
        self.plan.predict_level = predict
        self.plan.train_level = train
        self._refresh_wide()

    def set_loss(self, int loss, metrics, double epsilon):
        """Selects the loss and metric kernels (codes of fastmlp._kernels.codes; metrics: a
        sequence of codes or (code, k) pairs, or one code, 0 for none) and the probability
        clipping epsilon; fusion follows from the last activation."""
        self._require_ready()
        check_loss(loss)
        pairs = _metric_pairs(metrics)
        needs(loss, [code for code, _ in pairs], self.plan.n_outputs)
        if not 0 < epsilon < 0.5:
            raise ValueError(f"`epsilon` must lie in (0, 0.5); received {epsilon}")
        if self._busy:
            raise RuntimeError("the loss cannot change while this Network trains")
        self.plan.loss = loss
        _set_metrics(&self.plan, pairs)
        self.plan.fused = self._fuses(loss)
        self.plan.epsilon = epsilon

    cdef bint _fuses(self, int loss):
        """Whether the output activation folds into this loss's gradient: not when the output
        layer has an activity penalty, whose gradient is with respect to the output."""
        cdef const Step *last = &self.plan.steps[self.plan.n_steps - 1]
        if last.activity_l1 != 0 or last.activity_l2 != 0:
            return False
        return fuses(loss, last.act)

    # ----- boundary checks -----------------------------------------------------------------
    cdef int _require_ready(self) except -1:
        if self.plan.steps == NULL:
            raise RuntimeError("this Network was not initialised")
        return 0

    cdef int _enter_training(self) except -1:
        self._require_ready()
        if self._busy:
            raise RuntimeError("this Network is already training in another thread: its "
                               "training scratch serves one call at a time")
        self._busy = True
        return 0

    cdef Py_ssize_t _check_x(self, x) except -1:
        if not _well_formed(x, self._typenum, 2, -1, self.plan.n_inputs, False):
            check_array(x, "x", self.dtype, (None, self.plan.n_inputs))
        return cnp.PyArray_DIMS(<cnp.ndarray>x)[0]

    cdef int _check_params(self, params) except -1:
        if not _well_formed(params, self._typenum, 1, self.size, -1, False):
            check_array(params, "params", self.dtype, (self.size,))
        return 0

    cdef int _check_y(self, Call *c, Py_ssize_t rows, labels, targets, int loss,
                      metrics) except -1:
        """Labels or targets, as this loss and these metrics read them; fills c's plan with
        them."""
        if loss < 0:
            raise RuntimeError("set_loss must select a loss before training")
        check_loss(loss)
        pairs = _metric_pairs(metrics)
        use_labels = needs(loss, [code for code, _ in pairs], self.plan.n_outputs)
        check_labels_or_targets(labels, targets, rows, self.plan.n_outputs, self.dtype, use_labels)
        c.plan = self.plan
        c.plan.loss = loss
        _set_metrics(&c.plan, pairs)
        c.plan.fused = self._fuses(loss)
        c.labels = <const int32_t *>cnp.PyArray_DATA(<cnp.ndarray>labels) if use_labels else NULL
        c.targets = NULL if use_labels else cnp.PyArray_DATA(<cnp.ndarray>targets)
        return 0

    cdef const void *_check_weights(self, weights, Py_ssize_t rows) except? NULL:
        """The data of per-sample weights, (rows,) in this network's dtype, or NULL for None."""
        if weights is None:
            return NULL
        check_array(weights, "weights", self.dtype, (rows,))
        return cnp.PyArray_DATA(<cnp.ndarray>weights)

    cdef tuple _new_scratch(self, Py_ssize_t rows):
        """The arrays of training scratch for batches of up to `rows` rows (see _point)."""
        units, width = self.plan.total_units, self.plan.max_width
        cdef Py_ssize_t n_in = self.plan.n_inputs, lists = 0, blocks = 0, masks = 0
        if self.plan.keep_inputs:
            # the forward's lists (blocks of rows, each of n_in) or the gradient's (blocks
            # of inputs, each of rows), one at a time
            lists = max(fm_kept_blocks(rows) * n_in, fm_kept_blocks(n_in) * rows)
            blocks = max(fm_kept_blocks(rows), fm_kept_blocks(n_in)) + 1
            masks = rows * fm_kept_mask_words(n_in)
        return (np.empty(rows * units, self.dtype), np.empty(rows * width, self.dtype),
                np.empty(rows * width, self.dtype),
                np.empty(rows * n_in, self.dtype), np.empty(rows, np.int32),
                np.empty(rows * self.plan.n_outputs, self.dtype),
                np.zeros(self.plan.stats_size, self.dtype), np.zeros(2 * width, self.dtype),
                np.empty(rows, self.dtype), np.empty(lists, np.int32),
                np.empty(blocks, np.intp), np.empty(masks, np.uint64), np.zeros(3, np.intp))

    cdef void _reserve(self, Py_ssize_t rows) except *:
        """Training scratch for batches of up to `rows` rows, allocated once per size."""
        if rows <= self.capacity:
            return
        self._scratch_arrays = self._new_scratch(rows)
        _point(&self._scratch, self._scratch_arrays)
        self.capacity = rows

    cdef list _team_buffers(self, Py_ssize_t size, Py_ssize_t rows, bint units):
        """(scratch arrays, gradient buffer, own copy of the parameters) of each of `size` team
        members for batches of up to `rows` rows, allocated once per (size, rows); member 0's
        first two are None (it uses the Network's own). A unit team's members: (scratch
        arrays for the whole batch, their two buffers of parts, their two for transposes)."""
        share = rows if units else -(-rows // size)
        if self._team_key != (size, share, units):
            self._team_arrays = None  # the old ones go before the new ones come
            if units:
                parts = 2 * rows * self.plan.max_width
                self._team_arrays = [(self._new_scratch(share) if k else None,
                                      np.empty(parts, self.dtype), np.empty(parts, self.dtype))
                                     for k in range(size)]
            else:
                self._team_arrays = [(self._new_scratch(share), np.empty(self.trainable, self.dtype),
                                      np.empty(self.trainable, self.dtype)) for _ in range(size - 1)]
                self._team_arrays.insert(0, (None, None, np.empty(self.trainable, self.dtype)))
            self._team_key = (size, share, units)
        return self._team_arrays

    def team_parts(self, Py_ssize_t size) -> list:
        """[lo, hi) of each of `size` team members' shares of the trainable parameters (which
        each member reduces and updates): near-equal, each bound between two rows of a
        kernel, so the member that updated a row also refreshes its transpose."""
        self._require_ready()
        if not 1 <= size <= TEAM_MAX:
            raise ValueError(f"`size` must lie in [1, {TEAM_MAX}]; received {size}")
        cdef const Step *st
        bounds = [0]
        for k in range(1, size):
            previous = bounds[k - 1]
            bound = max(previous, self.trainable * k // size)
            for l in range(self.plan.n_steps):
                st = &self.plan.steps[l]
                if st.kind == DENSE and st.w_off < bound < st.w_off + st.n_in * st.n_out:
                    bound = max(previous, st.w_off + (bound - st.w_off) // st.n_out * st.n_out)
            bounds.append(bound)
        bounds.append(self.trainable)
        return [(bounds[k], bounds[k + 1]) for k in range(size)]

    def team_size(self, Py_ssize_t threads, Py_ssize_t batch) -> int:
        """How many threads a training call with batches of `batch` rows runs on, given up to
        `threads`: 1 unless every product can run on fastmlp's own GEMM (float32 on AVX2 or
        AVX-512), no layer needs the whole batch at once (batch normalization in training
        mode) or projects weights after a step (constraints), and each thread gets
        TEAM_MIN_ROWS rows and TEAM_MIN_MACS multiply-adds or more a step."""
        self._require_ready()
        if threads <= 1 or not FM_TEAM_BARRIER or self.is_double or self.plan.train_level == 0:
            return 1
        if _constrained(&self.plan):
            return 1
        for l in range(self.plan.n_steps):
            if self.plan.steps[l].kind == BATCH_NORM and not self.plan.steps[l].frozen:
                return 1
        return int(max(1, min(threads, TEAM_MAX, batch // TEAM_MIN_ROWS,
                              batch * 3 * self._row_macs // TEAM_MIN_MACS)))

    def unit_team_size(self, Py_ssize_t threads, Py_ssize_t batch, UpdateRule rule not None) -> int:
        """How many threads a training call with batches of `batch` rows runs on as a unit
        team (_unit_steps), given up to `threads`, when team_size gives it one: 1 unless
        every step is a dense one on fastmlp's own float32 GEMM with no penalty, constraint
        or softmax before the last (or a dropout step between two dense ones), the rule
        applies a step in parts and the network has two dense steps or more; then as many
        as get a block of units of the inputs and of every hidden layer and UNIT_MIN_MACS
        multiply-adds or more a step."""
        cdef const Step *s
        self._require_ready()
        if (threads <= 1 or not FM_TEAM_BARRIER or self.is_double or self.plan.train_level == 0
                or self.plan.n_steps < 2 or not rule.splits() or _constrained(&self.plan)):
            return 1
        narrowest = (self.plan.n_inputs + UNIT_BLOCK - 1) // UNIT_BLOCK
        for l in range(self.plan.n_steps):
            s = &self.plan.steps[l]
            if s.kind == DROPOUT and 0 < l < self.plan.n_steps - 1:
                continue  # between two dense steps: each thread masks its own units
            if (s.kind != DENSE or s.frozen or s.kernel_l1 or s.kernel_l2 or s.bias_l1
                    or s.bias_l2 or s.activity_l1 or s.activity_l2
                    or (l < self.plan.n_steps - 1 and s.act == FM_SOFTMAX)):
                return 1
            if l < self.plan.n_steps - 1:
                narrowest = min(narrowest, (s.n_out + UNIT_BLOCK - 1) // UNIT_BLOCK)
        return int(max(1, min(threads, TEAM_MAX, narrowest,
                              batch * 3 * self._row_macs // UNIT_MIN_MACS)))

    cdef tuple _team_for(self, Py_ssize_t threads, Py_ssize_t batch, UpdateRule rule):
        """(threads, whether a unit team) a training call with batches of `batch` rows runs
        on: a unit team where one may train (unit_team_size; never without the rule) and no
        team sharing the rows pays (team_size), or the rows team would give a thread fewer
        than _units_below_rows rows, or the weights and a gradient overflow _cache_bytes;
        else the rows team where one pays; else (1, False)."""
        size = self.team_size(threads, batch)
        units = self.unit_team_size(threads, batch, rule) if rule is not None else 1
        if units > 1 and (size == 1 or batch // size < self._units_below_rows
                          or self.trainable * 8 > self._cache_bytes):
            return units, True
        return size, False

    def team_for(self, Py_ssize_t threads, Py_ssize_t batch, UpdateRule rule=None) -> tuple:
        """(threads, whether a unit team) a training call with batches of `batch` rows runs
        on, given up to `threads` and the update rule it would be given (None: no unit team):
        where both kinds of team may train it, the unit team below UNITS_BELOW_ROWS rows a
        thread or where the weights and a gradient overflow a core's L2 cache."""
        self._require_ready()
        return self._team_for(threads, batch, rule)

    def set_team_choice(self, Py_ssize_t units_below_rows, Py_ssize_t cache_bytes):
        """For tests and the benchmark: where both kinds of team may train, the unit team
        below `units_below_rows` rows a thread (default UNITS_BELOW_ROWS) or past
        `cache_bytes` of weights and gradient (default: the L2 cache's bytes)."""
        if units_below_rows < 0 or cache_bytes < 0:
            raise ValueError(f"`units_below_rows` and `cache_bytes` must be >= 0; received "
                             f"{units_below_rows}, {cache_bytes}")
        self._units_below_rows = units_below_rows
        self._cache_bytes = cache_bytes

    cdef Py_ssize_t _chunk(self, Py_ssize_t rows, batch_size) except -1:
        """Rows per inference pass: the batch size, capped by the rows and the scratch budget."""
        if batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive integer; received {batch_size}")
        cap = max(1, SCRATCH_ELEMENTS // self.plan.max_hidden)
        return max(1, min(batch_size, rows, cap, BLAS_MAX))

    def pass_rows(self, Py_ssize_t rows, batch_size) -> int:
        """Rows per pass of a predict call of `rows` rows with this batch_size."""
        self._require_ready()
        return self._pass_rows(rows, batch_size)

    cdef Py_ssize_t _pass_rows(self, Py_ssize_t rows, batch_size) except -1:
        """Rows per predict pass: _chunk's, and on fastmlp's own GEMM no more than keep the
        widest layer's output of a pass within PASS_ELEMENTS (a row's outputs are the same
        bits whatever its pass)."""
        chunk = self._chunk(rows, batch_size)
        if self.plan.predict_level == 0:
            return chunk
        return min(chunk, max(PASS_MIN_ROWS, PASS_ELEMENTS // self.plan.max_hidden))

    # ----- entry points ---------------------------------------------------------------------
    def train(self, x, labels, targets, order, Py_ssize_t first_step, Py_ssize_t n_steps,
              batch_size, UpdateRule rule not None, uint64_t seed=0, weights=None,
              Py_ssize_t threads=1, helpers=None, bint check_x=False):
        """Runs up to n_steps optimizer steps over the batches first_step.. of `order` (a
        permutation of the rows, or None for the rows in order). A batch larger than the data
        is the whole data, as in Keras. Dropout masks depend on (layer seed, `seed`, step
        index) alone: pass one seed per epoch, and the same steps give the same masks however
        the epoch is split into calls. weights: per-sample loss weights (rows,) in this
        network's dtype, or None.

        x is (N, n_inputs) C-contiguous in this network's dtype; labels int32 (N,) when the
        loss reads class labels, else targets (N, n_outputs). Returns (loss sum, metric sums,
        samples, index of the step whose loss was not finite or −1). That step is not applied.

        threads: run on up to this many threads (team_size says how many): the calling one
        and threads started by helpers(task, count), which must call task(t) for t in
        1..count on threads of their own and return objects whose result() waits for each.
        A team's results are the same bits for the same number of threads.

        check_x: check each batch's rows of x for NaN and infinity as they are gathered; a
        step with one raises InputNotFinite before it is applied (the steps before it are).
        """
        self._enter_training()
        cdef Call c
        cdef _TeamRun run = None
        cdef Py_ssize_t size
        cdef void *params
        started = []
        _call_begins()  # a training call keeps one core busy or more: few-row calls stay whole
        try:
            rows = self._check_x(x)
            self._check_y(&c, rows, labels, targets, self.plan.loss, self.metric_kinds)
            if rule.size != self.trainable or rule.is_double != self.is_double:
                raise ValueError(f"the update rule was built for {rule.size} "
                                 f"{'float64' if rule.is_double else 'float32'} parameters; this "
                                 f"Network has {self.trainable} trainable {self.dtype}")
            if batch_size < 1:
                raise ValueError(f"`batch_size` must be a positive integer; received {batch_size}")
            if first_step < 0 or n_steps < 0:
                raise ValueError(f"first_step and n_steps must be >= 0; received {first_step}, {n_steps}")
            batch = max(1, min(batch_size, rows, BLAS_MAX))
            if order is not None:
                check_array(order, "order", np.int64, (rows,))
            # steps past the data do nothing; in Python integers, so no product can overflow
            n_steps = max(0, min(n_steps, -(-(rows - first_step * batch) // batch)))
            c.op = TRAIN
            if n_steps:
                self._reserve(batch)
            c.scratch = self._scratch
            c.rule = <void *>rule
            c.grads = cnp.PyArray_DATA(<cnp.ndarray>self.grads)
            c.x = cnp.PyArray_DATA(<cnp.ndarray>x)
            c.order = <const int64_t *>cnp.PyArray_DATA(<cnp.ndarray>order) if order is not None else NULL
            c.weights = self._check_weights(weights, rows)
            c.rows, c.first, c.n_steps, c.batch = rows, first_step, n_steps, batch
            c.seed = seed
            c.loss_sum = 0
            c.metric_sums = [0, 0, 0, 0, 0, 0, 0, 0]
            c.samples = 0
            c.bad_step = -1
            c.fault = OK
            c.check_x = check_x
            c.x_not_finite = False
            # one thread: dx = dz·Wᵀ by BLAS reading W, unless the engine chose otherwise
            c.wt = self._wt_data() if self.plan.solo_transposes else NULL
            c.team = NULL
            params = cnp.PyArray_DATA(<cnp.ndarray>self.params)
            size, units = (self._team_for(threads, batch, rule) if helpers is not None and n_steps
                           else (1, False))
            if size > 1:
                run = self._new_team(&c, size, batch, rule, params,
                                     (x, labels, targets, order, weights), units)
                started = list(helpers(run.member, size - 1))
                if len(started) != size - 1:
                    # the team will not meet: whoever started leaves, this thread trains alone
                    run.open = False
                    fm_team_barrier_abandon(&run.team.barrier)
            if run is not None and run.open:
                with nogil:
                    _run(&run.call, params, False)
                c = run.call
            else:
                with nogil:
                    _run(&c, params, self.is_double)
        finally:
            try:
                if run is not None:
                    run.finish(started)
            finally:
                self._busy = False  # even if Ctrl-C lands in the wait
                _call_ends()
        if c.fault == BAD_INDEX:
            raise ValueError(f"`order` holds a row index outside [0, {rows}) in step "
                             f"{c.bad_step}; that step was not applied")
        if c.fault == NONFINITE_X:
            raise InputNotFinite(c.bad_step)
        return c.loss_sum, _sums(&c), c.samples, c.bad_step

    cdef void *_wt_data(self) except? NULL:
        """The data of the Wᵀ buffer a team's dx = dz·Wᵀ reads on fastmlp's own GEMM (made on
        first use: a model that only predicts never needs it), or NULL where there is none
        (float64, BLAS's level, no dense step after the first)."""
        if self.is_double or self.plan.train_level == 0 or self.plan.wt_size == 0:
            return NULL
        if self._wt is None:
            self._wt = np.empty(self.plan.wt_size, np.float32)
        return cnp.PyArray_DATA(<cnp.ndarray>self._wt)

    cdef _TeamRun _new_team(self, Call *c, Py_ssize_t size, Py_ssize_t batch, UpdateRule rule,
                            void *params, tuple keep, bint units):
        """A team of `size` threads for the TRAIN call c (copied into it): a unit team
        (_unit_steps) or one that shares the rows (_team_steps)."""
        cdef _TeamRun run = _TeamRun.__new__(_TeamRun)
        cdef Py_ssize_t k
        buffers = self._team_buffers(size, batch, units)
        parts = self.team_parts(size)
        run.team.members = <Member *>calloc(size, sizeof(Member))
        if run.team.members == NULL:
            raise MemoryError()
        for k in range(size):
            if k == 0:
                run.team.members[k].scratch = self._scratch
            else:
                _point(&run.team.members[k].scratch, buffers[k][0])
            if units:
                run.team.members[k].parts = cnp.PyArray_DATA(<cnp.ndarray>buffers[k][1])
                run.team.members[k].transposes = cnp.PyArray_DATA(<cnp.ndarray>buffers[k][2])
                continue
            run.team.members[k].lo, run.team.members[k].hi = parts[k]
            run.team.members[k].own_params = cnp.PyArray_DATA(<cnp.ndarray>buffers[k][2])
            if k == 0:
                run.team.members[k].grads = c.grads
            else:
                run.team.members[k].grads = cnp.PyArray_DATA(<cnp.ndarray>buffers[k][1])
        fm_team_barrier_init(&run.team.barrier, size)
        run.team.size = size
        run.team.units = units
        run.team.splits = rule is not None and rule.splits()
        run.call = c[0]
        run.call.team = &run.team
        # a team's dx = dz·Wᵀ runs on fastmlp's kernel too: a rows team's reads Wᵀ, each thread
        # refreshing the rows it updated (one thread alone keeps BLAS, cheaper than the
        # refresh: M2 at batch 32 trained 6% slower with it); a unit team's reads W (_unit_steps)
        run.call.wt = NULL if units else self._wt_data()
        run.call.plan.own_gemm_max = PY_SSIZE_T_MAX  # never BLAS: its threads would fight the team
        run.params = params
        run.keep = (self, rule, buffers, self._scratch_arrays, keep)
        run.caller = threading.get_ident()
        run.open = True
        return run

    def predict(self, params, x, out, batch_size, bint check_x=False):
        """out := network(x) with the weights `params` (this network's size and dtype), for
        x (N, n_inputs) and out (N, n_outputs), at most batch_size rows a pass. check_x: each
        pass checks its rows are finite (in its first product's lists where it builds them:
        no read of x of its own); returns False when one is not (out is then not to be used),
        else True."""
        self._require_ready()
        self._check_params(params)
        cdef Py_ssize_t rows = self._check_x(x)
        if not _well_formed(out, self._typenum, 2, rows, self.plan.n_outputs, True):
            check_array(out, "out", self.dtype, (rows, self.plan.n_outputs), writeable=True)
        if rows == 0:
            return True
        packs = self._packs_for(params, rows)
        return self._predict_rows(params, cnp.PyArray_DATA(<cnp.ndarray>x),
                                  cnp.PyArray_DATA(<cnp.ndarray>out),
                                  rows, self._pass_rows(rows, batch_size), packs, check_x)

    def predict_parts(self, params, x, out, batch_size, Py_ssize_t parts, wakes,
                      bint check_x=False):
        """predict on up to `parts` threads: the calling thread, and helper k < parts − 1 when
        this call can claim its box (wakes[k]: helper k's threading.Event, set when the
        helper sleeps). The rows go in chunks (chunk_starts) that each thread claims as it
        finishes its last, so a core that runs slower, or a helper woken late, takes fewer
        rows instead of holding up the call. The same bits as predict (a row's outputs do not
        depend on its pass); check_x and the result as predict's."""
        self._require_ready()
        self._check_params(params)
        cdef Py_ssize_t rows = self._check_x(x)
        if not _well_formed(out, self._typenum, 2, rows, self.plan.n_outputs, True):
            check_array(out, "out", self.dtype, (rows, self.plan.n_outputs), writeable=True)
        wakes = list(wakes)
        if not 1 <= parts <= len(wakes) + 1 or parts > HELPERS_MAX + 1:
            raise ValueError(f"`parts` must lie in [1, {min(len(wakes), HELPERS_MAX) + 1}] for "
                             f"{len(wakes)} helpers; received {parts}")
        if rows == 0:
            return True
        parts = min(parts, rows)
        packs = self._packs_for(params, rows)
        cdef Py_ssize_t pass_rows = self._pass_rows(rows, batch_size)
        cdef size_t item = sizeof(double) if self.is_double else sizeof(float)
        cdef void *pp = cnp.PyArray_DATA(<cnp.ndarray>params)
        cdef Chunks chunks
        chunks.x = <const char *>cnp.PyArray_DATA(<cnp.ndarray>x)
        chunks.out = <char *>cnp.PyArray_DATA(<cnp.ndarray>out)
        chunks.x_row = self.plan.n_inputs * item
        chunks.out_row = self.plan.n_outputs * item
        chunks.claimed = 0
        chunks.starts = NULL
        chunks.sums = NULL
        cdef Part *ps = <Part *>calloc(parts, sizeof(Part))
        cdef Py_ssize_t k, made = 0
        cdef bint finite = True
        _call_begins()
        try:
            if ps == NULL:
                raise MemoryError()
            chunks.starts = _chunk_starts(rows, parts, pass_rows, self._chunk_min_rows(), FM_MR,
                                          &chunks.count)
            for k in range(parts):
                self._predict_call(&ps[k].call, params, chunks.x, chunks.out, 0, pass_rows)
                made += 1
                ps[k].call.check_x = check_x
                _use_packs(&ps[k].call, packs)
                ps[k].params = pp
                ps[k].is_double = self.is_double
                ps[k].chunks = &chunks
            _share_parts(ps, parts, wakes)
            for k in range(parts):
                finite = finite and not ps[k].call.x_not_finite
        finally:
            for k in range(made):
                free(ps[k].call.work)
            free(ps)
            free(<void *>chunks.starts)
            _call_ends()
        return finite

    cdef Py_ssize_t _chunk_min_rows(self):
        """The fewest rows of a chunk of predict_parts (but the last): CHUNK_MIN_MACS
        multiply-adds, so that a claim and a pass's set-up stay small beside its products."""
        return (CHUNK_MIN_MACS + self._row_macs - 1) // max(1, self._row_macs)

    def set_fast_path(self, Py_ssize_t max_rows, row_shape):
        """predict_published takes up to max_rows rows of shape row_shape (a tuple of up to 8
        positive ints whose product is n_inputs: (n_inputs,), or e.g. (28, 28) for a model
        that flattens images)."""
        self._require_ready()
        row_shape = tuple(row_shape)
        size = 1
        for d in row_shape:
            if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < 1:
                raise ValueError(f"`row_shape` must hold positive ints; received {row_shape}")
            size *= int(d)
        if not 1 <= len(row_shape) <= 8 or size != self.plan.n_inputs:
            raise ValueError(f"`row_shape` must have 1 to 8 dimensions of {self.plan.n_inputs} "
                             f"elements in all; received {row_shape}")
        if max_rows < 1:
            raise ValueError(f"`max_rows` must be >= 1; received {max_rows}")
        for i, d in enumerate(row_shape):
            self._row_dims[i] = d
        self._row_ndim = len(row_shape)
        self._fast_rows = max_rows

    def predict_published(self, x):
        """predict_fast with the published weights, for x of shape (N, *row_shape) (see
        set_fast_path): the one call a one-sample predict makes, its checks in C; None when x
        is not that common case (or no fast path is set)."""
        if self._row_ndim == 0 or not cnp.PyArray_Check(x):
            return None
        cdef cnp.ndarray a = <cnp.ndarray>x
        if cnp.PyArray_NDIM(a) != 1 + self._row_ndim:
            return None
        cdef cnp.npy_intp *dims = cnp.PyArray_DIMS(a)
        cdef int i
        for i in range(self._row_ndim):
            if dims[1 + i] != self._row_dims[i]:
                return None
        return self._predict_checked_rows(self.published, a, self._fast_rows)

    def predict_fast(self, params, x, Py_ssize_t max_rows):
        """network(x) as a new (N, n_outputs) array when x is the common case — an aligned
        C-contiguous (N, n_inputs) array of this network's dtype, 1 <= N <= max_rows, all
        finite — checked in a few C reads (a one-sample call pays for every Python step);
        None otherwise, and the caller takes the path that converts x, splits it across
        threads or says what is wrong."""
        if (self.plan.steps == NULL
                or not _well_formed(x, self._typenum, 2, -1, self.plan.n_inputs, False)):
            return None
        return self._predict_checked_rows(params, <cnp.ndarray>x, max_rows)

    cdef object _predict_checked_rows(self, params, cnp.ndarray x, Py_ssize_t max_rows):
        """predict_fast's pass, for an x whose rows its caller found to hold n_inputs elements
        each (x: (N, n_inputs), or (N, *row_shape)); the rest of the checks here."""
        if (self.plan.steps == NULL or cnp.PyArray_TYPE(x) != self._typenum
                or not (cnp.PyArray_ISCARRAY_RO(x) and cnp.PyArray_ISNOTSWAPPED(x))
                or not _well_formed(params, self._typenum, 1, self.size, -1, False)):
            return None
        cdef Py_ssize_t rows = cnp.PyArray_DIMS(x)[0]
        if rows == 0 or rows > max_rows:
            return None
        cdef const void *xp = cnp.PyArray_DATA(x)
        cdef bint finite = False
        cdef cnp.npy_intp dims[2]
        dims[0], dims[1] = rows, self.plan.n_outputs
        out = cnp.PyArray_EMPTY(2, dims, self._typenum, 0)
        cdef Call c
        cdef Part part
        self._predict_call(&c, params, xp, cnp.PyArray_DATA(<cnp.ndarray>out), rows,
                           self._pass_rows(rows, rows))
        packs = self._packs_for(params, rows)
        _use_packs(&c, packs)
        cdef void *pp = cnp.PyArray_DATA(<cnp.ndarray>params)
        cdef int mode = WHOLE
        cdef bint taken_back = False
        alone = _call_begins()
        # each pass checks its own rows (a pass of several rows in the lists of its first
        # product, which read x anyway: one read of x less a call); a ROWS share is a copy of c
        c.check_x = True
        try:
            mode = self._lone_begin(&c, &part, pp, alone)
            # the check and the pass in one release of the GIL: with request threads calling
            # at once, each release and retake can hand the GIL over, which costs more than a
            # one-row pass
            with nogil:
                fm_gil_hint_released()
                taken_back = _run_lone(&c, &part, pp, self.is_double, mode, &finite)
                # when another request thread has just taken the GIL back, spin until it lets
                # go rather than sleep in Python's GIL wait (csrc/gil_hint.h)
                fm_gil_hint_wait()
            fm_gil_hint_taken()
        finally:
            _call_ends()
            _lone_free(&c, &part, mode, taken_back)
            free(c.work)
        return out if finite else None

    cdef int _lone_begin(self, Call *c, Part *part, void *params, bint alone) except -1:
        """Hands a share of the lone call c to helper 0 (box 0) when the rule allows and the
        helper is awake (see WIDE_CHUNKS, SPLIT_MIN_MACS): COLUMNS (c is wide; part, its
        helper's copy) or ROWS (part: c's first half of the rows, with scratch of its own; c:
        the rest); WHOLE or ALONE when nothing was posted. _lone_end must follow once c has
        run. A helper found asleep is woken for this call's rows when they are WAKE_MIN_MACS
        or more, else for the next call if this one came within its spin of the end of the
        last that could share (a stream of calls), else left asleep. GIL held."""
        global _wide_wake, _wide_threads
        cdef int mode
        cdef Py_ssize_t half = 0
        if not alone or _wide_threads < 2 or not FM_HANDOFF:
            return WHOLE
        if c.rows < FM_PACKED_MIN_ROWS:
            if not self._wide_ok or c.packed != NULL:
                return WHOLE
            mode = COLUMNS
        elif self._split_ok and c.rows * self._row_macs >= self._split_min_macs:
            mode = ROWS
        else:
            return WHOLE
        if _wide_wake is None:
            _wide_wake = _wide_starter() if _wide_starter is not None else None
            if _wide_wake is None:
                _wide_threads = 1  # no thread can start (interpreter shutdown): stop asking
                return WHOLE
        if not fm_box_claim(&_boxes[0]):
            return WHOLE
        cdef bint streaming = fm_handoff_now() - _wide_last < FM_HANDOFF_SPIN_TICKS
        part.call = c[0]
        part.params = params
        part.is_double = False
        part.chunks = NULL
        if mode == COLUMNS:
            c.wide = <Wide *>calloc(1, sizeof(Wide) + 2 * c.plan.n_steps * sizeof(long))
            if c.wide == NULL:
                fm_box_release(&_boxes[0])
                raise MemoryError()
            c.wide.claimed = <long *>(c.wide + 1)
            c.wide.finished = c.wide.claimed + c.plan.n_steps
            part.call.wide = c.wide
            part.call.helping = True
        else:
            half = c.rows // 2
            part.call.rows = half
            part.call.work = malloc((2 * c.batch * self.plan.max_hidden
                                     + 2 * self.plan.max_width) * sizeof(float))
            if part.call.work == NULL:
                fm_box_release(&_boxes[0])
                raise MemoryError()
        cdef bint posted = fm_box_post_awake(&_boxes[0], part)
        if not posted and mode == ROWS and c.rows * self._row_macs >= WAKE_MIN_MACS:
            # the caller's half outlasts a wake-up: post and wake, and take the half back at
            # the end if the helper was still on its way
            if fm_box_post(&_boxes[0], part):
                posted = True  # it had just woken (a wake-up of an earlier call)
            else:
                try:
                    _wide_wake.set()
                    posted = True
                except BaseException:
                    if not fm_box_withdraw(&_boxes[0]):
                        with nogil:
                            fm_box_wait_done(&_boxes[0])
                    fm_box_release(&_boxes[0])
                    free(part.call.work)
                    part.call.work = NULL
                    raise
        if posted:
            if mode == ROWS:
                c.x = <const float *>c.x + half * self.plan.n_inputs
                c.out = <float *>c.out + half * self.plan.n_outputs
                c.rows -= half
            return mode
        if mode == COLUMNS:
            free(c.wide)
            c.wide = NULL
        else:
            free(part.call.work)
            part.call.work = NULL
        try:
            if streaming and fm_box_rouse(&_boxes[0]):
                try:
                    _wide_wake.set()
                except BaseException:
                    fm_box_calm(&_boxes[0])
                    raise
        finally:
            fm_box_release(&_boxes[0])
        return ALONE

    cdef int _predict_call(self, Call *c, params, const void *x, void *out, Py_ssize_t rows,
                           Py_ssize_t chunk) except -1:
        """c := an inference call with the weights params over checked buffers, with scratch
        of its own (c.work: the caller frees it)."""
        cdef size_t item = sizeof(double) if self.is_double else sizeof(float)
        c.op = PREDICT
        c.plan = self.plan
        c.x = x
        c.out = out
        c.wide = NULL
        c.helping = False
        c.skip_zeros = self._skips_zeros(params)
        c.check_x = c.x_not_finite = False
        c.pass_sums = NULL
        c.work = malloc((2 * chunk * self.plan.max_hidden + 2 * self.plan.max_width) * item)
        if c.work == NULL:
            raise MemoryError()
        c.rows, c.batch = rows, chunk
        return 0

    cdef bint _skips_zeros(self, params):
        """Whether passes over params may skip products of zero inputs (csrc/sparse_row.h,
        csrc/kept_inputs.h; 0·w must be 0): params is the published snapshot (never
        modified) and every element of it is finite, which is checked once a snapshot;
        float32 on the own GEMM."""
        if self.is_double or self.plan.predict_level == 0 or params is not self._published:
            return False
        if self._finite_of is not params:
            self._published_finite = fm_all_finite_f(
                <const float *>cnp.PyArray_DATA(<cnp.ndarray>params), self.size)
            self._finite_of = params
        return self._published_finite

    cdef bint _predict_rows(self, weights, const void *x, void *out, Py_ssize_t rows,
                            Py_ssize_t chunk, packs, bint check_x) except -1:
        """The inference loop with the weights `weights` over checked buffers, with scratch of
        this call's own, reading packs (of _packs_for, or None) where they are given; check_x
        and the result as predict's."""
        cdef Call c
        cdef Part part
        cdef void *params = cnp.PyArray_DATA(<cnp.ndarray>weights)
        self._predict_call(&c, weights, x, out, rows, chunk)
        _use_packs(&c, packs)
        cdef int mode = WHOLE
        cdef bint taken_back = False, finite = True
        alone = _call_begins()
        c.check_x = check_x  # before _lone_begin: a ROWS share is a copy of c
        try:
            mode = self._lone_begin(&c, &part, params, alone)
            with nogil:
                taken_back = _run_lone(&c, &part, params, self.is_double, mode, &finite)
        finally:
            _call_ends()
            _lone_free(&c, &part, mode, taken_back)
            free(c.work)
        return finite

    def evaluate(self, params, x, labels, targets, batch_size, int loss, metrics,
                 double epsilon, weights=None, Py_ssize_t parts=1, wakes=(), bint check_x=False):
        """Returns (loss sum, metric sums) over all rows of x with the weights `params`, for
        the loss and metric codes given (not the training plan's: evaluation changes nothing
        a concurrent fit reads). With parts > 1, on up to `parts` threads as predict_parts
        (wakes: the helpers' events): the threads claim chunks of whole passes, each pass
        writes its sums, and they are added up in pass order: the one-thread bits. check_x:
        each pass checks its rows of x for NaN and infinity after its first product read them
        (InputNotFinite)."""
        self._require_ready()
        self._check_params(params)
        cdef Py_ssize_t rows = self._check_x(x)
        cdef Call c
        self._check_y(&c, rows, labels, targets, loss, metrics)
        if not 0 < epsilon < 0.5:
            raise ValueError(f"`epsilon` must lie in (0, 0.5); received {epsilon}")
        wakes = list(wakes)
        if not 1 <= parts <= len(wakes) + 1 or parts > HELPERS_MAX + 1:
            raise ValueError(f"`parts` must lie in [1, {min(len(wakes), HELPERS_MAX) + 1}] for "
                             f"{len(wakes)} helpers; received {parts}")
        c.plan.epsilon = epsilon
        c.loss_sum = 0
        c.metric_sums = [0, 0, 0, 0, 0, 0, 0, 0]
        if rows == 0:
            return 0.0, _sums(&c)
        chunk = self._chunk(rows, batch_size)
        c.op = EVALUATE
        c.skip_zeros = c.x_not_finite = False
        c.check_x = check_x
        c.pass_sums = NULL
        c.weights = self._check_weights(weights, rows)
        c.x = cnp.PyArray_DATA(<cnp.ndarray>x)
        c.rows, c.batch = rows, chunk
        packs = self._packs_for(params, rows)
        _use_packs(&c, packs)
        cdef void *p = cnp.PyArray_DATA(<cnp.ndarray>params)
        cdef Py_ssize_t passes = (rows + chunk - 1) // chunk
        parts = min(parts, passes)
        if parts > 1:
            self._evaluate_parts(&c, p, parts, wakes)
        else:
            probs = np.empty(chunk * self.plan.n_outputs, self.dtype)
            work = np.empty(self._evaluate_work(chunk), self.dtype)
            c.out = cnp.PyArray_DATA(<cnp.ndarray>probs)
            c.work = cnp.PyArray_DATA(<cnp.ndarray>work)
            _call_begins()
            try:
                with nogil:
                    _run(&c, p, self.is_double)
            finally:
                _call_ends()
        if c.x_not_finite:
            raise InputNotFinite()
        return c.loss_sum, _sums(&c)

    cdef Py_ssize_t _evaluate_work(self, Py_ssize_t chunk):
        """Elements of an evaluate call's scratch for passes of `chunk` rows: the passes' two
        halves and temporaries (_forward_rows), and the loss's gradient."""
        return (2 * chunk * self.plan.max_hidden + 2 * self.plan.max_width
                + chunk * self.plan.n_outputs)

    cdef int _evaluate_parts(self, Call *c, void *params, Py_ssize_t parts, wakes) except -1:
        """evaluate's call c on `parts` threads (parts ≤ its passes): chunks of whole passes
        (guided, as predict_parts'), each part with scratch of its own, the passes' sums
        added up in pass order (_add_pass_sums)."""
        cdef Py_ssize_t passes = (c.rows + c.batch - 1) // c.batch, k, made = 0
        cdef size_t item = sizeof(double) if self.is_double else sizeof(float)
        cdef Py_ssize_t per_pass = _sums_per_pass(&c.plan)
        cdef Chunks chunks
        chunks.x = <const char *>c.x
        chunks.out = NULL
        chunks.x_row = self.plan.n_inputs * item
        chunks.out_row = self.plan.n_outputs * item
        chunks.labels = c.labels
        chunks.targets = <const char *>c.targets
        chunks.weights = <const char *>c.weights
        chunks.item = item
        chunks.sums_per_pass = per_pass
        chunks.claimed = 0
        chunks.starts = NULL
        chunks.sums = <double *>malloc(passes * per_pass * sizeof(double))
        cdef Part *ps = <Part *>calloc(parts, sizeof(Part))
        cdef Py_ssize_t *starts
        _call_begins()
        try:
            if ps == NULL or chunks.sums == NULL:
                raise MemoryError()
            # in passes, then in rows: every chunk starts at a pass
            starts = _chunk_starts(passes, parts, passes,
                                   (self._chunk_min_rows() + c.batch - 1) // c.batch, 1,
                                   &chunks.count)
            chunks.starts = starts
            for k in range(chunks.count + 1):
                starts[k] = min(c.rows, starts[k] * c.batch)
            for k in range(parts):
                ps[k].call = c[0]
                ps[k].call.out = malloc(c.batch * self.plan.n_outputs * item)
                ps[k].call.work = malloc(self._evaluate_work(c.batch) * item)
                made += 1
                if ps[k].call.out == NULL or ps[k].call.work == NULL:
                    raise MemoryError()
                ps[k].params = params
                ps[k].is_double = self.is_double
                ps[k].chunks = &chunks
            _share_parts(ps, parts, wakes)
            for k in range(parts):
                if ps[k].call.x_not_finite:
                    c.x_not_finite = True  # the passes left unclaimed wrote no sums
                    return 0
            c.op = PASS_SUMS
            c.pass_sums = chunks.sums
            with nogil:
                _run(c, params, self.is_double)
        finally:
            for k in range(made):
                free(ps[k].call.out)
                free(ps[k].call.work)
            free(ps)
            free(<void *>chunks.starts)
            free(chunks.sums)
            _call_ends()
        return 0

    def gradient(self, x, labels, targets, uint64_t seed=0, weights=None):
        """grads := d(mean loss)/d(trainable params) over all rows of x as one batch, in
        training mode (batch statistics; dropout masks of (seed, step 0)); returns the loss
        sum. Applies no update and leaves the moving statistics as they are (for gradient
        checks and data-parallel training)."""
        self._enter_training()
        cdef Call c
        try:
            rows = self._check_x(x)
            if not 1 <= rows <= BLAS_MAX:
                raise ValueError(f"`x` must have 1 to {BLAS_MAX} rows; received {rows}")
            self._check_y(&c, rows, labels, targets, self.plan.loss, self.metric_kinds)
            self._reserve(rows)
            c.op = GRADIENT
            c.wt = NULL
            c.scratch = self._scratch
            c.grads = cnp.PyArray_DATA(<cnp.ndarray>self.grads)
            c.x = cnp.PyArray_DATA(<cnp.ndarray>x)
            c.rows = rows
            c.seed = seed
            c.weights = self._check_weights(weights, rows)
            params = cnp.PyArray_DATA(<cnp.ndarray>self.params)
            with nogil:
                _run(&c, params, self.is_double)
        finally:
            self._busy = False
        return c.loss_sum

    def gemm_steps(self, Py_ssize_t rows, Py_ssize_t n_steps, Py_ssize_t threads=1,
                   UpdateRule rule=None, helpers=None):
        """Runs only the matrix products of n_steps training steps on batches of `rows` rows
        (forward, dW, dX, each on the kernel a training step runs it on; on zeroed scratch):
        what a step would cost if everything but the GEMMs were free. The benchmark reports
        training speed against this ceiling. With `threads`, as train would run them (with
        `rule`, the update rule train would be given: it decides whether a unit team may
        train). When they make a team: without `helpers`, one thread's share of the rows on
        fastmlp's kernel, or a unit team's largest share of the units, alone — the time of a
        step whose threads run their products side by side with nothing lost; with
        `helpers` (as train takes them), every member's share at once on threads of their
        own, meeting once a step — what the cores give such a step together (the slower one
        sets each step). RuntimeError if the helpers did not all start."""
        self._enter_training()
        cdef Call c
        cdef _TeamRun run = None
        started = []
        try:
            if not 1 <= rows <= BLAS_MAX or n_steps < 0:
                raise ValueError(f"rows must lie in [1, {BLAS_MAX}] and n_steps be >= 0; "
                                 f"received {rows}, {n_steps}")
            size, units = self._team_for(threads, rows, rule)
            together = helpers is not None and size > 1
            c.units = size if units else 1  # read by the alone run only
            c.batch = rows
            if not units:
                rows = -(-rows // size)  # a unit team's members run theirs over all the rows
            self._reserve(rows)
            for buf in self._scratch_arrays:
                buf.fill(0)
            dummy_grads = np.zeros_like(self.grads)
            c.op = GEMMS
            c.wt = NULL
            c.team = NULL
            c.plan = self.plan
            if size > 1:
                c.wt = NULL if units else self._wt_data()  # a unit team reads W (_unit_steps)
                c.plan.own_gemm_max = PY_SSIZE_T_MAX
            elif self.plan.solo_transposes:
                c.wt = self._wt_data()
            c.scratch = self._scratch
            c.grads = cnp.PyArray_DATA(<cnp.ndarray>dummy_grads)
            c.rows, c.n_steps = rows, n_steps
            params = cnp.PyArray_DATA(<cnp.ndarray>self.params)
            if together:
                run = self._new_team(&c, size, c.batch, rule, params, (dummy_grads,), units)
                for scratch, _, _ in self._team_buffers(size, c.batch, units):  # the team's
                    for buf in scratch or ():
                        buf.fill(0)
                started = list(helpers(run.member, size - 1))
                if len(started) != size - 1:
                    raise RuntimeError(f"{size - 1} helper threads were asked for and "
                                       f"{len(started)} started: the team cannot meet")
                with nogil:
                    _run(&run.call, params, False)
            else:
                with nogil:
                    _run(&c, params, self.is_double)
        finally:
            try:
                if run is not None:
                    run.finish(started)
            finally:
                self._busy = False


cdef inline floating *_at(floating *base, Py_ssize_t offset) noexcept nogil:
    return base + offset if offset >= 0 else NULL


cdef inline void _activate(floating *z, const floating *b, floating *y, Py_ssize_t rows,
                           Py_ssize_t cols, int act, double alpha) noexcept nogil:
    if floating is float:
        fm_bias_act_f(z, b, y, rows, cols, act, <float>alpha)
    else:
        fm_bias_act_d(z, b, y, rows, cols, act, alpha)


cdef inline void _activate_backward(floating *dz, const floating *dy, const floating *y,
                                    const floating *pre, Py_ssize_t rows, Py_ssize_t cols,
                                    int act, double alpha) noexcept nogil:
    if floating is float:
        fm_act_backward_f(dz, dy, y, pre, rows, cols, act, <float>alpha, NULL)
    else:
        fm_act_backward_d(dz, dy, y, pre, rows, cols, act, alpha, NULL)


cdef inline void _dropout(const Step *s, floating *y, const floating *x, Py_ssize_t rows,
                          uint64_t epoch_seed, Py_ssize_t step, Py_ssize_t first_row,
                          Py_ssize_t u0=0, Py_ssize_t u1=-1) noexcept nogil:
    """y := x with the mask of (this layer, epoch_seed, step), scaled by 1 / (1 − rate), for the
    batch's rows from first_row on; the backward pass calls it on the gradient, which
    recomputes the same mask. A unit team's member masks its units [u0, u1) alone (−1: all)."""
    cdef uint32_t key = fm_dropout_rows_key(fm_dropout_key(s.seed, epoch_seed, step), first_row)
    cdef uint32_t threshold = fm_dropout_threshold(s.rate)
    if u1 < 0:
        u1 = s.n_out
    if floating is float:
        fm_dropout_cols_f(y, x, rows, s.n_out, u0, u1, key, threshold,
                          <float>(1.0 / (1.0 - s.rate)))
    else:
        fm_dropout_cols_d(y, x, rows, s.n_out, u0, u1, key, threshold, 1.0 / (1.0 - s.rate))


cdef inline void _batch_norm_inference(const Step *s, floating *params, const floating *x,
                                       floating *y, Py_ssize_t rows, floating *tmp) noexcept nogil:
    """y := batch normalization of x with the moving statistics; tmp holds 2 × n_out."""
    cdef Py_ssize_t n = s.n_out
    if floating is float:
        fm_bn_affine_f(params + s.mean_off, params + s.var_off, _at(params, s.w_off),
                       _at(params, s.b_off), <float>s.epsilon, n, tmp, tmp + n)
        fm_bn_apply_f(x, y, rows, n, tmp, tmp + n)
    else:
        fm_bn_affine_d(params + s.mean_off, params + s.var_off, _at(params, s.w_off),
                       _at(params, s.b_off), s.epsilon, n, tmp, tmp + n)
        fm_bn_apply_d(x, y, rows, n, tmp, tmp + n)


cdef inline double _penalty(const floating *x, Py_ssize_t n, double l1, double l2,
                            floating *grad, double scale) noexcept nogil:
    """l1·Σ|x| + l2·Σx²; grad += scale × its gradient unless grad is NULL."""
    if l1 == 0 and l2 == 0:
        return 0
    if floating is float:
        return fm_penalty_f(x, n, <float>l1, <float>l2, grad, <float>scale)
    else:
        return fm_penalty_d(x, n, l1, l2, grad, scale)


cdef double _weight_penalty(const Plan *plan, floating *params, floating *grads) noexcept nogil:
    """The penalties of every trainable regularized kernel and bias; their gradients are added
    to grads unless it is NULL."""
    cdef const Step *s
    cdef Py_ssize_t l
    cdef double total = 0
    for l in range(plan.n_steps):
        s = &plan.steps[l]
        if s.kind != DENSE or s.frozen:
            continue
        total += _penalty(params + s.w_off, s.n_in * s.n_out, s.kernel_l1, s.kernel_l2,
                          grads + s.w_off if grads != NULL else NULL, 1.0)
        if s.b_off >= 0:
            total += _penalty(params + s.b_off, s.n_out, s.bias_l1, s.bias_l2,
                              grads + s.b_off if grads != NULL else NULL, 1.0)
    return total


cdef void _apply_constraints(const Plan *plan, floating *params, floating *tmp) noexcept nogil:
    """Each constrained kernel and bias projected, after an update (Keras's order)."""
    cdef const Step *s
    cdef Py_ssize_t l
    for l in range(plan.n_steps):
        s = &plan.steps[l]
        if s.kind != DENSE or s.frozen:
            continue
        if floating is float:
            if s.kernel_constraint:
                fm_constrain_f(params + s.w_off, s.n_in, s.n_out, s.kernel_constraint,
                               <float>s.kernel_max, tmp)
            if s.bias_constraint and s.b_off >= 0:
                fm_constrain_f(params + s.b_off, s.n_out, 1, s.bias_constraint, <float>s.bias_max, tmp)
        else:
            if s.kernel_constraint:
                fm_constrain_d(params + s.w_off, s.n_in, s.n_out, s.kernel_constraint,
                               s.kernel_max, tmp)
            if s.bias_constraint and s.b_off >= 0:
                fm_constrain_d(params + s.b_off, s.n_out, 1, s.bias_constraint, s.bias_max, tmp)


cdef inline bint _constrained(const Plan *plan) noexcept nogil:
    cdef Py_ssize_t l
    for l in range(plan.n_steps):
        if plan.steps[l].kernel_constraint or plan.steps[l].bias_constraint:
            return True
    return False


cdef const fm_kept *_kept_inputs(fm_kept *kept, const Scratch *sc, const floating *x,
                                 Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t ldx, int level,
                                 bint gradient, const uint64_t *x_masks) noexcept nogil:
    """kept := the inputs x (rows × n_in at a row stride of ldx: a batch's first dense
    step's, or a unit team member's columns of it) keeps, for the forward product (blocks of
    rows) or, with gradient, the kernel's gradient (blocks of inputs), in sc's lists
    (csrc/kept_inputs.h); NULL where none are skipped: float64, BLAS (level 0), no lists (the
    plan keeps no inputs), or lists that would not pay (fm_kept_pays). x_masks: x's rows'
    bit masks as _batch made them when it took x (read instead of x), or NULL."""
    cdef Py_ssize_t total = -1, dense = 0
    cdef int finite  # not read: in training _batch checks x's rows as it takes them
    if floating is float:
        if level > 0 and sc.kept != NULL:
            if gradient:
                if x_masks != NULL:
                    total = fm_kept_of_mask_columns(level, x_masks, rows, n_in, sc.kept,
                                                    sc.kept_at)
                else:
                    total = fm_kept_of_columns(level, x, rows, n_in, ldx, sc.kept, sc.kept_at,
                                               sc.kept_masks)
                dense = fm_kept_blocks(n_in) * rows
            else:
                if x_masks != NULL:
                    total = fm_kept_of_mask_rows(level, x_masks, rows, n_in, sc.kept, sc.kept_at)
                else:
                    total = fm_kept_of_rows(level, x, rows, n_in, ldx, sc.kept, sc.kept_at,
                                            &finite)
                dense = fm_kept_blocks(rows) * n_in
    if not fm_kept_pays(total, dense):
        return NULL
    kept.idx = sc.kept
    kept.at = sc.kept_at
    sc.counts[0] += 1
    if x_masks != NULL:
        sc.counts[1] += 1
    return kept


cdef double _forward_backward(const Plan *plan, const Scratch *sc, floating *params,
                              const floating *wt, floating *grads, const floating *x,
                              const int32_t *labels, const floating *targets,
                              const floating *weights, Py_ssize_t rows, Py_ssize_t batch_rows,
                              Py_ssize_t first_row, bint weight_terms, uint64_t epoch_seed,
                              Py_ssize_t step, fm_prefetch *ahead,
                              const uint64_t *x_masks) noexcept nogil:
    """One batch in training mode: forward into the training scratch (batch statistics kept
    for backward), loss gradient, backward into grads; returns the loss sum. wt: the Wᵀ
    buffer, or NULL.

    A thread of a team passes its share of the batch, `rows` rows from first_row on of
    batch_rows: the loss is still the batch's mean, and the weight penalties (value and
    gradient) are added by the one thread given weight_terms. ahead (or NULL): the next batch's
    rows, brought into cache while the own GEMM's products run (csrc/prefetch.h). x_masks:
    x's rows' bit masks from _batch, or NULL (_kept_inputs)."""
    cdef floating *acts = <floating *>sc.acts
    cdef floating *delta = <floating *>sc.delta_a
    cdef floating *other = <floating *>sc.delta_b
    cdef floating *stats = <floating *>sc.stats
    cdef floating *tmp = <floating *>sc.tmp
    cdef floating *swap
    cdef floating *out
    cdef const floating *inp
    cdef const floating *wt_l
    cdef const Step *s
    cdef Py_ssize_t l, i, j, n, last = plan.n_steps - 1
    cdef int act, level
    cdef double loss_sum, activity = 0, weight_penalty = 0
    cdef floating share
    cdef fm_kept kept

    for l in range(plan.n_steps):
        s = &plan.steps[l]
        inp = x if l == 0 else acts + plan.steps[l - 1].out_off * rows
        out = acts + s.out_off * rows
        if s.kind == DENSE:
            level = _train_level(plan, rows, s)
            dense_forward(inp, params + s.w_off, _at(params, s.b_off), out,
                          acts + s.pre_off * rows if s.pre_off >= 0 else NULL, rows, s.n_in,
                          s.n_out, s.act, s.alpha, level, ahead, NULL, NULL,
                          _kept_inputs(&kept, sc, x, rows, s.n_in, s.n_in, level, False,
                                       x_masks) if l == 0 else NULL)
            activity += _penalty(out, rows * s.n_out, s.activity_l1, s.activity_l2, NULL, 0)
        elif s.kind == ACTIVATION:
            _activate(<floating *>inp, NULL, out, rows, s.n_out, s.act, s.alpha)
        elif s.kind == DROPOUT:
            _dropout(s, out, inp, rows, epoch_seed, step, first_row)
        elif s.frozen:
            # a frozen batch normalization runs as in inference (Keras: training and trainable)
            _batch_norm_inference(s, params, inp, out, rows, stats + s.stat_off)
        else:
            if floating is float:
                fm_bn_train_forward_f(inp, out, rows, s.n_out, _at(params, s.w_off),
                                      _at(params, s.b_off), <float>s.epsilon, stats + s.stat_off, tmp)
            else:
                fm_bn_train_forward_d(inp, out, rows, s.n_out, _at(params, s.w_off),
                                      _at(params, s.b_off), s.epsilon, stats + s.stat_off, tmp)
    loss_sum = loss_and_grad(plan.loss, acts + plan.steps[last].out_off * rows, labels, targets,
                             rows, plan.n_outputs, plan.fused, plan.epsilon, delta, weights)
    if not isfinite(loss_sum):
        return loss_sum
    if rows != batch_rows:
        # the loss kernel took the mean over this share's rows; the batch's mean is wanted
        share = <floating>rows / <floating>batch_rows
        for i in range(rows * plan.n_outputs):
            delta[i] *= share
    if weight_terms:
        weight_penalty = _weight_penalty(plan, params, NULL)
    for l in range(last, -1, -1):
        s = &plan.steps[l]
        act = FM_LINEAR if (l == last and plan.fused) else s.act
        inp = x if l == 0 else acts + plan.steps[l - 1].out_off * rows
        out = acts + s.out_off * rows
        n = s.n_out
        if s.kind == DENSE:
            _penalty(out, rows * n, s.activity_l1, s.activity_l2, delta, 1.0 / batch_rows)
            wt_l = wt + s.wt_off if wt != NULL and s.wt_off >= 0 else NULL
            level = _train_level(plan, rows, s)
            dense_backward(inp, params + s.w_off, wt_l, out,
                           acts + s.pre_off * rows if s.pre_off >= 0 else NULL, delta,
                           NULL if s.frozen else grads + s.w_off,
                           NULL if s.frozen else _at(grads, s.b_off), other if l > 0 else NULL,
                           rows, s.n_in, n, act, s.alpha, level, ahead,
                           _kept_inputs(&kept, sc, x, rows, s.n_in, s.n_in, level, True,
                                        x_masks) if l == 0 and not s.frozen else NULL)
        elif s.kind == BATCH_NORM and s.frozen:
            if l == 0:
                break
            # y = x·a + c with a (the first n of its stats) fixed: dx = dy·a
            for i in range(rows):
                for j in range(n):
                    other[i * n + j] = delta[i * n + j] * stats[s.stat_off + j]
        elif s.kind == BATCH_NORM:
            if floating is float:
                fm_bn_backward_f(inp, delta, other if l > 0 else NULL, rows, n,
                                 _at(params, s.w_off), stats + s.stat_off, tmp)
            else:
                fm_bn_backward_d(inp, delta, other if l > 0 else NULL, rows, n,
                                 _at(params, s.w_off), stats + s.stat_off, tmp)
            # tmp: Σ dy (beta's gradient), then Σ dy·x̂ (gamma's)
            if s.b_off >= 0:
                memcpy(grads + s.b_off, tmp, n * sizeof(floating))
            if s.w_off >= 0:
                memcpy(grads + s.w_off, tmp + n, n * sizeof(floating))
        elif l == 0:
            break  # an activation or dropout on the inputs: nothing before it needs a gradient
        elif s.kind == ACTIVATION:
            _activate_backward(other, delta, out, inp, rows, n, act, s.alpha)
        else:
            _dropout(s, other, delta, rows, epoch_seed, step, first_row)
        swap = delta
        delta = other
        other = swap
    if weight_terms:
        _weight_penalty(plan, params, grads)
    return loss_sum + activity + batch_rows * weight_penalty


cdef void _update_moving_statistics(const Plan *plan, const Scratch *sc,
                                    floating *params) noexcept nogil:
    """Each batch normalization's moving mean and variance := Keras's update from the batch
    statistics of the step just taken (once its loss is known to be finite)."""
    cdef const Step *s
    cdef Py_ssize_t l
    for l in range(plan.n_steps):
        s = &plan.steps[l]
        if s.kind != BATCH_NORM or s.frozen:
            continue
        if floating is float:
            fm_bn_update_moving_f(params + s.mean_off, params + s.var_off,
                                  <float *>sc.stats + s.stat_off, s.n_out, <float>s.momentum,
                                  <float>(1.0 - s.momentum))
        else:
            fm_bn_update_moving_d(params + s.mean_off, params + s.var_off,
                                  <double *>sc.stats + s.stat_off, s.n_out, s.momentum,
                                  1.0 - s.momentum)


cdef void _gemms_only(Call *c, floating *params) noexcept nogil:
    """A GEMMS call's products on the calling thread alone: all of a step's, or those of
    member 0 of a team (its share of the rows, or of a unit team of c.units its units)."""
    cdef Py_ssize_t _
    for _ in range(c.n_steps):
        if floating is float:
            if c.units > 1:
                _unit_step_products(&c.plan, &c.scratch, params, <float *>c.grads, c.rows,
                                    c.units, 0)
                continue
        _step_products(&c.plan, &c.scratch, params, <floating *>c.grads,
                       <const floating *>c.wt, c.rows)


cdef void _member_gemms(Call *c, float *params, Py_ssize_t t) noexcept nogil:
    """Member t's part of a GEMMS call run by a team (t = 0 on the calling thread): each step,
    its products as train runs them (its share of the batch's rows, or a unit team's member's
    units over all of them) on its own scratch, at the same time as the others', then a
    meeting: the one a step of a team cannot do without (the next step needs every member's
    gradient), so the slower core sets each step's time, as in training."""
    cdef Team *team = c.team
    cdef Member *me = &team.members[t]
    cdef Py_ssize_t _, size = team.size
    cdef Py_ssize_t rows = (c.batch if team.units else
                            _share_first(c.batch, size, t + 1) - _share_first(c.batch, size, t))
    # a unit team's members write disjoint kernel rows of the call's (dummy) gradient
    cdef float *grads = <float *>(c.grads if team.units else me.grads)
    if fm_team_barrier_wait(&team.barrier):
        return  # the calling thread gave the team up
    for _ in range(c.n_steps):
        if team.units:
            _unit_step_products(&c.plan, &me.scratch, params, grads, rows, size, t)
        elif rows > 0:
            _step_products[float](&c.plan, &me.scratch, params, grads, <const float *>c.wt, rows)
        if fm_team_barrier_wait(&team.barrier):
            return


cdef void _step_products(const Plan *plan, const Scratch *sc, floating *params, floating *grads,
                         const floating *wt, Py_ssize_t rows) noexcept nogil:
    """One training step's products on `rows` rows of sc's (forward, dW, dX), each on the
    kernel a training step runs it on (dX from Wᵀ where wt is not NULL)."""
    cdef floating *acts = <floating *>sc.acts
    cdef floating *x = <floating *>sc.x_batch
    cdef floating *delta = <floating *>sc.delta_a
    cdef floating *other = <floating *>sc.delta_b
    cdef const floating *inp
    cdef const Step *s
    cdef Py_ssize_t l
    for l in range(plan.n_steps):
        s = &plan.steps[l]
        if s.kind != DENSE:
            continue
        inp = x if l == 0 else acts + plan.steps[l - 1].out_off * rows
        forward_gemm(inp, params + s.w_off, acts + s.out_off * rows, rows, s.n_in, s.n_out,
                     _train_level(plan, rows, s), NULL, False, NULL, NULL)
    for l in range(plan.n_steps - 1, -1, -1):
        s = &plan.steps[l]
        if s.kind != DENSE:
            continue
        inp = x if l == 0 else acts + plan.steps[l - 1].out_off * rows
        weight_gradient_gemm(inp, delta, grads + s.w_off, rows, s.n_in, s.n_out,
                             _train_level(plan, rows, s), NULL, NULL)
        if l > 0 and wt != NULL and s.wt_off >= 0:
            forward_gemm(delta, wt + s.wt_off, other, rows, s.n_out, s.n_in,
                         _train_level(plan, rows, s), NULL, False, NULL, NULL)
        elif l > 0:
            gemm(False, True, rows, s.n_in, s.n_out, <floating>1, delta, s.n_out,
                 params + s.w_off, s.n_out, <floating>0, other, s.n_in)


cdef void _unit_step_products(const Plan *plan, const Scratch *sc, float *params, float *grads,
                              Py_ssize_t rows, Py_ssize_t size, Py_ssize_t t) noexcept nogil:
    """One step's products of member t of a unit team of `size`, as _unit_steps runs them on
    its units: x·W over its input units, xᵀ·dz into its kernel rows, W·dzᵀ over its kernel
    rows into its units of dxᵀ (on sc's buffers, all `rows` rows)."""
    cdef float *acts = <float *>sc.acts
    cdef float *x = <float *>sc.x_batch
    cdef float *delta = <float *>sc.delta_a
    cdef float *other = <float *>sc.delta_b
    cdef const float *inp
    cdef const Step *s
    cdef Py_ssize_t l, u0, u1, nu, n, n_in
    cdef int level = plan.train_level
    for l in range(plan.n_steps):
        s = &plan.steps[l]
        if s.kind != DENSE:
            continue
        _units_of(s.n_in, size, t, &u0, &u1)
        if u1 > u0:
            inp = x if l == 0 else acts + plan.steps[l - 1].out_off * rows
            fm_sgemm_small(level, rows, s.n_out, u1 - u0, inp + u0, s.n_in, 1,
                           params + s.w_off + u0 * s.n_out, s.n_out, other, s.n_out, NULL, 0, NULL)
    for l in range(plan.n_steps - 1, -1, -1):
        s = &plan.steps[l]
        if s.kind != DENSE:
            continue
        n, n_in = s.n_out, s.n_in
        _units_of(n_in, size, t, &u0, &u1)
        nu = u1 - u0
        if nu == 0:
            continue
        inp = x if l == 0 else acts + plan.steps[l - 1].out_off * rows
        fm_sgemm_small(level, nu, n, rows, inp + u0, 1, n_in, delta, n, grads + s.w_off + u0 * n,
                       n, NULL, 0, NULL)
        if l > 0:
            fm_sgemm_small(level, nu, rows, n, params + s.w_off + u0 * n, n, 1, delta, rows, other,
                           rows, NULL, 0, NULL)


cdef inline bint _row_finite(const floating *row, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return fm_all_finite_f(row, n) != 0
    else:
        return fm_all_finite_d(row, n) != 0


cdef inline bint _copy_finite(floating *dst, const floating *src, Py_ssize_t n) noexcept nogil:
    if floating is float:
        return fm_copy_finite_f(dst, src, n) != 0
    else:
        return fm_copy_finite_d(dst, src, n) != 0


cdef Fault _batch(const Call *c, const Scratch *sc, Py_ssize_t start, Py_ssize_t rows,
                  const floating **xb, const int32_t **lb, const floating **tb,
                  const floating **wb, const uint64_t **mb, Py_ssize_t u0=0,
                  Py_ssize_t u1=-1) noexcept nogil:
    """Points xb, lb, tb, wb (labels, targets, weights: NULL when absent) at rows [start,
    start + rows) of the epoch's order, gathered into sc when it is shuffled; BAD_INDEX for an
    index outside the data (checked as gathered: never a read past x), NONFINITE_X when
    c.check_x and a row holds NaN or infinity (each row checked as it is copied, while it is
    in cache: a read of x less than a check before the call). A unit team's member gathers
    (and checks) columns [u0, u1) of x alone (−1: all; the others in sc are left unwritten),
    and all of the rows' labels, targets and weights. mb := the rows' bit masks, made in the
    read that copies (fm_gather_row) or checks (fm_row_mask) each row (in sc.kept_masks:
    fm_kept_mask_words(u1 - u0) words a row, word by word, for _kept_inputs), where the plan
    keeps inputs, else NULL."""
    cdef const floating *x = <const floating *>c.x
    cdef const floating *targets = <const floating *>c.targets
    cdef const floating *weights = <const floating *>c.weights
    cdef floating *x_batch = <floating *>sc.x_batch
    cdef floating *t_batch = <floating *>sc.targets_batch
    cdef floating *w_batch = <floating *>sc.weights_batch
    cdef Py_ssize_t i, src, n_in = c.plan.n_inputs, n_out = c.plan.n_outputs
    cdef uint64_t *masks = NULL
    cdef int level = c.plan.train_level, finite
    if u1 < 0:
        u1 = n_in
    mb[0] = NULL
    if floating is float:
        if sc.kept != NULL and level > 0:
            masks = sc.kept_masks
    if c.order == NULL:
        # rows in order: the batch is a contiguous slice, no copy needed
        xb[0] = x + start * n_in
        lb[0] = c.labels + start if c.labels != NULL else NULL
        tb[0] = targets + start * n_out if targets != NULL else NULL
        wb[0] = weights + start if weights != NULL else NULL
        for i in range(rows if masks != NULL or c.check_x else 0):
            finite = -1
            if floating is float:
                if masks != NULL:
                    # read once in place: its mask made and its finiteness found
                    finite = fm_row_mask(level, xb[0] + i * n_in + u0, u1 - u0, masks + i, rows)
                    if finite < 0:
                        masks = NULL  # as below
            if finite < 0 and c.check_x and not _row_finite(xb[0] + i * n_in + u0, u1 - u0):
                return NONFINITE_X
            if finite == 0 and c.check_x:
                return NONFINITE_X  # a row in place
        mb[0] = masks
        return OK
    for i in range(rows):
        src = c.order[start + i]
        if src < 0 or src >= c.rows:
            return BAD_INDEX
        finite = -1
        if floating is float:
            if masks != NULL:
                # copied, its mask made and its finiteness found in one pass
                finite = fm_gather_row(level, x_batch + i * n_in + u0, x + src * n_in + u0,
                                       u1 - u0, masks + i, rows)
                if finite < 0:
                    masks = NULL  # no path at this level (not so where training's GEMM runs)
        if finite < 0:
            if not c.check_x:
                memcpy(x_batch + i * n_in + u0, x + src * n_in + u0,
                       (u1 - u0) * sizeof(floating))
            elif not _copy_finite(x_batch + i * n_in + u0, x + src * n_in + u0, u1 - u0):
                return NONFINITE_X
        elif finite == 0 and c.check_x:
            return NONFINITE_X
        if c.labels != NULL:
            sc.labels_batch[i] = c.labels[src]
        else:
            memcpy(t_batch + i * n_out, targets + src * n_out, n_out * sizeof(floating))
        if weights != NULL:
            w_batch[i] = weights[src]
    xb[0] = x_batch
    mb[0] = masks
    lb[0] = sc.labels_batch if c.labels != NULL else NULL
    tb[0] = t_batch if targets != NULL else NULL
    wb[0] = w_batch if weights != NULL else NULL
    return OK


cdef inline Py_ssize_t _first_row_at(Py_ssize_t offset, Py_ssize_t n_out,
                                     Py_ssize_t n_in) noexcept nogil:
    """The first row of an (n_in, n_out) kernel starting at or after `offset` elements into it
    (0 to n_in)."""
    if offset <= 0:
        return 0
    cdef Py_ssize_t row = offset // n_out
    if row >= n_in:
        return n_in
    return row + (1 if offset % n_out else 0)


cdef void _transpose_weights(const Plan *plan, const floating *params, floating *wt,
                             Py_ssize_t lo, Py_ssize_t hi) noexcept nogil:
    """The Wᵀ buffer := the transpose of the kernel rows that start in params[lo, hi) (the
    whole buffer for 0, PY_SSIZE_T_MAX; a team thread's share of the parameters, whose
    bounds fall between kernel rows, for its share)."""
    cdef const Step *s
    cdef Py_ssize_t l, i0, i1
    for l in range(plan.n_steps):
        s = &plan.steps[l]
        if s.wt_off < 0:
            continue
        i0 = _first_row_at(lo - s.w_off, s.n_out, s.n_in)
        i1 = _first_row_at(hi - s.w_off, s.n_out, s.n_in)
        if floating is float:
            if i0 < i1:
                fm_transpose_rows_f(plan.train_level, params + s.w_off, wt + s.wt_off, s.n_in,
                                    s.n_out, i0, i1)


def transpose_rows(w, wt, Py_ssize_t i0, Py_ssize_t i1, int level):
    """Test hook: columns [i0, i1) of wt := rows [i0, i1) of w transposed, as training
    refreshes its transposed kernels (csrc/transpose.h) at `level` (0: element by element;
    at most what this CPU's own GEMM runs)."""
    if not isinstance(w, np.ndarray) or w.ndim != 2:
        raise ValueError(f"`w` must be a 2-D float32 array; received {type(w).__name__}")
    cdef Py_ssize_t n_in = w.shape[0], n_out = w.shape[1]
    check_array(w, "w", np.float32, (n_in, n_out))
    check_array(wt, "wt", np.float32, (n_out, n_in), writeable=True)
    if not 0 <= i0 <= i1 <= n_in:
        raise ValueError(f"rows [i0, i1) must lie in [0, {n_in}]; received [{i0}, {i1})")
    if not 0 <= level <= fm_small_gemm_level():
        raise ValueError(f"`level` must be in [0, {fm_small_gemm_level()}] on this CPU; "
                         f"received {level}")
    cdef const float *src = <const float *>cnp.PyArray_DATA(<cnp.ndarray>w)
    cdef float *dst = <float *>cnp.PyArray_DATA(<cnp.ndarray>wt)
    with nogil:
        fm_transpose_rows_f(level, src, dst, n_in, n_out, i0, i1)


cdef inline void _add_members_sums(Call *c, const Team *team, Py_ssize_t rows) noexcept nogil:
    """The calling thread's account of a team's step of `rows` rows: the members' loss and
    metric sums added to the call's in member order (the same bits for the same team size)."""
    cdef Py_ssize_t k, m
    for k in range(team.size):
        c.loss_sum += team.members[k].loss
        for m in range(c.plan.n_metrics):
            c.metric_sums[m] += team.members[k].metric_sums[m]
    c.samples += rows


cdef inline Py_ssize_t _share_first(Py_ssize_t rows, Py_ssize_t size, Py_ssize_t t) noexcept nogil:
    """The first of a team member's rows of a batch: shares differ by at most a row, the first
    ones larger."""
    return t * (rows // size) + min(t, rows % size)


cdef fm_prefetch *_ahead(const Call *c, Py_ssize_t step, Py_ssize_t size, Py_ssize_t t,
                         size_t item, fm_prefetch *pf) noexcept nogil:
    """pf := member t's share (of `size`) of step's batch, to bring into cache during the step
    before, or NULL: rows in order (no gather; the hardware prefetcher follows them), no
    such step in this call, or the prefetch switched off (set_prefetch_batches). item: the
    size of an element of x."""
    if (not _prefetching or c.order == NULL or step >= c.first + c.n_steps
            or step * c.batch >= c.rows):
        return NULL
    cdef Py_ssize_t start = step * c.batch, rows = min(c.batch, c.rows - start)
    cdef Py_ssize_t first = _share_first(rows, size, t)
    fm_prefetch_init(pf, c.x, c.rows, c.plan.n_inputs * item, c.order + start + first,
                     _share_first(rows, size, t + 1) - first)
    return pf


cdef fm_prefetch *_ahead_units(const Call *c, Py_ssize_t step, Py_ssize_t u0, Py_ssize_t u1,
                               fm_prefetch *pf) noexcept nogil:
    """_ahead for a unit team's member: columns [u0, u1) of every row of step's batch."""
    if _ahead(c, step, 1, 0, sizeof(float), pf) == NULL:
        return NULL
    fm_prefetch_init_window(pf, pf.base, pf.n_total, pf.row_bytes, u0 * sizeof(float),
                            (u1 - u0) * sizeof(float), pf.rows, pf.n_rows)
    return pf


cdef void _train_steps(Call *c, floating *params) noexcept nogil:
    cdef const Plan *plan = &c.plan
    cdef const floating *xb
    cdef const floating *tb
    cdef const floating *wb
    cdef const int32_t *lb
    cdef const uint64_t *mb
    cdef Py_ssize_t step, start, rows
    cdef double loss_sum
    cdef bint constrained = _constrained(plan)
    cdef fm_prefetch pf
    cdef fm_prefetch *ahead
    cdef Fault fault
    for step in range(c.first, c.first + c.n_steps):
        start = step * c.batch
        if start >= c.rows:
            break
        rows = min(c.batch, c.rows - start)
        fault = _batch(c, &c.scratch, start, rows, &xb, &lb, &tb, &wb, &mb)
        if fault != OK:
            c.fault = fault
            c.bad_step = step
            return
        ahead = _ahead(c, step + 1, 1, 0, sizeof(floating), &pf)
        c.scratch.counts[2] += ahead != NULL
        loss_sum = _forward_backward(plan, &c.scratch, params, <const floating *>c.wt,
                                     <floating *>c.grads, xb, lb, tb, wb, rows, rows, 0, True,
                                     c.seed, step, ahead, mb)
        if not isfinite(loss_sum):
            c.fault = NONFINITE_LOSS
            c.bad_step = step
            return
        _update_moving_statistics(plan, &c.scratch, params)
        c.loss_sum += loss_sum
        _add_metrics(plan, c.metric_sums,
                     <floating *>c.scratch.acts + plan.steps[plan.n_steps - 1].out_off * rows,
                     lb, tb, rows)
        c.samples += rows
        (<UpdateRule>c.rule).apply(params, c.grads)
        if constrained:
            _apply_constraints(plan, params, <floating *>c.scratch.tmp)
        if c.wt != NULL:
            _transpose_weights(plan, params, <floating *>c.wt, 0, PY_SSIZE_T_MAX)


cdef void _team_steps(Call *c, floating *params, Py_ssize_t t) noexcept nogil:
    """Member t's part of the TRAIN call's steps (t = 0 on the calling thread). Each step: the
    batch's rows split into one contiguous share per member, each member's forward and
    backward into its own gradient buffer; they meet; each member sums its share of the
    parameters' gradients (in member order) and applies the update to that share (or the
    calling thread applies the whole update, for a rule that cannot split) and refreshes its
    rows of Wᵀ; they meet again. Same team size, same bits. Only what Network.train allows
    runs here: float32, no BLAS, no batch statistics, no constraints."""
    cdef Team *team = c.team
    cdef Member *me = &team.members[t]
    cdef floating acc[TEAM_BLOCK]
    cdef floating *target
    cdef const Plan *plan = &c.plan
    cdef floating *grads = <floating *>c.grads
    cdef floating *wt = <floating *>c.wt
    cdef const floating *src
    cdef const floating *xb
    cdef const floating *tb
    cdef const floating *wb
    cdef const int32_t *lb
    cdef const uint64_t *mb
    cdef Py_ssize_t size = team.size, step, start, rows, first, k, i, block, count
    cdef Py_ssize_t lo = me.lo, n = me.hi - me.lo
    cdef Fault fault
    cdef int m
    cdef fm_prefetch pf
    cdef floating *own = <floating *>me.own_params
    if team.splits and n > 0:
        memcpy(own + lo, params + lo, n * sizeof(floating))
    if fm_team_barrier_wait(&team.barrier):
        return  # the calling thread gave the team up: it trains alone
    for step in range(c.first, c.first + c.n_steps):
        start = step * c.batch
        if start >= c.rows:
            break
        rows = min(c.batch, c.rows - start)
        # member 0 has one or more rows
        first = _share_first(rows, size, t)
        me.rows = _share_first(rows, size, t + 1) - first
        me.fault = OK
        me.loss = 0
        for m in range(plan.n_metrics):
            me.metric_sums[m] = 0
        if me.rows > 0:
            me.fault = _batch(c, &me.scratch, start + first, me.rows, &xb, &lb, &tb, &wb, &mb)
            if me.fault == OK:
                me.loss = _forward_backward(plan, &me.scratch, params, wt, <floating *>me.grads,
                                            xb, lb, tb, wb, me.rows, rows, first, t == 0,
                                            c.seed, step,
                                            _ahead(c, step + 1, size, t, sizeof(floating), &pf),
                                            mb)
                if not isfinite(me.loss):
                    me.fault = NONFINITE_LOSS
                _add_metrics(plan, me.metric_sums, <floating *>me.scratch.acts
                             + plan.steps[plan.n_steps - 1].out_off * me.rows, lb, tb, me.rows)
        if t == 0 and team.splits:
            team.lr = (<UpdateRule>c.rule).begin_step()
        fm_team_barrier_wait(&team.barrier)
        # every member reads the same results, so every member takes the same way out
        fault = OK
        for k in range(size):
            fault = max(fault, team.members[k].fault)
        if fault != OK:
            if t == 0:
                if team.splits:
                    (<UpdateRule>c.rule).cancel_step()
                c.fault = fault
                c.bad_step = step
            return
        if t == 0:
            _add_members_sums(c, team, rows)
        # this share's gradient, summed in member order, into this member's own buffer when it
        # updates its share itself: a buffer another core wrote would cost the next step's
        # backward a transfer of every line back
        target = <floating *>me.grads if team.splits else grads
        block = lo
        while block < me.hi:
            count = min(<Py_ssize_t>TEAM_BLOCK, me.hi - block)
            memcpy(acc, <const floating *>team.members[0].grads + block, count * sizeof(floating))
            for k in range(1, size):
                if team.members[k].rows == 0:
                    continue
                src = <const floating *>team.members[k].grads + block
                for i in range(count):
                    acc[i] += src[i]
            memcpy(target + block, acc, count * sizeof(floating))
            block += count
        if team.splits:
            # the update runs on this member's own copy, then one copy publishes its share:
            # the other members read these weights in their forward pass, so the shared lines
            # are held by their cores too, and the optimizer's read-modify-write of each line
            # waited on that copy's invalidation (Adam on a half share ran 4x slower than on
            # lines no other core held); a bulk copy does not wait line by line
            if n > 0:
                (<UpdateRule>c.rule).apply_part(own, target, team.lr, lo, n)
                memcpy(params + lo, own + lo, n * sizeof(floating))
            _transpose_weights(plan, own, wt, lo, me.hi)
        else:
            fm_team_barrier_wait(&team.barrier)
            if t == 0:
                (<UpdateRule>c.rule).apply(params, grads)
                _transpose_weights(plan, params, wt, 0, PY_SSIZE_T_MAX)
        fm_team_barrier_wait(&team.barrier)


cdef inline void _units_of(Py_ssize_t n, Py_ssize_t size, Py_ssize_t t, Py_ssize_t *u0,
                           Py_ssize_t *u1) noexcept nogil:
    """[u0, u1): member t's units, of a layer's n, in a unit team of `size`: whole blocks of
    UNIT_BLOCK (a cache line of floats), the first members' shares larger."""
    cdef Py_ssize_t blocks = (n + UNIT_BLOCK - 1) // UNIT_BLOCK
    u0[0] = min(UNIT_BLOCK * _share_first(blocks, size, t), n)
    u1[0] = min(UNIT_BLOCK * _share_first(blocks, size, t + 1), n)


cdef void _unit_steps(Call *c, float *params, Py_ssize_t t) noexcept nogil:
    """Member t's part of a TRAIN call run by a unit team (t = 0 on the calling thread).

    Each member owns whole blocks of units (_units_of) of the inputs and of every hidden layer:
    of each dense step, the kernel rows of its input units (with their optimizer slots) and the
    biases of its output units. Forward, each member multiplies its input units' columns of the
    step's input by its kernel rows into a part of the step's output of its own; the members
    meet; each sums the parts of its own units, in member order, adds their bias and applies the
    activation. Of the last step's outputs each member takes its share of the rows instead (all
    the units), and computes their loss, its gradient dz (of the batch's mean) and metrics;
    after a meeting the calling thread adds the members' sums up in member order and updates the
    last bias (it began the step, taking its learning rate, after the first meeting, and cancels
    it if a loss is not finite). Backward, after a meeting, each member reads the whole dz of a
    step and writes its kernel rows' gradient (xᵀ·dz over its input units), its input units' dx
    (dz·Wᵀ, as (W·dzᵀ)ᵀ from its kernel rows in place) and their activation's derivative and
    bias gradient, and updates what it owns; the members meet again before the step below reads
    that dz. Kernel rows are contiguous: a member's weights, gradients and slots stay in its
    core's cache, and what crosses between cores each step is a batch's parts and dz, not
    weights (why this pays at batches too small for _team_steps' shares of the rows). A dropout
    step between two dense ones masks each member's units with the whole batch's mask, forward
    and back, where they are. Same team size, same bits. Only what Network.unit_team_size allows
    runs here: float32 dense steps on the own GEMM (and dropout between them), an update rule
    that applies in parts, no penalties or constraints, no softmax before the last."""
    cdef Team *team = c.team
    cdef Member *me = &team.members[t]
    cdef const Plan *plan = &c.plan
    cdef Scratch *sc = &team.members[0].scratch
    cdef float *acts = <float *>sc.acts
    cdef float *grads = <float *>c.grads
    cdef float *dzt = <float *>me.transposes
    cdef float *deltas[2]
    cdef float *d
    cdef float *dx
    cdef float *z
    cdef float *y
    cdef float *pre
    cdef float *part
    cdef const float *src
    cdef const float *inp
    cdef const float *xb
    cdef const float *tb = NULL
    cdef const float *wb = NULL
    cdef const int32_t *lb = NULL
    cdef const uint64_t *mb = NULL
    cdef const Step *s
    cdef const Step *below
    cdef Py_ssize_t size = team.size, last = plan.n_steps - 1, part_size = c.batch * plan.max_width
    cdef Py_ssize_t step, start, rows, l, b, i, j, k, n, n_in, u0, u1, v0, v1, nu, di, dense = 0
    cdef Py_ssize_t r0 = 0, r1 = 0
    cdef int level = plan.train_level
    cdef bint summed
    cdef Fault fault
    cdef fm_prefetch pf
    cdef fm_prefetch *ahead
    cdef fm_kept kept
    cdef const fm_kept *kp
    deltas[0] = <float *>sc.delta_a
    deltas[1] = <float *>sc.delta_b
    for l in range(plan.n_steps):
        dense += plan.steps[l].kind == DENSE
    if fm_team_barrier_wait(&team.barrier):
        return  # the calling thread gave the team up
    for step in range(c.first, c.first + c.n_steps):
        start = step * c.batch
        if start >= c.rows:
            break
        rows = min(c.batch, c.rows - start)
        _units_of(plan.n_inputs, size, t, &u0, &u1)
        me.fault = _batch[float](c, &me.scratch, start, rows, &xb, &lb, &tb, &wb, &mb, u0, u1)
        # the next batch's columns of this member, brought in while the first step's products run
        ahead = _ahead_units(c, step + 1, u0, u1, &pf)
        # forward (di: the dense steps before this one, whose parity picks the parts' buffer)
        di = 0
        for l in range(plan.n_steps):
            s = &plan.steps[l]
            n, n_in = s.n_out, s.n_in
            if s.kind == DROPOUT:
                # on this member's units, which the next step reads from it alone: no meeting
                _units_of(n, size, t, &v0, &v1)
                _dropout[float](s, acts + s.out_off * rows, acts + plan.steps[l - 1].out_off * rows,
                                rows, c.seed, step, 0, v0, v1)
                continue
            _units_of(n_in, size, t, &u0, &u1)
            part = <float *>me.parts + (di % 2) * part_size
            if u1 > u0 and me.fault == OK:
                inp = xb if l == 0 else acts + plan.steps[l - 1].out_off * rows
                kp = (_kept_inputs(&kept, &me.scratch, inp + u0, rows, u1 - u0, n_in, level,
                                   False, mb) if l == 0 else NULL)
                fm_sgemm_small_kept(level, rows, n, u1 - u0, inp + u0, n_in, 1,
                                    params + s.w_off + u0 * n, n, part, n, NULL, 0,
                                    ahead if l == 0 else NULL, kp.idx if kp != NULL else NULL,
                                    kp.at if kp != NULL else NULL)
            fm_team_barrier_wait(&team.barrier)
            if l == 0:
                # every member reads the same faults, so every member takes the same way out
                fault = OK
                for k in range(size):
                    fault = max(fault, team.members[k].fault)
                if fault != OK:
                    if t == 0:
                        c.fault = fault
                        c.bad_step = step
                    return
                if t == 0:
                    # the step's learning rate, read by every member after the loss's meeting
                    # (cancelled if the loss is not finite)
                    team.lr = (<UpdateRule>c.rule).begin_step()
            y = acts + s.out_off * rows
            pre = acts + s.pre_off * rows if s.pre_off >= 0 else NULL
            z = pre if pre != NULL else y
            if l < last:
                # this member's units of the step's output, of all the rows
                _units_of(n, size, t, &v0, &v1)
                r0, r1 = 0, rows
            else:
                # the last step's: all its units, of this member's rows (each computes their loss)
                v0, v1 = 0, n
                r0, r1 = _share_first(rows, size, t), _share_first(rows, size, t + 1)
            # the parts summed in member order
            summed = False
            for k in range(size):
                _units_of(n_in, size, k, &u0, &u1)
                if u1 == u0:
                    continue  # member k had no input units: no part
                src = <const float *>team.members[k].parts + (di % 2) * part_size
                for i in range(r0, r1):
                    if summed:
                        for j in range(v0, v1):
                            z[i * n + j] += src[i * n + j]
                    else:
                        for j in range(v0, v1):
                            z[i * n + j] = src[i * n + j]
                summed = True
            # its block of rows n apart, in one pass
            fm_bias_act_ld_f(z + r0 * n + v0, params + s.b_off + v0 if s.b_off >= 0 else NULL,
                             y + r0 * n + v0, r1 - r0, v1 - v0, n, s.act, <float>s.alpha)
            di += 1
        # the loss of this member's rows [r0, r1) (di: the dense steps; the last is one), its
        # gradient (of the whole batch's mean) and metrics, added up by the calling thread in
        # member order after the meeting
        s = &plan.steps[last]
        di = dense - 1
        d = deltas[di % 2]
        y = acts + s.out_off * rows
        n = s.n_out
        me.loss = 0
        for k in range(plan.n_metrics):
            me.metric_sums[k] = 0
        if r1 > r0:
            me.loss = loss_and_grad(plan.loss, y + r0 * n, lb + r0 if lb != NULL else NULL,
                                    tb + r0 * n if tb != NULL else NULL, r1 - r0, n, plan.fused,
                                    plan.epsilon, d + r0 * n, wb + r0 if wb != NULL else NULL,
                                    rows)
            if isfinite(me.loss):
                _add_metrics(plan, me.metric_sums, y + r0 * n, lb + r0 if lb != NULL else NULL,
                             tb + r0 * n if tb != NULL else NULL, r1 - r0)
                fm_act_backward_f(d + r0 * n, d + r0 * n, y + r0 * n,
                                  acts + s.pre_off * rows + r0 * n if s.pre_off >= 0 else NULL,
                                  r1 - r0, n, FM_LINEAR if plan.fused else s.act,
                                  <float>s.alpha, NULL)
            else:
                me.fault = NONFINITE_LOSS  # the step is not applied: nobody has updated yet
        fm_team_barrier_wait(&team.barrier)
        # every member reads the same faults, so every member takes the same way out
        fault = OK
        for k in range(size):
            fault = max(fault, team.members[k].fault)
        if fault != OK:
            if t == 0:
                (<UpdateRule>c.rule).cancel_step()
                c.fault = fault
                c.bad_step = step
            return
        if t == 0:
            _add_members_sums(c, team, rows)
            if s.b_off >= 0:
                # the last bias's gradient: Σ over the rows in row order (a linear pass)
                fm_act_backward_f(d, d, y, NULL, rows, n, FM_LINEAR, 0, grads + s.b_off)
                (<UpdateRule>c.rule).apply_part(params, grads, team.lr, s.b_off, n)
        # backward: d holds dense step l's whole dz; b is the dense step below it
        l = last
        while True:
            s = &plan.steps[l]
            n, n_in = s.n_out, s.n_in
            d = deltas[di % 2]
            b = l - 1
            while b >= 0 and plan.steps[b].kind != DENSE:
                b -= 1
            _units_of(n_in, size, t, &u0, &u1)
            nu = u1 - u0
            if nu > 0:
                inp = xb if l == 0 else acts + plan.steps[l - 1].out_off * rows
                kp = _kept_inputs(&kept, &me.scratch, inp + u0, rows, nu, n_in, level,
                                  True, mb) if l == 0 else NULL
                fm_sgemm_small_kept(level, nu, n, rows, inp + u0, 1, n_in, d, n,
                                    grads + s.w_off + u0 * n, n, NULL, 0,
                                    ahead if l == 0 else NULL, kp.idx if kp != NULL else NULL,
                                    kp.at if kp != NULL else NULL)
                if l > 0:
                    # this member's units of dx, back through the dropout steps between (their
                    # masks on these units), then the activation's derivative and bias
                    # gradient of the dense step below
                    below = &plan.steps[b]
                    dx = deltas[(di - 1) % 2]
                    # as (W·dzᵀ)ᵀ: W's rows of these units in place, which this member alone
                    # updates (a Wᵀ refreshed after each update was a pass over the kernel rows
                    # a step, from L3 at M2: 20-24 us of a 350 us batch-32 step), and its own
                    # dzᵀ; each output the same chain of FMAs over n as dz·Wᵀ's: the same bits
                    fm_transpose_f(level, d, dzt, rows, rows, n)
                    fm_sgemm_small(level, nu, rows, n, params + s.w_off + u0 * n, n, 1, dzt, rows,
                                   dzt + part_size, rows, NULL, 0, NULL)
                    fm_transpose_f(level, dzt + part_size, dx + u0, n_in, nu, rows)
                    for k in range(l - 1, b, -1):
                        _dropout[float](&plan.steps[k], dx, dx, rows, c.seed, step, 0, u0, u1)
                    y = acts + below.out_off * rows
                    pre = acts + below.pre_off * rows if below.pre_off >= 0 else NULL
                    # its columns of rows n_in apart, and their bias gradient (Σ over the
                    # rows in row order, as a whole step's) in the same pass
                    fm_act_backward_ld_f(dx + u0, dx + u0, y + u0,
                                         pre + u0 if pre != NULL else NULL, rows, nu, n_in,
                                         below.act, <float>below.alpha,
                                         grads + below.b_off + u0 if below.b_off >= 0 else NULL)
                    if below.b_off >= 0:
                        (<UpdateRule>c.rule).apply_part(params, grads, team.lr, below.b_off + u0, nu)
                (<UpdateRule>c.rule).apply_part(params, grads, team.lr, s.w_off + u0 * n, nu * n)
            if l == 0:
                break
            fm_team_barrier_wait(&team.barrier)  # the dense step below's dz is whole
            l = b
            di -= 1

cdef class _TeamRun:
    """One TRAIN call's thread team, as its threads share it: the call, the team and its
    members live here (not on the calling thread's stack), with references to every buffer
    they point into, so a helper thread never outlives what it reads. member(t) runs member
    t's part on the thread that calls it; each t in 1..size-1 once."""
    cdef Call call
    cdef Team team
    cdef void *params
    cdef object keep
    cdef set started
    cdef bint open
    cdef object caller           # the calling thread's ident: member 0's

    def __cinit__(self):
        self.team.members = NULL
        self.started = set()

    def __dealloc__(self):
        free(self.team.members)

    def finish(self, started):
        """Closes the team and waits for the members in `started` (their futures) to return:
        a member that has not started will not (it finds the team closed); one that has
        returns once it meets the abandoned barrier or ends its steps."""
        self.open = False
        fm_team_barrier_abandon(&self.team.barrier)
        for task in started:
            task.result()

    def member(self, Py_ssize_t t):
        """Runs member t of this team (a helper thread's task)."""
        if not self.open or not 1 <= t < self.team.size or t in self.started:
            raise RuntimeError(f"member {t} of this training team cannot run (now or again)")
        if threading.get_ident() == self.caller:
            # it would wait at the team's first meeting for member 0, which waits for it
            raise RuntimeError(f"member {t} of this training team must run on a thread of its "
                               f"own, not on the calling thread")
        self.started.add(t)
        cdef unsigned long long fp_state
        cdef bint flush = _flushing
        with nogil:
            fp_state = _flush_begin(flush)  # per thread, as in _run
            if self.call.op == GEMMS:
                _member_gemms(&self.call, <float *>self.params, t)
            elif self.team.units:
                _unit_steps(&self.call, <float *>self.params, t)
            else:
                _team_steps[float](&self.call, <float *>self.params, t)
            _flush_end(flush, fp_state)


cdef bint _forward_rows(const Call *c, floating *params, const floating *x, floating *out,
                        Py_ssize_t rows, double *activity) noexcept nogil:
    """out := network(x) in inference mode (dropout is the identity, batch normalization uses
    the moving statistics) for one pass of c (at most c.batch rows); steps ping-pong between
    two halves of c.work, and 2 × max_width after them hold a step's per-column temporaries.
    activity (unless NULL) accumulates the activity penalties of the outputs. Dense kernels
    are read from c's packs where it has them. Returns False when c.check_x and some element
    of x is NaN or infinite (out is then not to be used), else True."""
    cdef const Plan *plan = &c.plan
    cdef floating *work = <floating *>c.work
    cdef Py_ssize_t chunk = c.batch
    cdef const floating *inp = x
    cdef floating *dst
    cdef floating *tmp = work + 2 * chunk * plan.max_hidden
    cdef const Step *s
    cdef Py_ssize_t l, last = plan.n_steps - 1
    cdef int half = 0
    cdef fm_kept kept
    cdef const fm_kept *kp
    cdef void *lists = NULL
    cdef int finite = -1  # -1: not known (the lists, if built, read every element of x)
    for l in range(plan.n_steps):
        s = &plan.steps[l]
        if s.kind == DROPOUT:
            if l == last:
                memcpy(out, inp, rows * s.n_out * sizeof(floating))
            continue
        # the half not holding this step's input (inp is x or the half written last)
        dst = out if l == last else work + half * chunk * plan.max_hidden
        half ^= 1
        if s.kind == DENSE:
            # a pass of several rows over finite weights skips, in its first product, the
            # inputs a block of rows has zero (one row: its zeros, in tmp)
            kp = (_kept_pass(&kept, &lists, x, rows, s.n_in, plan.predict_level, &finite)
                  if l == 0 and rows > 1 and c.skip_zeros else NULL)
            dense_forward(inp, params + s.w_off, _at(params, s.b_off), dst, NULL, rows, s.n_in,
                          s.n_out, s.act, s.alpha, plan.predict_level, NULL,
                          c.packed + c.packed_at[l]
                          if c.packed != NULL and c.packed_at[l] >= 0 else NULL,
                          <int32_t *>tmp if c.skip_zeros and rows == 1 else NULL, kp)
            if activity != NULL:
                activity[0] += _penalty(dst, rows * s.n_out, s.activity_l1, s.activity_l2, NULL, 0)
        elif s.kind == ACTIVATION:
            _activate(<floating *>inp, NULL, dst, rows, s.n_out, s.act, s.alpha)
        else:
            _batch_norm_inference(s, params, inp, dst, rows, tmp)
        inp = dst
    free(lists)
    if not c.check_x:
        return True
    if finite < 0:
        if floating is float:
            finite = fm_all_finite_f(x, rows * plan.n_inputs)
        else:
            finite = fm_all_finite_d(x, rows * plan.n_inputs)
    return finite != 0


cdef const fm_kept *_kept_pass(fm_kept *kept, void **lists, const floating *x, Py_ssize_t rows,
                               Py_ssize_t n_in, int level, int *finite) noexcept nogil:
    """kept := the inputs each block of an inference pass's rows x (rows × n_in) keeps for its
    first product, in lists allocated here (*lists: the caller frees it); NULL where none are
    skipped: float64, BLAS, no memory, or lists that would not pay (fm_kept_pays). *finite :=
    whether x is finite, where the lists were built (else untouched)."""
    cdef Py_ssize_t blocks = fm_kept_blocks(rows), total = -1, dense = blocks * n_in
    if floating is float:
        if level > 0:
            # the lists, then their blocks' bounds (Py_ssize_t-aligned after them)
            lists[0] = malloc(((dense + 1) // 2 + blocks + 1) * sizeof(Py_ssize_t))
            if lists[0] != NULL:
                kept.idx = <int32_t *>lists[0]
                kept.at = <Py_ssize_t *>lists[0] + (dense + 1) // 2
                total = fm_kept_of_rows(level, x, rows, n_in, n_in, <int32_t *>kept.idx,
                                        <Py_ssize_t *>kept.at, finite)
    if not fm_kept_pays(total, dense):
        return NULL
    return kept


cdef bint _lone_end(int mode) noexcept nogil:
    """After a lone call's own share has run (Network._lone_begin's mode): takes the share
    posted to helper 0 back if the helper never took it (True: a ROWS share is then the
    caller's to run), else waits until the helper is done with it; releases box 0."""
    if mode == WHOLE or mode == ALONE:
        return False
    if fm_box_take_back(&_boxes[0]):
        fm_box_release(&_boxes[0])
        return mode == ROWS
    fm_box_wait_done(&_boxes[0])
    fm_box_release(&_boxes[0])
    return False


cdef bint _run_lone(Call *c, Part *part, void *params, bint is_double, int mode,
                    bint *finite) noexcept nogil:
    """A lone call (Network._lone_begin's mode): c's share, then _lone_end, then the share
    taken back from the helper; returns whether one was taken back (for _lone_free). With
    c.check_x, *finite := whether x is finite, as the passes found it (a ROWS share checks its
    own rows); a wide call's threads share each step's columns, not its passes, so COLUMNS
    checks all of x first and runs nothing of a bad one. Else *finite := True."""
    cdef bint run = True
    if c.check_x and mode == COLUMNS:
        run = (fm_all_finite_d(<const double *>c.x, c.rows * c.plan.n_inputs) if is_double
               else fm_all_finite_f(<const float *>c.x, c.rows * c.plan.n_inputs))
    if run:
        _run(c, params, is_double)
    cdef bint taken_back = _lone_end(mode)
    if taken_back and run:
        _run(&part.call, params, is_double)
    finite[0] = run and not c.x_not_finite and not (mode == ROWS and part.call.x_not_finite)
    return taken_back


cdef void _wide_dense(const Step *s, float *params, const float *x, float *y, Py_ssize_t rows,
                      int level, long *claimed, long *finished, long *mine,
                      int32_t *nonzeros) noexcept nogil:
    """y := act(x·w + b) for a dense step, in chunks of whole 16-column blocks that the
    threads of a wide call take as they come; returns once every chunk is written. The same
    bits as dense_forward (each column's arithmetic is the same; its activation is
    elementwise). mine (or NULL): counts the chunks this thread wrote. nonzeros (or NULL):
    this thread's scratch of n_in int32 for one row, whose chunks then read only the rows of
    w where x is not zero (as dense_forward's)."""
    cdef Py_ssize_t n = s.n_out, vectors = (s.n_out + 15) // 16, c0, c1, kept = -1
    cdef long chunks = min(WIDE_CHUNKS, vectors), k
    cdef const float *b = _at(params, s.b_off)
    cdef bint relu = s.act == FM_RELU
    if nonzeros != NULL and rows == 1:
        kept = fm_nonzeros(level, x, s.n_in, nonzeros)
        if not fm_kept_pays(kept, s.n_in):
            kept = -1
    while True:
        k = fm_claim_chunk(claimed)
        if k >= chunks:
            break
        c0 = 16 * (vectors * k // chunks)
        c1 = min(n, 16 * (vectors * (k + 1) // chunks))
        if kept >= 0:
            fm_sgemv_kept(level, c1 - c0, x, nonzeros, kept, params + s.w_off + c0, n, y + c0,
                          b + c0 if b != NULL else NULL, relu)
        else:
            fm_sgemm_small(level, rows, c1 - c0, s.n_in, x, s.n_in, 1, params + s.w_off + c0,
                           n, y + c0, n, b + c0 if b != NULL else NULL, relu, NULL)
        if not relu and s.act != FM_LINEAR:
            fm_bias_act_ld_f(y + c0, NULL, y + c0, rows, c1 - c0, n, s.act, <float>s.alpha)
        if mine != NULL:
            mine[0] += 1
        fm_chunk_done(finished)
    fm_chunks_wait(finished, chunks)


cdef void _wide_forward(const Call *c, float *params) noexcept nogil:
    """_forward_rows for a wide call (one pass of c.rows rows, weights in place), run by
    its calling thread and by its helper (c.helping), which leaves before the last step."""
    cdef const Plan *plan = &c.plan
    cdef float *work = <float *>c.work
    # each thread's own half of the temporaries after the two halves of work, for the
    # indices of a row's non-zero inputs
    cdef int32_t *nonzeros = NULL
    if c.skip_zeros and c.rows == 1:
        nonzeros = <int32_t *>(work + 2 * c.batch * plan.max_hidden
                               + (plan.max_width if c.helping else 0))
    cdef const float *inp = <const float *>c.x
    cdef float *dst
    cdef const Step *s
    cdef Py_ssize_t l, last = plan.n_steps - 1
    cdef int half = 0
    for l in range(plan.n_steps):
        s = &plan.steps[l]
        if l == last:
            if c.helping:
                return
            if s.kind == DROPOUT:
                memcpy(c.out, inp, c.rows * s.n_out * sizeof(float))
            else:
                dense_forward(inp, params + s.w_off, _at(params, s.b_off), <float *>c.out,
                              NULL, c.rows, s.n_in, s.n_out, s.act, s.alpha,
                              plan.predict_level, NULL, NULL, nonzeros, NULL)
            return
        if s.kind == DROPOUT:
            continue
        # as in _forward_rows: the half of c.work not holding this step's input
        dst = work + half * c.batch * plan.max_hidden
        half ^= 1
        _wide_dense(s, params, inp, dst, c.rows, plan.predict_level, &c.wide.claimed[l],
                    &c.wide.finished[l], &c.wide.helper_chunks if c.helping else NULL, nonzeros)
        inp = dst


cdef void _predict(Call *c, floating *params) noexcept nogil:
    cdef Py_ssize_t start = 0, rows, n_in = c.plan.n_inputs, n_out = c.plan.n_outputs
    if floating is float:
        if c.wide != NULL:
            _wide_forward(c, params)
            return
    while start < c.rows:
        rows = min(c.batch, c.rows - start)
        if not _forward_rows(c, params, <const floating *>c.x + start * n_in,
                             <floating *>c.out + start * n_out, rows, NULL):
            c.x_not_finite = True
            return  # the call's output is dropped: its caller reports x
        start += c.batch


cdef void _evaluate(Call *c, floating *params) noexcept nogil:
    cdef const Plan *plan = &c.plan
    cdef Py_ssize_t start = 0, rows, n_out = plan.n_outputs
    cdef floating *probs = <floating *>c.out
    cdef floating *grad = <floating *>c.work + 2 * c.batch * plan.max_hidden + 2 * plan.max_width
    cdef const int32_t *lb
    cdef const floating *tb
    cdef double one_pass[2 + 8]  # a pass's sums on one thread (Call.metric_sums: 8 at most)
    cdef double *sums = c.pass_sums if c.pass_sums != NULL else one_pass
    cdef int m
    # each batch's loss includes the weight penalties, as Keras's test step computes it (with
    # pass sums, the caller adds them: _add_pass_sums)
    if c.pass_sums == NULL:
        c.loss_sum += c.rows * _weight_penalty(plan, params, NULL)
    while start < c.rows:
        rows = min(c.batch, c.rows - start)
        # rows × (the batch's activity penalty / rows), as in training
        sums[0] = 0
        if not _forward_rows(c, params, <const floating *>c.x + start * plan.n_inputs, probs,
                             rows, &sums[0]):
            c.x_not_finite = True
            return  # the call's sums are dropped: its caller reports x
        lb = c.labels + start if c.labels != NULL else NULL
        tb = <const floating *>c.targets + start * n_out if c.targets != NULL else NULL
        sums[1] = loss_and_grad(plan.loss, probs, lb, tb, rows, n_out, plan.fused, plan.epsilon,
                                grad, <const floating *>c.weights + start if c.weights != NULL
                                else NULL)
        for m in range(plan.n_metrics):
            sums[2 + m] = accuracy_sum(plan.metrics[m], probs, lb, tb, rows, n_out,
                                       plan.top_k[m])
        if c.pass_sums == NULL:
            _add_pass(c, sums)
        else:
            sums += _sums_per_pass(plan)
        start += c.batch


cdef inline Py_ssize_t _sums_per_pass(const Plan *plan) noexcept nogil:
    """The sums an evaluate pass writes: its activity penalty, its loss, each metric's."""
    return 2 + plan.n_metrics


cdef inline void _add_pass(Call *c, const double *sums) noexcept nogil:
    """c's loss and metric sums += one evaluate pass's (_evaluate's order, on one thread or
    after several: the same bits)."""
    cdef int m
    c.loss_sum += sums[0]
    c.loss_sum += sums[1]
    for m in range(c.plan.n_metrics):
        c.metric_sums[m] += sums[2 + m]


cdef void _add_pass_sums(Call *c, floating *params) noexcept nogil:
    """c's loss and metric sums := what _evaluate adds up on one thread (the weight penalty,
    then each pass's sums in pass order: the same bits), from the sums c.pass_sums that the
    passes of c's rows wrote on several threads."""
    cdef const double *sums = c.pass_sums
    cdef Py_ssize_t _, passes = (c.rows + c.batch - 1) // c.batch
    c.loss_sum = c.rows * _weight_penalty(&c.plan, params, NULL)
    for _ in range(passes):
        _add_pass(c, sums)
        sums += _sums_per_pass(&c.plan)


def gil_hint_check(str action="", recorded=None, taken=None, now=None):
    """Test hook of csrc/gil_hint.h, no clock read: with action 'taken' or 'released', records
    what a predict call does then and returns whether the GIL is now recorded as taken (''
    just reports that); with recorded, taken and now (ticks), returns whether a waiter spins
    on. None where there is no hint (FM_GIL_HINT 0). FM_GIL_HINT_TICKS is
    gil_hint_check.ticks."""
    if not FM_GIL_HINT:
        return None
    if recorded is not None:
        return bool(fm_gil_hint_spins(recorded, taken, now))
    if action == "taken":
        fm_gil_hint_taken()
    elif action == "released":
        fm_gil_hint_released()
    elif action != "":
        raise ValueError(f"`action` must be 'taken', 'released' or ''; received {action!r}")
    return fm_gil_hint_recorded() != 0


gil_hint_check.ticks = FM_GIL_HINT_TICKS
