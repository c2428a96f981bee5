"""Fused dense + activation kernels: one GEMM, then one elementwise pass.

Shapes (row-major): x (rows, n_in), w (n_in, n_out) as Keras stores a Dense kernel,
b (n_out,), y (rows, n_out).
"""
import numpy as np

from libc.stdint cimport int32_t

from fastmlp._kernels.blas cimport gemm
from fastmlp._kernels.small_gemm cimport (FM_PACKED_MIN_ROWS, fm_kept, fm_prefetch,
                                          fm_sgemm_packed_kept, fm_sgemv_skip_zeros,
                                          fm_small_gemm_level, fm_sgemm_small_kept)
from fastmlp._kernels.elementwise cimport (FM_LINEAR, FM_RELU, fm_bias_act_f, fm_bias_act_d,
                                           fm_bias_act_ld_f, fm_bias_act_ld_d,
                                           fm_act_backward_ld_f, fm_act_backward_ld_d,
                                           fm_act_backward_f, fm_act_backward_d)
from fastmlp._kernels.checks import check_array, check_matrix
from fastmlp._kernels.codes import (ACTIVATION_CODES, DEFAULT_ALPHA, check_activation,
                                    check_alpha, needs_pre)


cdef bint forward_gemm(const floating *x, const floating *w, floating *z, Py_ssize_t rows,
                       Py_ssize_t n_in, Py_ssize_t n_out, int level, const floating *bias,
                       bint relu, fm_prefetch *pf, const fm_kept *kept) noexcept nogil:
    """z := x·w, by fastmlp's own float32 GEMM at `level` (csrc/small_gemm.h), else by BLAS
    (level 0, float64, or no path for the level in this build). On the own GEMM, + bias (or
    NULL) and max(·, 0) when relu are applied as each tile is stored, and True is returned;
    False: z holds x·w alone (BLAS), and the caller applies them. pf (or NULL): lines the own
    GEMM brings into cache meanwhile (csrc/prefetch.h; BLAS does not). kept (or NULL): the
    inputs each block of x's rows keeps (csrc/kept_inputs.h, fm_kept_of_rows; the own GEMM
    skips the others, the same values over a finite w; BLAS reads them all)."""
    if floating is float:
        if level > 0 and fm_sgemm_small_kept(level, rows, n_out, n_in, x, n_in, 1, w, n_out, z,
                                             n_out, bias, relu, pf,
                                             kept.idx if kept != NULL else NULL,
                                             kept.at if kept != NULL else NULL):
            return True
    gemm(False, False, rows, n_out, n_in, <floating>1, x, n_in, w, n_out, <floating>0, z, n_out)
    return False


cdef void weight_gradient_gemm(const floating *x, const floating *dz, floating *dw,
                               Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t n_out,
                               int level, fm_prefetch *pf, const fm_kept *kept) noexcept nogil:
    """dw := xᵀ·dz (x rows × n_in, dz rows × n_out), by fastmlp's own float32 GEMM at `level`
    reading xᵀ in place through its strides, else by BLAS (as forward_gemm, pf too). kept (or
    NULL): the rows each block of x's columns keeps (csrc/kept_inputs.h, fm_kept_of_columns)."""
    cdef bint done = False
    if floating is float and level > 0:
        done = fm_sgemm_small_kept(level, n_in, n_out, rows, x, 1, n_in, dz, n_out, dw, n_out,
                                   NULL, 0, pf, kept.idx if kept != NULL else NULL,
                                   kept.at if kept != NULL else NULL)
    if not done:
        gemm(True, False, n_in, n_out, rows, <floating>1, x, n_in, dz, n_out, <floating>0, dw,
             n_out)


