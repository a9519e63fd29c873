"""A small real filesystem for tests of a full disk: a tmpfs mounted by the test (as root);
the test is skipped, saying why, where mounting is not permitted."""

import contextlib
import subprocess

import pytest


@contextlib.contextmanager
def mounted_tmpfs(folder, options):
    """Mount a tmpfs with `options` (e.g. "size=8m,nr_inodes=400") on `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
