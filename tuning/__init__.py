"""OS tuning for a low-latency tickpipe host: check, apply and revert, run as root.

Entry points: `tuning.cli:tune` (mounted as `tickpipe tune`) and `python -m tickpipe.tuning`.
Each item lives in items_*.py as a probe returning a Finding; apply.py saves the
originals to the state file (state.py) before writing; revert.py restores them.
"""
