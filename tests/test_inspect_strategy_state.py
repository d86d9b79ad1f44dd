"""`tickpipe inspect` and the run's report name symbols by instrument, give P&L in each
instrument's currency, and show each strategy's per-symbol state by field name, from
the segment alone (the strategy's code is never imported by the inspector).

Most tests build an engine segment in this process (section_specs + initialise, as
`tickpipe run` does, with no workers) from a config of three instruments and one
strategy of the test's own, write state rows and symbol stats directly, and read
them back through the CLI's JSON. One slow test runs the real engine with --keep.
"""

import json
import textwrap

import numpy as np
import pytest

from tickpipe.engine.config import load_config
from tickpipe.engine.engine_layout import PIPELINE, initialise, section_specs, strategy_state
from tickpipe.engine.placement import place_workers
from tickpipe.engine.plugin import load_plugin
from tickpipe.engine.report import final_report, format_report
from tickpipe.shm_layouts.strategy_table import STRATEGY_ROW_DTYPE
from tickpipe.shm_layouts.symbol_stats import SYMBOL_STATS_DTYPE
from engine_runs import EngineProcess, unique_name
from test_inspect_support import invoke_ok, make_engine_segment

PROBE_STRATEGY = '''
import numpy as np

PARAMS = {"window": 4, "scale": 1.5, "armed": True}
TIMER_MS = 250


def STATE(params):
    return np.dtype([("count", np.int64), ("last_px", np.float64),
                     ("hist", np.int32, (params["window"],)), ("grid", np.float32, (2, 3)),
                     ("flag", np.bool_)])


def on_timer(ctx, state, params, symbol):
    pass
'''

CONFIG = '''
[[instrument]]
name = "ESZ6"
tick_size = 2500
lot_size = 2
multiplier = 50.0
currency = "EUR"

[[instrument]]
name = "CLZ6"
tick_size = 100
lot_size = 1
multiplier = 1000.0
currency = "USD"

[[instrument]]
name = "NQZ6"
tick_size = 2500
lot_size = 1
multiplier = 20.0
currency = "USD"

[[strategy]]
name = "probe"
path = "probe_strategy.py"
params = { window = 4, scale = 2.5 }
symbols = ["ESZ6", "NQZ6"]
'''

# realised_pnl (price units x lots) -> currency: x lot_size x multiplier / 10_000
PNL = {"ESZ6": (12_345, 123.45, "EUR"), "CLZ6": (250, 25.0, "USD"),
       "NQZ6": (-5_000, -10.0, "USD")}


@pytest.fixture
def probe_config(tmp_path):
    (tmp_path / "probe_strategy.py").write_text(PROBE_STRATEGY)
    path = tmp_path / "engine.toml"
    path.write_text(textwrap.dedent(CONFIG))
    return load_config(str(path))


@pytest.fixture
def probe(segments, probe_config):
    """(segment, its state rows as the writer's dtype): an engine segment of the probe config."""
    segment = segments.create(section_specs(probe_config), ready=False)
    initialise(segment, probe_config, place_workers(PIPELINE, None, "block"))
    segment.mark_ready()
    dtype = load_plugin(probe_config["strategies"][0]).state_dtype
    return segment, strategy_state(segment, 0, dtype)


def write_probe_state(segment, state):
    """Known values in the traded symbols' state rows (ESZ6 = 0, NQZ6 = 2) and P&L."""
    state[0]["count"] = 7
    state[0]["last_px"] = 101.25
    state[0]["hist"] = [1, 2, 3, 4]
    state[0]["grid"] = [[0.5, 1.5, 2.5], [3.5, 4.5, 5.5]]
    state[0]["flag"] = True
    state[2]["count"] = -3
    state[2]["last_px"] = 99.0
    state[2]["hist"] = [40, 30, 20, 10]
    state[1]["count"] = 999  # CLZ6: a row of a symbol the strategy does not trade
    stats = segment.view("symbols", SYMBOL_STATS_DTYPE)
    for symbol_id, (pnl, _, _) in enumerate(PNL.values()):
        stats[symbol_id]["realised_pnl"] = pnl
        stats[symbol_id]["position"] = 10 * (symbol_id + 1)


