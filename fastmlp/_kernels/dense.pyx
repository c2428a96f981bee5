"""Fused dense + activation kernels: one GEMM, then one elementwise pass.

Shapes (row-major): x (rows, n_in), w (n_in, n_out) as Keras stores a Dense kernel,
b (n_out,), y (rows, n_out).
"""
import numpy as np

from fastmlp._kernels.blas cimport gemm
from fastmlp._kernels.elementwise cimport (fm_bias_act_f, fm_bias_act_d,
                                           fm_act_backward_f, fm_act_backward_d)


cdef void dense_forward(const floating *x, const floating *w, const floating *b, floating *y,
                        int rows, int n_in, int n_out, int act) noexcept nogil:
    """y := act(x·w + b); b may be NULL."""
    gemm(False, False, rows, n_out, n_in, <floating>1, x, n_in, w, n_out, <floating>0, y, n_out)
    if floating is float:
        fm_bias_act_f(y, b, rows, n_out, act)
    else:
        fm_bias_act_d(y, b, rows, n_out, act)


cdef void dense_backward(const floating *x, const floating *w, const floating *y,
                         floating *dy, floating *dw, floating *db, floating *dx,
                         int rows, int n_in, int n_out, int act) noexcept nogil:
    """From dy = dL/dy (overwritten by dL/dz): dw := xᵀ·dz, db := Σ rows of dz, dx := dz·wᵀ.

    act' comes from the forward output y, so the pre-activation need not be kept; pass
    act = FM_LINEAR when dy already is dL/dz (a loss fused with softmax or sigmoid).
    db and dx may be NULL (no bias; first layer).
    """
    if floating is float:
        fm_act_backward_f(dy, dy, y, rows, n_out, act, db)
    else:
        fm_act_backward_d(dy, dy, y, rows, n_out, act, db)
    gemm(True, False, n_in, n_out, rows, <floating>1, x, n_in, dy, n_out, <floating>0, dw, n_out)
    if dx != NULL:
        gemm(False, True, rows, n_in, n_out, <floating>1, dy, n_out, w, n_out, <floating>0,
             dx, n_in)


def dense_forward_check(floating[:, ::1] x, floating[:, ::1] w, b, int act):
    """Test hook: returns act(x·w + b) computed by the kernel (b may be None)."""
    cdef floating[::1] bias
    cdef const floating *b_ptr = NULL
    if b is not None:
        bias = b
        b_ptr = &bias[0]
    y_arr = np.empty((x.shape[0], w.shape[1]), dtype=np.asarray(x).dtype)
    cdef floating[:, ::1] y = y_arr
    with nogil:
        dense_forward(&x[0, 0], &w[0, 0], b_ptr, &y[0, 0], x.shape[0], x.shape[1], w.shape[1], act)
    return y_arr


def dense_backward_check(floating[:, ::1] x, floating[:, ::1] w, floating[:, ::1] y,
                         floating[:, ::1] dy, int act, bint want_dx=True):
    """Test hook: returns (dw, db, dx) for the layer y = act(x·w + b) given dL/dy (not modified)."""
    dtype = np.asarray(x).dtype
    dz_arr = np.array(dy, dtype=dtype, copy=True)
    dw_arr = np.empty((w.shape[0], w.shape[1]), dtype=dtype)
    db_arr = np.empty(w.shape[1], dtype=dtype)
    dx_arr = np.empty((x.shape[0], x.shape[1]), dtype=dtype)
    cdef floating[:, ::1] dz = dz_arr, dw = dw_arr, dx = dx_arr
    cdef floating[::1] db = db_arr
    cdef floating *dx_ptr = &dx[0, 0] if want_dx else NULL
    with nogil:
        dense_backward(&x[0, 0], &w[0, 0], &y[0, 0], &dz[0, 0], &dw[0, 0], &db[0], dx_ptr,
                       x.shape[0], x.shape[1], w.shape[1], act)
    return dw_arr, db_arr, (dx_arr if want_dx else None)
