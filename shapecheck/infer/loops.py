"""Training-loop facts: the order of backward / step / zero_grad / eval / train in loop bodies.

Built once per file (`ctx.fact("training-loops", LoopFacts.build)`) on top of `Bindings`, from
the event trees of `shapecheck.infer.loop_events` (control flow kept, same-file helpers and
callbacks inlined, each call's meaning decided by the role of its receiver).

Two views are derived from a tree: `flat()` lists events in source order (with their loop depth
relative to the analysed body), for the ordering rules that are "may" questions (SC201, SC204,
SC211); `GradStates.run()` interprets the tree path by path, for the "must" questions of the
errors (SC202, SC203): a step is reported only when *every* path reaching it sees zeroed
gradients. Paths are joined as sets of small states and capped (64); past the cap the state is
unknown and nothing is reported.

Loop joins: a nested loop runs 0..n times; its body is re-run from the joined entry states until
they stop changing (at most 4 rounds). A step is judged only in the body of its innermost loop
(or its function when it is in no loop), starting that body from a fresh "start" state: what a
previous iteration left behind never makes an error, so `step(); zero_grad(); backward()` (the
step uses the previous iteration's gradients) is silent, while `zero_grad(); step(); backward()`
is SC203. A loop body is then run a second time from the states its end leaves (gradients
cleared at the end count as cleared): `step(); backward(); zero_grad()` reaches the step with
cleared gradients from the second iteration on, which is SC203 too. Conditions are not
evaluated: `if i % k == 0:` is two paths, and correlated conditions (`if phase == "train"`
twice) are not seen as correlated, which is why the "may" rules count any clearing or any
`train()` in the loop as enough.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import libcst as cst

from shapecheck.infer.bindings import Bindings, Role, Stochastic
from shapecheck.infer.loop_events import (
    Branch,
    Ev,
    Exit,
    Flat,
    Inline,
    Item,
    Loop,
    Seq,
    TreeBuilder,
    Try,
    _chain_mode,
    _params_arg,
    flat,
)
from shapecheck.names import dotted

MAX_PATHS = 64

_MODULE_WRAPPERS = frozenset(
    {
        "torch.compile",
        "torch.jit.script",
        "torch.jit.trace",
        "torch.nn.DataParallel",
        "torch.nn.parallel.DataParallel",
        "torch.nn.parallel.DistributedDataParallel",
        "torch.nn.parallel.distributed.DistributedDataParallel",
        "torch.distributed.fsdp.FullyShardedDataParallel",
    }
)

_DISABLE_GRAD = frozenset({"torch.no_grad", "torch.inference_mode", "torch.autograd.no_grad", "torch.autograd.grad_mode.no_grad"})
_ENABLE_GRAD = frozenset({"torch.enable_grad", "torch.autograd.enable_grad"})
_SET_GRAD = frozenset({"torch.set_grad_enabled", "torch.autograd.set_grad_enabled"})

# ---------------------------------------------------------------------------------------------
# Path-sensitive gradient states (SC202, SC203)

# per optimizer key: "start" (nothing yet this iteration), "bw" (backward since the last
# clear), "z" (cleared, no backward earlier this iteration), "zbw" (cleared after a backward)
PathState = tuple[str, frozenset[tuple[str, str, int]]]  # (default, {(key, state, id(zero node))})
TOP = ("top", frozenset())


@dataclass
class StepCheck:
    step: Ev
    states: set[tuple[str, int]] = field(default_factory=set)  # (state, id(zero node))
    unknown: bool = False


class GradStates:
    """Interprets an event tree and records, for every step, the gradient states reaching it."""

    def __init__(self, single_optimizer: str | None, zero_nodes: dict[int, Ev]) -> None:
        self.single = single_optimizer
        self.checks: dict[int, StepCheck] = {}
        self.zero_nodes = zero_nodes
        self.depth = 0  # steps are judged only in the body of their innermost loop

    @staticmethod
    def _get(state: PathState, key: str) -> tuple[str, int]:
        for k, s, z in state[1]:
            if k == key:
                return s, z
        return state[0], 0

    @staticmethod
    def _set(state: PathState, key: str, value: str, zero: int) -> PathState:
        entries = frozenset((k, s, z) for k, s, z in state[1] if k != key) | {(key, value, zero)}
        return state[0], entries

    def run(self, seq: Seq, entry: set[PathState] | None = None) -> set[PathState]:
        """Interpret `seq` from `entry` (a fresh iteration by default); the states at its end
        (falling off the end or `continue`), which the next iteration of a loop starts from."""
        states, exits = self._seq(seq, entry if entry is not None else {("start", frozenset())})
        return states | exits.get("continue", set())

    @staticmethod
    def carried(state: PathState) -> PathState:
        """The state the next iteration starts in: gradients cleared at the end of this one
        (`z`/`zbw`) are cleared ("z") for it; a backward since the last clear stays "bw"."""
        if state == TOP:
            return state

        def m(v: str) -> str:
            return "z" if v in ("z", "zbw") else v

        return m(state[0]), frozenset((k, m(v), z) for k, v, z in state[1])

    def _cap(self, states: set[PathState]) -> set[PathState]:
        return {TOP} if len(states) > MAX_PATHS else states

    def _seq(self, seq: Seq, states: set[PathState]) -> tuple[set[PathState], dict[str, set[PathState]]]:
        exits: dict[str, set[PathState]] = {}
        for item in seq.items:
            if not states:
                break
            states, ex = self._item(item, states)
            for k, v in ex.items():
                exits.setdefault(k, set()).update(v)
        return states, exits

    def _item(self, item: Item, states: set[PathState]) -> tuple[set[PathState], dict[str, set[PathState]]]:
        if isinstance(item, Ev):
            return {self._event(item, s) for s in states}, {}
        if isinstance(item, Seq):
            return self._seq(item, states)
        if isinstance(item, Exit):
            return set(), {item.kind: states}
        if isinstance(item, Branch):
            out: set[PathState] = set()
            exits: dict[str, set[PathState]] = {}
            for arm in item.arms:
                s, ex = self._seq(arm, set(states))
                out |= s
                for k, v in ex.items():
                    exits.setdefault(k, set()).update(v)
            return self._cap(out), exits
        if isinstance(item, Inline):
            s, ex = self._seq(item.body, states)
            s = s | ex.pop("return", set())
            return self._cap(s), ex
        if isinstance(item, Loop):
            # 0..n iterations: join until stable (the lattice is finite; capped)
            total = set(states)
            entry = set(states)
            exits = {}
            self.depth += 1
            for _ in range(4):
                s, ex = self._seq(item.body, entry)
                s = s | ex.pop("continue", set())
                after_break = ex.pop("break", set())
                for k, v in ex.items():
                    exits.setdefault(k, set()).update(v)
                total_break = after_break
                new = self._cap(total | s)
                if new == total:
                    total = new | total_break
                    break
                total = new | total_break
                entry = s
            self.depth -= 1
            s2, ex2 = self._seq(item.orelse, total)
            for k, v in ex2.items():
                exits.setdefault(k, set()).update(v)
            return self._cap(s2), exits
        if isinstance(item, Try):
            s_body, ex = self._seq(item.body, states)
            handler_in = self._cap(states | s_body)
            out = set()
            exits = dict(ex)
            s_else, ex_else = self._seq(item.orelse, s_body)
            out |= s_else
            for h in item.handlers:
                s, exh = self._seq(h, set(handler_in))
                out |= s
                for k, v in exh.items():
                    exits.setdefault(k, set()).update(v)
            for k, v in ex_else.items():
                exits.setdefault(k, set()).update(v)
            s_final, exf = self._seq(item.final, self._cap(out))
            for k, v in exf.items():
                exits.setdefault(k, set()).update(v)
            return self._cap(s_final), exits
        return states, {}

    def _event(self, ev: Ev, state: PathState) -> PathState:
        if state == TOP:
            if ev.kind == "step" and self.depth == 0:
                check = self.checks.setdefault(id(ev.node), StepCheck(ev))
                check.unknown = True
            return state
        if ev.kind == "backward":
            return "bw", frozenset()
        if ev.kind == "zero":
            key = ev.key if ev.role is Role.OPTIMIZER else self.single
            if key is None:
                # clears something we cannot tie to one optimizer: every state is unknown
                return "start", frozenset()
            cur, _ = self._get(state, key)
            new = "zbw" if cur in ("bw", "zbw") else "z"
            self.zero_nodes[id(ev)] = ev
            return self._set(state, key, new, id(ev))
        if ev.kind == "step" and self.depth > 0:
            return state
        if ev.kind == "step" and ev.key is not None:
            check = self.checks.setdefault(id(ev.node), StepCheck(ev))
            check.states.add(self._get(state, ev.key))
        if ev.kind == "step" and ev.key is None:
            self.checks.setdefault(id(ev.node), StepCheck(ev)).unknown = True
        return state


# ---------------------------------------------------------------------------------------------
# Findings the rules read


@dataclass(frozen=True)
class Finding:
    """`message`/`notes` may name other lines: they are built by `render(line_of)` once
    positions are known (only files with findings pay for positions)."""

    code: str
    node: cst.CSTNode
    render: Callable[[Callable[[cst.CSTNode], int]], tuple[str, list[str]]]


@dataclass(eq=False)
class LoopFacts:
    """Per-file training-loop analysis: findings for SC201-SC213 (SC214 is syntactic)."""

    bindings: Bindings
    findings: list[Finding] = field(default_factory=list)
    # every loop's event tree (with the traffic events `shapecheck.infer.accelerator` reads)
    loop_trees: dict[int, Loop] = field(default_factory=dict)

    @classmethod
    def build(cls, ctx: object) -> LoopFacts:
        bindings: Bindings = ctx.fact("bindings", Bindings.build)  # type: ignore[attr-defined]
        facts = cls(bindings)
        analysis = _Analysis(facts, bindings, ctx.names, ctx.module)  # type: ignore[attr-defined]
        analysis.run()
        facts.loop_trees = analysis.builder.loops
        return facts

    def by_code(self, code: str) -> list[Finding]:
        return [f for f in self.findings if f.code == code]


def grad_context(bindings: Bindings, names: object, node: cst.CSTNode) -> tuple[str, cst.CSTNode] | None:
    """The nearest grad-mode context around `node` inside its function: ("off", with/def) for
    `no_grad`/`inference_mode`/`set_grad_enabled(False)`, ("on", ...) for `enable_grad`,
    `set_grad_enabled(True)`, `inference_mode(False)`; decorators of the enclosing function
    count; None when nothing sets the mode (it is the caller's)."""
    for a in bindings.ancestors(node):
        if isinstance(a, cst.With):
            for item in a.items:
                mode = _grad_mode_of(item.item, names)
                if mode is not None:
                    return mode, a
        if isinstance(a, cst.FunctionDef):
            for d in a.decorators:
                mode = _grad_mode_of(d.decorator, names)
                if mode is not None:
                    return mode, a
            return None
        if isinstance(a, (cst.ClassDef, cst.Lambda)):
            return None
    return None


def _grad_mode_of(expr: cst.BaseExpression, names: object) -> str | None:
    func = expr.func if isinstance(expr, cst.Call) else expr
    q = names.qualify(func)  # type: ignore[attr-defined]
    if q is None:
        return None
    args = expr.args if isinstance(expr, cst.Call) else ()
    if q in _DISABLE_GRAD:
        if q.endswith("inference_mode") and args:
            v = args[0].value
            if isinstance(v, cst.Name) and v.value == "False":
                return "on"
            if not (isinstance(v, cst.Name) and v.value == "True"):
                return None
        return "off"
    if q in _ENABLE_GRAD:
        return "on"
    if q in _SET_GRAD and args:
        v = args[0].value
        if isinstance(v, cst.Name) and v.value in ("True", "False"):
            return "on" if v.value == "True" else "off"
    return None


# ---------------------------------------------------------------------------------------------
# The analysis

_EVAL_WORDS = frozenset(
    {"eval", "evaluate", "evaluation", "validate", "validation", "val", "valid", "test", "predict",
     "prediction", "infer", "inference"}
)


def eval_named(func: cst.FunctionDef | None) -> bool:
    """`evaluate`, `run_validation`, `test`, `predict_batch`... (not pytest's `test_*`)."""
    if func is None:
        return False
    name = func.name.value.lower()
    if name.startswith("test_"):
        return False
    return any(w in _EVAL_WORDS for w in name.strip("_").split("_"))


def _src(node: cst.CSTNode) -> str:
    return cst.Module([]).code_for_node(node).strip()


def _under(bindings: Bindings, node: cst.CSTNode, root: cst.CSTNode) -> bool:
    return node is root or any(a is root for a in bindings.ancestors(node))


class _Analysis:
    def __init__(self, facts: LoopFacts, bindings: Bindings, names: object, module: cst.Module) -> None:
        self.facts = facts
        self.b = bindings
        self.names = names
        self.module = module
        self.builder = TreeBuilder(bindings, names, traffic=True)  # shared with `accelerator.py`
        self.reported: set[tuple[str, int]] = set()
        self._train_mode_calls: set[int] = set()  # model calls already reported as SC210
        self._trees: dict[int, tuple[Seq, list[Flat]]] = {}

    def report(self, code: str, node: cst.CSTNode, render: Callable[[Callable[[cst.CSTNode], int]], tuple[str, list[str]]]) -> None:
        if (code, id(node)) in self.reported:
            return
        self.reported.add((code, id(node)))
        self.facts.findings.append(Finding(code, node, render))

    def tree(self, node: cst.CSTNode) -> tuple[Seq, list[Flat]]:
        if id(node) not in self._trees:
            t: Seq | None = None
            if isinstance(node, (cst.For, cst.While)):
                owner = self.b.enclosing_function(node) or self.module
                self.tree(owner)  # builds the loop's tree on the way
                loop = self.builder.loops.get(id(node))
                t = loop.body if loop is not None else None
            if t is None:
                t = self.builder.body(node)
            self._trees[id(node)] = (t, flat(t))
        return self._trees[id(node)]

    def run(self) -> None:
        loops = [*self.b.nodes(cst.For), *self.b.nodes(cst.While)]
        funcs = self.b.nodes(cst.FunctionDef)
        for loop in loops:
            self.missing_zero_grad(loop)
            self.scheduler_order(loop)
            self.mode_not_restored(loop)
            self.eval_loop(loop)
        for func in funcs:
            self.eval_function(func)
        for body in (*loops, *funcs, self.module):
            self.grad_order(body)
        self.closure_without_zero_grad()
        self.backward_under_no_grad()
        self._outermost_sc212()

    def _outermost_sc212(self) -> None:
        """One SC212 per evaluation region: a loop nested in a loop already reported (the
        images of a batch inside the batch loop) is the same missing `no_grad()`."""
        loops = {id(f.node) for f in self.facts.findings if f.code == "SC212"}
        if len(loops) < 2:
            return
        self.facts.findings = [
            f
            for f in self.facts.findings
            if f.code != "SC212" or not any(id(a) in loops for a in self.b.ancestors(f.node))
        ]

    # SC201 -------------------------------------------------------------------------------
    def missing_zero_grad(self, loop: cst.CSTNode) -> None:
        _, fl = self.tree(loop)
        kinds = {f.ev.kind for f in fl}
        if "backward" not in kinds or kinds & {"closure-step", "engine-step"}:
            return
        zeros = [f.ev for f in fl if f.ev.kind == "zero"]
        backward = next(f.ev for f in fl if f.ev.kind == "backward")
        for f in fl:
            if f.ev.kind == "manual-step" and f.depth == 0:
                self._manual_step_without_clearing(f.ev, zeros, backward, loop)
                continue
            if f.ev.kind != "step" or f.depth != 0:
                continue
            ev = f.ev
            if self._cleared(zeros, ev, loop) or self._fresh_optimizer(ev, loop):
                continue
            others = sorted({z.key for z in zeros if z.key is not None and z.role is Role.OPTIMIZER})

            def render(line: Callable[[cst.CSTNode], int], ev: Ev = ev, others: list[str] = others) -> tuple[str, list[str]]:
                opt = ev.key or "the optimizer"
                msg = (
                    f"`{opt}.step()` runs every iteration of this loop but its gradients are never cleared: "
                    f"each step adds this batch's gradients (`{_src(backward.node)}`, line {line(backward.node)}) "
                    "to all earlier ones"
                )
                why = (
                    "`.grad` accumulates across backward() calls; nothing in the loop (nor in the helpers it calls) "
                    "calls `zero_grad()` or sets `p.grad = None`"
                )
                if others:
                    shown = ", ".join(f"`{o}.zero_grad()`" for o in others)
                    why = f"{shown} clears only that optimizer's parameters, not those `{opt}` updates"
                notes = [
                    why,
                    f"call `{opt}.zero_grad()` at the top of the loop body (or right after `{opt}.step()`); "
                    "for gradient accumulation, zero it every k steps after the step",
                ]
                return msg, notes

            self.report("SC201", ev.site, render)

    def _manual_step_without_clearing(self, ev: Ev, zeros: list[Ev], backward: Ev, loop: cst.CSTNode) -> None:
        """Manual SGD (`for p in model.parameters(): p.data.add_(-lr * p.grad)`, `w -= lr * w.grad`)
        in a loop that never clears any gradient. Any clearing counts (we cannot tell which
        tensors an optimizer or a helper clears), and tensors rebuilt in the loop start fresh."""
        if zeros or ev.key is None:
            return
        head = ev.key.split(".", 1)[0]
        rebound = ("assign", "annassign", "unpack", "unpack-call", "for", "with", "walrus")
        if any(_under(self.b, d.target, loop) for d in self.b.definitions(cst.Name(head), loop) if d.kind in rebound):
            return  # a tensor (or model) built anew each iteration starts with fresh gradients

        def render(line: Callable[[cst.CSTNode], int], ev: Ev = ev) -> tuple[str, list[str]]:
            what = f"the parameters of `{ev.key}`" if isinstance(ev.node, cst.For) else f"`{ev.key}`"
            msg = (
                f"this loop updates {what} with their `.grad` every iteration but never clears the gradients: each update "
                f"uses the sum of the gradients of all iterations so far (`{_src(backward.node)}`, line {line(backward.node)})"
            )
            notes = [
                "backward() adds into `.grad`; a manual SGD step must reset it after the update",
                f"after the update, set `p.grad = None` (or call `{ev.key}.zero_grad()` for a module, `.grad.zero_()` for a tensor)",
            ]
            return msg, notes

        self.report("SC201", ev.site, render)

    def _cleared(self, zeros: list[Ev], step: Ev, loop: cst.CSTNode) -> bool:
        """Whether one of the clearing events of the loop clears the gradients `step` uses.
        Each optimizer is tracked on its own (a GAN zeroes `opt_G` and `opt_D` separately):
        another optimizer's `zero_grad()` does not count, `model.zero_grad()` counts when the
        stepped optimizer optimizes that model or we cannot tell which model it optimizes, and
        anything we cannot tie to an object (`p.grad = None`) counts."""
        for z in zeros:
            if z.role is Role.OPTIMIZER and z.key is not None and step.key is not None:
                if z.key == step.key:
                    return True
                continue
            if z.role is Role.MODEL and z.key is not None and step.key is not None:
                owner = self._optimized_model(step.key, loop)
                if owner is None or owner == z.key:
                    return True
                continue
            return True
        return False

    def _optimizer_ctors(self, key: str, at: cst.CSTNode) -> list[cst.Call] | None:
        """The optimizer constructor calls `key` is bound to (None when any binding is not one)."""
        try:
            expr = cst.parse_expression(key)
        except cst.ParserSyntaxError:
            return None
        values = self.b.assigned(expr, at)
        if not values or not all(isinstance(v, cst.Call) and self.b.role(v, v) is Role.OPTIMIZER for v in values):
            return None
        return values  # type: ignore[return-value]

    def _optimized_model(self, key: str, at: cst.CSTNode) -> str | None:
        """`opt = Adam(netD.parameters())` -> "netD"; None when unknown or not one model."""
        ctors = self._optimizer_ctors(key, at)
        if ctors is None:
            return None
        owners: set[str | None] = set()
        for call in ctors:
            params = _params_arg(call)
            owner = None
            if isinstance(params, cst.Call) and isinstance(params.func, cst.Attribute) and params.func.attr.value in ("parameters", "named_parameters"):
                owner = dotted(params.func.value)
            owners.add(owner)
        return next(iter(owners)) if len(owners) == 1 else None

    def _fresh_optimizer(self, step: Ev, loop: cst.CSTNode) -> bool:
        """The optimizer is built inside this loop on tensors (or a model) also built inside it:
        every iteration starts from fresh `.grad`s, nothing accumulates
        (`x = latents.detach().clone().requires_grad_(); opt = SGD([x], lr)` in a sampling loop)."""
        if step.key is None:
            return False
        ctors = self._optimizer_ctors(step.key, loop)
        if not ctors:
            return False
        for call in ctors:
            if not _under(self.b, call, loop):
                return False
            params = _params_arg(call)
            if params is None:
                return False
            names = [n for n in self.b._nodes_in(params) if isinstance(n, cst.Name) and not self._is_attr_name(n)]
            if not names:
                return False
            for n in names:
                defs = self.b.definitions(n, call)
                if not defs or not any(_under(self.b, d.target, loop) for d in defs):
                    return False
        return True

    def _is_attr_name(self, node: cst.Name) -> bool:
        parent = self.b.parent(node)
        return (isinstance(parent, cst.Attribute) and parent.attr is node) or (isinstance(parent, cst.Arg) and parent.keyword is node) or isinstance(parent, cst.DictElement) and parent.key is node

    def closure_without_zero_grad(self) -> None:
        """`opt.step(closure)` whose closure calls backward() and never clears the gradients.
        LBFGS evaluates the closure several times per step: it must clear inside it."""
        seen: set[int] = set()
        bodies: list[cst.CSTNode] = [self.module, *self.b.nodes(cst.FunctionDef)]
        for body in bodies:
            _, fl = self.tree(body)
            for f in fl:
                ev = f.ev
                if ev.kind != "closure-step" or id(ev.node) in seen or ev.key is None:
                    continue
                seen.add(id(ev.node))
                call = ev.node
                assert isinstance(call, cst.Call)
                arg = next((a.value for a in call.args if a.keyword is not None and a.keyword.value == "closure"), None)
                if arg is None and call.args and call.args[0].keyword is None:
                    arg = call.args[0].value
                if not isinstance(arg, cst.Name):
                    continue
                defs = self.b.definitions(arg, call)
                if len(defs) != 1 or defs[0].kind != "def" or not isinstance(defs[0].value, cst.FunctionDef):
                    continue
                closure = defs[0].value
                _, cfl = self.tree(closure)
                ckinds = {g.ev.kind for g in cfl}
                if "backward" not in ckinds or "zero" in ckinds:
                    continue
                ctors = self._optimizer_ctors(ev.key, call)
                lbfgs = bool(ctors) and all((self.names.qualify(c.func) or "").endswith("LBFGS") for c in ctors)  # type: ignore[attr-defined]
                if not lbfgs and any(g.ev.kind == "zero" for g in fl):
                    continue  # cleared around the step (the closure runs once for other optimizers)
                bw = next(g.ev for g in cfl if g.ev.kind == "backward")

                def render(line: Callable[[cst.CSTNode], int], ev: Ev = ev, closure: cst.FunctionDef = closure, bw: Ev = bw, lbfgs: bool = lbfgs) -> tuple[str, list[str]]:
                    opt = ev.key
                    name = closure.name.value
                    msg = (
                        f"the closure `{name}` passed to `{opt}.step()` calls `{_src(bw.node)}` (line {line(bw.node)}) "
                        "but never clears the gradients: each evaluation adds to the previous ones"
                    )
                    why = (
                        "LBFGS calls the closure several times per step (up to max_iter): without clearing, "
                        "the line search sees the sum of all evaluations' gradients"
                        if lbfgs
                        else "`.grad` accumulates across steps when nothing clears it"
                    )
                    notes = [why, f"call `{opt}.zero_grad()` as the first line of `{name}`"]
                    return msg, notes

                self.report("SC201", ev.site, render)

    # SC202 / SC203 -----------------------------------------------------------------------
    def grad_order(self, body: cst.CSTNode) -> None:
        tree, fl = self.tree(body)
        step_keys = {f.ev.key for f in fl if f.ev.kind == "step"}
        if not step_keys or not any(f.ev.kind == "zero" for f in fl):
            return
        single = next(iter(step_keys)) if len(step_keys) == 1 else None
        zero_nodes: dict[int, Ev] = {}
        gs = GradStates(single, zero_nodes)
        end = gs.run(tree)
        index = {id(f.ev.node): f.index for f in fl}
        if isinstance(body, (cst.For, cst.While)) and end and TOP not in end:
            self._step_after_carried_clear(body, tree, fl, single, zero_nodes, gs, end, index)
        for check in gs.checks.values():
            if check.unknown or not check.states:
                continue
            states = {s for s, _ in check.states}
            step = check.step
            if states == {"zbw"}:
                zeros = {z for _, z in check.states if z in zero_nodes}
                for z in zeros:
                    zero = zero_nodes[z]
                    bw = self._last_before(fl, "backward", index.get(id(zero.node), 0))

                    def render(line: Callable[[cst.CSTNode], int], zero: Ev = zero, step: Ev = step, bw: Ev | None = bw) -> tuple[str, list[str]]:
                        where = f" (line {line(bw.node)})" if bw is not None else ""
                        what = f"`{_src(zero.node)}`"
                        if zero.site is not zero.node:
                            what = f"`{_src(zero.site)}` clears the gradients (`{_src(zero.node)}`, line {line(zero.node)}) and"
                        msg = (
                            f"{what} runs after backward(){where} and before `{_src(step.node)}` "
                            f"(line {line(step.node)}): the step sees zeroed gradients"
                        )
                        notes = [
                            "zero_grad() wipes the gradients that backward() just computed; with the default "
                            "set_to_none=True the optimizer then skips every parameter and the model never learns",
                            "clear gradients before the forward pass (or right after the step), never between "
                            "backward() and step()",
                        ]
                        return msg, notes

                    self.report("SC202", zero.site, render)
            elif states == {"z"}:
                at = index.get(id(step.node))
                later = [f.ev for f in fl if f.ev.kind == "backward" and at is not None and f.index > at]
                if not later:
                    continue
                bw = later[0]

                def render3(line: Callable[[cst.CSTNode], int], step: Ev = step, bw: Ev = bw) -> tuple[str, list[str]]:
                    msg = (
                        f"`{_src(step.node)}` runs before backward() (`{_src(bw.node)}`, line {line(bw.node)}) "
                        "in the same iteration, right after the gradients were cleared: it updates with empty gradients"
                    )
                    notes = [
                        "the order of one training step is: zero_grad() -> forward -> loss -> backward() -> step()",
                        "here the step sees only zeroed gradients and the gradients computed afterwards are cleared "
                        "again before the next step, so the model is never updated",
                    ]
                    return msg, notes

                self.report("SC203", step.site if step.site is not body else step.node, render3)

    def _step_after_carried_clear(
        self,
        loop: cst.CSTNode,
        tree: Seq,
        fl: list[Flat],
        single: str | None,
        zero_nodes: dict[int, Ev],
        first: GradStates,
        end: set[PathState],
        index: dict[int, int],
    ) -> None:
        """SC203 across iterations: `loss = model.training_step(b); opt.step(); loss.backward();
        opt.zero_grad()`. From the second iteration on, every path reaches the step with the
        gradients the previous iteration cleared at its end, and the backward that follows is
        cleared again before the next step: the model is never updated."""
        second = GradStates(single, zero_nodes)
        second.run(tree, {GradStates.carried(s) for s in end})
        for check in second.checks.values():
            if check.unknown or not check.states or {s for s, _ in check.states} != {"z"}:
                continue
            before = first.checks.get(id(check.step.node))
            if before is None or before.unknown or {s for s, _ in before.states} == {"z"}:
                continue  # unknown, or already SC203 within the iteration
            step = check.step
            at = index.get(id(step.node))
            later = [f.ev for f in fl if f.ev.kind == "backward" and at is not None and f.index > at]
            zeros = [zero_nodes[z] for _, z in check.states if z in zero_nodes]
            if not later or not zeros:
                continue
            bw, zero = later[0], zeros[0]

            def render(line: Callable[[cst.CSTNode], int], step: Ev = step, bw: Ev = bw, zero: Ev = zero) -> tuple[str, list[str]]:
                msg = (
                    f"`{_src(step.node)}` runs before backward() (`{_src(bw.node)}`, line {line(bw.node)}) and after "
                    f"`{_src(zero.node)}` (line {line(zero.node)}) cleared the gradients at the end of the previous "
                    "iteration: every step updates with empty gradients"
                )
                notes = [
                    "the order of one training step is: zero_grad() -> forward -> loss -> backward() -> step()",
                    f"move `{_src(step.node)}` after the backward(); the gradients it computes are now cleared "
                    "before any step sees them, so the model is never updated",
                ]
                return msg, notes

            self.report("SC203", step.site if step.site is not loop else step.node, render)

    @staticmethod
    def _last_before(fl: list[Flat], kind: str, index: int) -> Ev | None:
        found = None
        for f in fl:
            if f.index >= index:
                break
            if f.ev.kind == kind:
                found = f.ev
        return found

    # SC204 -------------------------------------------------------------------------------
    def scheduler_order(self, loop: cst.CSTNode) -> None:
        _, fl = self.tree(loop)
        for f in fl:
            if f.ev.kind != "sched" or f.depth != 0:
                continue
            steps = [g for g in fl if g.ev.kind in ("step", "closure-step")]
            # with two optimizers (a GAN), only the scheduled one's step counts
            mine = self._scheduled_optimizer(f.ev, loop)
            if mine is not None and any(g.ev.key == mine for g in steps):
                steps = [g for g in steps if g.ev.key == mine]
            before = any(g.index < f.index for g in steps)
            after = [g.ev for g in steps if g.index > f.index]
            if before or not after:
                continue
            sched, step = f.ev, after[0]

            def render(line: Callable[[cst.CSTNode], int], sched: Ev = sched, step: Ev = step) -> tuple[str, list[str]]:
                msg = (
                    f"`{_src(sched.node)}` runs before `{_src(step.node)}` (line {line(step.node)}) in each iteration: "
                    "the first value of the learning-rate schedule is skipped"
                )
                notes = [
                    "since PyTorch 1.1 the scheduler must be stepped after the optimizer (torch.optim docs); "
                    "PyTorch also warns about this at run time",
                    f"move `{_src(sched.node)}` after `{_src(step.node)}` (per batch for OneCycleLR/CyclicLR, "
                    "per epoch after the training loop for StepLR and friends)",
                ]
                return msg, notes

            self.report("SC204", sched.site, render)

    def _scheduled_optimizer(self, sched: Ev, at: cst.CSTNode) -> str | None:
        """`StepLR(opt_G, 30)` -> "opt_G": the optimizer a scheduler was built on."""
        if sched.key is None:
            return None
        try:
            expr = cst.parse_expression(sched.key)
        except cst.ParserSyntaxError:
            return None
        found: set[str | None] = set()
        for v in self.b.assigned(expr, at):
            if not isinstance(v, cst.Call):
                return None
            arg = next((a.value for a in v.args if a.keyword is not None and a.keyword.value == "optimizer"), None)
            if arg is None and v.args and v.args[0].keyword is None:
                arg = v.args[0].value
            found.add(dotted(arg) if arg is not None else None)
        return next(iter(found)) if len(found) == 1 else None

    # SC211 -------------------------------------------------------------------------------
    def mode_not_restored(self, loop: cst.CSTNode) -> None:
        _, fl = self.tree(loop)
        kinds = {f.ev.kind for f in fl}
        # a training loop updates weights: backward() alone may be a gradient visualisation
        if "backward" not in kinds or "eval" not in kinds or not kinds & {"step", "closure-step", "engine-step", "manual-step"}:
            return
        for f in fl:
            if f.ev.kind != "eval" or f.ev.key is None:
                continue
            key = f.ev.key
            if not self._trained_in(fl, key) or self._rebuilt_in(loop, key):
                continue
            # Any train() of this model in the loop restores the mode: either it runs before the
            # next training step in loop order, or it toggles the mode with a condition
            # (`model.train() if phase == "train" else model.eval()`) that a flat order cannot
            # see through; both are fine.
            if any(g.ev.kind == "train" and g.ev.key in (key, None) for g in fl):
                continue
            ev = f.ev

            def render(line: Callable[[cst.CSTNode], int], ev: Ev = ev, key: str = key) -> tuple[str, list[str]]:
                shown = _src(ev.site) if ev.site is not ev.node else _src(ev.node)
                msg = (
                    f"`{shown}` puts `{key}` in eval mode inside the training loop and nothing calls "
                    f"`{key}.train()` before the next training step"
                )
                notes = [
                    "from the second iteration on, training runs with dropout off and BatchNorm using (and no longer "
                    "updating) its running statistics: nothing crashes, the model just learns worse",
                    f"call `{key}.train()` at the start of each epoch (or of the training function)",
                ]
                return msg, notes

            self.report("SC211", ev.site, render)

    def _rebuilt_in(self, loop: cst.CSTNode, key: str) -> bool:
        """`key` is (re)assigned inside the loop: a fresh model each iteration starts in train
        mode whatever the previous one was left in."""
        if "." in key:
            return False
        for d in self.b.definitions(cst.Name(key), loop):
            if d.kind in ("assign", "annassign", "unpack", "unpack-call") and _under(self.b, d.target, loop):
                return True
        return False

    @staticmethod
    def _trained_in(fl: list[Flat], key: str) -> bool:
        """`key` is called and a backward follows with no eval of it in between."""
        for f in fl:
            if f.ev.kind == "model-call" and f.ev.key == key:
                for g in fl[f.index + 1 :]:
                    if g.ev.kind == "eval" and g.ev.key == key:
                        break
                    if g.ev.kind == "backward":
                        return True
        return False

    # SC210 / SC212 -----------------------------------------------------------------------
    def eval_loop(self, loop: cst.CSTNode) -> None:
        _, fl = self.tree(loop)
        kinds = {f.ev.kind for f in fl}
        if kinds & {"backward", "grad", "step", "closure-step", "engine-step", "manual-step", "zero"}:
            return
        calls = [f.ev for f in fl if f.ev.kind == "model-call" and f.ev.key is not None]
        if not calls:
            return
        func = self.b.enclosing_function(loop)
        if func is not None and func.name.value.startswith("test_"):
            return  # a pytest test exercising the model (shapes, determinism), not an evaluation
        named = eval_named(func)
        loop_off = (grad_context(self.b, self.names, loop) or ("",))[0] == "off"
        calls_off = all((grad_context(self.b, self.names, c.node) or ("",))[0] == "off" for c in calls)
        owner: cst.CSTNode = func if func is not None else self.module
        seen: set[str] = set()
        index = {id(f.ev): f.index for f in fl}
        for call in calls:
            key = call.key
            assert key is not None
            if key in seen:
                continue
            seen.add(key)
            deliberate = "train" in kinds or self._train_before(owner, loop)
            entry = self.mode_at(owner, loop, key, depth=0)
            modes = self._mode_in_loop(fl, index[id(call)], key, entry)
            after_training = self._trained_before(owner, loop, key)
            # SC210: evaluation loop that runs the model in train mode
            if (loop_off or calls_off or named or after_training) and not deliberate and modes and modes <= {"train"}:
                self._report_train_mode(call, key, "loop")
            # SC212: evaluation loop with autograd on
            evaluation = named or modes == {"eval"} or after_training
            if evaluation and not (loop_off or calls_off) and self._wrapped(owner, 0) is False:
                loop_node = loop

                def render2(line: Callable[[cst.CSTNode], int], key: str = key) -> tuple[str, list[str]]:
                    msg = f"evaluation loop runs `{key}` with autograd on: wrap it in `torch.no_grad()` or `torch.inference_mode()`"
                    notes = [
                        "model.eval() changes Dropout/BatchNorm, not autograd: every forward pass still records a graph, "
                        "costing memory and time",
                        "use `with torch.inference_mode():` around the loop, or decorate the function with "
                        "`@torch.no_grad()`",
                    ]
                    return msg, notes

                self.report("SC212", loop_node, render2)

    def _mode_in_loop(self, fl: list[Flat], idx: int, key: str, entry: set[str]) -> set[str]:
        """Modes of `key` at the event `idx` of a loop body: set earlier in the body (directly or
        in a helper, `for ...: evaluate(model)` where `evaluate` calls `model.eval()`), else the
        mode on entering the loop joined with the one the end of the body leaves for the next
        iteration. Empty when unknown."""
        found = self._mode_before(fl, idx, key)
        if None not in found:
            return found  # type: ignore[return-value]
        if not entry:
            return set()
        later = [g.ev.kind for g in fl[idx + 1 :] if g.ev.kind in ("train", "eval") and g.ev.key == key]
        return {m for m in found if m is not None} | entry | ({later[-1]} if later else set())

    def _report_train_mode(self, call: Ev, key: str, where: str) -> None:
        """SC210 at a model call that runs in training mode, when the model has (or may have)
        layers that behave differently in eval mode."""
        if id(call.node) in self._train_mode_calls:
            return
        stochastic = self.b.stochastic_layers(call.node.func, call.node)  # type: ignore[attr-defined]
        if stochastic is Stochastic.NO:
            return
        self._train_mode_calls.add(id(call.node))

        def render(line: Callable[[cst.CSTNode], int], call: Ev = call, key: str = key, st: Stochastic = stochastic) -> tuple[str, list[str]]:
            what = "has Dropout/BatchNorm layers" if st is Stochastic.YES else "may have Dropout/BatchNorm layers"
            msg = f"`{key}` is evaluated in training mode: `{key}.eval()` is never called before this {where} and `{key}` {what}"
            notes = [
                "in training mode Dropout still drops units and BatchNorm normalises with batch statistics "
                "(and updates its running averages with evaluation data): the metrics are wrong",
                f"call `{key}.eval()` before the {where} (and `{key}.train()` before training resumes); "
                "torch.no_grad() does not change the mode",
            ]
            return msg, notes

        self.report("SC210", call.site, render)

    def eval_function(self, func: cst.FunctionDef) -> None:
        """SC210 outside loops: a function that runs the model with autograd off and trains
        nothing (`@torch.no_grad() def test(): out = model(data.x)`, the full-batch evaluation
        of graph and small-data code) while the model is still in training mode. Calls inside
        loops are the loop analysis's (`eval_loop`)."""
        if func.name.value.startswith("test_"):
            return
        _, fl = self.tree(func)
        kinds = {f.ev.kind for f in fl}
        if kinds & {"backward", "grad", "step", "closure-step", "engine-step", "manual-step", "zero", "train"}:
            return
        for f in fl:
            ev = f.ev
            if ev.kind != "model-call" or ev.key is None or f.depth != 0:
                continue
            if (grad_context(self.b, self.names, ev.node) or ("",))[0] != "off":
                continue
            modes = self._mode_at_index(func, fl, f.index, ev.key, 0)
            if modes and modes <= {"train"}:
                self._report_train_mode(ev, ev.key, "call")

    def _trained_before(self, owner: cst.CSTNode, loop: cst.CSTNode, key: str) -> bool:
        """`key` was trained (called, then a backward) before `loop`, and that training is over:
        it is outside every loop enclosing `loop` (a tutorial's test loop after its training
        loop), and no backward follows. A rollout loop inside an episode loop that trains
        afterwards is not one, nor a loop that sums a loss for a backward after it."""
        _, fl = self.tree(owner)
        idx = next((f.index for f in fl if f.ev.kind == "loop-start" and f.ev.node is loop), None)
        if idx is None:
            return False
        end_of_loop = next((g.index for g in fl[idx + 1 :] if g.ev.kind == "loop-end" and g.ev.node is loop), len(fl))
        if any(g.ev.kind == "backward" for g in fl[end_of_loop:]):
            return False  # a backward follows: the loop collects a loss (`kl += model(x)[1]`), it trains
        start = idx
        for f in fl[:idx]:
            if f.ev.kind == "loop-start":
                end = next((g.index for g in fl[f.index + 1 :] if g.ev.kind == "loop-end" and g.ev.node is f.ev.node), len(fl))
                if end > idx:
                    start = f.index  # the outermost loop around `loop`
                    break
        return self._trained_in(fl[:start], key)

    def _train_before(self, owner: cst.CSTNode, loop: cst.CSTNode) -> bool:
        """A `.train()` (on the model or on some of its modules, directly or in a helper) before
        the loop with no training in between: dropout switched on on purpose (MC dropout).
        A `.train()` followed by a backward is a training phase, not a deliberate choice."""
        _, fl = self.tree(owner)
        deliberate = False
        for f in fl:
            if f.ev.kind == "loop-start" and f.ev.node is loop:
                return deliberate
            if f.ev.kind == "train":
                deliberate = True
            elif f.ev.kind in ("backward", "step", "eval"):
                deliberate = False
        return False

    def _wrapped(self, owner: cst.CSTNode, depth: int) -> bool | None:
        """Whether every same-file call of `owner` runs with grad off (None: unknown callers)."""
        if not isinstance(owner, cst.FunctionDef):
            return False
        callers = self.b.callers(owner)
        if not callers or depth > 3:
            return None
        results = []
        for call, _ in callers:
            ctx = grad_context(self.b, self.names, call)
            if ctx is not None:
                results.append(ctx[0] == "off")
                continue
            outer = self.b.enclosing_function(call)
            if outer is None or any(f.ev.kind == "backward" for f in self.tree(outer)[1]):
                results.append(False)  # module level, or a training function: grad is on
                continue
            r = self._wrapped(outer, depth + 1)
            if r is None:
                return None
            results.append(r)
        return all(results)

    def mode_at(self, owner: cst.CSTNode, target: cst.CSTNode, key: str, depth: int) -> set[str]:
        """Modes (`train`/`eval`) `key` may be in when `target` (a loop or call in `owner`)
        runs; empty when unknown."""
        _, fl = self.tree(owner)
        idx = next((f.index for f in fl if f.ev.kind in ("loop-start", "call-site") and f.ev.node is target), None)
        if idx is None:
            return set()
        return self._mode_at_index(owner, fl, idx, key, depth)

    def _mode_at_index(self, owner: cst.CSTNode, fl: list[Flat], idx: int, key: str, depth: int) -> set[str]:
        found = self._mode_before(fl, idx, key)
        if None not in found:
            return found  # type: ignore[return-value]
        known = {m for m in found if m is not None}
        # nothing sets the mode in `owner` before `target`: where does the model come from?
        built = self._built_here(owner, key)
        if built is not None:
            return known | {built}
        if isinstance(owner, cst.FunctionDef) and depth < 3:
            callers = self.b.callers(owner)
            if not callers:
                return set()
            out = set(known)
            for call, _bound in callers:
                outer = self.b.enclosing_function(call) or self.module
                mapped = self._map_key(owner, call, key)
                if mapped is None:
                    return set()
                sub = self.mode_at(outer, call, mapped, depth + 1)
                if not sub:
                    return set()
                out |= sub
            return out
        return set()

    def _mode_before(self, fl: list[Flat], idx: int, key: str) -> set[str | None]:
        """Walk back from `idx`; around each enclosing loop consider the first iteration and the
        following ones (the end of the body runs before the next iteration's start)."""
        i = idx - 1
        while i >= 0:
            ev = fl[i].ev
            if ev.kind in ("train", "eval") and ev.key == key:
                return {ev.kind}
            if ev.kind == "loop-start":
                end = next((g.index for g in fl[i + 1 :] if g.ev.kind == "loop-end" and g.ev.node is ev.node), len(fl))
                if end > idx:  # a loop around the target
                    later = [g.ev for g in fl[idx + 1 : end] if g.ev.kind in ("train", "eval") and g.ev.key == key]
                    first = self._mode_before(fl, i, key)
                    return first | ({later[-1].kind} if later else first)
            i -= 1
        return {None}

    def _built_here(self, owner: cst.CSTNode, key: str) -> str | None:
        """The mode of `key` as built in `owner`: "train" for a freshly constructed model,
        "eval" for `Net().eval()` / `Net().to(d).eval()`; None when not built here (or when
        the bindings disagree)."""
        scope = self.b.scopes.get(owner)
        if scope is None or "." in key:
            return None
        modes: set[str] = set()
        for binding in scope.names.get(key, []):
            if binding.kind in ("assign", "annassign") and isinstance(binding.value, cst.Call):
                if self.b.role(binding.value, binding.value) is Role.MODEL:
                    mode = None if self._wraps_existing(binding.value) else _chain_mode(binding.value)
                    if mode is None:
                        return None  # rebound from itself or another name: not built here
                    modes.add(mode)
        return next(iter(modes)) if len(modes) == 1 else None

    def _wraps_existing(self, call: cst.Call) -> bool:
        """`torch.compile(model)`, `DDP(model, ...)`, `accelerator.prepare(model)`: the wrapped
        model keeps the mode it had."""
        node: cst.BaseExpression = call
        while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value in ("to", "cuda", "cpu", "float", "half", "bfloat16"):
            node = node.func.value
        if not isinstance(node, cst.Call):
            return False
        if isinstance(node.func, cst.Attribute) and node.func.attr.value == "prepare":
            return True
        q = self.names.qualify(node.func)  # type: ignore[attr-defined]
        return q in _MODULE_WRAPPERS

    def _map_key(self, callee: cst.FunctionDef, call: cst.Call, key: str) -> str | None:
        subst = self.builder._bind_args(callee, call, {})
        head, _, rest = key.partition(".")
        scope = self.b.scopes.get(callee)
        if scope is not None and head in scope.params and head != "self":
            if head not in subst:
                return None
            base = subst[head]
            return f"{base}.{rest}" if rest else base
        return key

    # SC213 -------------------------------------------------------------------------------
    def backward_under_no_grad(self) -> None:
        for node in self.b.nodes(cst.Call):
            func = node.func
            value: cst.BaseExpression | None = None
            if isinstance(func, cst.Attribute) and func.attr.value == "backward":
                if node.args and self.b.role(func.value, node) in (Role.ACCELERATOR, Role.ENGINE):
                    value = node.args[0].value
                else:
                    value = func.value
                    if isinstance(value, cst.Call) and isinstance(value.func, cst.Attribute) and value.func.attr.value == "scale" and value.args:
                        value = value.args[0].value
            elif isinstance(func, cst.Attribute) and func.attr.value == "manual_backward" and node.args:
                value = node.args[0].value
            elif self.names.qualify(func) == "torch.autograd.backward" and node.args:  # type: ignore[attr-defined]
                value = node.args[0].value
            if value is None:
                continue
            ctx = grad_context(self.b, self.names, node)
            if ctx is None:
                self._backward_in_callee(node, value)
                continue
            if ctx[0] != "off":
                continue
            region = ctx[1]
            if not self._computed_without_grad(value, node):
                continue

            def render(line: Callable[[cst.CSTNode], int], node: cst.Call = node, region: cst.CSTNode = region) -> tuple[str, list[str]]:
                what = "`@torch.no_grad()` function" if isinstance(region, cst.FunctionDef) else "`" + _src(region.items[0].item) + "` block"  # type: ignore[attr-defined]
                msg = (
                    f"`{_src(node)}` on a value computed inside a {what} (line {line(region)}): "
                    "it has no gradient graph, so backward() raises"
                )
                notes = [
                    "RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn",
                    "compute the forward pass and the loss outside no_grad()/inference_mode(), or wrap them in "
                    "`with torch.enable_grad():`",
                ]
                return msg, notes

            self.report("SC213", node, render)

    def _backward_in_callee(self, backward: cst.Call, value: cst.BaseExpression) -> None:
        """`with torch.no_grad(): train_step(x)` where `train_step` (same file) computes its loss
        and calls backward() without setting the grad mode itself: flagged at the call."""
        func = self.b.enclosing_function(backward)
        if func is None or not self._computed_without_grad(value, backward, inherit=True):
            return
        for call, _bound in self.b.callers(func):
            ctx = grad_context(self.b, self.names, call)
            if ctx is None or ctx[0] != "off":
                continue
            region = ctx[1]

            def render(line: Callable[[cst.CSTNode], int], call: cst.Call = call, bw: cst.Call = backward, region: cst.CSTNode = region) -> tuple[str, list[str]]:
                what = "a `@torch.no_grad()` function" if isinstance(region, cst.FunctionDef) else "`" + _src(region.items[0].item) + "`"  # type: ignore[attr-defined]
                msg = (
                    f"`{_src(call)}` runs under {what} (line {line(region)}) and calls `{_src(bw)}` (line {line(bw)}) "
                    "on a loss it computes there: no gradient graph is recorded, so backward() raises"
                )
                notes = [
                    "RuntimeError: element 0 of tensors does not require grad and does not have a grad_fn",
                    "call the training step outside no_grad()/inference_mode()",
                ]
                return msg, notes

            self.report("SC213", call, render)

    def _computed_without_grad(self, value: cst.BaseExpression, at: cst.CSTNode, inherit: bool = False) -> bool:
        """`value` was computed with grad off: inline, or assigned only under a grad-off region
        (`inherit`: assigned only where the function does not set the mode, so the caller's
        mode applies)."""
        if isinstance(value, (cst.Call, cst.BinaryOperation, cst.UnaryOperation, cst.Subscript)):
            return True
        if isinstance(value, cst.Name):
            defs = self.b.definitions(value, at)
            if not defs:
                return False
            for d in defs:
                if d.kind not in ("assign", "annassign", "augassign", "walrus", "unpack", "unpack-call"):
                    return False
                ctx = grad_context(self.b, self.names, d.target)
                if inherit:
                    if ctx is not None or self.b.enclosing_function(d.target) is not self.b.enclosing_function(at):
                        return False
                elif ctx is None or ctx[0] != "off":
                    return False
            return True
        return False
