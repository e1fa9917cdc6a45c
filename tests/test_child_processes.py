"""A child that gospulse starts (dbt, for a build) dies with the process that started it.

The mechanism gospulse.transform.run.run_dbt hands to every dbt process, shown on a plain `sleep`
child: a parent killed with SIGKILL takes the child with it; without it the child lives on.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PARENT = """
import os, subprocess, sys, time
from gospulse.transform.run import dies_with
kwargs = {"preexec_fn": dies_with(os.getpid())} if sys.argv[1] == "tied" else {}
child = subprocess.Popen(["sleep", "300"], **kwargs)
print(child.pid, flush=True)
time.sleep(300)
"""


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its new parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def child_after_parent_killed(mode: str, wait: float) -> tuple[int, bool]:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, mode],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    child = int(parent.stdout.readline())
    assert alive(child)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait(10)
    deadline = time.monotonic() + wait
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    return child, alive(child)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_a_child_tied_to_its_parent_dies_when_the_parent_is_killed():
    _, survived = child_after_parent_killed("tied", wait=10)
    assert not survived


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux's")
def test_an_untied_child_outlives_its_killed_parent():
    # the control: the test above would pass for the wrong reason if this child died too
    child, survived = child_after_parent_killed("untied", wait=1)
    try:
        assert survived
    finally:
        if survived:
            os.kill(child, signal.SIGKILL)
