"""Symbolic dimension sizes in a normal form, so that equal sizes compare equal.

A `Dim` is a polynomial with integer coefficients over *atoms*: symbols (`batch`), floor
divisions `X // Y` and remainders `X % Y` whose operands are themselves normal forms. A monomial
is a multiset of atoms (a frozenset of `(atom, power)`), a polynomial a mapping monomial ->
coefficient, so `a*b == b*a` and `a + b - a == b` hold structurally without sorting; a canonical
order is computed only to print. Floor division is simplified only when it is exact:

- by a constant `c`: every coefficient is split as `q*c + r` (`floor((c*q + r)/c) = q + floor(r/c)`
  holds for integer `q`), so `(2*n + 2)//2 == n + 1`; the rest stays an atom reduced by the gcd
  (`(2*n)//4 == n//2`);
- by a symbolic divisor: only when the polynomial division leaves no remainder (`(a*b)//b == a`).

Anything else stays an atom: we never claim an equality we cannot prove (Pyrefly documents
`N*(X//N) != X`; it *is* equal when `N | X`, which is what `Facts` records).

An unknown dim is a fresh object equal only to itself; any arithmetic on it is a new unknown.
"""

from __future__ import annotations

import itertools
from math import gcd
from typing import Union

_unknown_ids = itertools.count(1)

IntLike = Union["Dim", int]

Mono = frozenset  # frozenset[tuple[_Atom, int]]: atom -> power
Terms = dict  # dict[Mono, int]: monomial -> nonzero coefficient

_ONE: Mono = frozenset()


class _Atom:
    """A symbol, or `num // den` / `num % den` over normal forms. Hashed structurally."""

    __slots__ = ("kind", "name", "num", "den", "_hash", "_key")

    SYM, DIV, MOD = 0, 1, 2

    def __init__(self, kind: int, name: str = "", num: Dim | None = None, den: Dim | None = None) -> None:
        self.kind = kind
        self.name = name
        self.num = num
        self.den = den
        self._hash = hash(name) if kind == _Atom.SYM else hash((kind, num, den))
        self._key: tuple | None = None

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, _Atom) or self._hash != other._hash or self.kind != other.kind:
            return False
        if self.kind == _Atom.SYM:
            return self.name == other.name
        return self.num == other.num and self.den == other.den

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self) -> tuple:
        # str hashes differ between processes: rebuild (and re-hash) on unpickling.
        return (_Atom, (self.kind, self.name, self.num, self.den))

    @property
    def key(self) -> tuple:
        """Canonical sort key (printing order, leading terms); computed lazily."""
        if self._key is None:
            if self.kind == _Atom.SYM:
                self._key = (0, self.name, ())
            else:
                assert self.num is not None and self.den is not None
                self._key = (self.kind, "", (self.num._sort_key(), self.den._sort_key()))
        return self._key


def _mono_key(mono: Mono) -> tuple:
    return tuple(sorted((a.key, p) for a, p in mono))


def _mono_degree(mono: Mono) -> int:
    return sum(p for _, p in mono)


def _mono_mul(m1: Mono, m2: Mono) -> Mono:
    if not m1:
        return m2
    if not m2:
        return m1
    powers = dict(m1)
    for atom, p in m2:
        powers[atom] = powers.get(atom, 0) + p
    return frozenset(powers.items())


def _mono_divide(m: Mono, d: Mono) -> Mono | None:
    """m / d as monomials, or None if d does not divide m."""
    if not d:
        return m
    powers = dict(m)
    for atom, p in d:
        have = powers.get(atom, 0)
        if have < p:
            return None
        if have == p:
            del powers[atom]
        else:
            powers[atom] = have - p
    return frozenset(powers.items())


def _mono_of(atom: _Atom) -> Mono:
    return frozenset(((atom, 1),))