cdef void dense_forward(const floating *x, const floating *w, const floating *b, floating *y,
                        floating *pre, Py_ssize_t rows, Py_ssize_t n_in, Py_ssize_t n_out,
                        int act, double alpha, int level, fm_prefetch *pf,
                        const float *packed, int32_t *nonzeros,
                        const fm_kept *kept) noexcept nogil:
    """y := act(x·w + b); b may be NULL. With `pre` (rows × n_out), x·w + b is kept there for
    the backward pass of an activation that needs its input (codes.needs_pre). level: x·w by
    fastmlp's own float32 GEMM at that level (csrc/small_gemm.h; 0 or float64: BLAS); pf as
    forward_gemm's. On the own GEMM, + b and a ReLU are applied as each tile is stored (the
    same bits as the pass after BLAS), which leaves no pass over y for ReLU and linear layers.
    packed (or NULL): w packed for `level` (csrc/packed_weights.h), read instead of w from
    FM_PACKED_MIN_ROWS rows on (the same bits). nonzeros (or NULL): scratch of n_in int32
    for one row, whose product then reads only the rows of w where x is not zero
    (csrc/sparse_row.h: the same values; w must be finite). kept: as forward_gemm's (packed or
    in place)."""
    cdef floating *z = pre if pre != NULL else y
    cdef bint relu = act == FM_RELU and pre == NULL
    cdef bint done = False
    if floating is float:
        if nonzeros != NULL and rows == 1 and level > 0:
            done = fm_sgemv_skip_zeros(level, n_out, n_in, x, w, n_out, z, b, relu, nonzeros)
        elif packed != NULL and rows >= FM_PACKED_MIN_ROWS and level > 0:
            done = fm_sgemm_packed_kept(level, rows, n_out, n_in, x, n_in, packed, z, n_out, b,
                                        relu, kept.idx if kept != NULL else NULL,
                                        kept.at if kept != NULL else NULL)
    if done or forward_gemm(x, w, z, rows, n_in, n_out, level, b, relu, pf, kept):
        if relu or (act == FM_LINEAR and y == z):
            return
        b = NULL  # added as the tiles were stored
    if floating is float:
        fm_bias_act_f(z, b, y, rows, n_out, act, <float>alpha)
    else:
        fm_bias_act_d(z, b, y, rows, n_out, act, alpha)


cdef void dense_backward(const floating *x, const floating *w, const floating *wt,
                         const floating *y, const floating *pre, floating *dy, floating *dw,
                         floating *db, floating *dx, Py_ssize_t rows, Py_ssize_t n_in,
                         Py_ssize_t n_out, int act, double alpha, int level,
                         fm_prefetch *pf, const fm_kept *kept) noexcept nogil:
    """From dy = dL/dy (overwritten by dL/dz): dw := xᵀ·dz, db := Σ rows of dz, dx := dz·wᵀ;
    dw by fastmlp's own float32 GEMM at `level` (0: BLAS), dx too when `wt` (w transposed,
    n_out × n_in, csrc/transpose.h) is given, else by BLAS reading w.

    act' comes from the forward output y (or from `pre`, x·w + b, for the activations that
    need it), so most activations keep no pre-activation; pass act = FM_LINEAR when dy already
    is dL/dz (a loss fused with softmax or sigmoid). dw, db and dx may be NULL (frozen weights;
    no bias; first layer). pf: as forward_gemm's, for the products on the own GEMM. kept (or
    NULL): as weight_gradient_gemm's, for dw.
    """
    if floating is float:
        fm_act_backward_f(dy, dy, y, pre, rows, n_out, act, <float>alpha, db)
    else:
        fm_act_backward_d(dy, dy, y, pre, rows, n_out, act, alpha, db)
    if dw != NULL:
        weight_gradient_gemm(x, dy, dw, rows, n_in, n_out, level, pf, kept)
    if dx != NULL and wt != NULL:
        forward_gemm(dy, wt, dx, rows, n_out, n_in, level, NULL, False, pf, NULL)
    elif dx != NULL:
        gemm(False, True, rows, n_in, n_out, <floating>1, dy, n_out, w, n_out, <floating>0,
             dx, n_in)


def _alpha(int act, alpha):
    """The activation's parameter: Keras's default for it when None, else checked."""
    if alpha is None:
        name = next(n for n, code in ACTIVATION_CODES.items() if code == act)
        return DEFAULT_ALPHA.get(name, 0.0)
    return check_alpha(act, alpha)


def _check_float_matrix(arr, str name):
    """A nonempty C-contiguous float32 or float64 matrix; returns its dtype."""
    dtype = getattr(arr, "dtype", None)
    if dtype not in (np.float32, np.float64):
        raise ValueError(f"`{name}` must be a float32 or float64 array; received {dtype}")
    check_matrix(arr, name, dtype, nonempty=True)
    return dtype


def _check_layer(x, w, b=None, y=None, dy=None):
    """The test hooks' boundary: x (rows, n_in), w (n_in, n_out), b (n_out,), y/dy (rows, n_out)."""
    dtype = _check_float_matrix(x, "x")
    check_matrix(w, "w", dtype, nonempty=True)
    if w.shape[0] != x.shape[1]:
        raise ValueError(f"`w` must have {x.shape[1]} rows (x's width); received shape {w.shape}")
    if b is not None:
        check_array(b, "b", dtype, (w.shape[1],))
    for name, arr in (("y", y), ("dy", dy)):
        if arr is not None:
            check_array(arr, name, dtype, (x.shape[0], w.shape[1]))


