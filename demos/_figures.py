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


def spread(ax, points, distance):
    """``points`` (n, 2, data coordinates of ``ax``) moved apart until no two are closer than ``distance``
    typographic points on the page, each as little as it takes; the moved points, as a new array.

    For markers that would hide each other: draw each marker at its moved
    place and join it to its true one. Coincident points are parted along
    a direction that depends on their order only, so a drawing is the same
    every time. ``ax``'s limits and size must be final: the distances are
    measured on the page.
    """
    import numpy as np

    to_points = 72 / ax.figure.dpi
    moved = ax.transData.transform(np.asarray(points, dtype=float)) * to_points
    for _ in range(1000):
        offsets = moved[:, None, :] - moved[None, :, :]
        apart = np.hypot(offsets[..., 0], offsets[..., 1])
        np.fill_diagonal(apart, np.inf)
        if apart.min() >= distance:
            break
        for i, j in zip(*np.nonzero(np.triu(apart < distance, k=1))):
            gap = apart[i, j]
            direction = offsets[i, j] / gap if gap > 1e-9 else np.array([np.cos(i + j), np.sin(i + j)])
            push = (distance - gap) / 2 + 1e-3
            moved[i] += direction * push
            moved[j] -= direction * push
    return ax.transData.inverted().transform(moved / to_points)
