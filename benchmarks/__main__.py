"""Run every benchmark (or those named): ``python -m benchmarks [--quick] [name ...]``."""

import argparse
import importlib
import os
import pkgutil

# One BLAS thread for every engine: timings on a shared machine stay comparable.
for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import benchmarks  # noqa: E402


def available():
    return [info.name for info in pkgutil.iter_modules(benchmarks.__path__) if not info.name.startswith("_")]


def blas_kernels():
    """Which BLAS numpy calls and the processor its kernels were chosen for, as threadpoolctl reports them."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "numpy's BLAS: unknown (pip install threadpoolctl to see it)"
    import numpy  # noqa: F401  (loads the BLAS that threadpool_info looks for)

    found = [f"{i['internal_api']} {i.get('version')} ({i.get('architecture')} kernels)"
             for i in threadpool_info() if i.get("user_api") == "blas"]
    forced = os.environ.get("OPENBLAS_CORETYPE")
    note = f"; OPENBLAS_CORETYPE={forced} chooses them" if forced else ""
    return f"numpy's BLAS: {', '.join(found) or 'none found'}{note}"


def main():
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("names", nargs="*", help=f"which to run (default: all of {', '.join(available())})")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions: a smoke test, not a measurement")
    args = parser.parse_args()
    print(blas_kernels())
    for name in args.names or available():
        if name not in available():
            parser.error(f"no benchmark named {name!r}; choose from {', '.join(available())}")
        print(f"\n=== {name} ===")
        importlib.import_module(f"benchmarks.{name}").run(quick=args.quick)


if __name__ == "__main__":
    main()
