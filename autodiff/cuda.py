"""``torch.cuda``'s questions, answered for a CPU-only engine, so that device lines port unchanged.

>>> import autodiff
>>> device = "cuda" if autodiff.cuda.is_available() else "cpu"
>>> device
'cpu'
"""


def is_available():
    """False: autodiff computes with numpy, on the CPU only."""
    return False


def device_count():
    """0: there is no CUDA device here."""
    return 0
