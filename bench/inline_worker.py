"""`python -m tickpipe.bench.inline_worker ARGS`: a worker process exactly as
engine/worker_main.py runs it (same ARGS, same lifecycle), except that the strategy
role is played by the old inline loop (bench/strategy_inline.py), for `tickpipe bench
plugin` (bench/plugin_cost.py starts its engine's workers this way).

The product never selects bench code: engine/registry.py names the runner's strategy
(workers/strategy/agent.py), and only this entry point, in a process of its own, points the
role elsewhere. Like worker_main, it imports nothing heavy before the death signal is
set: the registry is a plain dict, and worker_main imports only the standard library.
"""

import sys

from tickpipe.engine import worker_main
from tickpipe.engine.registry import ROLE_MODULES

INLINE_STRATEGY = "tickpipe.bench.strategy_inline"


def main(argv=None) -> int:
    ROLE_MODULES["strategy"] = INLINE_STRATEGY  # the very dict worker_main resolves roles by
    return worker_main.main(argv)


if __name__ == "__main__":
    sys.exit(main())
