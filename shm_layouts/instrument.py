"""Instruments: one row per symbol, written once by the supervisor before the workers
start, read by tools (names, currency) and workers (tick size).

offset | size | field      | unit                          | written by | read by | notes
-------+------+------------+-------------------------------+------------+---------+------------------
     0 |   16 | name       | ASCII, 0-padded               | supervisor | tools   | [[instrument]] name
    16 |    8 | currency   | ASCII, 0-padded               | supervisor | tools   | e.g. USD
    24 |    8 | tick_size  | price units                   | supervisor | feed    | > 0
    32 |    8 | lot_size   | units per lot                 | supervisor | tools   | > 0
    40 |    8 | multiplier | currency per price unit x unit| supervisor | tools   | float64, > 0
    48 |   16 | _reserved  |                               |            |         | zero

Money in currency from a quantity in lots at a price in price units:
lots x lot_size x multiplier x price / PRICE_SCALE (instrument_value below).
"""

import numpy as np

from tickpipe.shm_layouts.layout_rules import assert_layout
from tickpipe.shm_layouts.market_data import PRICE_SCALE

MAX_NAME_BYTES = 16
MAX_CURRENCY_BYTES = 8

INSTRUMENT_DTYPE = np.dtype(
    [("name", f"S{MAX_NAME_BYTES}"), ("currency", f"S{MAX_CURRENCY_BYTES}"),
     ("tick_size", np.int64), ("lot_size", np.int64), ("multiplier", np.float64),
     ("_reserved", np.uint8, (16,))],
    align=True,
)
INSTRUMENT_OFFSETS = {"name": 0, "currency": 16, "tick_size": 24, "lot_size": 32,
                      "multiplier": 40, "_reserved": 48}
INSTRUMENT_ROW_SIZE = 64
assert_layout(INSTRUMENT_DTYPE, INSTRUMENT_OFFSETS, INSTRUMENT_ROW_SIZE)


def instrument_value(row, lots_times_price: float) -> float:
    """Currency amount of (lots x price units) of the instrument in `row`."""
    return lots_times_price * int(row["lot_size"]) * float(row["multiplier"]) / PRICE_SCALE


def check_instrument(row) -> None:
    """Raise ValueError naming the bad value if a row is malformed."""
    if int(row["tick_size"]) <= 0:
        raise ValueError(f"instrument {row['name']!r}: tick_size {int(row['tick_size'])} <= 0")
    if int(row["lot_size"]) <= 0:
        raise ValueError(f"instrument {row['name']!r}: lot_size {int(row['lot_size'])} <= 0")
    if not float(row["multiplier"]) > 0:
        raise ValueError(f"instrument {row['name']!r}: multiplier {float(row['multiplier'])} <= 0")
