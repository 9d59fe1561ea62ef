"""``Primitive``: one operation, defined once for both engines and for every use of its derivative.

A primitive is written down as

- ``forward(xp, *inputs, **params)``: the result, computed with Python's
  operators and the functions of the namespace ``xp``;
- one rule per input, ``vjp(xp, g, out, *inputs, **params)``: given
  g = dL/d(out), the share of dL/d(input) that flows through this
  operation, g · d(out)/d(input) (a *vector-Jacobian product*), or None
  for an input that has no derivative (an index, a condition);
- what else the engines must know: which arrays the rules read, whether the
  result is a view of the first input, how forward mode pushes a tangent.

``params`` are the operation's settings (an axis, a shape, an exponent):
Python values fixed when the operation is applied, never arrays of numbers.
Every array an operation reads is one of its inputs, so the engines can
check it was not changed in place before backward reads it, and a compiled
program reads it anew at every call.

The same rule runs in four settings, which is why it is written with
operators, the methods numbers, arrays and nodes share, and ``xp``'s
functions (``exp``, ``log``, ``where``, ``power``, ``equal``, ...):

====================  ==========================  =================================
who calls it          ``xp``                      g, out and the inputs are
====================  ==========================  =================================
``Value.backward``    ``operators``               Python floats
``Tensor.backward``   ``numpy_ops``               numpy arrays
``create_graph``      ``functions`` (Tensors)     nodes, so the gradient is a graph
                      or ``value.VALUE_MATH``
traces, ``compile``   ``symbolic.ARRAYS``         expressions that write themselves
                      or ``symbolic.NUMBERS``
                                                  as Python source
====================  ==========================  =================================

A rule that returns a new array (``g * b``, not g itself nor a view of it)
may be declared ``fresh``: backward then adds the next share into it in
place. The default, not fresh, is always safe: backward copies instead.

A rule must not compare an input with ``==`` or ``!=`` (a ``Value``, like
micrograd's, compares by identity): write ``xp.equal(b, 0)``.
"""

import types

INPUTS = 1
OUTPUT = 2


