"""One config field: its type, default, one-line help and bounds (engine/config.py's SCHEMA,
and a declared role's own section: engine/role.py). numba-free, import-light."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Field:
    kind: type          # int, float, str, bool or list
    default: object
    help: str
    minimum: float | None = None
    maximum: int | None = None
    choices: tuple | None = None
    power_of_two: bool = False
    path: str = ""      # "file": a path, relative to the config file that sets it;
                        # "reference": the file of a "file.py:Name" is (engine/config.py)
