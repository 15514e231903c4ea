"""What is known in a scope (`Facts`: divisibility and equalities) and the three-way `compare`.

`compare` answers "equal" when the normal forms agree under the facts, "different" only when the
sizes differ for every positive assignment of their symbols, and "unknown" otherwise: two
different names may well be the same size, so they are never "different".
"""

from __future__ import annotations

from math import gcd
from typing import Literal

from shapecheck.shapes.dims import (
    Dim,
    IntLike,
    _Atom,
    _cancel_common_factor,
    _content,
    _floordiv,
    _mod,
    _mono_divide,
    _mono_of,
    _scale_down,
    _split_by_const,
    exact_quotient,
)

Verdict = Literal["equal", "different", "unknown"]


class Facts:
    """Assumptions in scope: divisibility (`n_heads | d_model`) and equalities (`a == b`).

    Mutable (the interpreter adds facts as it walks a function); `.copy()` for branches.
    """

    __slots__ = ("_divides", "_equal_subst", "_equal_pairs")

    def __init__(self) -> None:
        self._divides: set[tuple[Dim, Dim]] = set()  # (divisor, dividend)
        self._equal_subst: dict[str, Dim] = {}  # symbol -> replacement
        self._equal_pairs: list[tuple[Dim, Dim]] = []

    def copy(self) -> Facts:
        new = Facts()
        new._divides = set(self._divides)
        new._equal_subst = dict(self._equal_subst)
        new._equal_pairs = list(self._equal_pairs)
        return new

    def __repr__(self) -> str:
        parts = [f"{d} | {n}" for d, n in sorted(self._divides, key=str)]
        parts += [f"{k} == {v}" for k, v in self._equal_subst.items()]
        parts += [f"{a} == {b}" for a, b in self._equal_pairs]
        return f"Facts({', '.join(parts)})"

    @property
    def divisibility(self) -> frozenset[tuple[Dim, Dim]]:
        return frozenset(self._divides)

    def assume_divides(self, divisor: IntLike, dividend: IntLike) -> None:
        a, b = Dim.of(divisor), Dim.of(dividend)
        if a.is_unknown or b.is_unknown:
            return
        self._divides.update(_divisibility_forms(self.simplify(a), self.simplify(b)))

    def divides(self, divisor: IntLike, dividend: IntLike) -> bool:
        """Whether `divisor | dividend` is known (recorded, or provable: dividend % divisor == 0)."""
        a, b = self.simplify(Dim.of(divisor)), self.simplify(Dim.of(dividend))
        if a.is_unknown or b.is_unknown:
            return False
        if any(form in self._divides for form in _divisibility_forms(a, b)):
            return True
        return self.simplify(b % a) == 0

    def assume_equal(self, a: IntLike, b: IntLike) -> None:
        x, y = self.simplify(Dim.of(a)), self.simplify(Dim.of(b))
        if x.is_unknown or y.is_unknown or x == y:
            return
        # Orient: replace a bare symbol by the other side (the later name in sort order goes away).
        for sym, other in ((x, y), (y, x)):
            if sym.is_symbol and sym.name not in other.symbols():
                if other.is_symbol and (other.name or "") > (sym.name or ""):
                    sym, other = other, sym
                name = sym.name
                assert name is not None
                self._equal_subst = {k: v.substitute({name: other}) for k, v in self._equal_subst.items()}
                self._equal_subst[name] = other
                self._divides = {(self.simplify(p), self.simplify(q)) for p, q in self._divides}
                return
        self._equal_pairs.append((x, y))

    def simplify(self, d: Dim) -> Dim:
        """Normal form of `d` under the facts: equal symbols substituted, `D * (X // D)` -> `X`
        and `X % D` -> 0 where `D | X`."""
        if d.is_unknown:
            return d
        if self._equal_subst and d.symbols() & self._equal_subst.keys():
            d = d.substitute(self._equal_subst)
        if not self._divides or not d._has_division():
            return d
        for _ in range(16):
            nxt = _apply_divisibility(d, self._divides)
            if nxt == d:
                return d
            d = nxt
        return d

    def equal_pairs(self) -> list[tuple[Dim, Dim]]:
        return list(self._equal_pairs)