def _check_level(int level):
    if not 0 <= level <= fm_small_gemm_level():
        raise ValueError(f"`level` must be in [0, {fm_small_gemm_level()}] on this CPU; "
                         f"received {level}")


def dense_forward_check(x, w, b, int act, alpha=None, bint keep_pre=False, int level=0,
                        bint skip_zeros=False):
    """Test hook: returns act(x·w + b) computed by the kernel (b may be None); with keep_pre,
    (y, x·w + b) through the path that keeps the pre-activation. alpha: the activation's
    parameter, Keras's default when None. level: x·w by BLAS (0) or by fastmlp's own float32
    GEMM at that level (small_gemm.small_gemm_level() or lower). skip_zeros: a one-row x's
    product reads only the rows of w where x is not zero (w must then be finite)."""
    _check_layer(x, w, b)
    check_activation(act)
    _check_level(level)
    if skip_zeros and not np.isfinite(w).all():
        raise ValueError("dense_forward_check: skip_zeros needs a finite `w`")
    alpha = _alpha(act, alpha)
    y = np.empty((x.shape[0], w.shape[1]), dtype=x.dtype)
    pre = np.empty_like(y) if keep_pre else None
    nonzeros = np.empty(max(1, x.shape[1]), np.int32) if skip_zeros else None
    if x.dtype == np.float32:
        _forward_typed[float](x, w, b, y, pre, act, alpha, level, nonzeros)
    else:
        _forward_typed[double](x, w, b, y, pre, act, alpha, level, nonzeros)
    return (y, pre) if keep_pre else y


cdef void _forward_typed(const floating[:, ::1] x, const floating[:, ::1] w, b,
                         floating[:, ::1] y, pre, int act, double alpha, int level, nonzeros):
    cdef const floating[::1] bias
    cdef const floating *b_ptr = NULL
    cdef floating[:, ::1] kept
    cdef floating *pre_ptr = NULL
    if b is not None:
        bias = b
        b_ptr = &bias[0]
    if pre is not None:
        kept = pre
        pre_ptr = &kept[0, 0]
    cdef int32_t[::1] index
    cdef int32_t *index_ptr = NULL
    if nonzeros is not None:
        index = nonzeros
        index_ptr = &index[0]
    with nogil:
        dense_forward(&x[0, 0], &w[0, 0], b_ptr, &y[0, 0], pre_ptr, x.shape[0], x.shape[1],
                      w.shape[1], act, alpha, level, NULL, NULL, index_ptr, NULL)


def dense_backward_check(x, w, y, dy, int act, bint want_dx=True, alpha=None, pre=None,
                         int level=0, bint transposed=False):
    """Test hook: returns (dw, db, dx) for the layer y = act(x·w + b) given dL/dy (not
    modified); `pre` (x·w + b) is required by the activations that need it. level: dw by BLAS
    (0) or by fastmlp's own float32 GEMM at that level; with `transposed`, dx too, from a
    transposed copy of w as training keeps one."""
    _check_layer(x, w, y=y, dy=dy)
    check_activation(act)
    _check_level(level)
    alpha = _alpha(act, alpha)
    if needs_pre(act):
        if pre is None:
            raise ValueError("this activation's backward pass needs `pre`, x·w + b")
        check_array(pre, "pre", x.dtype, y.shape)
    else:
        pre = None
    dz = np.array(dy, copy=True)
    dw = np.empty(w.shape, dtype=x.dtype)
    db = np.empty(w.shape[1], dtype=x.dtype)
    dx = np.empty(x.shape, dtype=x.dtype)
    wt = np.ascontiguousarray(w.T) if transposed else None
    if x.dtype == np.float32:
        _backward_typed[float](x, w, wt, y, pre, dz, dw, db, dx, act, want_dx, alpha, level)
    else:
        _backward_typed[double](x, w, wt, y, pre, dz, dw, db, dx, act, want_dx, alpha, level)
    return dw, db, (dx if want_dx else None)


