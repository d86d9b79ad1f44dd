"""Engine config: the embedded default, the TOML round trip, and one clear line per bad value.

Errors go through `tickpipe run --print-config` (click's CliRunner), so each
case also checks the CLI boundary: one line on stderr, exit code 1, no traceback.
"""

import math
import os
import tomllib

import pytest
from click.testing import CliRunner

from tickpipe.cli.main import tickpipe
from tickpipe.engine.config import (
    MAX_PRICE, MONEY_BOUND, SCHEMA, ConfigError, default_config, load_config, parse_core_list, to_toml,
)

ABSENT_CORE = max(os.sched_getaffinity(0)) + 1


def print_config(*args):
    return CliRunner().invoke(tickpipe, ["run", "--print-config", *args])


def assert_one_line_error(result, *fragments):
    assert result.exit_code == 1, result.output
    assert result.stdout == ""
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_load_config_when_nothing_is_given_then_it_is_the_embedded_default():
    config, default = load_config(), default_config()
    assert {section: config[section] for section in SCHEMA} == \
        {section: default[section] for section in SCHEMA}
    assert set(config) == set(SCHEMA) | {"strategies", "instruments", "tape", "journal_run"}
    assert config["tape"] is None  # the synthetic feed
    assert [s["name"] for s in config["strategies"]] == ["mean_reversion"]
    assert config["strategies"][0]["params"]["window"] == 64  # the plug-in's default
    assert [i["name"] for i in config["instruments"]] == [f"SYM{i}" for i in range(8)]


def test_to_toml_when_read_back_then_it_loads_to_the_same_config(tmp_path):
    config = load_config()
    text = to_toml(config)
    assert {section: tomllib.loads(text)[section] for section in SCHEMA} == \
        {section: config[section] for section in SCHEMA}
    path = tmp_path / "engine.toml"
    path.write_text(text)
    assert load_config(str(path)) == config


def test_to_toml_when_written_then_every_key_carries_its_help_as_a_comment():
    lines = iter(to_toml(default_config()).splitlines())
    for section, fields in SCHEMA.items():
        assert next(line for line in lines if line.startswith("[")) == f"[{section}]"
        for key, spec in fields.items():
            line = next(lines)
            assert line.startswith(f"{key} = ") and line.endswith(f"  # {spec.help}"), line


def test_print_config_when_options_are_given_then_it_prints_the_effective_config():
    result = print_config("--rate", "7", "--cores", "0", "--wait", "block", "--seconds", "2.5")
    assert result.exit_code == 0, result.output
    printed = tomllib.loads(result.stdout)
    assert printed["engine"]["rate"] == 7
    assert printed["engine"]["cores"] == [0]
    assert printed["engine"]["wait"] == "block"
    assert printed["engine"]["seconds"] == 2.5
    assert printed["risk"] == default_config()["risk"]


def test_print_config_when_a_config_file_is_given_then_options_override_it(tmp_path):
    path = tmp_path / "engine.toml"
    path.write_text('[engine]\nrate = 5\nseconds = 3\n[feed]\nsymbols = 2\n')
    result = print_config(str(path), "--rate", "9")
    assert result.exit_code == 0, result.output
    printed = tomllib.loads(result.stdout)
    assert (printed["engine"]["rate"], printed["engine"]["seconds"], printed["feed"]["symbols"]) \
        == (9, 3.0, 2)


