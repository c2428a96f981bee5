"""fit's NaN/infinity check of its inputs (fastmlp.data.check_finite), which splits a large
array across config.num_threads() threads: the same answer and the same message (the first
bad element's index) whichever part holds it, on 1 or 2 threads. Oracle: numpy.isfinite."""
import numpy as np
import pytest

from fastmlp import config
from fastmlp.data import FINITE_PART_MIN, check_finite


@pytest.mark.parametrize("count", [1, 2])
def test_a_bad_value_in_any_part_is_found_and_named(threads, count):
    config.set_num_threads(count)
    rows, cols = 4 * FINITE_PART_MIN // 100 + 3, 100  # four parts' worth and a bit
    x = np.ones((rows, cols), np.float32)
    check_finite(x, "x")
    for flat in (0, x.size // 2 - 1, x.size // 2, x.size - 1):
        for bad in (np.nan, -np.inf):
            y = x.copy()
            y.reshape(-1)[flat] = bad
            index = tuple(int(i) for i in np.argwhere(~np.isfinite(y))[0])
            with pytest.raises(ValueError, match=rf"`y` contains NaN or infinity \(first at index "
                                                 rf"\({index[0]}, {index[1]}\)\)"):
                check_finite(y, "y")


def test_the_first_bad_value_is_named_when_several_parts_hold_one(threads):
    config.set_num_threads(2)
    x = np.zeros(3 * FINITE_PART_MIN, np.float64)
    x[-5] = np.inf
    x[FINITE_PART_MIN + 1] = np.nan
    with pytest.raises(ValueError, match=rf"\(first at index \({FINITE_PART_MIN + 1},\)\)"):
        check_finite(x, "x")


def test_a_strided_array_is_checked_whole(threads):
    config.set_num_threads(2)
    x = np.zeros((2 * FINITE_PART_MIN, 2), np.float32)
    x[-1, 0] = np.nan
    with pytest.raises(ValueError, match=r"contains NaN or infinity"):
        check_finite(x[:, 0], "x")
    check_finite(x[:, 1], "x")