class Primitive:
    """One operation: its forward pass, its rules, and its flags.

    - ``name``: what pictures and traces call it (``"*"``, ``"exp"``);
    - ``forward(xp, *inputs, **params)``: the result; with ``saves``, a
      tuple ``(result, *intermediates)`` whose intermediates the rules
      receive as keyword arguments of those names (a softmax kept for
      backward);
    - ``vjps``: one rule per input, ``vjp(xp, g, out, *inputs, **params)``
      (None for an input without a derivative); or ``vjp_each``, one rule
      for any number of inputs, called with ``position=k`` for input k;
      or ``vjp_all``, one rule returning the shares of every input at
      once (it gets ``needs=`` a tuple of which inputs need one);
    - ``jvp(xp, tangents, out, *inputs, **params)``: forward mode, the
      tangent of the result from the inputs' tangents (None for an input
      with none). Not needed when ``linear`` (the operation is linear in
      its inputs, so the tangent is the operation applied to the
      tangents) or ``elementwise`` (each output element depends on the
      input elements under it: the sum of the rules applied to the
      tangents);
    - ``reads``: ``INPUTS``, ``OUTPUT``, both (``INPUTS | OUTPUT``) or 0:
      which data the rules read, so that an in-place change to it since
      the forward pass makes backward refuse;
    - ``view``: the result may share memory with the first input
      (``reshape``): the two share their count of in-place changes;
    - ``fresh``: every rule returns a new array;
    - ``has_derivative(position)``: False for an input that is an index or
      a condition (by default, where ``vjps`` has None);
    - ``once_differentiable``: the rules are written in numpy alone: they
      give first derivatives, and ``create_graph`` through them refuses;
    - ``random``: the forward pass draws random numbers (dropout's mask):
      a compiled program runs it anew at every call;
    - ``display(params)``: the name shown, where it depends on the
      settings (``**2``).
    """

    def __init__(self, name, forward, vjps=None, *, vjp_each=None, vjp_all=None, jvp=None, linear=False,
                 elementwise=False, reads=INPUTS, view=False, fresh=False, saves=(), has_derivative=None,
                 once_differentiable=False, random=False, display=None, doc=None):
        if sum(rule is not None for rule in (vjps, vjp_each, vjp_all)) != 1:
            raise TypeError(f"primitive {name!r}: give exactly one of vjps, vjp_each and vjp_all")
        self.name = name
        self.forward = forward
        self.vjps = tuple(vjps) if vjps is not None else None
        self.vjp_each = vjp_each
        self.vjp_all = vjp_all
        self.jvp = jvp
        self.linear = linear
        self.elementwise = elementwise
        self.reads = reads
        self.view = view
        self.fresh = fresh
        self.saves = tuple(saves)
        self.once_differentiable = once_differentiable
        self.random = random
        if has_derivative is None and self.vjps is not None:
            has_derivative = [rule is not None for rule in self.vjps].__getitem__
        self.has_derivative = has_derivative or (lambda position: True)
        # no input has a derivative (a comparison, an index): the result never requires gradients
        self.differentiable = self.vjps is None or any(rule is not None for rule in self.vjps)
        self.display = display
        self.__doc__ = doc if doc is not None else forward.__doc__

    def __repr__(self):
        return f"Primitive({self.name!r})"

    def __get__(self, instance, owner=None):
        """A primitive stored in a class is a method of its instances: with ``sinh = SINH`` in ``Value``'s
        body (or ``Value.sinh = SINH``), ``x.sinh()`` is ``SINH(x)``."""
        return self if instance is None else types.MethodType(self, instance)

    def __call__(self, *inputs, **params):
        """Apply the operation to ``inputs`` (Values, or Tensors and numbers) with the settings ``params``."""
        engine = next((type(x) for x in inputs if hasattr(type(x), "apply_primitive")), None)
        if engine is None:
            raise TypeError(f"{self.name}: no input is a Value or a Tensor")
        return engine.apply_primitive(self, engine._coerce_all(inputs), params)

    def shown_name(self, params):
        """The name pictures and traces give a node of this operation with settings ``params``."""
        return self.name if self.display is None else self.display(params)

    def rule(self, position, count):
        """The rule for input ``position`` of ``count`` (a function of ``xp, g, out, *inputs, **params``), or None."""
        if self.vjps is not None:
            return self.vjps[position]
        if self.vjp_each is not None:
            each = self.vjp_each
            return lambda xp, g, out, *inputs, **params: each(xp, g, out, *inputs, position=position, **params)
        share = self.vjp_all
        return lambda xp, g, out, *inputs, **params: share(
            xp, g, out, *inputs, needs=tuple(i == position for i in range(count)), **params
        )[position]

    def shares(self, xp, g, out, inputs, params, needs):
        """g · d(out)/d(input) for each input whose entry in ``needs`` is true (None for the others)."""
        if self.vjp_all is not None:
            return tuple(self.vjp_all(xp, g, out, *inputs, needs=tuple(needs), **params))
        if self.vjps is not None:
            return tuple(
                rule(xp, g, out, *inputs, **params) if need and rule is not None else None
                for rule, need in zip(self.vjps, needs)
            )
        each = self.vjp_each
        return tuple(
            each(xp, g, out, *inputs, position=k, **params) if need else None for k, need in enumerate(needs)
        )

    def tangent(self, xp, tangents, out, inputs, params, zeros_like):
        """The tangent of the result from the inputs' ``tangents`` (None where an input has none), or None.

        ``zeros_like(x)`` gives a zero tangent for input x, for a linear
        operation whose other inputs move.
        """
        if self.jvp is not None:
            return self.jvp(xp, tuple(tangents), out, *inputs, **params)
        if self.linear:
            if all(t is None for t in tangents):
                return None
            moved = [
                t if t is not None else zeros_like(x) if self.has_derivative(k) else x
                for k, (x, t) in enumerate(zip(inputs, tangents))
            ]
            result = self.forward(xp, *moved, **params)
            return result[0] if self.saves else result
        if self.elementwise:
            return self.sum_of_rules(xp, tangents, out, inputs, params)
        return NotImplemented

    def sum_of_rules(self, xp, tangents, out, inputs, params):
        """Σ over the inputs with a tangent of the rule applied to it: J·t where the Jacobian is its own transpose.

        That holds for an elementwise operation (a diagonal Jacobian) and for
        any operation on scalars (a 1x1 Jacobian per input).
        """
        total = None
        count = len(inputs)
        for position, t in enumerate(tangents):
            if t is None:
                continue
            rule = self.rule(position, count)
            if rule is None:
                continue
            part = rule(xp, t, out, *inputs, **params)
            total = part if total is None else total + part
        return total