def set_meta(segment, index: int, change) -> None:
    """Rewrite strategy `index`'s meta JSON in the table as change(meta) returns it."""
    row = segment.view("strategies", STRATEGY_ROW_DTYPE)[index]
    meta = json.loads(bytes(row["meta"])[:int(row["meta_len"])])
    raw = json.dumps(change(meta)).encode()
    row["meta"] = raw
    row["meta_len"] = len(raw)


def with_element_types(state_dtype):
    """Array fields described by their element type ("<i4" with shape [4])."""
    def change(meta):
        meta["fields"] = [[name, state_dtype.fields[name][0].base.str, shape, offset]
                          for name, _, shape, offset in meta["fields"]]
        return meta
    return change


def with_whole_field_types(state_dtype):
    """Array fields described by the whole field's type ("|V16" with shape [4])."""
    def change(meta):
        meta["fields"] = [[name, state_dtype.fields[name][0].str, shape, offset]
                          for name, _, shape, offset in meta["fields"]]
        return meta
    return change


def inspect_json(name: str) -> dict:
    return json.loads(invoke_ok("inspect", name, "--json", "--sample", "0"))


def test_positions_when_instruments_are_named_then_keyed_by_name_with_id_and_pnl_in_currency(
        probe):
    segment, state = probe
    write_probe_state(segment, state)
    risk = inspect_json(segment.name)["risk"]
    assert list(risk["positions"]) == list(PNL)
    for symbol_id, (name, (pnl, money, currency)) in enumerate(PNL.items()):
        row = risk["positions"][name]
        assert row["symbol_id"] == symbol_id
        assert row["position"] == 10 * (symbol_id + 1)
        assert row["realised_pnl"] == pnl
        assert row["currency"] == currency
        assert row["realised_pnl_ccy"] == pytest.approx(money)
    assert risk["realised_pnl"] == sum(pnl for pnl, _, _ in PNL.values())
    assert risk["realised_pnl_ccy"] == pytest.approx({"EUR": 123.45, "USD": 15.0})


def test_strategy_when_described_in_the_segment_then_name_source_params_symbols_timer(probe):
    segment, _ = probe
    strategies = inspect_json(segment.name)["strategies"]
    assert list(strategies) == ["probe"]
    probe_ = strategies["probe"]
    assert probe_["name"] == "probe" and probe_["index"] == 0
    assert probe_["source"].endswith("probe_strategy.py")
    assert probe_["params"] == {"window": 4, "scale": 2.5, "armed": True}
    assert probe_["symbols"] == ["ESZ6", "NQZ6"]
    assert probe_["timer_ms"] == 250
    assert probe_["row_size"] == 64
    assert [f["name"] for f in probe_["fields"]] == ["count", "last_px", "hist", "grid", "flag"]
    assert "error" not in probe_


def test_state_when_meta_gives_element_types_then_every_field_by_name_arrays_in_full(probe):
    segment, state = probe
    set_meta(segment, 0, with_element_types(state.dtype))
    write_probe_state(segment, state)
    strategy = inspect_json(segment.name)["strategies"]["probe"]
    assert strategy["symbol_ids"] == {"ESZ6": 0, "NQZ6": 2}
    assert list(strategy["state"]) == ["ESZ6", "NQZ6"]  # only the symbols it trades
    assert strategy["state"]["ESZ6"] == {
        "count": 7, "last_px": 101.25, "hist": [1, 2, 3, 4],
        "grid": [[0.5, 1.5, 2.5], [3.5, 4.5, 5.5]], "flag": True}
    assert strategy["state"]["NQZ6"] == {
        "count": -3, "last_px": 99.0, "hist": [40, 30, 20, 10],
        "grid": [[0.0] * 3, [0.0] * 3], "flag": False}
    fields = {f["name"]: f for f in strategy["fields"]}
    assert fields["hist"] == {"name": "hist", "dtype": "<i4", "shape": [4], "offset": 16}
    assert fields["grid"]["shape"] == [2, 3] and fields["grid"]["dtype"] == "<f4"


def test_state_when_an_array_field_has_only_its_whole_type_then_it_is_marked_and_the_rest_shown(
        probe):
    segment, state = probe
    set_meta(segment, 0, with_whole_field_types(state.dtype))
    write_probe_state(segment, state)
    strategy = inspect_json(segment.name)["strategies"]["probe"]
    assert "error" not in strategy
    fields = {f["name"]: f for f in strategy["fields"]}
    assert "unreadable" in fields["hist"] and "unreadable" in fields["grid"]
    assert "unreadable" not in fields["count"]
    assert strategy["state"]["ESZ6"] == {"count": 7, "last_px": 101.25, "flag": True}


