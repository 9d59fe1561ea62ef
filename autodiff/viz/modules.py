"""Which nodes of a graph a module computed, found from where its parameters are used.

Nothing is recorded while the model runs: the graph alone tells. For a
module S with parameters P, a node belongs to S when

1. it uses one of P directly (a weighted sum, a matrix product), or
2. it is computed from P and is itself used on the way to a node of
   rule 1 (everything S computes between two uses of its parameters), or
3. it has a single input, and that input is a node of S (an activation
   after S's last weighted sum), unless it is the output of the whole graph.

Rule 3 cannot tell an activation that S applies from one applied right
after S by a module without parameters (``nn.ReLU`` in a ``Sequential``):
both are drawn inside S's box, whose label lists the operations it holds.
A module without parameters leaves no mark in the graph, so it gets no
box of its own; where one that follows S in their container is named
for an operation that rule 3 put in S's box (``1: ReLU`` for ``relu``),
the box is named for both (``0: Linear, 1: ReLU``).
"""

from collections import Counter

__all__ = ["CollapseError", "computed_by"]


class CollapseError(ValueError):
    """Modules cannot be drawn as separate boxes.

    >>> import nn
    >>> from autodiff import Value, draw_dot
    >>> try:
    ...     draw_dot(Value(1.0) * 2, collapse=nn.Sequential(nn.ReLU()))
    ... except CollapseError as error:
    ...     print(error)
    no module to collapse has parameters, and only parameters mark a module's nodes
    """


def boxes_to_draw(collapse, module=None):
    """(name, module) for each box: ``collapse``'s direct submodules, itself if it has none, or each of a list.

    Names come from ``collapse`` itself, or from ``module`` for a list
    (whose items may also be (name, module) pairs). Modules without
    parameters are left out (nothing in the graph marks their nodes); if
    that leaves none, ``CollapseError``.
    """
    if isinstance(collapse, (list, tuple)):
        names = {id(m): name for name, m in module.named_modules()} if module is not None else {}
        boxes = [item if isinstance(item, tuple) else (names.get(id(item)) or type(item).__name__, item)
                 for item in collapse]
    else:
        named = [(name, m) for name, m in collapse.named_modules() if name]
        direct = [
            (name, m) for name, m in named
            if not any(name.startswith(other + ".") for other, _ in named if other != name)
        ]
        boxes = direct or [(type(collapse).__name__, collapse)]
    boxes = [(name, m) for name, m in boxes if m.parameters()]
    if not boxes:
        raise CollapseError("no module to collapse has parameters, and only parameters mark a module's nodes")
    return boxes


def assign_nodes(order, root, boxes):
    """For the nodes ``order`` (children first), id of each node inside a box to that box's index.

    The parameters of each box's module count as inside it. Raises
    ``CollapseError`` when two boxes claim the same node (modules whose
    computations interleave).
    """
    in_graph = {id(node) for node in order}
    owner = {}
    for index, (name, module) in enumerate(boxes):
        parameters = {id(p) for p in module.parameters()} & in_graph
        for node_id in parameters | computed_by(order, root, parameters):
            if owner.setdefault(node_id, index) != index:
                other = boxes[owner[node_id]][0]
                raise CollapseError(
                    f"the computations of {other!r} and {name!r} interleave (or share parameters), so they "
                    f"cannot be drawn as separate boxes: collapse their parent instead (collapse=[model])"
                )
    return owner


def computed_by(order, root, parameters):
    """ids of the non-leaf nodes that rules 1-3 of the module docstring give to the module of ``parameters``."""
    inside, after = _by_rules(order, root, parameters)
    return inside | after


def _by_rules(order, root, parameters):
    """The ids rules 1 and 2 give to the module of ``parameters``, and those rule 3 adds after them."""
    uses, computed_from = set(), set()
    for node in order:
        for child in node.children:
            if id(child) in parameters:
                uses.add(id(node))
            if id(child) in parameters or id(child) in computed_from:
                computed_from.add(id(node))
    leads_to_use = set()
    for node in reversed(order):
        if id(node) in uses or id(node) in leads_to_use:
            leads_to_use.update(id(child) for child in node.children)
    inside = uses | (computed_from & leads_to_use)
    inside.discard(id(root))
    after = set()
    for node in order:
        if node is root or not node.children or id(node) in inside or id(node) in after:
            continue
        if len(node.children) == 1 and (id(node.children[0]) in inside or id(node.children[0]) in after):
            after.add(id(node))
    return inside, after


def box_title(name, module, order, root, family):
    """"0: Linear", or "0: Linear, 1: ReLU" where the box also holds the work of modules after it in ``family``.

    A module without parameters that follows ``name`` among its siblings
    in ``family`` (before the next one with parameters) is named when its
    class is named for an operation that rule 3 put in the box.
    """
    title = f"{name}: {getattr(module, 'box_kind', None) or type(module).__name__}"
    if family is None:
        return title
    in_graph = {id(node) for node in order}
    parameters = {id(p) for p in module.parameters()} & in_graph
    _, after = _by_rules(order, root, parameters)
    applied = {_squashed(node.op) for node in order if id(node) in after}
    for sibling_name, sibling in _followers(name, family):
        if _squashed(type(sibling).__name__) in applied:
            title += f", {sibling_name}: {type(sibling).__name__}"
    return title


def _followers(name, family):
    """The siblings of submodule ``name`` of ``family`` that come after it, up to the next with parameters."""
    parent, _, _ = name.rpartition(".")
    prefix = parent + "." if parent else ""
    siblings = [(n, m) for n, m in family.named_modules()
                if n.startswith(prefix) and n != parent and "." not in n[len(prefix):]]
    names = [n for n, _ in siblings]
    if name not in names:
        return []
    followers = []
    for sibling_name, sibling in siblings[names.index(name) + 1:]:
        if sibling.parameters():
            break
        followers.append((sibling_name, sibling))
    return followers


def _squashed(text):
    """"leakyrelu" from "LeakyReLU" and from "leaky_relu": a class and an operation named for the same thing meet."""
    return "".join(c for c in text.lower() if c.isalnum())


def box_contents(order, owner, index):
    """"w·x+b ×8, relu ×8": the operations inside box ``index``, most common first."""
    ops = Counter(node.op for node in order if node.children and owner.get(id(node)) == index)
    return ", ".join(f"{op} ×{count}" for op, count in ops.most_common())
