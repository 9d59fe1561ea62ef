"""The backward pass as a flip-book: one picture per step of a trace, and an animated GIF of them.

Frame k shows the graph with the gradients known after step k (the
others read "?", as in ``explore``), the node whose gradient is flowing
down (orange), the node receiving its share and the edge it travels along
(red, or purple where a node used twice adds up its shares), and the
step's chain-rule text above; the legend says what each mark means. Labels are padded to the same width in every frame and set in
a monospace font, so Graphviz lays every frame out alike and the graph
stands still while the gradients fill in.
"""

import io
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .draw import SOURCE_COLOUR, GraphPicture, Highlight, record_text
from .nodes import describe_grad
from .trace import NOT_COMPUTED, UNKNOWN, UNKNOWN_MEANS

__all__ = ["backward_frames", "backward_gif"]

STEP_COLOURS = {"seed": "#d62728", "chain": "#d62728", "accumulate": "#7b3294"}
PADDING = "\\ "  # an escaped space: Graphviz would drop plain trailing spaces in a record
CAPTION_PADDING = "\u00a0"  # a no-break space keeps the caption's width in an ordinary label


def frame_drawings(trace, format="svg", rankdir="LR", digits=4, max_nodes=300, dpi=None, max_pixels=None):
    """One ``Drawing`` per step of ``trace`` (from ``trace_backward``), in order.

    ``max_pixels`` scales a drawing down, if need be, to fit a square of that many pixels at ``dpi``.
    """
    picture = GraphPicture(trace.root, module=trace.module, max_nodes=max_nodes)
    states = _grad_states(trace, picture.order, digits)
    key = [("receives its share, along the arrow", "#ffffff", STEP_COLOURS["chain"]),
           ("passes its gradient down", "#ffffff", SOURCE_COLOUR)]
    if any(step.kind == "accumulate" for step in trace):
        key.append(("adds up its shares", "#ffffff", STEP_COLOURS["accumulate"]))
    key.append((f"grad {UNKNOWN}: {UNKNOWN_MEANS}", "#ffffff", "#ffffff"))
    widths = {key: max(len(state[key]) for state in states) for key in states[0]}
    captions = [f"step {k} of {len(trace)}: {step.text}" for k, step in enumerate(trace, 1)]
    caption_width = max(map(len, captions))
    for step, state, caption in zip(trace, states, captions):
        grad_texts = {key: _escape_padded(text, widths[key]) for key, text in state.items()}
        drawing = picture.drawing(
            format, rankdir, digits=digits, grad_texts=grad_texts,
            highlight=Highlight(step.node, step.target, step.position, STEP_COLOURS[step.kind]),
            caption=caption.ljust(caption_width, CAPTION_PADDING), key=key,
        )
        if dpi is not None:
            drawing.attr(dpi=str(dpi))
            if max_pixels is not None:
                inches = max_pixels / dpi
                drawing.attr(size=f"{inches:g},{inches:g}")
        yield drawing


def backward_frames(trace, directory, format="png", *, rankdir="LR", digits=4, max_nodes=300, dpi=None):
    """Write one picture per step of ``trace`` into ``directory`` (step_001.png, ...); returns their paths.

    >>> import tempfile
    >>> from autodiff import Value, trace_backward
    >>> x = Value(3.0, label="x")
    >>> trace = trace_backward(x * x)  # seed, then x's two shares
    >>> [path.name for path in backward_frames(trace, tempfile.mkdtemp(), format="svg")]
    ['step_1.svg', 'step_2.svg', 'step_3.svg', 'step_4.svg']
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    width = len(str(len(trace)))
    drawings = frame_drawings(trace, format, rankdir, digits, max_nodes, dpi)
    paths = []
    for k, picture in enumerate(_rendered(drawings, format), 1):
        path = directory / f"step_{k:0{width}d}.{format}"
        path.write_bytes(picture)
        paths.append(path)
    return paths


def backward_gif(trace, path, *, seconds_per_step=0.8, rankdir="LR", digits=4, max_nodes=300, dpi=72,
                 max_pixels=1600):
    """Write the steps of ``trace`` as an animated GIF at ``path`` (one frame per step); returns the path.

    A large graph is scaled down to fit ``max_pixels`` on its longer side.
    The last frame stays three times as long. Needs Pillow: ``pip install pillow``.

    >>> import tempfile, pathlib
    >>> from autodiff import Value, trace_backward
    >>> x = Value(3.0, label="x")
    >>> path = backward_gif(trace_backward(x * x), pathlib.Path(tempfile.mkdtemp()) / "backward.gif")
    >>> path.read_bytes()[:6]
    b'GIF89a'
    """
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError('backward_gif needs Pillow: pip install pillow') from error
    drawings = frame_drawings(trace, "png", rankdir, digits, max_nodes, dpi, max_pixels)
    frames = [Image.open(io.BytesIO(png)).convert("RGB") for png in _rendered(drawings, "png")]
    size = (max(f.width for f in frames), max(f.height for f in frames))
    palette_frames = []
    for frame in frames:
        if frame.size != size:
            canvas = Image.new("RGB", size, "white")
            canvas.paste(frame, (0, 0))
            frame = canvas
        # a fast palette per frame: Pillow's default (median cut) takes several times longer
        palette_frames.append(frame.quantize(colors=256, method=Image.Quantize.FASTOCTREE))
    milliseconds = round(1000 * seconds_per_step)
    durations = [milliseconds] * (len(frames) - 1) + [3 * milliseconds]
    path = Path(path)
    palette_frames[0].save(path, save_all=True, append_images=palette_frames[1:], duration=durations, loop=0)
    return path


def _rendered(drawings, format):
    """Each drawing rendered by ``dot``, in order; several ``dot`` processes run at once."""
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        yield from pool.map(lambda drawing: drawing.pipe(format=format), drawings)


def _grad_states(trace, order, digits):
    """For each step, node id to the text of its gradient once that step is done."""
    state = {}
    for node in order:
        before = trace.before(node)
        state[id(node)] = UNKNOWN if before is NOT_COMPUTED else describe_grad(before, digits)
    states = []
    for step in trace:
        state[id(step.target)] = describe_grad(step.grad_after, digits)
        states.append(dict(state))
    return states


def _escape_padded(text, width):
    return record_text(text) + PADDING * (width - len(text))