cdef void _backward_typed(const floating[:, ::1] x, const floating[:, ::1] w, wt,
                          const floating[:, ::1] y, pre, floating[:, ::1] dz,
                          floating[:, ::1] dw, floating[::1] db, floating[:, ::1] dx, int act,
                          bint want_dx, double alpha, int level):
    cdef floating *dx_ptr = &dx[0, 0] if want_dx else NULL
    cdef const floating[:, ::1] kept
    cdef const floating *pre_ptr = NULL
    cdef const floating[:, ::1] w_t
    cdef const floating *wt_ptr = NULL
    if pre is not None:
        kept = pre
        pre_ptr = &kept[0, 0]
    if wt is not None:
        w_t = wt
        wt_ptr = &w_t[0, 0]
    with nogil:
        dense_backward(&x[0, 0], &w[0, 0], wt_ptr, &y[0, 0], pre_ptr, &dz[0, 0], &dw[0, 0], &db[0],
                       dx_ptr, x.shape[0], x.shape[1], w.shape[1], act, alpha, level, NULL, NULL)


def _check_columns(z, Py_ssize_t c0, Py_ssize_t c1):
    _check_float_matrix(z, "z")
    if not 0 <= c0 <= c1 <= z.shape[1]:
        raise ValueError(f"columns [c0, c1) must lie in [0, {z.shape[1]}]; received [{c0}, {c1})")


def bias_act_columns_check(z, b, int act, Py_ssize_t c0, Py_ssize_t c1, alpha=None):
    """Test hook: (z', y) where the kernel added b to columns [c0, c1) of (rows, cols) z and
    wrote act of them into y (a unit team member's columns of a wider matrix: rows cols apart);
    z' and y hold z and NaN elsewhere. b (cols,) or None."""
    _check_columns(z, c0, c1)
    if b is not None:
        check_array(b, "b", z.dtype, (z.shape[1],))
    check_activation(act)
    alpha = _alpha(act, alpha)
    z = np.array(z, copy=True)
    y = np.full_like(z, np.nan)
    if z.dtype == np.float32:
        _bias_act_columns[float](z, b, y, act, c0, c1, alpha)
    else:
        _bias_act_columns[double](z, b, y, act, c0, c1, alpha)
    return z, y


cdef void _bias_act_columns(floating[:, ::1] z, b, floating[:, ::1] y, int act, Py_ssize_t c0,
                            Py_ssize_t c1, double alpha):
    cdef const floating[::1] bias
    cdef const floating *b_ptr = NULL
    cdef Py_ssize_t rows = z.shape[0], cols = z.shape[1]
    if c1 == c0:
        return
    if b is not None:
        bias = b
        b_ptr = &bias[c0]
    with nogil:
        if floating is float:
            fm_bias_act_ld_f(&z[0, c0], b_ptr, &y[0, c0], rows, c1 - c0, cols, act, <float>alpha)
        else:
            fm_bias_act_ld_d(&z[0, c0], b_ptr, &y[0, c0], rows, c1 - c0, cols, act, alpha)


def act_backward_columns_check(dy, y, pre, int act, Py_ssize_t c0, Py_ssize_t c1, alpha=None):
    """Test hook: (dz, db) where the kernel wrote dy·act' into columns [c0, c1) of dy's copy
    (NaN elsewhere: it starts as NaN there) and db := their column sums, row after row (db
    has c1 − c0 entries). y, pre: (rows, cols) like dy; pre may be None."""
    _check_columns(dy, c0, c1)
    check_array(y, "y", dy.dtype, dy.shape)
    if pre is not None:
        check_array(pre, "pre", dy.dtype, dy.shape)
    check_activation(act)
    alpha = _alpha(act, alpha)
    dz = np.full_like(dy, np.nan)
    dz[:, c0:c1] = dy[:, c0:c1]
    db = np.empty(c1 - c0, dtype=dy.dtype)
    if dy.dtype == np.float32:
        _act_backward_columns[float](dz, y, pre, db, act, c0, c1, alpha)
    else:
        _act_backward_columns[double](dz, y, pre, db, act, c0, c1, alpha)
    return dz, db


cdef void _act_backward_columns(floating[:, ::1] dz, const floating[:, ::1] y, pre,
                                floating[::1] db, int act, Py_ssize_t c0, Py_ssize_t c1,
                                double alpha):
    cdef const floating[:, ::1] kept
    cdef const floating *pre_ptr = NULL
    cdef Py_ssize_t rows = dz.shape[0], cols = dz.shape[1]
    if c1 == c0:
        return
    if pre is not None:
        kept = pre
        pre_ptr = &kept[0, c0]
    with nogil:
        if floating is float:
            fm_act_backward_ld_f(&dz[0, c0], &dz[0, c0], &y[0, c0], pre_ptr, rows, c1 - c0, cols,
                                 act, <float>alpha, &db[0])
        else:
            fm_act_backward_ld_d(&dz[0, c0], &dz[0, c0], &y[0, c0], pre_ptr, rows, c1 - c0, cols,
                                 act, alpha, &db[0])
