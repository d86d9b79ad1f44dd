"""Another local user puts something under an engine's name in /dev/shm (a symlink to a
root file, a plain file, a fifo, a copied segment): every tool says whose it is and where,
nothing ever follows the link, nothing changes without --force, and root takes the name
back with `tickpipe cleanup NAME --force`, which removes the directory entry alone.

The foreign entries are made by the real user nobody (a process that dropped to it), so
their owner is what the kernel says, not a value the test wrote.
"""

import hashlib
import json
import os
import subprocess

import pytest

from tickpipe.engine.cleanup import NOT_TICKPIPE, describe, name_taken_reason
from tickpipe.engine.segment import (
    SectionSpec, SegmentError, SegmentExists, SegmentLocation, attach_segment, create_segment,
    find_segment,
)
from test_inspect_support import (
    NOBODY, invoke, invoke_ok, make_engine_segment, one_line_error, run_cli, run_cli_as_nobody,
)


def _as_nobody():
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def as_nobody(*command: str) -> None:
    """Run a plain system command (ln, mkfifo, cp...) as the user nobody."""
    subprocess.run(command, preexec_fn=_as_nobody, check=True, timeout=30, capture_output=True)


class Canary:
    """A root-owned file a hostile link points at, as /etc/passwd would be."""

    def __init__(self, path):
        self.path = path
        path.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n" * 64)
        os.chmod(path, 0o644)
        self._before = self._state()

    def _state(self):
        st = os.stat(self.path)
        return (hashlib.sha256(self.path.read_bytes()).hexdigest(), st.st_mode, st.st_uid,
                st.st_size, st.st_mtime_ns)

    def unchanged(self) -> bool:
        """Not truncated, written, chmod'ed or chown'ed since it was made."""
        return self._state() == self._before


@pytest.fixture
def canary(tmp_path):
    return Canary(tmp_path / "canary")


@pytest.fixture
def nobody_symlink(segments, canary):
    """(name, path): nobody's symlink under an engine name, pointing at the canary."""
    name = segments.name()
    as_nobody("ln", "-s", str(canary.path), segments.path(name))
    return name, segments.path(name)


@pytest.fixture
def nobody_file(segments):
    name = segments.name()
    as_nobody("sh", "-c", f"echo 'not a segment' > {segments.path(name)}")
    return name, segments.path(name)


def test_run_when_another_user_symlinks_the_name_then_refusal_says_whose_and_where(nobody_symlink,
                                                                                   canary):
    name, path = nobody_symlink
    reason = name_taken_reason(describe(find_segment(name)))
    assert "\n" not in reason
    assert path in reason and "symlink" in reason and "user nobody (uid 65534)" in reason
    assert f"tickpipe cleanup {name} --force" in reason
    # Creating the segment (posix_ipc, O_CREAT|O_EXCL) refuses the link, naming its owner.
    with pytest.raises(SegmentExists, match=f"{path} \\(a symlink to .* owned by user nobody"):
        create_segment(name, [SectionSpec("data", 4096)], use_hugetlbfs=False)
    assert os.path.islink(path) and canary.unchanged()


def test_run_when_another_user_made_a_plain_file_then_refusal_keeps_the_old_wording(nobody_file):
    name, path = nobody_file
    reason = name_taken_reason(describe(find_segment(name)))
    assert "is not a tickpipe segment; remove it or pick another" in reason
    assert f"{path} (a file owned by user nobody (uid 65534))" in reason


def test_run_when_the_name_is_a_dead_engines_own_segment_then_it_may_be_reclaimed(segments):
    segment = make_engine_segment(segments)
    segment.header["owner_start_ticks"] += 1  # our pid, another process's start time: dead
    assert name_taken_reason(describe(find_segment(segment.name))) is None


def test_cleanup_when_another_user_holds_the_name_without_force_then_nothing_changes(
        nobody_symlink, nobody_file, canary):
    for name, path in (nobody_symlink, nobody_file):
        before = os.lstat(path)
        out = invoke_ok("cleanup", name)
        assert "left alone: not a tickpipe segment" in out and "user nobody" in out
        assert f"tickpipe cleanup {name} --force" in out
        after = os.lstat(path)
        assert (after.st_ino, after.st_mode, after.st_uid) == (before.st_ino, before.st_mode,
                                                               before.st_uid)
    assert canary.unchanged()


