"""Pictures for the lessons: matplotlib figures drawn straight to files, loaded only when a lesson draws.

Figures are made without pyplot, so no window opens, no backend is
switched, and a lesson run inside a notebook leaves its plotting alone.
"""

# Small enough for the README's gallery, sharp enough to read the labels.
DPI = 80


def figure(width, height, rows=1, columns=1, **options):
    """A new figure of ``width`` x ``height`` inches and its axes (an array when there are several);
    ``options`` go to ``Figure.subplots`` (``gridspec_kw``, ``squeeze``, ...)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    return fig, fig.subplots(rows, columns, **options)


def save(fig, path):
    """Write ``fig`` to ``path`` as a PNG, trimmed to what is drawn; returns the path."""
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    return path
