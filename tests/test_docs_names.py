"""The docs name what is there: every repository path in docs/*.md and README.md exists,
and every name a doc places in a Python file is defined (or imported) there.

What counts, read with regexes off the markdown, no import of the code:
- a path under one of the repository's folders (`engine/ring.py`, `workers/`,
  `tests/test_runner.py`, `docs/orders.md`), anywhere in the text;
- a markdown link to a file (`[x](runner.md)`, relative to the doc), and a bare `x.md`
  outside code blocks, which names a doc beside it (or at the root);
- a name a doc attributes to a .py file: `engine/batch.py `commit_outputs``, with the
  ones listed right after it (`engine/sizing.py `ring_needs`, `smallest_ring_capacity``,
  `engine/batch.py's `RUNNER_FIELDS``, `(engine/book.py, `repair_book`)`,
  `engine/registry.py: `ROLE_MODULES``), `` `commit_outputs` (engine/batch.py) ``, or
  both in one pair of backticks, `` `engine/batch.py has_room` ``.
Defined: a def or class at any depth, an assignment at module or class level, or an
import that binds it (Python's ast). A dotted name is checked part by part
(`Supervisor.monitor`), unless it starts lowercase: that is an attribute of an object
(`ctx.guard`, `tp.place`), not a name of the file.
"""

from __future__ import annotations

import ast
import functools
import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted(ROOT.glob("docs/*.md")) + [ROOT / "README.md"]

FOLDERS = ("engine", "workers", "bench", "tests", "shm_layouts", "cli", "tuning", "docs",
           "examples")
PATH = rf"(?<![\w./-])(?:{'|'.join(FOLDERS)})/(?:[\w./-]*[\w/])?"  # ends on a word or a slash
NAME = r"`([A-Za-z_][\w.]*)(?:\(\))?`"  # `name`, `Class.method`, `name()`
NAMES_AFTER_PATH = re.compile(
    rf"({PATH})(?:'s)?[,:]?\s+{NAME}((?:\s*(?:,|/|\band\b|\bor\b)\s*{NAME})*)")
PATH_AND_NAME = re.compile(rf"`({PATH}) ([A-Za-z_][\w.]*)(?:\(\))?`")  # `engine/batch.py has_room`
NAME_BEFORE_PATH = re.compile(rf"{NAME}\s*\(({PATH})\)")
LINK = re.compile(r"\]\(([^)\s]+)\)")
BARE_MD = re.compile(r"(?<![\w./-])([\w-]+\.md)\b")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)

# Paths a doc names on purpose though they are not in the repository (generated, or
# outside it), each with why; none today.
ALLOWED_MISSING: dict[str, str] = {}
# (file, name) pairs left alone for now, each with why (a file moving in #19:
# workers/strategy_inline.py and engine/hot_loop.py go to bench/, engine/runner_gen.py
# and engine/strategy_kernels.py are being rewritten; no doc names them drifted today).
ALLOWED_UNDEFINED: dict[tuple[str, str], str] = {}


def _attributable(name: str) -> bool:
    return "." not in name or not name[0].islower()


def _paths_and_names(doc: Path) -> tuple[set[str], set[tuple[str, str]]]:
    text = doc.read_text()
    paths = {m.group(0) for m in re.finditer(PATH, text)}
    for target in LINK.findall(text):
        target = target.split("#")[0]
        if target and "://" not in target and not target.startswith("mailto:"):
            path = os.path.relpath(os.path.normpath(doc.parent / target), ROOT)
            paths.add(Path(path).as_posix() + ("/" if target.endswith("/") else ""))
    for bare in BARE_MD.findall(FENCE.sub("", text)):
        beside = doc.parent / bare
        paths.add((beside if beside.exists() else ROOT / bare).relative_to(ROOT).as_posix())
    names = set()
    for m in NAMES_AFTER_PATH.finditer(text):
        path = m.group(1)
        if path.endswith(".py"):
            found = [m.group(2)] + re.findall(NAME, m.group(3))
            names.update((path, name) for name in found if _attributable(name))
    for path, name in PATH_AND_NAME.findall(text):
        if path.endswith(".py") and _attributable(name):
            names.add((path, name))
    for m in NAME_BEFORE_PATH.finditer(text):
        if m.group(2).endswith(".py") and _attributable(m.group(1)):
            names.add((m.group(2), m.group(1)))
    return paths, names


CASES = {doc: _paths_and_names(doc) for doc in DOCS}
PATH_CASES = sorted((doc.relative_to(ROOT).as_posix(), path)
                    for doc, (paths, _) in CASES.items() for path in paths)
NAME_CASES = sorted((doc.relative_to(ROOT).as_posix(), path, name)
                    for doc, (_, names) in CASES.items() for path, name in names)


@functools.cache
def defined_names(path: str) -> frozenset[str]:
    """Names a Python file defines or imports: defs and classes at any depth, assignment
    targets at module and class level, import bindings anywhere."""
    tree = ast.parse((ROOT / path).read_text(), filename=path)
    names = set()

    def targets(node):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                targets(element)

    def assignments(body):
        for node in body:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    targets(target)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets(node.target)
            elif isinstance(node, (ast.If, ast.Try)):  # module-level `try: import ...`
                assignments(node.body + node.orelse + getattr(node, "finalbody", [])
                            + [n for h in getattr(node, "handlers", []) for n in h.body])

    assignments(tree.body)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
            if isinstance(node, ast.ClassDef):
                assignments(node.body)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add((alias.asname or alias.name).split(".")[0])
    return frozenset(names)


def test_the_docs_name_paths_and_names_at_all():
    # the extraction finds what the docs are known to name (a regex gone wrong finds nothing)
    assert ("docs/runner.md", "engine/runner.py") in PATH_CASES
    assert ("docs/runner.md", "engine/batch.py", "wait_while_full") in NAME_CASES
    assert ("docs/runner.md", "engine/sizing.py", "smallest_ring_capacity") in NAME_CASES
    assert ("docs/runner.md", "engine/batch.py", "has_room") in NAME_CASES
    assert ("README.md", "docs/commit_protocol.md") in PATH_CASES


@pytest.mark.parametrize("doc, path", PATH_CASES, ids=[f"{d}:{p}" for d, p in PATH_CASES])
def test_a_path_a_doc_names_exists(doc, path):
    if path.rstrip("/") in ALLOWED_MISSING:
        pytest.skip(ALLOWED_MISSING[path.rstrip("/")])
    assert (ROOT / path).exists(), f"{doc} names {path}, which is not in the repository"


@pytest.mark.parametrize("doc, path, name", NAME_CASES,
                         ids=[f"{d}:{p}:{n}" for d, p, n in NAME_CASES])
def test_a_name_a_doc_puts_in_a_file_is_defined_there(doc, path, name):
    if (path, name) in ALLOWED_UNDEFINED:
        pytest.skip(ALLOWED_UNDEFINED[path, name])
    if path in ALLOWED_MISSING:
        pytest.skip(ALLOWED_MISSING[path])
    assert (ROOT / path).is_file(), f"{doc} puts `{name}` in {path}, which is not in the repository"
    missing = [part for part in name.split(".") if part not in defined_names(path)]
    assert not missing, f"{doc} puts `{name}` in {path}, which does not define {', '.join(missing)}"