def _divisibility_forms(divisor: Dim, dividend: Dim) -> list[tuple[Dim, Dim]]:
    """`divisor | dividend` as given and in the reduced form the division atoms take, so the fact
    matches the atom: `2 | n + 2` also as `2 | n`, `4 | 2*n` as `2 | n`, `b*h | b*d` as `h | d`."""
    forms = [(divisor, dividend)]
    c = divisor.value
    if c is not None:
        if c > 1 and not dividend.is_const:
            _, r = _split_by_const(dividend, c)
            if not r.is_const:
                g = gcd(_content(r), c)
                forms.append((Dim.const(c // g), _scale_down(r, g)))
    elif dividend._terms:
        reduced = _cancel_common_factor(dividend, divisor)
        if reduced is not None:
            forms.append((reduced[1], reduced[0]))
    return forms


def _apply_divisibility(d: Dim, divides: set[tuple[Dim, Dim]]) -> Dim:
    """One rewriting pass: inside atoms first, then `D * (X // D)` -> `X`, `X % D` -> 0."""
    assert d._terms is not None
    if not d._has_division():
        return d
    changed = False
    total = Dim.const(0)
    for mono, coef in d._terms.items():
        term: Dim | None = None
        for atom, power in mono:
            if atom.kind == _Atom.SYM:
                continue
            assert atom.num is not None and atom.den is not None
            num, den = _apply_divisibility(atom.num, divides), _apply_divisibility(atom.den, divides)
            if num != atom.num or den != atom.den:  # rebuild the atom from simplified operands
                rebuilt = _floordiv(num, den) if atom.kind == _Atom.DIV else _mod(num, den)
                rest = _mono_divide(mono, _mono_of(atom))
                assert rest is not None
                term = Dim({rest: coef}) * rebuilt
                break
            if (den, num) not in divides:
                continue
            if atom.kind == _Atom.MOD:
                term = Dim.const(0)
                break
            rest = _mono_divide(mono, _mono_of(atom))
            assert rest is not None
            q = exact_quotient(Dim({rest: coef}), den)
            if q is not None:
                term = q * num
                break
        if term is None:
            term = Dim({mono: coef})
        else:
            changed = True
        total = total + term
    return total if changed else d


def compare(a: Dim, b: Dim, facts: Facts | None = None) -> Verdict:
    """"equal" if the normal forms agree (under facts); "different" only when a != b for every
    positive assignment of the symbols; otherwise "unknown" (two names may be the same size)."""
    a, b = Dim.of(a), Dim.of(b)
    if a.is_unknown or b.is_unknown:
        return "equal" if a == b else "unknown"
    if a == b:
        return "equal"
    av, bv = a.value, b.value
    if av is not None and bv is not None:
        return "different"
    diff = a - b
    if facts is not None:
        diff = facts.simplify(diff)
        for x, y in facts._equal_pairs:
            e = facts.simplify(x - y)
            if diff == e or diff == -e:
                return "equal"
    if diff.is_const:
        return "equal" if diff.value == 0 else "different"
    sign = _definite_sign(diff)
    return "different" if sign != 0 else "unknown"


def _definite_sign(d: Dim) -> int:
    """+1 / -1 when `d` is > 0 / < 0 for every assignment of positive ints, else 0.

    Only polynomials over plain symbols whose non-constant coefficients share one sign: their
    extreme over positive ints is at all-ones (the sum of coefficients)."""
    assert d._terms is not None
    signs = set()
    total = 0
    for mono, coef in d._terms.items():
        if any(a.kind != _Atom.SYM for a, _ in mono):
            return 0
        if mono:
            signs.add(coef > 0)
        total += coef
    if signs == {True} and total > 0:
        return 1
    if signs == {False} and total < 0:
        return -1
    return 0


def can_be_one(d: Dim, facts: Facts | None = None) -> bool:
    """Whether the size may be 1 (unknown and symbolic sizes may; `n + 1` may not)."""
    if d.is_unknown or d.is_symbol:
        return True
    v = d.value
    if v is not None:
        return v == 1
    return compare(d, _ONE_DIM, facts) != "different"


_ONE_DIM = Dim.const(1)