@pytest.mark.parametrize("toml_text, fragments", [
    pytest.param("[fed]\nsymbols = 3\n", ["unknown config section [fed]"], id="unknown-section"),
    pytest.param("[engine]\nspeed = 3\n", ["unknown config key [engine] speed = 3"],
                 id="unknown-key"),
    pytest.param("engine = 3\n", ["config [engine] must be a table, got 3"], id="section-not-table"),
    pytest.param('[engine]\nseconds = "ten"\n', ["[engine] seconds = 'ten'", "expected float"],
                 id="wrong-type"),
    pytest.param("[feed]\nsymbols = true\n", ["[feed] symbols = True", "expected int"],
                 id="bool-for-int"),
    pytest.param("[engine]\nuse_hugetlbfs = 1\n", ["[engine] use_hugetlbfs = 1", "expected bool"],
                 id="int-for-bool"),
    pytest.param("[risk]\nmax_order_qty = -1\n", ["[risk] max_order_qty = -1", "must be >= 1"],
                 id="negative-limit"),
    pytest.param("[engine]\nring_capacity = 1000\n", ["[engine] ring_capacity = 1000",
                                                       "power of two"], id="capacity-not-power-of-2"),
    pytest.param("[engine]\nring_capacity = 33554432\n", ["ring_capacity = 33554432",
                                                           "power of two <= 16777216"],
                 id="capacity-too-large"),
    pytest.param("[engine]\nring_capacity = 2\n", ["[engine] ring_capacity = 2 is too small",
                                                    "MAX_ORDERS_PER_EVENT", "needs at least 4"],
                 id="capacity-below-a-callback"),
    pytest.param('[engine]\nwait = "sideways"\n', ["[engine] wait = 'sideways'", "must be one of"],
                 id="bad-wait-choice"),
    pytest.param('[engine]\nrestart = "twice"\n', ["[engine] restart = 'twice'"],
                 id="bad-restart-choice"),
    pytest.param('[risk]\ntrading_state = "PAUSED"\n', ["[risk] trading_state = 'PAUSED'",
                                                         "ACTIVE, REDUCING, HALTED"],
                 id="bad-trading-state"),
    pytest.param('[engine]\nname = "Bad Name"\n', ["[engine] name", "bad engine name 'Bad Name'"],
                 id="bad-engine-name"),
    pytest.param(f"[engine]\ncores = [{ABSENT_CORE}]\n",
                 [f"cores = [{ABSENT_CORE}]", f"core {ABSENT_CORE} does not exist"],
                 id="absent-core"),
    pytest.param('[engine]\ncores = ["0"]\n', ["core '0' is not a core number"],
                 id="core-not-a-number"),
    pytest.param("[engine\nseconds = 1\n", ["is not valid TOML", "line 1"], id="bad-toml-syntax"),
    pytest.param("[feed]\nsymbols = 100000000\n", ["[feed] symbols = 100000000",
                                                     "must be <= 65536"], id="symbols-past-uint16"),
    pytest.param("[strategy]\nwindow = 1000000000\n",
                 ["strategy 'mean_reversion': param window = 1000000000",
                  "must be from 2 to 1000"], id="huge-window"),
    pytest.param("[feed]\nsymbols = 65536\n[strategy]\nwindow = 1000\n",
                 ["strategy 'mean_reversion': its state is 8064 B x 65536 symbols",
                  "at most 134217728"], id="window-times-symbols"),
    pytest.param("[feed]\nstart_px = 9223372036854775807\n",
                 ["[feed] start_px = 9223372036854775807", "must be <= 100000000000"],
                 id="start-px-at-int64-max"),
    pytest.param("[feed]\ntick_size = 100000000000\nspread_ticks = 2\n",
                 ["[feed] spread_ticks = 2", "tick_size = 200000000000 must be <= 100000000000"],
                 id="half-spread-too-wide"),
    pytest.param("[feed]\nseed = 18446744073709551616\n", ["[feed] seed = 18446744073709551616",
                                                             "must be <= 4294967295"],
                 id="seed-past-uint64"),
    pytest.param("[risk]\nmax_notional = 99999999999999999999\n",
                 ["[risk] max_notional = 1e+20", "must be <= 10000000000000.0"],
                 id="notional-past-int64"),
    pytest.param("[risk]\nmax_orders_per_s = 1000000000\n",
                 ["[risk] max_orders_per_s = 1000000000", "must be <= 10000000"],
                 id="rate-limit-table-too-big"),
    pytest.param("[gateway]\nreject_every = 9223372036854775808\n",
                 ["[gateway] reject_every = 9223372036854775808", "must be <= 1000000000"],
                 id="reject-every-past-int64"),
])
def test_run_when_the_config_file_has_a_bad_value_then_one_line_names_field_and_value(
        tmp_path, toml_text, fragments):
    path = tmp_path / "bad.toml"
    path.write_text(toml_text)
    assert_one_line_error(print_config(str(path)), *fragments)


@pytest.mark.parametrize("args, fragments", [
    pytest.param(["--cores", str(ABSENT_CORE)],
                 [f"--cores '{ABSENT_CORE}'", f"core {ABSENT_CORE} does not exist", "usable: "],
                 id="absent-core"),
    pytest.param(["--cores", "a,b"], ["--cores 'a,b'", "expected a list like 0,1 or 0-3"],
                 id="bad-cores-text"),
    pytest.param(["--cores", "0-"], ["--cores '0-'"], id="open-range"),
    pytest.param(["--cores", "0,0,0,0,0,0,0,0"], ["--cores '0,0,0,0,0,0,0,0'",
                                                  "give 1 to 7 cores"], id="eight-cores"),
    pytest.param(["--rate", "-5"], ["--rate -5: must be >= 0"], id="negative-rate"),
    pytest.param(["--rate", "99999999999999999999"],
                 ["--rate 99999999999999999999: must be <= 100000000"],
                 id="rate-past-int64"),
    pytest.param(["--cores", "0-999999999999"],
                 ["--cores '0-999999999999'", "goes past CPU 8191"], id="huge-core-range"),
    pytest.param(["--seconds", "-1"], ["--seconds -1.0: must be >= 0"],
                 id="negative-seconds"),
    pytest.param(["--name", "Bad Name"], ["bad engine name 'Bad Name'"], id="bad-engine-name"),
    pytest.param(["no-such-config.toml"], ["config file 'no-such-config.toml' not found"],
                 id="missing-file"),
])
def test_run_when_an_option_has_a_bad_value_then_one_line_names_field_and_value(args, fragments):
    assert_one_line_error(print_config(*args), *fragments)


