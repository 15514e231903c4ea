"""A safe evaluator for size expressions (`n-1`, `d_model // n_heads`): `ast` walked over ints,
names, `+ - * // %` and unary minus; never `eval`. Anything else is an unknown size."""

from __future__ import annotations

import ast

from shapecheck.shapes.dims import Dim


def lookup(name: str, env: dict[str, Dim]) -> Dim:
    found = env.get(name)
    return found if found is not None else Dim.sym(name)


def evaluate_expr(expr: str, env: dict[str, Dim] | None = None) -> Dim:
    """Evaluate a symbolic axis over `+ - * // %`, ints and names; anything else -> unknown."""
    try:
        tree = ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError):
        return Dim.unknown()
    return _walk(tree.body, env or {})


def _walk(node: ast.AST, env: dict[str, Dim]) -> Dim:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return Dim.const(node.value)
    if isinstance(node, ast.Name):
        return lookup(node.id, env)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        inner = _walk(node.operand, env)
        return -inner if isinstance(node.op, ast.USub) else inner
    if isinstance(node, ast.BinOp):
        left, right = _walk(node.left, env), _walk(node.right, env)
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, ast.FloorDiv):
            return left // right
        if isinstance(node.op, ast.Mod):
            return left % right
    return Dim.unknown()
