"""Every shape function survives any arguments: unknowns, wrong types, odd shapes (variadic,
unknown rank, symbolic, zero sizes). A shape function may report, or return UNKNOWN; it never raises."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shapecheck.infer.ops import registry
from shapecheck.infer.ops.registry import OpCall
from shapecheck.infer.values import (
    ELLIPSIS,
    UNKNOWN,
    ConstValue,
    DeviceValue,
    DimValue,
    DtypeValue,
    ModuleValue,
    ShapeValue,
    SliceValue,
    TensorValue,
    TupleValue,
    Value,
)
from shapecheck.shapes import Dim, Facts, Shape

registry._load_families()
OP_NAMES = sorted(registry.OPS)
MODULE_NAMES = sorted(registry.MODULES)

dims = st.one_of(st.integers(0, 4).map(Dim.const), st.sampled_from(["b", "s", "d", "n"]).map(Dim.sym),
                 st.just(None).map(lambda _: Dim.unknown()), st.sampled_from([Dim.sym("d") // 2, Dim.sym("h") * 3 + 1]))
shapes_ = st.one_of(
    st.lists(dims, max_size=4).map(lambda ds: Shape.of(*ds)),
    st.just(Shape.unknown()),
    st.lists(dims, max_size=2).map(lambda ds: Shape.of("*batch", *ds)),
)
tensors = st.builds(TensorValue, shapes_, dtype=st.sampled_from([None, "float32", "int64", "bool"]),
                    contiguous=st.sampled_from([True, False, None]), origin=st.sampled_from([None, "transpose", "unsqueeze"]))
scalars = st.one_of(st.integers(-3, 5).map(ConstValue), st.sampled_from([None, True, 0.5, "mean", "none", "b c -> c b",
                                                                          "ij,jk->ik", "same", "...", "cuda"]).map(ConstValue),
                    dims.map(DimValue), st.just(UNKNOWN), st.just(ELLIPSIS), st.just(DtypeValue("float16")),
                    st.just(DeviceValue("cuda")), shapes_.map(ShapeValue))
values: st.SearchStrategy[Value] = st.recursive(
    st.one_of(tensors, scalars),
    lambda inner: st.one_of(st.lists(inner, max_size=3).map(lambda xs: TupleValue(tuple(xs))),
                            st.builds(SliceValue, inner, inner, inner)),
    max_leaves=5,
)
KWARGS = ["dim", "keepdim", "axis", "size", "dtype", "device", "reduction", "weight", "padding", "stride", "num_classes",
          "scale_factor", "batch_first", "h", "other", "min", "target"]


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(OP_NAMES), args=st.lists(values, max_size=4),
       kwargs=st.dictionaries(st.sampled_from(KWARGS), values, max_size=2), facts=st.booleans())
def test_ops_never_raise(name: str, args: list[Value], kwargs: dict[str, Value], facts: bool) -> None:
    call = OpCall(name, args, kwargs, facts=Facts() if facts else None)
    result = registry.OPS[name](call)
    assert result is not None
    for finding in call.findings:
        assert finding.code.startswith("SC1") and finding.message


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(name=st.sampled_from(MODULE_NAMES), ctor=st.lists(values, max_size=4), args=st.lists(values, max_size=3),
       ctor_kwargs=st.dictionaries(st.sampled_from(KWARGS), values, max_size=2))
def test_modules_never_raise(name: str, ctor: list[Value], args: list[Value], ctor_kwargs: dict[str, Value]) -> None:
    module = ModuleValue(name, tuple(ctor), tuple(ctor_kwargs.items()))
    call = OpCall(name, args, {})
    assert registry.MODULES[name](module, call) is not None
