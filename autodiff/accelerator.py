"""``torch.accelerator``'s questions, answered for a CPU-only engine, so that device lines port unchanged.

>>> import autodiff
>>> device = autodiff.accelerator.current_accelerator() if autodiff.accelerator.is_available() else "cpu"
>>> device
'cpu'
"""


def is_available():
    """False: autodiff computes with numpy, on the CPU only."""
    return False


def current_accelerator():
    """None: there is no accelerator, only the CPU."""
    return None


def device_count():
    """0: there is no accelerator here."""
    return 0
