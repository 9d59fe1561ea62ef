"""Pictures and traces of backpropagation.

- ``draw_dot``: the graph of a computation, data and gradients (Graphviz);
- ``trace_backward``: backward one chain-rule step at a time, as text, changing no gradient
  (``store=True`` leaves them as ``backward`` would);
- ``backward_frames`` and ``backward_gif``: one picture per step of a trace;
- ``explore`` (the module, whose ``explore`` is ``autodiff.explore``): a self-contained page
  that steps through backward in a browser;
- ``python -m autodiff.viz "(a*b + c).tanh()" a=2 b=-3 c=6.5``: all of it for a small expression.
"""

from .draw import Drawing, GraphvizNotFound, draw_dot
from .frames import backward_frames, backward_gif
from .modules import CollapseError
from .nodes import GraphTooLarge
from .trace import GraphChangedSinceForward, Step, Trace, trace_backward

__all__ = [
    "draw_dot", "Drawing", "GraphvizNotFound", "GraphTooLarge", "CollapseError",
    "trace_backward", "Trace", "Step", "GraphChangedSinceForward", "backward_frames", "backward_gif",
]
