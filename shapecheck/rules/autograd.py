"""Autograd and memory: graphs kept alive, unscaled accumulation, non-leaf `.grad`, in-place
on leaves, `forward` called directly (SC401-SC405)."""

from __future__ import annotations

import re

import libcst as cst

from shapecheck.diagnostics import Fix, NodeEdit, Severity
from shapecheck.infer.bindings import Bindings, Role
from shapecheck.infer.flow import (
    LOSS_OPS,
    Flow,
    flow_of,
    literal_number,
    local_function,
    one_line,
    positional,
    value_ops,
)
from shapecheck.infer.gradients import (
    _accumulates_param,
    _aug_assigns,
    _backward_receivers,
    _data_loop,
    _inner_leaf,
    _inside,
    _is_continue,
    _is_tensor_init,
    _modulus,
    _parameter_loop_var,
    _steps_by_own_grad,
    leaf_requiring_grad,
    method_of,
    nonleaf_with_grad,
)
from shapecheck.infer.modules import ELEMENT, MODULE, NOT_MODULE, module_status
from shapecheck.names import dotted
from shapecheck.rules.base import Invalid, LintRule, Valid


def _code(node: cst.CSTNode) -> str:
    return cst.Module(body=[]).code_for_node(node)


class LossAccumulatedWithGraph(LintRule):
    """## What it does
    Flags `total += loss` (and `total = total + loss`, `total += loss * n`, `self.total += loss`)
    inside a loop when
    `loss` is a tensor produced by a loss function or criterion, or the value `backward()` is
    called on in that loop, and `total` is bound before the loop and never backpropagated.
    `losses.append(loss)` is flagged the same way when `loss` is backpropagated in the loop,
    and so is accumulation hidden in a helper: `total = accumulate(total, loss)` or
    `meter.update(loss)` in the loop, where the helper (a function or method of this file) does
    `agg += val`, and `stats["loss"] += loss` in a step function that backpropagates `loss` into
    an object passed in by the caller.

    ## Why is this bad?
    A loss tensor carries its autograd graph. Adding it to a running total links every
    iteration's graph into one chain that lives as long as `total`: memory grows every step
    until it runs out (PyTorch FAQ, "My model reports cuda runtime error(2): out of memory").
    In an evaluation loop without `no_grad` the whole forward activations are kept. The number
    you want is a Python float: `total += loss.item()`.

    ## Fix safety
    The fix writes `loss.item()`. It is safe when `total` starts as a tensor
    (`torch.zeros(())`: it stays a tensor, without graph) or is never used as a tensor (no
    `total.something`, not passed to a `torch.` function). Otherwise it is unsafe: `total`
    becomes a float and `total.item()` would fail. On an attribute (`self.total += loss`) it is
    unsafe unless the attribute starts as a tensor: other methods may use it.

    The fix is unsafe as well when `total` leaves the function (returned, yielded, passed to a
    call other than `print`): a caller may use it as a tensor.

    ## Known problems
    Summing several losses on purpose before one `backward()` is fine and stays silent when the
    sum itself is backpropagated (`total.backward()`), or when the terms of one forward pass are
    summed in a loop that is not over batches and the sum is returned (the caller's loss).
    """

    CODE = "SC401"
    VALID = [
        Valid(
            """
def train(model, loader, criterion, opt):
    total = 0.0
    for x, y in loader:
        opt.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        total += loss.item()
    return total / len(loader)
""",
            "accumulate the Python number",
        ),
        Valid(
            """
import torch.nn.functional as F

def step(model, heads, x, y, opt):
    total = 0
    for head in heads:
        total += F.cross_entropy(head(model(x)), y)
    total.backward()          # the sum is what gets backpropagated
    opt.step()
""",
            "several losses summed on purpose",
        ),
        Valid(
            """
import torch
import torch.nn as nn

criterion = nn.MSELoss()

@torch.no_grad()
def evaluate(model, loader):
    total = 0.0
    for x, y in loader:
        total += criterion(model(x), y)   # no graph under no_grad
    return total
""",
            "under no_grad there is no graph",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch.nn as nn

criterion = nn.CrossEntropyLoss()

def train(model, loader, opt):
    running = 0.0
    for x, y in loader:
        opt.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        running += loss  # SC401
    print(f"loss {running / len(loader):.3f}")
""",
            expected_fixed="""
import torch.nn as nn

criterion = nn.CrossEntropyLoss()

def train(model, loader, opt):
    running = 0.0
    for x, y in loader:
        opt.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        running += loss.item()
    print(f"loss {running / len(loader):.3f}")
""",
        ),
        Invalid(
            """
import torch.nn.functional as F

def validate(model, loader):
    total = 0
    for x, y in loader:
        total = total + F.mse_loss(model(x), y)  # SC401
    return total / len(loader)
""",
            expected_fixed="""
import torch.nn.functional as F

def validate(model, loader):
    total = 0
    for x, y in loader:
        total = total + F.mse_loss(model(x), y).item()
    return total / len(loader)
""",
        ),
        Invalid(
            """
def train(model, loader, opt):
    history = []
    for batch in loader:
        out = model(**batch)
        out.loss.backward()
        opt.step()
        opt.zero_grad()
        history.append(out.loss)  # SC401
    return history
"""
        ),
        Invalid(
            """
import torch
import torch.nn as nn

criterion = nn.L1Loss()

def epoch(model, loader, opt):
    total = torch.zeros(())
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        total += loss * x.size(0)  # SC401
    return total.item()
""",
            expected_fixed="""
import torch
import torch.nn as nn

criterion = nn.L1Loss()

def epoch(model, loader, opt):
    total = torch.zeros(())
    for x, y in loader:
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        total += loss.item() * x.size(0)
    return total.item()
""",
        ),
    ]

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        if not isinstance(node.operator, cst.AddAssign):
            return
        if isinstance(node.target, cst.Name):
            self._check(node, node.target.value, node.value)
        elif isinstance(node.target, cst.Attribute) and isinstance(node.target.value, cst.Name):
            self._check(node, node.target, node.value)  # `self.running_loss += loss`
            self._into_argument(node)
        elif isinstance(node.target, cst.Subscript) and isinstance(node.target.value, cst.Name):
            self._into_argument(node)  # `stats["loss"] += loss` in a step helper

    def _into_argument(self, node: cst.AugAssign) -> None:
        """`stats["loss"] += loss` / `meter.total += loss` inside a function that backpropagates
        `loss`, where `stats`/`meter` is a parameter: the caller's object keeps every call's
        graph, although the loop that repeats the calls is in another function."""
        flow = flow_of(self.ctx)
        target = node.target
        owner = target.value if isinstance(target, (cst.Attribute, cst.Subscript)) else None
        fn = flow.function_of(node)
        if not isinstance(owner, cst.Name) or fn is None or flow.under_no_grad(node) or flow.loops_around(node):
            return
        scope = flow.scope_of(node)
        if owner.value == scope.self_name:
            return  # `self.total += loss`: handled with its class by _check in a loop
        binds = flow.reaching(owner.value, node)
        if not binds or not all(b.always and b.stmt is fn for b in binds):
            return
        loss = dotted(node.value)
        if loss is None or not any(r == loss and flow.function_of(c) is fn for r, c in _backward_receivers(flow)):
            return
        new = cst.Call(func=cst.Attribute(value=node.value, attr=cst.Name("item")))
        msg = f"Accumulate `{loss}.item()`"
        self.report(
            node,
            f"`{_code(target)}` accumulates the loss tensor `{loss}` with its autograd graph across calls",
            notes=[
                f"`{owner.value}` is passed in and outlives this call: each call links its graph into it, so memory "
                "grows with every step of the caller's loop.",
                f"Use `{loss}.item()` (a float), or `.detach()` to keep a tensor.",
            ],
            fix=Fix.unsafe(msg, NodeEdit(node.value, new)) if one_line(new) else None,
        )

    def _via_helper(self, node: cst.Call) -> None:
        """`total = accumulate(total, loss)` / `meter.update(loss)` in a loop, where the helper
        (a function or a method of a class of this file) adds that argument to a running total."""
        flow = flow_of(self.ctx)
        loops = flow.loops_around(node)
        if not loops or flow.under_no_grad(node) or not node.args or any(a.star or a.keyword for a in node.args):
            return
        fn = local_function(flow, node.func)
        skip = 0
        if fn is None and isinstance(node.func, cst.Attribute) and isinstance(node.func.value, cst.Name):
            origins = flow.origins(node.func.value, node)
            cls = flow.local_class(origins[0]) if origins and len(origins) == 1 else None
            fn = flow.method(cls, node.func.attr.value) if cls is not None else None
            skip = 1
        if fn is None:
            return
        params = [p.name.value for p in fn.params.params][skip:]
        for i, arg in enumerate(node.args):
            if i >= len(params):
                break
            into = _accumulates_param(fn, params[i])
            if into is None:
                continue
            loss = self._loss_part(flow, arg.value, loops[0], node)
            if loss is None or not isinstance(loss, cst.Name):
                continue
            name = loss.value
            # the loss must be backpropagated in this loop (the FAQ case) or nothing here is
            own = any(r == name and _inside(flow, c, loops[0]) for r, c in _backward_receivers(flow))
            if not own and any(flow.function_of(c) is flow.function_of(node) for _, c in _backward_receivers(flow)):
                continue
            self.report(
                arg,
                f"`{_code(node.func)}(...)` adds the loss tensor `{name}` to `{into}` with its autograd graph, every iteration",
                notes=[
                    f"`{_code(node.func)}` does `{into} += {params[i]}`: the running total keeps every iteration's graph "
                    "alive, so memory grows until it runs out.",
                    f"Pass `{name}.item()` (a float), or `{name}.detach()`.",
                ],
            )
            return

    def visit_Assign(self, node: cst.Assign) -> None:
        if len(node.targets) != 1 or not isinstance(node.targets[0].target, cst.Name):
            return
        value = node.value
        name = node.targets[0].target.value
        if (
            isinstance(value, cst.BinaryOperation)
            and isinstance(value.operator, cst.Add)
            and isinstance(value.left, cst.Name)
            and value.left.value == name
        ):
            self._check(node, name, value.right)

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, (cst.Name, cst.Attribute)) and not (isinstance(func, cst.Attribute) and func.attr.value == "append"):
            if node.args and not (self.ctx.qualify(func) or "").startswith(("torch.", "numpy.")):
                self._via_helper(node)
            return
        if not (isinstance(func, cst.Attribute) and func.attr.value == "append" and isinstance(func.value, cst.Name)):
            return
        args = positional(node)
        if len(args) != 1 or len(node.args) != 1:
            return
        flow = flow_of(self.ctx)
        loops = flow.loops_around(node)
        if not loops or flow.under_no_grad(node):
            return
        item = args[0]
        name = dotted(item)
        if name is None:
            return
        # the appended value is backpropagated in this loop: its graph (grad_fn chain) is kept
        if not any(r == name and _inside(flow, c, loops[0]) for r, c in _backward_receivers(flow)):
            return
        if not self._bound_before(flow, func.value.value, loops[0]):
            return
        self.report(
            item,
            f"`{name}` (a tensor with its autograd graph) is appended to `{func.value.value}` every iteration",
            notes=[
                "Each stored loss keeps its graph alive: memory grows every step. "
                f"Append `{name}.item()` (a float) or `{name}.detach()`.",
            ],
        )

    def _bound_before(self, flow: Flow, name: str, loop: cst.CSTNode) -> bool:
        binds = flow.reaching(name, loop)
        return bool(binds)

    def _loss_part(self, flow: Flow, expr: cst.BaseExpression, loop: cst.CSTNode, at: cst.CSTNode) -> cst.BaseExpression | None:
        """The sub-expression of `expr` that is a loss tensor (`loss` in `loss * n`), or None."""
        if isinstance(expr, cst.BinaryOperation) and isinstance(expr.operator, (cst.Multiply, cst.Divide)):
            return self._loss_part(flow, expr.left, loop, at) or self._loss_part(flow, expr.right, loop, at)
        if isinstance(expr, cst.Call):
            ops = value_ops(flow, expr, at)
            return expr if ops and ops <= LOSS_OPS else None
        name = dotted(expr)
        if name is None:
            return None
        ops = value_ops(flow, expr, at) if isinstance(expr, cst.Name) else None
        if ops and ops <= LOSS_OPS:
            return expr
        if ops and ops & {"item", "detach", "tolist", "numpy"}:
            return None
        if any(r == name and _inside(flow, c, loop) for r, c in _backward_receivers(flow)):
            return expr
        return None

    def _check(self, node: cst.CSTNode, target: str | cst.Attribute, value: cst.BaseExpression) -> None:
        flow = flow_of(self.ctx)
        loops = flow.loops_around(node)
        if not loops or flow.under_no_grad(node):
            return
        loss = self._loss_part(flow, value, loops[0], node)
        if loss is None:
            return
        if isinstance(target, cst.Attribute):
            # `self.total += loss`: an attribute outlives the loop; it must be set elsewhere in
            # the class (e.g. `self.total = 0.0` in __init__ or a reset method)
            binds = flow.attr_bindings(target, node)
            total = dotted(target) or ""
            attr = True
        else:
            binds = flow.reaching(target, loops[0])
            total = target
            attr = False
        if not binds:
            return
        # Several losses summed on purpose before one backward() (`style_loss += mse(...)` then
        # `(content + style_loss).backward()`) look the same: report only when the added loss is
        # itself backpropagated in the loop (the PyTorch FAQ case) or nothing in the function
        # is backpropagated at all (an evaluation loop that keeps every graph).
        fn = flow.function_of(node)
        backwards = [(r, c) for r, c in _backward_receivers(flow) if flow.function_of(c) is fn]
        name = dotted(loss)
        own = name is not None and any(r == name and _inside(flow, c, loops[0]) for r, c in backwards)
        if not own and backwards:
            return
        if any(r == total for r, _ in backwards):
            return
        if not backwards and not attr and self._escapes(flow, total, node) and not _data_loop(flow, loops[0], fn):
            # `for out, tgt in zip(outputs, targets): total += mse(out, tgt)` then `return total`:
            # the terms of one forward pass summed into the loss the caller backpropagates
            return
        new = cst.Call(func=cst.Attribute(value=loss, attr=cst.Name("item")))
        safe = all(b.value is not None and _is_tensor_init(flow, b.value) for b in binds) or (
            not attr and not self._used_as_tensor(flow, total, node) and not self._escapes(flow, total, node)
        )
        msg = f"Accumulate `{_code(loss)}.item()`"
        fix = Fix.safe(msg, NodeEdit(loss, new)) if safe else Fix.unsafe(msg, NodeEdit(loss, new))
        if not one_line(new):
            fix = None
        self.report(
            node,
            f"`{total}` accumulates the loss tensor `{_code(loss)}` with its autograd graph across iterations",
            notes=[
                f"Every iteration links its graph into `{total}`, so memory grows until it runs out.",
                f"Use `{_code(loss)}.item()` (a float), or `.detach()` to keep a tensor.",
            ],
            fix=fix,
        )

    def _escapes(self, flow: Flow, name: str, at: cst.CSTNode) -> bool:
        """`total` (or an expression of it) is returned, yielded or handed to a call other than
        print/format: the caller may use it as a tensor, so making it a float changes it."""
        scope = flow.scope_of(at)
        for use in flow.uses_of(name, scope):
            cur: cst.CSTNode = use
            parent = flow.parents.get(cur)
            while isinstance(parent, (cst.BinaryOperation, cst.UnaryOperation, cst.Tuple, cst.Element, cst.List)):
                cur, parent = parent, flow.parents.get(parent)
            if isinstance(parent, (cst.Return, cst.Yield)):
                return True
            if isinstance(parent, cst.Arg):
                call = flow.parents.get(parent)
                if isinstance(call, cst.Call) and not (
                    isinstance(call.func, cst.Name) and call.func.value in ("print", "float", "round", "str", "format", "int")
                ):
                    return True
        return False

    def _used_as_tensor(self, flow: Flow, name: str, at: cst.CSTNode) -> bool:
        scope = flow.scope_of(at)
        for use in flow.uses_of(name, scope):
            parent = flow.parents.get(use)
            if isinstance(parent, cst.Attribute) and parent.value is use:
                return True
            if isinstance(parent, cst.Arg):
                call = flow.parents.get(parent)
                if isinstance(call, cst.Call) and (self.ctx.qualify(call.func) or "").startswith("torch."):
                    return True
        return False


class UnscaledGradAccumulation(LintRule):
    """## What it does
    Flags `loss.backward()` in a loop whose optimizer `step()` runs only inside an
    `if (i + 1) % k == 0:` block (gradient accumulation) when the loss reaching `backward()`
    is not divided (or multiplied) by anything: no `loss / k`, `loss /= k`, `(loss / k).backward()`
    or `scaler.scale(loss / k)`. The other spellings of accumulation count too: an
    `if (i + 1) % k != 0: continue` guard before the step, a counter (`step += 1; if step % k == 0`),
    and an inner `for _ in range(k):` micro-batch loop followed by one `step()`. Only losses
    known to come from a loss function (or an `outputs.loss` attribute) are checked.

    ## Why is this bad?
    Gradients add up over the k micro-batches, so the step uses k times the average gradient:
    silently the same as multiplying the learning rate by k, which often diverges.

    ## Known problems
    `reduction="sum"` with a learning rate tuned for it, or a loss scaled inside a helper
    function, looks the same; suppress it there.
    """

    CODE = "SC402"
    VALID = [
        Valid(
            """
def train(model, loader, criterion, opt, accum=4):
    for i, (x, y) in enumerate(loader):
        loss = criterion(model(x), y) / accum
        loss.backward()
        if (i + 1) % accum == 0:
            opt.step()
            opt.zero_grad()
""",
            "loss divided by the number of accumulation steps",
        ),
        Valid(
            """
import torch

def train(model, loader, criterion, opt, scaler, k):
    for i, (x, y) in enumerate(loader):
        with torch.autocast("cuda"):
            loss = criterion(model(x), y)
        scaler.scale(loss / k).backward()
        if (i + 1) % k == 0:
            scaler.step(opt)
            scaler.update()
            opt.zero_grad()
""",
            "AMP with the division inside scale()",
        ),
        Valid(
            """
def train(model, loader, criterion, opt):
    for i, (x, y) in enumerate(loader):
        opt.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        if i % 100 == 0:
            print(i, loss.item())
""",
            "a modulo that only logs",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch.nn as nn

criterion = nn.CrossEntropyLoss()

def train(model, loader, opt, accum_steps=8):
    for i, (x, y) in enumerate(loader):
        loss = criterion(model(x), y)
        loss.backward()  # SC402
        if (i + 1) % accum_steps == 0:
            opt.step()
            opt.zero_grad()
"""
        ),
        Invalid(
            """
import torch.nn.functional as F

def train(model, loader, opt, scaler):
    for step, (x, y) in enumerate(loader):
        loss = F.cross_entropy(model(x), y)
        scaler.scale(loss).backward()  # SC402
        if step % 4 == 3:
            scaler.step(opt)
            scaler.update()
            opt.zero_grad(set_to_none=True)
"""
        ),
        Invalid(
            """
def train(model, loader, optimizer, grad_accum):
    for i, batch in enumerate(loader):
        outputs = model(**batch)
        loss = outputs.loss
        loss.backward()  # SC402
        if (i + 1) % grad_accum == 0:
            optimizer.step()
            optimizer.zero_grad()
"""
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not (isinstance(func, cst.Attribute) and func.attr.value == "backward") or positional(node):
            return
        if (self.ctx.qualify(func) or "").startswith("torch."):
            return
        flow = flow_of(self.ctx)
        loops = flow.loops_around(node)
        if not loops:
            return
        loop = loops[0]
        gate = self._accumulation_gate(flow, loop, node)
        if gate is None:
            micro = self._micro_batch_loop(flow, loop)
            if micro is None:
                return
            when = f"after the `{_code(loop.iter) if isinstance(loop, cst.For) else 'inner'}` loop"  # type: ignore[attr-defined]
            k = micro
        else:
            if_node, k = gate
            when = f"only when `{_code(if_node.test)}`"
        target = func.value
        if self._scaled(flow, target, node, loop, 0) is not False:
            return
        k_code = _code(k)
        self.report(
            node,
            f"gradient accumulation over `{k_code}` steps without dividing the loss by `{k_code}`",
            notes=[
                f"step() runs {when}: gradients of {k_code} backward() calls add up, "
                f"so each step uses {k_code}x the mean gradient (as if the learning rate were {k_code}x larger).",
                f"Divide the loss: `loss = loss / {k_code}` before backward().",
            ],
        )

    def _micro_batch_loop(self, flow: Flow, loop: cst.CSTNode) -> cst.BaseExpression | None:
        """`for _ in range(k): ... loss.backward()` with no step/zero_grad inside, followed in
        the same block by an optimizer `step()`: k micro-batches per step."""
        if not isinstance(loop, cst.For) or not isinstance(loop.iter, cst.Call):
            return None
        it = loop.iter
        if not (isinstance(it.func, cst.Name) and it.func.value == "range") or len(it.args) not in (1, 2):
            return None
        k = it.args[-1].value
        if len(it.args) == 2 and literal_number(it.args[0].value) != 0:
            return None
        if literal_number(k) == 1:
            return None
        steps = flow.method_calls("step") + flow.method_calls("zero_grad")
        if any(_inside(flow, c, loop) for c in steps):
            return None
        block = flow.parents.get(loop)
        fn = flow.function_of(loop)
        bindings: Bindings = self.ctx.fact("bindings", Bindings.build)
        for call in flow.method_calls("step"):
            if flow.function_of(call) is not fn or flow.order.get(call, 0) <= flow.order.get(loop, 0):
                continue
            if flow.parents.get(flow.statement_of(call)) is None:
                continue
            outer = flow.loops_around(call)
            if outer[:1] != flow.loops_around(loop)[:1]:
                continue
            if not flow.is_ancestor(block, call) if block is not None else True:
                continue
            if self._is_optimizer_step(flow, bindings, call, outer[0] if outer else loop):
                return k
        return None

    def _accumulation_gate(self, flow: Flow, loop: cst.CSTNode, backward: cst.Call) -> tuple[cst.If, cst.BaseExpression] | None:
        """The `if ... % k ...:` of `loop` that holds the optimizer step, with k; None when the
        loop steps every iteration or clears gradients outside that `if`."""
        body = getattr(loop, "body", None)
        if body is None:
            return None
        calls: list[tuple[cst.Call, tuple[cst.If, cst.BaseExpression] | None]] = []
        for call in flow.method_calls("step") + flow.method_calls("zero_grad"):
            if not _inside(flow, call, loop) or flow.loops_around(call)[:1] != [loop]:
                continue
            gate = self._modulo_if(flow, call, loop) or self._continue_guard(flow, call, loop)
            if gate is None and method_of(call) == "zero_grad":
                return None  # cleared every iteration: not accumulation
            calls.append((call, gate))
        if not any(gate is not None for _, gate in calls):
            return None  # no `% k` gate: nothing to look up (roles cost a walk of the file)
        bindings: Bindings = self.ctx.fact("bindings", Bindings.build)
        found: tuple[cst.If, cst.BaseExpression] | None = None
        for call, gate in calls:
            if method_of(call) == "zero_grad" or not self._is_optimizer_step(flow, bindings, call, loop):
                continue
            if gate is None:
                return None  # an unconditional step
            if flow.is_ancestor(gate[0], backward):
                return None
            if not flow.is_ancestor(gate[0], call) and flow.order.get(backward, 0) > flow.order.get(gate[0], 0):
                return None  # `if i % k: continue` before the backward: backward is gated too
            found = gate
        return found

    def _is_optimizer_step(self, flow: Flow, bindings: Bindings, call: cst.Call, loop: cst.CSTNode) -> bool:
        """`opt.step()` or `scaler.step(opt)`: by role, else by use (an unknown receiver that is
        also zero_grad()'ed in the loop, or a one-argument `step(opt)` as GradScaler has)."""
        assert isinstance(call.func, cst.Attribute)
        role = bindings.role(call.func.value, call)
        if role in (Role.OPTIMIZER, Role.SCALER, Role.ENGINE):
            return True
        if role is not None:
            return False
        recv = dotted(call.func.value)
        if len(positional(call)) == 1:
            arg_role = bindings.role(positional(call)[0], call)
            return arg_role in (Role.OPTIMIZER, None)
        return recv is not None and any(
            flow.receiver_name(z) == recv and _inside(flow, z, loop) for z in flow.method_calls("zero_grad")
        )

    def _continue_guard(self, flow: Flow, node: cst.CSTNode, loop: cst.CSTNode) -> tuple[cst.If, cst.BaseExpression] | None:
        """`if (i + 1) % k != 0: continue` earlier in the loop body than `node`'s statement."""
        body = getattr(loop, "body", None)
        if not isinstance(body, cst.IndentedBlock):
            return None
        top = next((st for st in body.body if st is node or flow.is_ancestor(st, node)), None)
        if top is None:
            return None
        for st in body.body:
            if st is top:
                break
            if (
                isinstance(st, cst.If)
                and st.orelse is None
                and isinstance(st.body, (cst.IndentedBlock, cst.SimpleStatementSuite))
                and len(st.body.body) == 1
                and _is_continue(st.body.body[0])
            ):
                k = _modulus(st.test)
                if k is not None:
                    return st, k
        return None

    def _modulo_if(self, flow: Flow, node: cst.CSTNode, loop: cst.CSTNode) -> tuple[cst.If, cst.BaseExpression] | None:
        for anc in flow.ancestors(node):
            if anc is loop:
                return None
            if isinstance(anc, cst.If) and flow.in_body_of(node, anc):
                k = _modulus(anc.test)
                if k is not None:
                    return anc, k
        return None

    def _scaled(self, flow: Flow, expr: cst.BaseExpression, at: cst.CSTNode, loop: cst.CSTNode, depth: int) -> bool | None:
        """True: divided/multiplied somewhere; False: a known loss, unscaled; None: unknown."""
        if depth > 8:
            return None
        if isinstance(expr, cst.BinaryOperation):
            if isinstance(expr.operator, (cst.Divide, cst.Multiply, cst.FloorDivide)):
                return True
            return None
        if isinstance(expr, cst.Call):
            func = expr.func
            if isinstance(func, cst.Attribute) and func.attr.value == "scale" and len(expr.args) == 1:
                return self._scaled(flow, expr.args[0].value, at, loop, depth + 1)
            ops = value_ops(flow, expr, at)
            return False if ops and ops <= LOSS_OPS else None
        if isinstance(expr, cst.Attribute) and expr.attr.value == "loss" and not flow.is_self_attr(expr, at):
            return False  # `outputs.loss` of a model (HF style): the mean loss of the micro-batch
        if isinstance(expr, cst.Name):
            for aug in _aug_assigns(flow, expr.value, loop):
                if isinstance(aug.operator, (cst.DivideAssign, cst.MultiplyAssign)):
                    return True
            binds = flow.reaching(expr.value, at)
            if not binds or any(b.value is None for b in binds):
                return None
            results = [self._scaled(flow, b.value, b.value, loop, depth + 1) for b in binds if b.value is not None]
            if any(r is True for r in results):
                return True
            if all(r is False for r in results):
                return False
        return None


class NonleafGrad(LintRule):
    """## What it does
    Flags reading `h.grad` where every binding of `h` that reaches the read is the result of an
    operation on tensors that require grad (`h = w * 2`, `h = w.sum()`), so `h` is not a leaf,
    and `h.retain_grad()` is never called. Attribute chains (`model.fc.weight.grad`) are never
    flagged. `w = torch.randn(3, requires_grad=True) * 0.01` is the common case: the leaf is the
    unnamed randn, and the message teaches to scale first and then call `requires_grad_()`
    (`retain_grad()` would leave `w` a non-leaf that no optimizer accepts).

    ## Why is this bad?
    Autograd fills `.grad` only for leaf tensors (created by the user with `requires_grad=True`,
    or parameters). On an intermediate result `.grad` stays `None` (PyTorch warns "The .grad
    attribute of a Tensor that is not a leaf Tensor is being accessed"), so the code prints
    `None` or crashes on `None * lr`.
    """

    CODE = "SC403"
    VALID = [
        Valid(
            """
import torch

w = torch.randn(3, requires_grad=True)
h = w * 2
h.sum().backward()
print(w.grad)        # the leaf has its gradient
""",
            "reading the leaf's gradient",
        ),
        Valid(
            """
import torch

w = torch.randn(3, requires_grad=True)
h = w * 2
h.retain_grad()
h.sum().backward()
print(h.grad)
""",
            "retain_grad() before backward",
        ),
        Valid(
            """
def grad_norms(model):
    return [p.grad.norm() for p in model.parameters() if p.grad is not None]
""",
            "parameters are leaves",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch

w = torch.randn(3, requires_grad=True)
h = w * 2
h.sum().backward()
print(h.grad)  # SC403
"""
        ),
        Invalid(
            """
import torch

x = torch.linspace(0, 1, 5, requires_grad=True)
y = torch.sin(x)
z = y.pow(2).sum()
z.backward()
dy = y.grad  # SC403
"""
        ),
        Invalid(
            """
import torch

def demo():
    a = torch.ones(2, 2, requires_grad=True)
    b = a.mean()
    b.backward()
    return b.grad  # SC403
"""
        ),
    ]

    def visit_Attribute(self, node: cst.Attribute) -> None:
        if node.attr.value != "grad" or not isinstance(node.value, cst.Name):
            return
        flow = flow_of(self.ctx)
        parent = flow.parents.get(node)
        if isinstance(parent, (cst.AssignTarget, cst.Del)) or (
            isinstance(parent, (cst.AugAssign, cst.AnnAssign)) and parent.target is node
        ):
            return
        name = node.value.value
        binds = flow.reaching(name, node)
        if not binds or any(b.value is None for b in binds):
            return
        if not all(nonleaf_with_grad(flow, b.value, b.value) for b in binds if b.value is not None):
            return
        if any(flow.receiver_name(c) == name for c in flow.method_calls("retain_grad")):
            return
        leaf = next((c for b in binds if b.value is not None for c in [_inner_leaf(flow, b.value)] if c is not None), None)
        if leaf is not None:
            # `w = torch.randn(3, requires_grad=True) * 0.01`: the leaf is the unnamed randn;
            # `w` is its scaled copy. retain_grad() would only hide that the leaf is what trains.
            self.report(
                node,
                f"`{name}.grad` is read, but `{name}` is not a leaf: it is `{_code(leaf)}` scaled or moved "
                "after requires_grad was set, so its .grad stays None",
                notes=[
                    f"requires_grad=True made the unnamed `{_code(leaf.func)}(...)` the leaf; `{name}` is computed from it. "
                    "An optimizer given `" + name + "` would raise \"can't optimize a non-leaf Tensor\".",
                    f"Build the value first, then mark it: `{name} = ({_code(leaf.func)}(...) * scale).requires_grad_()`. "
                    f"Not `{name}.retain_grad()`: that reads a gradient but leaves `{name}` a non-leaf.",
                ],
            )
            return
        self.report(
            node,
            f"`{name}.grad` is read, but `{name}` is not a leaf tensor: its .grad stays None",
            notes=[
                f"`{name}` is computed from tensors that require grad; autograd fills .grad only for leaves "
                "(tensors created with requires_grad=True, parameters).",
                f"Call `{name}.retain_grad()` before backward(), or read the gradient of the leaf.",
            ],
        )


_INPLACE_OK = frozenset({"requires_grad_", "share_memory_", "retain_grad", "register_hook", "detach_"})


class InplaceOnLeaf(LintRule):
    """## What it does
    Flags an in-place change (`w += ...`, `w -= lr * w.grad`, `w[0] = ...`, `w.add_(...)`,
    `w.zero_()`) of a tensor bound to a factory called with `requires_grad=True` or to
    `nn.Parameter(...)` (also `self.w = nn.Parameter(...)`), outside `torch.no_grad()` /
    `torch.inference_mode()` (a `with` block or a decorator). A hand-written SGD step counts too:
    `p -= lr * p.grad` / `p.add_(p.grad, alpha=-lr)` (only a leaf that requires grad has a
    `.grad` to read), and in-place updates of `p` in `for p in model.parameters():`.

    ## Why is this bad?
    Autograd refuses it: "RuntimeError: a leaf Variable that requires grad is being used in an
    in-place operation." A hand-written SGD step must run under `torch.no_grad()` (or change
    `w.data`), which is what `torch.optim` optimizers do.

    ## Known problems
    Changes through `.data`, `.grad.zero_()` and `nn.init.*` are not in-place ops on the leaf
    as autograd sees them and are silent.
    """

    CODE = "SC404"
    VALID = [
        Valid(
            """
import torch

w = torch.zeros(10, requires_grad=True)
lr = 0.1
for _ in range(100):
    loss = (w - 1).pow(2).sum()
    loss.backward()
    with torch.no_grad():
        w -= lr * w.grad
    w.grad.zero_()
""",
            "manual SGD under no_grad",
        ),
        Valid(
            """
import torch
import torch.nn as nn

class Scale(nn.Module):
    def __init__(self):
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1))

    @torch.no_grad()
    def reset(self):
        self.alpha.fill_(1.0)
""",
            "under a no_grad decorator",
        ),
        Valid(
            """
import torch

w = torch.randn(4, requires_grad=True)
w.data.mul_(0.5)          # through .data: autograd does not see it
w.grad = None
""",
            "through .data",
        ),
    ]
    INVALID = [
        Invalid(
            """
import torch

w = torch.zeros(10, requires_grad=True)
for _ in range(100):
    loss = (w - 1).pow(2).sum()
    loss.backward()
    w -= 0.1 * w.grad  # SC404
"""
        ),
        Invalid(
            """
import torch
import torch.nn as nn

class Gate(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(8))

    def forward(self, x):
        self.weight.clamp_(-1, 1)  # SC404
        return x * self.weight
"""
        ),
        Invalid(
            """
import torch

b = torch.ones(3, requires_grad=True)
b[0] = 0.0  # SC404
"""
        ),
    ]

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self._check(node, node.target, f"`{_code(node.target)} {_code(node.operator).strip()} ...`")

    def visit_Assign(self, node: cst.Assign) -> None:
        for t in node.targets:
            if isinstance(t.target, cst.Subscript):
                self._check(node, t.target.value, f"`{_code(t.target)} = ...`")

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute):
            return
        m = func.attr.value
        if not m.endswith("_") or m.startswith("_") or m in _INPLACE_OK:
            return
        if (self.ctx.qualify(func) or "").startswith("torch."):
            return
        self._check(node, func.value, f"`.{m}()`")

    def _check(self, node: cst.CSTNode, target: cst.BaseExpression, what: str) -> None:
        if not isinstance(target, (cst.Name, cst.Attribute)):
            return
        if isinstance(target, cst.Attribute) and not isinstance(target.value, cst.Name):
            return
        flow = flow_of(self.ctx)
        binds = flow.bindings_of(target, node)
        if _steps_by_own_grad(node, target) or (binds and all(_parameter_loop_var(flow, b) for b in binds)):
            pass  # manual SGD: `p -= lr * p.grad`, `for p in model.parameters(): p.add_(...)`
        elif not binds or any(b.value is None for b in binds):
            return
        elif not all(leaf_requiring_grad(flow, b.value) for b in binds if b.value is not None):
            return
        if flow.under_no_grad(node):
            return
        name = _code(target)
        self.report(
            node,
            f"in-place {what} on `{name}`, a leaf tensor that requires grad",
            notes=[
                "Autograd raises \"a leaf Variable that requires grad is being used in an in-place operation\".",
                "Do the update under `with torch.no_grad():` (as optimizers do), or assign a new tensor.",
            ],
        )


_MODEL_NAME = re.compile(r"(?i)(model|net|module|encoder|decoder|backbone|layer|block|classifier|generator|discriminator|critic|policy)s?$")


def _model_parameter(flow: Flow, recv: cst.BaseExpression, at: cst.CSTNode) -> bool:
    """`def evaluate(model, x): model.forward(x)`: an unannotated parameter named like a model."""
    if isinstance(recv, cst.Attribute) and flow.is_self_attr(recv, at) and _MODEL_NAME.search(recv.attr.value):
        binds = flow.attr_bindings(recv, at)  # `self.model = model` in __init__
        return bool(binds) and all(
            isinstance(b.value, cst.Name) and _model_parameter(flow, b.value, b.value) for b in binds or []
        )
    if not isinstance(recv, cst.Name) or not _MODEL_NAME.search(recv.value):
        return False
    binds = flow.reaching(recv.value, at)
    return bool(binds) and all(b.always and isinstance(b.stmt, cst.FunctionDef) for b in binds or [])


class ForwardCalledDirectly(LintRule):
    """## What it does
    Flags `model.forward(x)` where the receiver is an `nn.Module`: a `torch.nn` layer, an
    instance of a `Module` subclass (the class hierarchy is resolved in this file and through
    the project index), a submodule (`self.encoder.forward(x)`), or, when nothing says what it
    is, a name that reads like a model (`model`, `net`, `encoder`, ...).

    Silent on `self.forward`/`super().forward`, on class objects (`MyFunction.forward(ctx, x)`
    of an `autograd.Function`), on RPC proxies (`remote_module.forward(x)`: their API), and on
    objects known not to be Modules: functions of C++/CUDA extension modules
    (`ext_cuda.forward(x)`), plain classes with a `forward` attribute, transforms whose base is
    not a Module. Unknown receivers with other names are left alone.

    `layer.forward(x)` over the elements of a `ModuleList` (the TorchScript idiom) is a note.

    ## Why is this bad?
    `model(x)` runs `nn.Module.__call__`, which runs forward pre-hooks and hooks, backward hooks,
    and what DDP/FSDP, quantisation, pruning and `torch.compile` attach there. `model.forward(x)`
    skips all of that: with any hook registered the results differ silently.

    ## Fix safety
    `X.forward(args)` -> `X(args)` is safe only when `X` is known to be an `nn.Module` (so it is
    callable and its `__call__` runs this `forward`) and the file registers no hooks itself.
    Otherwise it is unsafe: an object that merely has a `forward` may not be callable at all,
    and with hooks registered the fix changes what runs.
    """

    CODE = "SC405"
    VALID = [
        Valid(
            """
def evaluate(model, x):
    return model(x)
""",
            "call the module",
        ),
        Valid(
            """
import torch.nn as nn

class Wrapper(nn.Linear):
    def forward(self, x):
        return super().forward(x) * 2
""",
            "super().forward in an override",
        ),
        Valid(
            """
class Scorer:
    def forward(self, x):
        return x + 1

scorer = Scorer()
y = scorer.forward(3)
""",
            "a plain class with a forward method",
        ),
    ]
    INVALID = [
        Invalid(
            """
def evaluate(model, loader):
    outs = []
    for x, _ in loader:
        outs.append(model.forward(x))  # SC405
    return outs
""",
            expected_fixed="""
def evaluate(model, loader):
    outs = []
    for x, _ in loader:
        outs.append(model(x))
    return outs
""",
        ),
        Invalid(
            """
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 4)

    def forward(self, x):
        return self.encoder.forward(x)  # SC405
