"""One ring of an engine's topology, by name: who writes it, who reads it, what it holds.

Its own module so that a role's declaration (engine/role.py) can name the rings it
adds without importing the engine's layout (which imports every declaration).
"""

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RingSpec:
    section: str
    producer: str     # worker names
    consumer: str
    dtype: np.dtype
    record_kind: int
    input_index: int  # the consumer's input slot (its row in the consumer's inputs array)
