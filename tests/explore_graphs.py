"""Graphs the explore tests step through, built afresh each time, and the data a page carries."""

import json
import re

import numpy as np

import nn
from autodiff import Tensor, Value


def neuron():
    """The README's neuron, o = tanh(x1·w1 + x2·w2 + b), every node labelled as the README draws it."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    n = x1 * w1 + x2 * w2 + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return o


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