def test_state_when_engine_writes_it_as_configured_then_scalar_fields_shown_as_written(probe):
    """The meta as engine_layout writes it today: every field it can read, whichever way
    it describes array fields."""
    segment, state = probe
    write_probe_state(segment, state)
    strategy = inspect_json(segment.name)["strategies"]["probe"]
    row = strategy["state"]["ESZ6"]
    assert (row["count"], row["last_px"], row["flag"]) == (7, 101.25, True)
    for field in strategy["fields"]:
        if field["shape"] and "unreadable" not in field:
            assert field["name"] in row and isinstance(row[field["name"]], list)


def test_state_when_a_float_is_not_finite_then_the_json_stays_strict_json(probe):
    segment, state = probe
    set_meta(segment, 0, with_element_types(state.dtype))
    state[0]["last_px"] = np.nan
    state[2]["last_px"] = -np.inf
    state[0]["grid"] = [[np.inf, 1, 2], [3, 4, np.nan]]
    out = invoke_ok("inspect", segment.name, "--json", "--sample", "0")

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")
    strategy = json.loads(out, parse_constant=refuse)["strategies"]["probe"]
    assert strategy["state"]["ESZ6"]["last_px"] == "nan"
    assert strategy["state"]["NQZ6"]["last_px"] == "-inf"
    assert strategy["state"]["ESZ6"]["grid"] == [["inf", 1.0, 2.0], [3.0, 4.0, "nan"]]


def test_inspect_text_when_state_has_arrays_then_compact_arrays_names_and_currency(probe):
    segment, state = probe
    set_meta(segment, 0, with_element_types(state.dtype))
    write_probe_state(segment, state)
    out = invoke_ok("inspect", segment.name, "--sample", "0")
    assert "strategy probe:" in out and "params: window 4, scale 2.5, armed True" in out
    lines = out.splitlines()
    header = next(line for line in lines if line.split()[:2] == ["SYMBOL", "ID"]
                  and "count" in line.split())
    assert header.split()[-5:] == ["count", "last_px", "hist", "grid", "flag"]
    es = [line for line in lines if line.strip().startswith("ESZ6")]
    assert len(es) == 2  # the positions row and the state row
    assert "123.45 EUR" in es[0]
    assert "[4] ..., 2, 3, 4" in es[1] and "[2x3] ..., 3.5, 4.5, 5.5" in es[1]
    assert not any(line.strip().startswith("CLZ6") and "999" in line for line in lines)
    assert "--json has them all" in out


def test_inspect_when_a_strategy_row_is_malformed_then_says_why_and_shows_the_rest(probe):
    segment, state = probe
    write_probe_state(segment, state)
    rows = segment.view("strategies", STRATEGY_ROW_DTYPE)
    rows[1] = rows[0]
    rows[1]["name"] = b"broken_meta"
    rows[1]["meta"] = b"{not json"
    rows[1]["meta_len"] = 9
    rows[2] = rows[0]
    rows[2]["name"] = b"outside"
    rows[2]["state_offset"] = segment.size  # past the strat_state section
    data = inspect_json(segment.name)
    strategies = data["strategies"]
    assert list(strategies) == ["probe", "broken_meta", "outside"]
    assert strategies["probe"]["state"]["ESZ6"]["count"] == 7
    assert "meta is not UTF-8 JSON" in strategies["broken_meta"]["error"]
    assert strategies["broken_meta"]["state"] is None
    assert "does not fit" in strategies["outside"]["error"]
    assert strategies["outside"]["state"] is None
    text = invoke_ok("inspect", segment.name, "--sample", "0")
    assert "strategy broken_meta:" in text and "state not shown: meta is not UTF-8 JSON" in text


def test_inspect_when_default_config_then_synthetic_names_and_mean_reversion_state(segments):
    segment = make_engine_segment(segments)
    data = inspect_json(segment.name)
    names = [f"SYM{i}" for i in range(data["engine"]["symbols"])]
    assert list(data["risk"]["positions"]) == names
    assert [p["symbol_id"] for p in data["risk"]["positions"].values()] == list(range(len(names)))
    strategy = data["strategies"]["mean_reversion"]
    assert strategy["source"] == "tickpipe.workers.strategies.mean_reversion"
    assert strategy["params"]["window"] == 64
    assert [f["name"] for f in strategy["fields"]] == ["filled", "cursor", "total", "total_sq",
                                                      "mids"]
    assert list(strategy["state"]) == names
    assert strategy["state"]["SYM3"]["filled"] == 0