def test_cleanup_force_as_root_when_another_user_symlinks_the_name_then_only_the_link_goes(
        nobody_symlink, canary):
    name, path = nobody_symlink
    [row] = json.loads(invoke_ok("cleanup", name, "--force", "--json"))
    assert row["removed"] is True and row["file_type"] == "symlink" and row["file_user"] == "nobody"
    assert not os.path.lexists(path)
    assert canary.unchanged()
    # The name is free again: an engine can be made under it, through posix_ipc as always.
    segment = create_segment(name, [SectionSpec("data", 4096)], use_hugetlbfs=False)
    try:
        assert not os.path.islink(path) and os.stat(path).st_uid == 0
    finally:
        segment.close()


def test_cleanup_force_when_a_fifo_holds_the_name_then_nothing_hangs_and_it_goes(segments):
    name = segments.name()
    as_nobody("mkfifo", segments.path(name))
    # Subprocesses with a timeout: an open without O_NONBLOCK would block here for good.
    listed = run_cli("ls", "--json", timeout=60)
    assert listed.returncode == 0, listed.stderr
    row = next(row for row in json.loads(listed.stdout) if row["name"] == name)
    assert row["kind"] == NOT_TICKPIPE and row["file_type"] == "fifo" and row["file_user"] == "nobody"
    assert "a fifo owned by user nobody" in one_line_error(run_cli("inspect", name, timeout=60))
    done = run_cli("cleanup", name, "--force", timeout=60)
    assert done.returncode == 0 and "removed: a fifo owned by user nobody" in done.stdout
    assert not os.path.lexists(segments.path(name))


def test_cleanup_force_dry_run_when_another_user_holds_the_name_then_only_says_so(nobody_file):
    name, path = nobody_file
    out = invoke_ok("cleanup", name, "--force", "--dry-run")
    assert "would remove: a file owned by user nobody" in out
    assert os.path.exists(path)


def test_cleanup_force_when_the_engine_is_alive_then_it_is_spared_and_exit_1(segments):
    segment = make_engine_segment(segments)  # owned by this running test process
    result = invoke("cleanup", segment.name, "--force")
    assert result.exit_code == 1
    assert "left alone: engine" in result.output and "is running" in result.output
    assert f"Error: not taken back: {segment.name}" in result.output
    assert os.path.exists(segment.path)


def test_cleanup_force_as_another_user_when_root_owns_the_file_then_denied_and_kept(segments):
    name = segments.name()
    with open(segments.path(name), "wb") as f:
        f.write(b"root's junk")
    os.chmod(segments.path(name), 0o600)
    done = run_cli_as_nobody("cleanup", name, "--force")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "permission denied" in done.stdout and "user root" in done.stdout
    assert one_line_error(done) == f"Error: not taken back: {name}"
    assert os.path.exists(segments.path(name))


def test_cleanup_force_when_no_name_is_given_then_usage_error():
    result = invoke("cleanup", "--force")
    assert result.exit_code == 2 and "give the ENGINE names" in result.output


def test_copied_segment_when_another_users_file_claims_a_live_root_owner_then_not_an_engine(
        segments):
    """nobody's copy of a live engine's bytes names a running owner of uid 0: a real segment
    is its owner's file, so this one is a claim, and --force takes the name back."""
    live = make_engine_segment(segments)
    name = segments.name()
    copy = segments.path(name)
    with open(copy, "wb") as f:
        f.write(bytes(live.buf))
    os.chown(copy, NOBODY, NOBODY)
    info = describe(SegmentLocation(name, copy, 0))
    assert info.alive is True and info.file_uid == NOBODY and not info.is_live_engine
    reason = name_taken_reason(info)
    assert "is not that user's file" in reason and "user nobody" in reason
    assert invoke_ok("cleanup", name, "--force").count("removed:") == 1
    assert not os.path.lexists(copy) and os.path.exists(live.path)


def test_inspect_and_halt_when_the_name_is_a_symlink_then_one_line_refusal_never_followed(
        nobody_symlink, canary):
    name, path = nobody_symlink
    for command in ("inspect", "halt"):
        line = one_line_error(run_cli(command, name))
        assert f"{path} is not a tickpipe segment: it is a symlink" in line and "nobody" in line
    with pytest.raises(SegmentError, match="symlink"):
        attach_segment(name, readonly=False)
    assert canary.unchanged()


def test_ls_when_another_user_holds_the_name_then_the_note_names_the_user(nobody_symlink):
    name, _ = nobody_symlink
    line = next(line for line in invoke_ok("ls").splitlines() if line.startswith(name + " "))
    assert "not-tickpipe (symlink) of user nobody" in line
