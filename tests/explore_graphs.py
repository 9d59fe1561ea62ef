"""Graphs the explore tests step through, built afresh each time, and the data a page carries."""

import json
import re

import numpy as np

import nn
from autodiff import Tensor
from demos._explore_picture import readme_neuron
from nn.datasets import make_moons


# The README's neuron, o = tanh(x1·w1 + x2·w2 + b), every node labelled as the README draws it:
# the one the README's picture of the page is made from.
neuron = readme_neuron


def tensor_mlp(seed=0):
    """A small Tensor MLP (3 -> 4 -> 1, tanh) and its mean squared error on 5 points: (loss, model)."""
    nn.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    rng = np.random.default_rng(seed)
    x = Tensor(rng.normal(size=(5, 3)), label="x")
    y = Tensor(rng.normal(size=(5, 1)), label="y")
    loss = ((model(x) - y) ** 2).mean()
    loss.label = "loss"
    return loss, model


def moons_mlp(hidden=(16, 16)):
    """micrograd's two-moons MLP (demos/moons.py: 2 -> 16 -> 16 -> 1, seed 1337) and its max-margin loss on one
    training point: (loss, model). With the default sizes the graph has about 410 nodes, too many to draw at once."""
    nn.manual_seed(1337)
    X, labels = make_moons(100, noise=0.1, seed=1)
    model = nn.MLP(2, [*hidden, 1])
    loss = nn.hinge_loss([model(X[0].tolist())], [int(2 * labels[0] - 1)])
    loss.label = "loss"
    return loss, model


def all_nodes(root):
    """Every node below ``root``, each once."""
    seen, stack, found = set(), [root], []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        found.append(node)
        stack.extend(node.children)
    return found


def page_data(page):
    """The JSON a page written by explore carries for its script."""
    payload = re.search(r'<script type="application/json" id="explore-data">(.*?)</script>', page, re.S).group(1)
    return json.loads(payload)