def test_report_when_run_ends_then_symbols_by_name_pnl_in_currency_and_strategy_named(probe):
    segment, state = probe
    write_probe_state(segment, state)
    report = final_report(segment, state="stopped", seconds=1.0, notes=[])
    assert list(report["positions"]) == list(PNL)
    for symbol_id, (name, (pnl, money, currency)) in enumerate(PNL.items()):
        row = report["positions"][name]
        assert row["symbol_id"] == symbol_id and row["realised_pnl"] == pnl
        assert row["currency"] == currency and row["realised_pnl_ccy"] == pytest.approx(money)
    assert report["realised_pnl_ccy"] == pytest.approx({"EUR": 123.45, "USD": 15.0})
    assert list(report["strategies"]) == ["probe"]
    assert report["strategies"]["probe"]["symbols"] == ["ESZ6", "NQZ6"]
    json.dumps(report)  # --json prints it
    text = format_report(report)
    assert "strategies: probe (" in text
    assert "realised PnL 123.45 EUR, 15.00 USD" in text
    es = next(line for line in text.splitlines() if line.strip().startswith("ESZ6"))
    # position, realised, unrealised (no market in this segment: "-"), fees
    assert es.split() == ["ESZ6", "10", "123.45", "EUR", "-", "0.00", "EUR"]


def test_report_text_when_many_symbols_then_the_ones_that_traded_and_a_count_of_the_rest(
        segments):
    report = final_report(make_engine_segment(segments), state="stopped", seconds=1.0, notes=[])
    report["positions"] = {f"S{i}": {"symbol_id": i, "position": 0, "realised_pnl": 0,
                                     "currency": "USD", "realised_pnl_ccy": 0.0}
                           for i in range(40)}
    report["positions"]["S33"].update(position=5, realised_pnl=20_000, realised_pnl_ccy=2.0)
    text = format_report(report)
    shown = [line.split()[0] for line in text.splitlines() if line.strip().startswith("S")]
    assert shown == ["S33"]
    assert "... and 39 more symbols (flat, no P&L); --json has them all" in text


@pytest.mark.slow
def test_kept_segment_when_engine_ran_then_inspect_shows_state_it_committed():
    engine = EngineProcess(unique_name("strat-state"), "--seconds", "2", "--rate", "20000",
                           "--keep")
    try:
        report = engine.result(timeout=180)
        assert report["state"] == "stopped", report["notes"]
        data = inspect_json(engine.name)
    finally:
        engine.kill()
    assert not data["engine"]["alive"]
    names = [f"SYM{i}" for i in range(data["engine"]["symbols"])]
    assert list(report["positions"]) == names == list(data["risk"]["positions"])
    assert list(report["strategies"]) == ["mean_reversion"]
    for name in names:
        assert data["risk"]["positions"][name]["realised_pnl"] == \
            report["positions"][name]["realised_pnl"]
        assert data["risk"]["positions"][name]["realised_pnl_ccy"] == pytest.approx(
            report["positions"][name]["realised_pnl"] / 10_000)  # lot 1, multiplier 1
    state = data["strategies"]["mean_reversion"]["state"]
    window = data["strategies"]["mean_reversion"]["params"]["window"]
    # 2 s of quotes at 20 k/s over 8 symbols: every window has filled up.
    assert all(state[name]["filled"] == window for name in names)
    assert all(0 <= state[name]["cursor"] < window for name in names)


def test_report_text_when_a_latency_is_wider_than_its_column_then_cells_stay_apart(segments):
    report = final_report(make_engine_segment(segments), state="stopped", seconds=1.0, notes=[])
    huge = 49_392_123_904  # ns: a worker stopped for 49 s (a user's SIGSTOP)
    report["tick_to_trade_ns"].update(count=815, p50=106_496, p90=5_767_168, p99=huge,
                                      p999=huge, max=50_003_718_012)
    line = next(line for line in format_report(report).splitlines()
                if line.strip().startswith("tick_to_trade"))
    assert line.split() == ["tick_to_trade", "815", "106,496", "5,767,168", "49,392,123,904",
                            "49,392,123,904", "50,003,718,012"]
