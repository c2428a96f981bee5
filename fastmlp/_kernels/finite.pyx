"""The check that input holds no NaN or infinity, without allocating (numpy.isfinite builds a
boolean array as large as the input; for one sample it costs more than the forward pass)."""
cimport numpy as cnp
import numpy as np

from fastmlp._kernels.elementwise cimport fm_all_finite_f, fm_all_finite_d

cnp.import_array()


def all_finite(cnp.ndarray arr) -> bool:
    """True when no element of arr is NaN or ±inf. Integer arrays are always finite."""
    cdef Py_ssize_t n = arr.size
    cdef const void *ptr
    cdef int ok
    cdef bint single
    if arr.dtype.kind in "biu":
        return True
    if not arr.flags.c_contiguous or arr.dtype not in (np.float32, np.float64):
        return bool(np.isfinite(arr).all())
    ptr = cnp.PyArray_DATA(arr)
    single = arr.dtype == np.float32
    with nogil:
        if single:
            ok = fm_all_finite_f(<const float *>ptr, n)
        else:
            ok = fm_all_finite_d(<const double *>ptr, n)
    return ok != 0