class Dim:
    """One axis size: a concrete int, a symbol, an expression over symbols, or unknown.

    Immutable and hashable; `==` compares normal forms (`Dim.const(3) == 3` is True). Build with
    `Dim.const`, `Dim.sym`, `Dim.unknown` and the arithmetic operators (ints are accepted).
    """

    __slots__ = ("_terms", "_uid", "_hash", "_skey", "_has_div", "_str", "_value", "_syms")

    def __init__(self, terms: Terms | None, uid: int = 0) -> None:
        # `terms` maps monomials to nonzero coefficients and is never mutated afterwards.
        self._terms = terms
        self._uid = uid
        self._skey: tuple | None = None
        self._has_div: bool | None = None
        self._str: str | None = None
        self._syms: frozenset[str] | None = None
        self._value: int | None = None
        if terms is None:
            self._hash = hash(("?", uid))
        elif not terms:
            self._hash = 0
            self._value = 0
        elif len(terms) == 1 and _ONE in terms:
            self._value = terms[_ONE]
            self._hash = hash(self._value)
        else:
            self._hash = hash(frozenset(terms.items()))

    # ----- constructors -------------------------------------------------------------------
    @staticmethod
    def const(n: int) -> Dim:
        cached = _CONSTS.get(n)
        if cached is not None and type(n) is int:
            return cached
        if isinstance(n, bool) or not isinstance(n, int):
            raise TypeError(f"Dim.const expects an int, got {n!r}")
        return Dim({_ONE: n} if n else {})

    @staticmethod
    def sym(name: str) -> Dim:
        cached = _SYMS.get(name)
        if cached is not None:
            return cached
        if not isinstance(name, str) or not name:
            raise ValueError(f"Dim.sym expects a non-empty name, got {name!r}")
        dim = Dim({_mono_of(_Atom(_Atom.SYM, name)): 1})
        if len(_SYMS) < 4096:  # immutable, so shared; bounded so a huge project cannot grow it
            _SYMS[name] = dim
        return dim

    @staticmethod
    def unknown() -> Dim:
        """A fresh unknown size: equal to itself only."""
        return Dim(None, next(_unknown_ids))

    @staticmethod
    def of(x: IntLike | str) -> Dim:
        """`Dim` from a Dim, an int (constant) or a str (symbol)."""
        if isinstance(x, Dim):
            return x
        if isinstance(x, str):
            return Dim.sym(x)
        return Dim.const(x)

    # ----- inspection ---------------------------------------------------------------------
    @property
    def is_unknown(self) -> bool:
        return self._terms is None

    @property
    def is_const(self) -> bool:
        return self._value is not None

    @property
    def value(self) -> int | None:
        """The concrete size, or None when symbolic or unknown."""
        return self._value

    @property
    def is_symbol(self) -> bool:
        """A single bare symbol such as `batch`."""
        return self.name is not None

    @property
    def name(self) -> str | None:
        """The symbol's name when this is a bare symbol."""
        t = self._terms
        if t is None or len(t) != 1:
            return None
        (mono, coef), = t.items()
        if coef != 1 or len(mono) != 1:
            return None
        (atom, power), = mono
        return atom.name if power == 1 and atom.kind == _Atom.SYM else None

    def symbols(self) -> frozenset[str]:
        if self._syms is None:
            out: set[str] = set()
            for atom in self._atoms():
                if atom.kind == _Atom.SYM:
                    out.add(atom.name)
                else:
                    assert atom.num is not None and atom.den is not None
                    out |= atom.num.symbols() | atom.den.symbols()
            self._syms = frozenset(out)
        return self._syms

    def _atoms(self) -> set[_Atom]:
        if self._terms is None:
            return set()
        return {a for mono in self._terms for a, _ in mono}

    def _has_division(self) -> bool:
        if self._has_div is None:
            self._has_div = any(a.kind != _Atom.SYM for a in self._atoms())
        return self._has_div

    def _sort_key(self) -> tuple:
        if self._skey is None:
            if self._terms is None:
                self._skey = (("?", self._uid),)
            else:
                self._skey = tuple(sorted((_mono_key(m), c) for m, c in self._terms.items()))
        return self._skey

    def _ordered_terms(self) -> list[tuple[Mono, int]]:
        """Terms in printing order: higher degree first, then by name; the constant last."""
        assert self._terms is not None
        return sorted(self._terms.items(), key=lambda mc: (not mc[0], -_mono_degree(mc[0]), _mono_key(mc[0])))

    # ----- equality -----------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if isinstance(other, int) and not isinstance(other, bool):
            return self._value == other
        if not isinstance(other, Dim):
            return NotImplemented
        if self._terms is None or other._terms is None:
            return self._terms is None and other._terms is None and self._uid == other._uid
        return self._hash == other._hash and self._terms == other._terms

    def __ne__(self, other: object) -> bool:
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"Dim({self})"

    def __reduce__(self) -> tuple:
        # Rebuilt on unpickling: hashes of names differ between processes, and an unknown from
        # another process must not collide with a local one (it becomes a fresh unknown).
        if self._terms is None:
            return (Dim.unknown, ())
        return (Dim, (self._terms,))

    # ----- arithmetic ---------------------------------------------------------------------
    def __add__(self, other: IntLike) -> Dim:
        o = _coerce(other)
        if o is None:
            return NotImplemented
        if self._terms is None or o._terms is None:
            return Dim.unknown()
        if not o._terms:
            return self
        if not self._terms:
            return o
        terms = dict(self._terms)
        for m, c in o._terms.items():
            s = terms.get(m, 0) + c
            if s:
                terms[m] = s
            else:
                del terms[m]
        return Dim(terms)

    __radd__ = __add__

    def __pow__(self, exponent: int) -> Dim:
        if isinstance(exponent, bool) or not isinstance(exponent, int) or exponent < 0:
            return NotImplemented
        out = Dim.const(1)
        for _ in range(exponent):
            out = out * self
        return out

    def __neg__(self) -> Dim:
        if self._terms is None:
            return Dim.unknown()
        return Dim({m: -c for m, c in self._terms.items()})

    def __sub__(self, other: IntLike) -> Dim:
        o = _coerce(other)
        if o is None:
            return NotImplemented
        return self + (-o)

    def __rsub__(self, other: IntLike) -> Dim:
        o = _coerce(other)
        if o is None:
            return NotImplemented
        return o + (-self)

    def __mul__(self, other: IntLike) -> Dim:
        o = _coerce(other)
        if o is None:
            return NotImplemented
        if self._terms is None or o._terms is None:
            return Dim.unknown()
        if not self._terms or not o._terms:
            return Dim({})
        k = o.value
        if k is not None:
            return self if k == 1 else Dim({m: c * k for m, c in self._terms.items()})
        k = self.value
        if k is not None:
            return o if k == 1 else Dim({m: c * k for m, c in o._terms.items()})
        terms: Terms = {}
        for m1, c1 in self._terms.items():
            for m2, c2 in o._terms.items():
                m = _mono_mul(m1, m2)
                s = terms.get(m, 0) + c1 * c2
                if s:
                    terms[m] = s
                else:
                    del terms[m]
        return Dim(terms)

    __rmul__ = __mul__

    def __floordiv__(self, other: IntLike) -> Dim:
        o = _coerce(other)
        if o is None:
            return NotImplemented
        return _floordiv(self, o)

    def __rfloordiv__(self, other: IntLike) -> Dim:
        o = _coerce(other)
        if o is None:
            return NotImplemented
        return _floordiv(o, self)

    def __mod__(self, other: IntLike) -> Dim:
        o = _coerce(other)
        if o is None:
            return NotImplemented
        return _mod(self, o)

    def __rmod__(self, other: IntLike) -> Dim:
        o = _coerce(other)
        if o is None:
            return NotImplemented
        return _mod(o, self)

    def ceil_div(self, other: IntLike) -> Dim:
        """`ceil(self / other)` for a positive divisor, as `(self + other - 1) // other`."""
        o = _coerce(other)
        if o is None:
            raise TypeError(f"ceil_div expects a Dim or int, got {other!r}")
        if o.value is not None and o.value < 0:
            return -_floordiv(-self, o)
        return _floordiv(self + o - 1, o)

    # ----- evaluation ---------------------------------------------------------------------
    def evaluate(self, bindings: dict[str, int]) -> int | None:
        """The int value under `bindings` (Python floor semantics); None when a symbol is
        unbound, the dim is unknown, or a division by zero occurs."""
        if self._terms is None:
            return None
        total = 0
        for mono, coef in self._terms.items():
            prod = coef
            for atom, power in mono:
                v = _eval_atom(atom, bindings)
                if v is None:
                    return None
                prod *= v**power
            total += prod
        return total

    def substitute(self, mapping: dict[str, Dim]) -> Dim:
        """Replace symbols by dims (re-normalising); unmapped symbols stay."""
        if self._terms is None or not mapping:
            return self
        total = Dim.const(0)
        for mono, coef in self._terms.items():
            prod = Dim.const(coef)
            for atom, power in mono:
                factor = _subst_atom(atom, mapping)
                for _ in range(power):
                    prod = prod * factor
            total = total + prod
        return total

    # ----- printing -----------------------------------------------------------------------
    def __str__(self) -> str:
        if self._str is None:
            self._str = self._format()
        return self._str

    def _format(self) -> str:
        if self._terms is None:
            return "?"
        if not self._terms:
            return "0"
        out = ""
        for i, (mono, coef) in enumerate(self._ordered_terms()):
            body = _format_term(mono, abs(coef))
            if i == 0:
                if coef == -1 and len(mono) == 1 and next(iter(mono))[1] == 1 and next(iter(mono))[0].kind != _Atom.SYM:
                    body = f"({body})"  # `-a // b` would read as `(-a) // b`
                out = ("-" if coef < 0 else "") + body
            else:
                out += (" - " if coef < 0 else " + ") + body
        return out


