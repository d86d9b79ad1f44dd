"""Names the engine tests share (kept apart from conftest.py, which another file owns)."""

from tickpipe.engine.engine_layout import PIPELINE  # noqa: F401
