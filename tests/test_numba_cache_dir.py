"""numba's cache lives in a directory of the exact source tree, so no stale inlined code."""

import ast
import os
import pathlib
import re
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


def test_cache_dir_when_only_bench_or_tests_change_then_it_is_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    src = tree(tmp_path)
    for folder, name in (("shm_layouts", "fill.py"), ("bench", "ring_loops.py"),
                         ("tests", "test_ring.py")):
        (src / folder).mkdir()
        (src / folder / name).write_text("C = 3\n")
    before = tickpipe._numba_cache_dir(str(src))
    (src / "bench" / "ring_loops.py").write_text("C = 33\n")
    (src / "bench" / "new_bench.py").write_text("D = 4\n")
    (src / "tests" / "test_ring.py").write_text("C = 333\n")
    assert tickpipe._numba_cache_dir(str(src)) == before
    (src / "shm_layouts" / "fill.py").write_text("C = 3333\n")
    assert tickpipe._numba_cache_dir(str(src)) != before


# Decorators that compile with numba, by the name they are used under.
JIT_DECORATORS = {"njit", "jit", "hot_loop", "vectorize", "guvectorize", "cfunc", "overload",
                  "intrinsic", "generated_jit"}


def _decorator_name(node):
    node = node.func if isinstance(node, ast.Call) else node
    return node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)


def _names_jitted_code_takes_from_bench_or_tests(path, local_modules):
    """Names that a jitted function of `path`, or its decorator, takes from a bench or
    test module (by a module-level import: the only globals jitted code can see)."""
    tree = ast.parse(path.read_text())
    local = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                full = f"{module}.{alias.name}" if module in ("tickpipe", "tickpipe.bench") \
                    else module
                if full == "tickpipe.bench" or full.startswith(("tickpipe.bench.", ".")) \
                        or full.split(".")[0] in local_modules:
                    local.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tickpipe.bench") \
                        or alias.name.split(".")[0] in local_modules:
                    local.add(alias.asname or alias.name.split(".")[0])
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.FunctionDef):
            continue
        decorators = {_decorator_name(d) for d in node.decorator_list}
        if decorators & JIT_DECORATORS:
            found |= decorators & local
            found |= {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} & local
    return sorted(found)


def test_jitted_code_in_bench_or_tests_when_cached_then_it_takes_nothing_from_another_such_file():
    """bench/ and tests/ are not in the cache key: numba checks only a cached function's
    own file, so jitted code there takes its callees (and its decorator: the flags it
    compiles with are not in numba's index either) from its own file or from
    engine/workers/shm_layouts, which are in the key."""
    root = pathlib.Path(tickpipe.__file__).parent
    local_modules = {p.stem for p in (root / "tests").rglob("*.py")} | {"tests", "strategies"}
    offenders = {}
    for folder in ("bench", "tests"):
        for path in sorted((root / folder).rglob("*.py")):
            names = _names_jitted_code_takes_from_bench_or_tests(path, local_modules)
            if names:
                offenders[str(path.relative_to(root))] = names
    assert not offenders, offenders


def test_the_jitted_code_check_when_a_loop_calls_another_bench_file_then_it_names_it(tmp_path):
    module = tmp_path / "loops.py"
    module.write_text("from numba import njit\n"
                      "from tickpipe.bench.hot import hot_loop\n"
                      "from tickpipe.bench import other\n"
                      "from tickpipe.engine.ring import producer_claim\n\n"
                      "@hot_loop\ndef a(h):\n    return producer_claim(h, 1)\n\n"
                      "@njit(cache=True)\ndef b(h):\n    return other.step(h)\n")
    assert _names_jitted_code_takes_from_bench_or_tests(module, set()) == ["hot_loop", "other"]


def test_a_cold_cache_is_said_before_the_first_compile(tmp_path, monkeypatch):
    # tickpipe run says the first run will take a while (engine/supervisor.py) only when
    # numba's cache directory holds no compiled function yet.
    from tickpipe.engine.supervisor import _cache_is_cold
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path))
    assert _cache_is_cold()
    (tmp_path / "engine").mkdir()
    (tmp_path / "engine" / "ring.tp_ring_publish-12.py311.nbi").write_bytes(b"x")
    assert not _cache_is_cold()
