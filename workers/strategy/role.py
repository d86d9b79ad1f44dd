"""The strategy's declaration (engine/role.py): one worker per [[strategy]]."""

from tickpipe.engine.role import Role, RoleRing
from tickpipe.shm_layouts.strategy_table import MAX_STRATEGIES
from tickpipe.shm_layouts.worker_table import (
    STRATEGY_FILLS_READ, STRATEGY_ILLEGAL_TRANSITIONS, STRATEGY_INTENTS, STRATEGY_MD_READ,
    STRATEGY_RECORDS_SKIPPED, STRATEGY_REFUSED_BASE, STRATEGY_REFUSED_NAMES,
    STRATEGY_SIGNALS_SKIPPED,
)

ROLE = Role(
    name="strategy",
    role_id=2,
    rows=(1, 4, 5, 6)[:MAX_STRATEGIES],  # the first beside the pipeline's, then after them
    agent="tickpipe.workers.strategy.agent",
    summary="runs one [[strategy]] plug-in: its callbacks on every quote, report and timer, "
            "its requests to risk",
    counters={"md_read": STRATEGY_MD_READ, "intents": STRATEGY_INTENTS,
              "fills_read": STRATEGY_FILLS_READ, "signals_skipped": STRATEGY_SIGNALS_SKIPPED,
              "illegal_transitions": STRATEGY_ILLEGAL_TRANSITIONS,
              "records_skipped": STRATEGY_RECORDS_SKIPPED,
              **{f"refused_{name}": STRATEGY_REFUSED_BASE + code - 1
                 for code, name in STRATEGY_REFUSED_NAMES.items()}},
    instances=lambda config: len(config["strategies"]),
    runs_plugins=True,
    # strategy k's requests, to risk's input slot 1 + k (its slot 0: the reports)
    rings=(RoleRing("intents{n}", "strategy{n}", "risk", "order_intent", 1),),
    counts="tickpipe.workers.strategy.sections:counts",
    report="tickpipe.workers.strategy.sections:report_sections",
    inspect="tickpipe.workers.strategy.sections:inspect_sections",
    prepare="tickpipe.workers.strategy.sections:compile_strategies",
    warm="tickpipe.workers.strategy.sections:start_inlining",
)