_CONSTS: dict[int, Dim] = {k: Dim({_ONE: k} if k else {}) for k in range(-64, 1025)}
_SYMS: dict[str, Dim] = {}


def _coerce(x: object) -> Dim | None:
    if isinstance(x, Dim):
        return x
    if isinstance(x, int) and not isinstance(x, bool):
        return Dim.const(x)
    return None


def _eval_atom(atom: _Atom, bindings: dict[str, int]) -> int | None:
    if atom.kind == _Atom.SYM:
        return bindings.get(atom.name)
    assert atom.num is not None and atom.den is not None
    n = atom.num.evaluate(bindings)
    d = atom.den.evaluate(bindings)
    if n is None or d is None or d == 0:
        return None
    return n // d if atom.kind == _Atom.DIV else n % d


def _subst_atom(atom: _Atom, mapping: dict[str, Dim]) -> Dim:
    if atom.kind == _Atom.SYM:
        found = mapping.get(atom.name)
        return found if found is not None else Dim({_mono_of(atom): 1})
    assert atom.num is not None and atom.den is not None
    n, d = atom.num.substitute(mapping), atom.den.substitute(mapping)
    return _floordiv(n, d) if atom.kind == _Atom.DIV else _mod(n, d)


def _atom_dim(atom: _Atom) -> Dim:
    return Dim({_mono_of(atom): 1})


