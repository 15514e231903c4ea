"""NumPy spellings against NumPy itself: `axis=`/`keepdims=`, reshape, transpose, joining."""

from __future__ import annotations

import operator

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from ophelpers import Tz, agree_numpy
from strategies import related_shapes, shapes

SETTINGS = settings(max_examples=25, deadline=None)
axes = st.one_of(st.none(), st.integers(-4, 3))


@SETTINGS
@given(shape=shapes(0, 4), axis=axes, keepdims=st.booleans())
def test_numpy_reductions(shape, axis, keepdims) -> None:  # type: ignore[no-untyped-def]
    if not shape and axis is not None:
        return  # NumPy disagrees with itself on 0-d arrays (sum accepts axis=0, mean rejects it): not modelled
    agree_numpy("numpy.sum", np.sum, Tz(shape), axis=axis, keepdims=keepdims)
    agree_numpy("numpy.mean", np.mean, Tz(shape), axis=axis, keepdims=keepdims)
    agree_numpy("numpy.max", np.max, Tz(shape), axis=axis)


@SETTINGS
@given(pair=related_shapes(2))
def test_numpy_broadcasting_and_matmul(pair) -> None:  # type: ignore[no-untyped-def]
    agree_numpy("+", operator.add, Tz(pair[0]), Tz(pair[1]))
    agree_numpy("numpy.maximum", np.maximum, Tz(pair[0]), Tz(pair[1]))
    agree_numpy("numpy.matmul", np.matmul, Tz(pair[0]), Tz(pair[1]))


@SETTINGS
@given(shape=shapes(0, 4), axis=st.integers(-4, 3))
def test_numpy_views(shape, axis) -> None:  # type: ignore[no-untyped-def]
    if not shape:
        return  # 0-d arrays: NumPy's axis handling differs per function (see above)
    agree_numpy("numpy.transpose", np.transpose, Tz(shape))
    agree_numpy("numpy.expand_dims", np.expand_dims, Tz(shape), axis)
    agree_numpy("numpy.squeeze", np.squeeze, Tz(shape), axis=axis)
    agree_numpy("numpy.reshape", np.reshape, Tz(shape), (-1,))


@SETTINGS
@given(group=related_shapes(2), axis=st.integers(-3, 2))
def test_numpy_joining(group, axis) -> None:  # type: ignore[no-untyped-def]
    agree_numpy("numpy.concatenate", np.concatenate, [Tz(s) for s in group], axis=axis)
    agree_numpy("numpy.stack", np.stack, [Tz(s) for s in group], axis=axis)