""",
            expected_fixed="""
import torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Linear(4, 4)

    def forward(self, x):
        return self.encoder(x)
""",
        ),
        Invalid(
            """
import torch.nn as nn

model = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
handle = model.register_forward_hook(lambda m, i, o: print(o.shape))
y = model.forward(None)  # SC405
"""
        ),
    ]

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute) or func.attr.value != "forward":
            return
        recv = func.value
        if isinstance(recv, cst.Call):
            return  # `super().forward(x)`, `rref.remote().forward(x)` (RPC proxies)
        flow = flow_of(self.ctx)
        scope = flow.scope_of(node)
        if isinstance(recv, cst.Name):
            if recv.value in (scope.self_name, "self", "cls", "super"):
                return
            if recv.value in flow.classes or recv.value[:1].isupper() and flow.reaching(recv.value, node) is None:
                return  # a class object: `MyFn.forward(ctx, x)`
        recv_name = (dotted(recv) or "").lower()
        if "remote" in recv_name or "rref" in recv_name:
            return  # RPC proxies (`RemoteModule`, RRefs) expose forward() as their API
        q = self.ctx.qualify(recv) or ""
        if q.startswith("torch.") and q.rsplit(".", 1)[-1][:1].isupper():
            return  # `nn.Linear.forward(layer, x)`: an unbound method on purpose
        status = module_status(flow, recv, node)
        if status == NOT_MODULE:
            return  # an extension module's function, a plain class, a transform with a non-Module base
        if status is None and not _model_parameter(flow, recv, node):
            return  # unknown: silence (a parameter named like a model is the exception)
        message = f"Call `{_code(recv)}(...)`"
        hooks = "register_forward" in self.ctx.source or "register_full_backward" in self.ctx.source
        new = recv  # replace `model.forward` by `model`: the arguments keep their layout
        # Safe only when the receiver is known to be an nn.Module (so it is callable, and its
        # __call__ runs this forward) and the file registers no hooks of its own.
        if status == MODULE and not hooks:
            fix: Fix | None = Fix.safe(message, NodeEdit(func, new))
        else:
            fix = Fix.unsafe(message, NodeEdit(func, new))
        if not one_line(new):
            fix = None
        if status == ELEMENT:
            # `for layer in self.layers: x = layer.forward(x)`: the TorchScript idiom over a
            # ModuleList; a note, never a warning.
            self.report(
                node,
                f"`{_code(recv)}.forward(...)` on a ModuleList/Sequential element bypasses nn.Module.__call__",
                notes=["Hooks do not run for this call; `" + _code(recv) + "(...)` runs them (TorchScript accepts both)."],
                fix=fix,
                severity=Severity.INFO,
            )
            return
        self.report(
            node,
            f"`{_code(recv)}.forward(...)` bypasses nn.Module.__call__: call `{_code(recv)}(...)`",
            notes=["Hooks (forward/backward, DDP/FSDP, quantisation, pruning) run only through __call__."],
            fix=fix,
        )