def _content(d: Dim) -> int:
    assert d._terms is not None
    g = 0
    for c in d._terms.values():
        g = gcd(g, c)
    return g


def _scale_down(d: Dim, g: int) -> Dim:
    assert d._terms is not None
    return Dim({m: c // g for m, c in d._terms.items()})


def _split_by_const(a: Dim, c: int) -> tuple[Dim, Dim]:
    """a = c*q + r with every coefficient of r in [0, c)."""
    assert a._terms is not None and c > 0
    q: Terms = {}
    r: Terms = {}
    for m, coef in a._terms.items():
        qc, rc = divmod(coef, c)
        if qc:
            q[m] = qc
        if rc:
            r[m] = rc
    return Dim(q), Dim(r)


def _floordiv(a: Dim, b: Dim) -> Dim:
    if a._terms is None or b._terms is None:
        return Dim.unknown()
    bv = b.value
    if bv == 0:
        return Dim.unknown()
    if not a._terms:
        return a
    av = a.value
    if av is not None and bv is not None:
        return Dim.const(av // bv)
    if bv is not None:
        if bv < 0:
            a, bv = -a, -bv  # floor(a / -c) == floor(-a / c)
        if bv == 1:
            return a
        q, r = _split_by_const(a, bv)
        if r.is_const:  # 0 <= r < c
            return q
        g = gcd(_content(r), bv)
        if g > 1:
            r, bv = _scale_down(r, g), bv // g
        return q + _atom_dim(_Atom(_Atom.DIV, num=r, den=Dim.const(bv)))
    exact = exact_quotient(a, b)
    if exact is not None:
        return exact
    reduced = _cancel_common_factor(a, b)
    if reduced is not None:  # floor(g*x / (g*y)) == floor(x / y) for g > 0
        return _floordiv(reduced[0], reduced[1])
    return _atom_dim(_Atom(_Atom.DIV, num=a, den=b))


def _common_factor(a: Dim, b: Dim) -> tuple[int, Mono]:
    """The positive factor shared by every term of a and b: integer gcd times the symbols (sizes,
    so positive) common to all terms. Floor division and remainder commute with it."""
    assert a._terms is not None and b._terms is not None
    g = gcd(_content(a), _content(b))
    common: dict[_Atom, int] | None = None
    for mono in itertools.chain(a._terms, b._terms):
        powers = {atom: p for atom, p in mono if atom.kind == _Atom.SYM}
        if common is None:
            common = powers
        else:
            common = {atom: min(p, powers[atom]) for atom, p in common.items() if atom in powers}
        if not common:
            break
    return g, frozenset((common or {}).items())


def _cancel_common_factor(a: Dim, b: Dim) -> tuple[Dim, Dim] | None:
    """(a/g, b/g) for the common positive factor g, or None when there is none."""
    g, mono = _common_factor(a, b)
    if g <= 1 and not mono:
        return None
    assert a._terms is not None and b._terms is not None
    out = []
    for d in (a, b):
        terms: Terms = {}
        for m, c in d._terms.items():  # type: ignore[union-attr]
            q = _mono_divide(m, mono)
            assert q is not None
            terms[q] = c // g
        out.append(Dim(terms))
    return out[0], out[1]


def _mod(a: Dim, b: Dim) -> Dim:
    if a._terms is None or b._terms is None:
        return Dim.unknown()
    bv = b.value
    if bv == 0:
        return Dim.unknown()
    if not a._terms:
        return a
    av = a.value
    if av is not None and bv is not None:
        return Dim.const(av % bv)
    if bv is not None and bv < 0:
        return a - b * _floordiv(a, b)
    if bv is not None:
        _, r = _split_by_const(a, bv)
        if r.is_const:
            return r
        g = gcd(_content(r), bv)
        if g > 1:
            return g * _atom_dim(_Atom(_Atom.MOD, num=_scale_down(r, g), den=Dim.const(bv // g)))
        return _atom_dim(_Atom(_Atom.MOD, num=r, den=Dim.const(bv)))
    if exact_quotient(a, b) is not None:
        return Dim.const(0)
    g, mono = _common_factor(a, b)
    reduced = _cancel_common_factor(a, b)
    if reduced is not None:  # (g*x) % (g*y) == g * (x % y) for g > 0
        return Dim({mono: g}) * _mod(reduced[0], reduced[1])
    return _atom_dim(_Atom(_Atom.MOD, num=a, den=b))


def _leading(terms: Terms) -> tuple[Mono, int]:
    return max(terms.items(), key=lambda mc: (_mono_degree(mc[0]), _mono_key(mc[0])))


def exact_quotient(a: Dim, b: Dim) -> Dim | None:
    """q with a == b*q as polynomials (so a // b == q whenever b != 0), or None."""
    if a._terms is None or b._terms is None or not b._terms:
        return None
    if not a._terms:
        return a
    if len(b._terms) == 1:  # a monomial divisor: divide term by term
        (bm, bc), = b._terms.items()
        out: Terms = {}
        for m, c in a._terms.items():
            qm = _mono_divide(m, bm)
            if qm is None or c % bc:
                return None
            out[qm] = c // bc
        return Dim(out)
    lead_m, lead_c = _leading(b._terms)
    rem = a
    quotient = Dim.const(0)
    for _ in range(64):
        assert rem._terms is not None
        if not rem._terms:
            return quotient if quotient * b == a else None
        m, c = _leading(rem._terms)
        qm = _mono_divide(m, lead_m)
        if qm is None or c % lead_c:
            return None
        step = Dim({qm: c // lead_c})
        quotient = quotient + step
        rem = rem - step * b
    return None


def _format_operand(d: Dim, is_divisor: bool) -> str:
    """Format a numerator/divisor so the whole prints as valid Python with the same meaning."""
    s = str(d)
    t = d._terms
    assert t is not None
    if d.is_const and (d.value or 0) > 0 or d.is_symbol:
        return s
    if not is_divisor and len(t) == 1:
        (mono, coef), = t.items()
        if coef > 0 and all(a.kind == _Atom.SYM for a, _ in mono):
            return s  # `h * w // 2` reads as (h*w)//2 in Python too
    return f"({s})"


def _format_atom(atom: _Atom) -> str:
    if atom.kind == _Atom.SYM:
        return atom.name
    assert atom.num is not None and atom.den is not None
    op = "//" if atom.kind == _Atom.DIV else "%"
    return f"{_format_operand(atom.num, False)} {op} {_format_operand(atom.den, True)}"


def _format_term(mono: Mono, coef: int) -> str:
    if not mono:
        return str(coef)
    factors = []
    atoms = sorted(mono, key=lambda ap: ap[0].key)
    lone = len(atoms) == 1 and atoms[0][1] == 1 and coef == 1
    for atom, power in atoms:
        text = _format_atom(atom)
        if not lone and atom.kind != _Atom.SYM:
            text = f"({text})"
        factors.extend([text] * power)
    if coef != 1:
        factors.insert(0, str(coef))
    return " * ".join(factors)


# Facts, compare and can_be_one live in facts.py; re-exported here for existing importers.
from shapecheck.shapes.facts import Facts, Verdict, can_be_one, compare  # noqa: E402

__all__ = ["Dim", "Facts", "Verdict", "can_be_one", "compare", "exact_quotient"]
