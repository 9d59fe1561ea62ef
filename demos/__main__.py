"""List the lessons: ``python -m demos``."""

import importlib
import pkgutil

import demos


def lessons():
    """(name, first line of its docstring) for every lesson module in demos/."""
    found = []
    for info in pkgutil.iter_modules(demos.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"demos.{info.name}")
        found.append((info.name, (module.__doc__ or "").strip().splitlines()[0]))
    return found


if __name__ == "__main__":
    for name, summary in lessons():
        print(f"python -m demos.{name:<22} {summary}")
    print("\nEach takes --quick (a short run, as the tests do) and --out DIR (where its pictures go).")
