"""Order state machine of the gateway, as an explicit (state, event) -> state table.

    PENDING_NEW --accept--> NEW --fill_all--> FILLED
        |                    |--fill_part--> PARTIALLY_FILLED --fill_all--> FILLED
        '--reject--> REJECTED|--cancel--> CANCELLED   (and PARTIALLY_FILLED --cancel--> CANCELLED)
"""

import numpy as np
from numba import njit

PENDING_NEW, NEW, PARTIALLY_FILLED, FILLED, CANCELLED, REJECTED = range(6)
STATE_NAMES = ("pending_new", "new", "partially_filled", "filled", "cancelled", "rejected")
EV_ACCEPT, EV_FILL_PART, EV_FILL_ALL, EV_CANCEL, EV_REJECT = range(5)
INVALID = -1

TRANSITIONS = np.full((len(STATE_NAMES), 5), INVALID, dtype=np.int8)
TRANSITIONS[PENDING_NEW, EV_ACCEPT] = NEW
TRANSITIONS[PENDING_NEW, EV_REJECT] = REJECTED
TRANSITIONS[NEW, EV_FILL_PART] = PARTIALLY_FILLED
TRANSITIONS[NEW, EV_FILL_ALL] = FILLED
TRANSITIONS[NEW, EV_CANCEL] = CANCELLED
TRANSITIONS[PARTIALLY_FILLED, EV_FILL_PART] = PARTIALLY_FILLED
TRANSITIONS[PARTIALLY_FILLED, EV_FILL_ALL] = FILLED
TRANSITIONS[PARTIALLY_FILLED, EV_CANCEL] = CANCELLED


@njit(cache=True)
def next_state(transitions, state, event):
    """The state after `event`, or INVALID (-1) when the table has no such move."""
    return transitions[state, event]
