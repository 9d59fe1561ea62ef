"""Freed arrays stay in the process once training starts: a step that allocates and frees megabytes faults no pages in again.

The setting is the whole process's, so importing autodiff leaves it alone;
the first ``Tensor.backward()`` applies it, unless AUTODIFF_KEEP_FREED_MEMORY=0.
"""

import os
import platform
import subprocess
import sys
import textwrap

import pytest

on_glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"

# Allocate, touch and free 12 MB of arrays of up to 1.6 MB, as a training step does, and count
# the page faults of the later repetitions (the first ones may fault the memory in once).
STEPS = textwrap.dedent("""
    import resource, sys
    import numpy as np
    if sys.argv[1] != "numpy alone":
        import autodiff
    if sys.argv[1] == "after a backward":
        autodiff.Tensor([1.0], requires_grad=True).sum().backward()
    def step():
        arrays = [np.ones((400, 512), dtype=np.float64) for _ in range(6)] + [np.ones(200_000) for _ in range(6)]
        return sum(float(a[-1].sum()) for a in arrays)
    for _ in range(3):
        step()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(20):
        step()
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20)
""")


def faults_per_step(mode, **environment):
    env = {name: value for name, value in os.environ.items() if name != "AUTODIFF_KEEP_FREED_MEMORY"}
    env.update(environment)
    result = subprocess.run([sys.executable, "-c", STEPS, mode], capture_output=True, text=True, check=True, env=env)
    return float(result.stdout)


@pytest.mark.skipif(not on_glibc, reason="the allocator settings exist on glibc only")
def test_the_first_backward_keeps_freed_memory_for_the_next_step():
    assert faults_per_step("numpy alone") > 1000  # 12 MB in 4 KiB pages handed back and faulted in again
    assert faults_per_step("after a backward") < 50


@pytest.mark.skipif(not on_glibc, reason="the allocator settings exist on glibc only")
def test_importing_autodiff_changes_no_allocator_setting():
    assert faults_per_step("import only") > 1000


@pytest.mark.skipif(not on_glibc, reason="the allocator settings exist on glibc only")
def test_the_environment_variable_turns_the_setting_off():
    assert faults_per_step("after a backward", AUTODIFF_KEEP_FREED_MEMORY="0") > 1000


def test_elsewhere_than_glibc_nothing_is_changed(monkeypatch):
    from autodiff import memory

    monkeypatch.setattr(memory.platform, "libc_ver", lambda: ("", ""))
    assert memory.keep_freed_memory() is False
