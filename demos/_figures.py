"""Pictures for the lessons: matplotlib without a display, loaded only when a lesson draws."""

# Small enough for the README's gallery, sharp enough to read the labels.
DPI = 80


def pyplot():
    """matplotlib.pyplot on the Agg backend (files only, no window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path):
    """Write ``fig`` to ``path`` as a PNG and free it; returns the path."""
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    pyplot().close(fig)
    return path
