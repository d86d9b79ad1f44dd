"""A /dev/shm too small for the segment: one clear line, nothing left behind, no SIGBUS.

Runs in a private mount namespace (`unshare --mount`) with a 4 MiB tmpfs over
/dev/shm, seen by that child alone; the host's /dev/shm is never touched.
"""

import os
import subprocess
import sys

import pytest

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: mounts a tmpfs in a mount namespace"),
]

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# $0: the python to run; exit 97 when this host cannot give us the namespace or mount.
ON_SMALL_SHM = ('mount -t tmpfs -o size=4m tmpfs /dev/shm || exit 97; '
                '"$0" -m cli run --seconds 0.5 --name too-big; echo "rc=$?"; ls -A /dev/shm')


def test_run_when_dev_shm_has_no_room_for_the_segment_then_one_line_and_nothing_left():
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           ON_SMALL_SHM, sys.executable],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    if proc.returncode == 97:
        pytest.skip(f"cannot mount a tmpfs in a private namespace: {proc.stderr.strip()}")
    lines = proc.stdout.splitlines()
    assert "rc=1" in lines, proc.stdout + proc.stderr
    assert lines[-1] == "rc=1", f"left in /dev/shm: {lines[lines.index('rc=1') + 1:]}"
    errors = [line for line in proc.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "No space left on device" in errors[0], proc.stderr
    assert "Traceback" not in proc.stderr
