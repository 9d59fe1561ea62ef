"""List the lessons in the order the README teaches them: ``python -m demos``."""

import importlib
import pkgutil

import demos

# The README's order: from one neuron to networks of layers, then what makes training work, then your own operations.
TEACHING_ORDER = [
    "linear_regression", "network_by_hand", "feature_importance", "backprop", "moons", "tensors_by_hand",
    "backprop_as_code", "initialisation",
    "learning_rate", "second_order", "regularisation", "weight_sharing", "lstm_gates", "makemore", "gpt",
    "transfer_learning", "monitoring", "pytorch_port", "deployment", "your_own_op",
]


def lessons():
    """(name, first line of its docstring) for every lesson module in demos/, in teaching order.

    A lesson not yet placed in ``TEACHING_ORDER`` comes after the others, by name.
    """
    names = [info.name for info in pkgutil.iter_modules(demos.__path__) if not info.name.startswith("_")]
    place = {name: i for i, name in enumerate(TEACHING_ORDER)}
    found = []
    for name in sorted(names, key=lambda n: (place.get(n, len(place)), n)):
        module = importlib.import_module(f"demos.{name}")
        found.append((name, (module.__doc__ or "").strip().splitlines()[0]))
    return found


if __name__ == "__main__":
    for name, summary in lessons():
        print(f"python -m demos.{name:<22} {summary}")
    print("\nEach takes --quick (a short run, as the tests do) and --out DIR for its pictures"
          " (default: out/<lesson> under the current folder); --help says more.")
