"""``autodiff.nn`` is the package ``nn``, as ``torch.nn`` is torch's.

``import autodiff.nn``, ``from autodiff.nn import functional`` and
``import autodiff.nn.functional as F`` give ``nn`` and its modules
themselves. ``nn`` is a package of its own, built on autodiff, so autodiff
cannot import it while autodiff itself loads; this module imports it when
it is first asked for, then enters ``nn`` and each of its modules in
``sys.modules`` under ``autodiff.nn`` and ``autodiff.nn.<module>`` as well,
in place of this module: the import system then hands out those same
module objects under either name, never a second copy of one.
"""

import sys

import nn


def _alias_nn_modules():
    for name, module in list(sys.modules.items()):
        if name == "nn" or name.startswith("nn."):
            sys.modules[f"autodiff.{name}"] = module


_alias_nn_modules()
