"""Every `tp.<name>` the README and docs/ name is in the strategy API a user imports."""

import os
import re

import pytest

import tickpipe as tp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = ["README.md"] + [os.path.join("docs", page) for page in sorted(os.listdir(
    os.path.join(ROOT, "docs"))) if page.endswith(".md")]


@pytest.mark.parametrize("page", PAGES)
def test_docs_when_they_name_a_tp_function_or_constant_then_tickpipe_has_it(page):
    with open(os.path.join(ROOT, page)) as f:
        names = set(re.findall(r"\btp\.([A-Za-z_][A-Za-z0-9_]*)", f.read()))
    # (a name ending in "_" is a family: tp.STATUS_*, tp.REASON_RISK_<NAME>)
    missing = sorted(name for name in names if not name.endswith("_") and not hasattr(tp, name))
    assert missing == [], f"{page} names tp.{', tp.'.join(missing)}"