def test_run_when_the_config_file_is_not_utf8_then_one_line_says_it_is_not_valid_toml(tmp_path):
    path = tmp_path / "latin.toml"
    path.write_bytes(b"\xff\xfe[engine]\n")
    assert_one_line_error(print_config(str(path)), f"config file {str(path)!r} is not valid TOML",
                          "not UTF-8", "at byte 0")


def test_load_config_when_every_int_is_at_its_maximum_then_it_is_accepted():
    # The bounds are the largest legal values, not one past them.
    overrides = {section: {key: spec.maximum for key, spec in fields.items()
                           if spec.maximum is not None}
                 for section, fields in SCHEMA.items()}
    overrides["feed"].update(spread_ticks=1, symbols=16)
    overrides["risk"].update(max_position=MONEY_BOUND // MAX_PRICE)  # the money bound's own limit
    config = load_config(overrides=overrides)
    assert config["feed"]["start_px"] == overrides["feed"]["start_px"]


def test_load_config_when_a_position_limit_could_overflow_the_books_then_refused_with_the_figure():
    with pytest.raises(ConfigError) as raised:
        load_config(overrides={"risk": {"max_position": MONEY_BOUND // MAX_PRICE + 1}})
    assert str(raised.value) == (
        "config [risk] max_position = 23,058,431: a position that large at the highest price "
        "(100,000,000,000 price units) costs 2,305,843,100,000,000,000 price units x lots, past "
        "what exact int64 books hold (2,305,843,009,213,693,951); at most 23,058,430 lots")


def test_load_config_when_an_int_field_could_overflow_int64_then_it_has_a_maximum():
    # Ints land in int64s (params arrays, shm records): none may go unbounded. max_restarts
    # is the exception: only the supervisor's Python compares against it.
    unbounded = [f"[{section}] {key}" for section, fields in SCHEMA.items()
                 for key, spec in fields.items()
                 if spec.kind is int and spec.maximum is None and not spec.power_of_two]
    assert unbounded == ["[engine] max_restarts"]


def test_run_when_wait_option_is_not_a_choice_then_click_names_option_and_value():
    # --wait is a click.Choice: a usage error (click's exit code 2), still no traceback.
    result = print_config("--wait", "sideways")
    assert result.exit_code == 2
    assert "Invalid value for '--wait': 'sideways' is not one of" in result.stderr
    assert "Traceback" not in result.output


def test_parse_core_list_when_given_lists_and_ranges_then_it_expands_them():
    assert parse_core_list("0,1") == [0, 1]
    assert parse_core_list("0-3") == [0, 1, 2, 3]
    assert parse_core_list("5,1-2") == [5, 1, 2]


def test_parse_core_list_when_a_range_runs_backwards_then_it_is_refused():
    with pytest.raises(ConfigError, match="3-1"):
        parse_core_list("3-1")


def test_load_config_when_seconds_is_nan_then_it_is_refused():
    with pytest.raises(ConfigError, match="seconds"):
        load_config(overrides={"engine": {"seconds": math.nan}})


def test_run_help_when_asked_then_it_explains_every_option():
    result = CliRunner().invoke(tickpipe, ["run", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    assert "CONFIG_FILE" in text and "Run the engine" in text
    for option, words in [("--seconds", "Run time in seconds"), ("--rate", "Ticks per second"),
                          ("--cores", "Cores for feed, strategy, risk, gateway"),
                          ("--wait", "Wait strategy"), ("--name", "segment) name"),
                          ("--keep", "Keep the segment"), ("--lock-memory", "mlockall"),
                          ("--json", "as JSON"), ("--print-config", "Print the effective config")]:
        assert option in text and words in text, option


# ---- risk's limits per instrument -------------------------------------------------------

INSTRUMENTS = """
[risk]
max_position = 200
max_open_orders = 100
[[instrument]]
name = "A"
tick_size = 100
max_position = 50
max_open_orders = 4
[[instrument]]
name = "B"
tick_size = 100
"""


def test_symbol_limits_when_an_instrument_sets_its_own_then_it_overrides_risks(tmp_path):
    from tickpipe.engine.config import symbol_limits
    path = tmp_path / "limits.toml"
    path.write_text(INSTRUMENTS)
    config = load_config(os.fspath(path))
    assert list(symbol_limits(config, "max_position")) == [50, 200]
    assert list(symbol_limits(config, "max_open_orders")) == [4, 100]
    assert list(symbol_limits(config, "max_order_qty")) == [100, 100]  # [risk]'s default


@pytest.mark.parametrize("line", ["max_open_orders = -1", "max_position = 1.5",
                                  "max_order_qty = true"])
def test_load_config_when_an_instrument_limit_is_bad_then_one_line_naming_it(tmp_path, line):
    path = tmp_path / "bad.toml"
    path.write_text(f'[[instrument]]\nname = "A"\ntick_size = 100\n{line}\n')
    with pytest.raises(ConfigError) as err:
        load_config(os.fspath(path))
    key = line.split(" = ")[0]
    assert f"instrument 'A': {key} = " in str(err.value) and "\n" not in str(err.value)
