"""Speed and memory benchmarks against peers measured in the same run: ``python -m benchmarks [name ...]``."""
