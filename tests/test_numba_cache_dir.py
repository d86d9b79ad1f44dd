"""numba's cache lives in a directory of the exact source tree, so no stale inlined code."""

import os
import subprocess
import sys

import tickpipe


def tree(tmp_path):
    (tmp_path / "src" / "engine").mkdir(parents=True)
    (tmp_path / "src" / "engine" / "ring.py").write_text("A = 1\n")
    (tmp_path / "src" / "workers").mkdir()
    (tmp_path / "src" / "workers" / "risk.py").write_text("B = 2\n")
    return tmp_path / "src"


def test_cache_dir_when_the_sources_are_unchanged_then_it_is_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    src = tree(tmp_path)
    first = tickpipe._numba_cache_dir(str(src))
    assert first == tickpipe._numba_cache_dir(str(src))
    assert first.startswith(str(tmp_path / "cache" / "tickpipe" / "numba")) and os.path.isdir(first)


def test_cache_dir_when_a_file_a_loop_inlines_changes_then_it_is_a_new_one(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    src = tree(tmp_path)
    before = tickpipe._numba_cache_dir(str(src))
    ring = src / "engine" / "ring.py"
    ring.write_text("A = 22\n")  # another size, as an edit of the ring code would have
    assert tickpipe._numba_cache_dir(str(src)) != before


def test_import_when_numba_cache_dir_is_set_then_the_callers_choice_is_kept(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "mine"))
    script = "import tickpipe, os; print(os.environ['NUMBA_CACHE_DIR'])"
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == str(tmp_path / "mine")


def test_import_when_unset_then_workers_inherit_one_directory_of_this_tree():
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    script = "import tickpipe, os; print(os.environ['NUMBA_CACHE_DIR'])"
    runs = [subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                           timeout=60).stdout.strip() for _ in range(2)]
    assert runs[0] == runs[1] and "tickpipe/numba/" in runs[0]
