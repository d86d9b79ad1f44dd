"""docs/strategies.md documents every built-in strategy's params: each PARAMS key of each
module in workers/strategies/ has a row in that strategy's section, with its default and
a unit; and the README links the page."""

import importlib
import os
import pkgutil
import re

import pytest

import tickpipe.workers.strategies as builtins

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILTINS = sorted(info.name for info in pkgutil.iter_modules(builtins.__path__))


def read(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def section_rows(name: str) -> dict:
    """{param: (default, unit, meaning)} from the table under `## <name>`."""
    sections = re.split(r"^## ", read("docs/strategies.md"), flags=re.M)
    section = next((s for s in sections if s.split()[0] == name), None)
    assert section is not None, f"docs/strategies.md has no section ## {name}"
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| `(\w+)` \| ([^|]+) \| ([^|]*) \| ([^|]*) \|$", line)
        if match:
            key, default, unit, meaning = (cell.strip() for cell in match.groups())
            rows[key] = (default, unit, meaning)
    return rows


def test_there_should_be_the_four_built_in_strategies():
    assert BUILTINS == ["avellaneda_stoikov", "mean_reversion", "momentum", "watch"]


@pytest.mark.parametrize("name", BUILTINS)
def test_strategies_doc_should_have_every_param_with_its_default_and_unit(name):
    params = importlib.import_module(f"{builtins.__name__}.{name}").PARAMS
    rows = section_rows(name)
    assert sorted(rows) == sorted(params), f"{name}: documented {sorted(rows)}, PARAMS {sorted(params)}"
    for key, default in params.items():
        shown, unit, meaning = rows[key]
        assert type(default)(shown.replace(",", "")) == default, f"{name}.{key}: {shown} != {default}"
        assert unit and meaning, f"{name}.{key}: no unit or meaning"


def test_readme_should_link_the_strategies_doc():
    assert "(docs/strategies.md)" in read("README.md")
