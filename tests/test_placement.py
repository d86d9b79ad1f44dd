"""Core placement: which core each worker gets and how it waits, from a faked host."""

import os

import pytest

from tickpipe.engine import placement
from tickpipe.engine.engine_layout import PIPELINE
from tickpipe.engine.placement import isolated_cores, parse_cpu_list, place_workers
from tickpipe.engine.wait_codes import WAIT_CODES


@pytest.fixture
def host(monkeypatch, tmp_path):
    """Fake the affinity mask and the kernel's isolated/nohz_full lists (sysfs in tmp_path)."""

    class Host:
        def cores(self, allowed):
            monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(allowed))

        def sysfs(self, **files):
            for name, text in files.items():
                (tmp_path / name).write_text(text)

    monkeypatch.setattr(placement, "isolated_cores", lambda: isolated_cores(str(tmp_path)))
    return Host()


def cores_and_waits(chosen):
    return [(role, chosen.cores[role], chosen.waits[role]) for role in PIPELINE]


def test_place_workers_when_two_cores_and_none_isolated_then_workers_alternate_and_block(host):
    host.cores([0, 1])
    chosen = place_workers(PIPELINE, [], "auto")
    assert cores_and_waits(chosen) == [("feed", 0, "block"), ("strategy", 1, "block"),
                                       ("risk", 0, "block"), ("gateway", 1, "block")]
    assert chosen.shared and chosen.source == "affinity mask"
    assert chosen.wait_codes == {role: WAIT_CODES["block"] for role in PIPELINE}


@pytest.mark.parametrize("rate", [1, 10_000, 100_000])
def test_place_workers_when_fewer_cores_than_workers_up_to_100k_then_all_on_one_core_yielding(
        host, rate):
    host.cores([0, 1])
    chosen = place_workers(PIPELINE, [], "auto", rate)
    assert cores_and_waits(chosen) == [(role, 1, "yield") for role in PIPELINE]
    assert "auto: 4 workers on 2 cores: yield" in chosen.summary()
    assert "lowest tick-to-trade p99" in chosen.summary()


def test_place_workers_when_fewer_cores_than_workers_above_100k_then_all_on_one_core_blocking(host):
    host.cores([0, 1])
    chosen = place_workers(PIPELINE, [], "auto", 1_000_000)
    assert cores_and_waits(chosen) == [(role, 1, "block") for role in PIPELINE]


def test_place_workers_when_fewer_cores_than_workers_flat_out_then_spread_and_yielding(host):
    host.cores([0, 1])
    chosen = place_workers(PIPELINE, [], "auto", 0)
    assert cores_and_waits(chosen) == [("feed", 0, "yield"), ("strategy", 1, "yield"),
                                       ("risk", 0, "yield"), ("gateway", 1, "yield")]
    assert "moved the most ticks/s" in chosen.summary()


@pytest.mark.parametrize("requested, wait", [([0, 1], "auto"), ([], "block")])
def test_place_workers_when_cores_or_wait_are_given_then_the_measured_choice_stays_out(
        host, requested, wait):
    host.cores([0, 1])
    chosen = place_workers(PIPELINE, requested, wait, 100_000)
    assert [chosen.cores[role] for role in PIPELINE] == [0, 1, 0, 1]
    assert set(chosen.waits.values()) == {"block"}
    assert "auto:" not in chosen.summary()


def test_place_workers_when_a_core_per_worker_then_the_rate_changes_nothing(host):
    host.cores(range(16))
    assert cores_and_waits(place_workers(PIPELINE, [], "auto", 100_000)) == \
        cores_and_waits(place_workers(PIPELINE, [], "auto"))


def test_place_workers_when_sixteen_cores_then_each_worker_owns_one_spins_and_core_0_is_free(host):
    host.cores(range(16))
    chosen = place_workers(PIPELINE, [], "auto")
    assert cores_and_waits(chosen) == [("feed", 1, "spin"), ("strategy", 2, "spin"),
                                       ("risk", 3, "spin"), ("gateway", 4, "spin")]
    assert not chosen.shared and not chosen.notes


def test_place_workers_when_cores_are_isolated_then_they_are_preferred(host):
    host.cores(range(16))
    host.sysfs(isolated="8-9\n", nohz_full="10-11\n")
    chosen = place_workers(PIPELINE, [], "auto")
    assert [chosen.cores[role] for role in PIPELINE] == [8, 9, 10, 11]
    assert chosen.source == "isolated cores"
    assert set(chosen.waits.values()) == {"spin"}


def test_place_workers_when_isolated_cores_are_outside_the_mask_then_the_mask_is_used(host):
    host.cores(range(8))
    host.sysfs(isolated="12-15\n")
    chosen = place_workers(PIPELINE, [], "auto")
    assert chosen.source == "affinity mask"
    assert [chosen.cores[role] for role in PIPELINE] == [1, 2, 3, 4]


def test_place_workers_when_cores_are_requested_then_they_win_over_isolated_ones(host):
    host.cores(range(16))
    host.sysfs(isolated="8-11\n")
    chosen = place_workers(PIPELINE, [2, 3], "auto")
    assert cores_and_waits(chosen) == [("feed", 2, "block"), ("strategy", 3, "block"),
                                       ("risk", 2, "block"), ("gateway", 3, "block")]
    assert chosen.source == "--cores/config"


def test_place_workers_when_spin_is_asked_on_shared_cores_then_a_warning_note_says_so(host):
    host.cores([0, 1])
    chosen = place_workers(PIPELINE, [], "spin")
    assert set(chosen.waits.values()) == {"spin"}
    assert len(chosen.notes) == len(PIPELINE)
    assert "warning: feed busy-spins on core 0, which it shares" in chosen.notes
    assert "warning: gateway busy-spins on core 1, which it shares" in chosen.summary()


def test_place_workers_when_a_wait_is_asked_on_own_cores_then_it_is_used_without_notes(host):
    host.cores(range(16))
    for wait in ("spin", "yield", "backoff", "block"):
        chosen = place_workers(PIPELINE, [], wait)
        assert set(chosen.waits.values()) == {wait} and not chosen.notes


def test_summary_when_placed_then_it_is_one_line_naming_every_worker_and_the_source(host):
    host.cores([0, 1])
    shared = place_workers(PIPELINE, [], "auto").summary()
    assert shared == ("placement: feed@0(block) strategy@1(block) risk@0(block) gateway@1(block); "
                      "cores from affinity mask; 4 workers share 2 cores")
    host.cores(range(16))
    owned = place_workers(PIPELINE, [], "auto").summary()
    assert "\n" not in owned and owned.endswith("cores from affinity mask; each worker owns its core")


def test_summary_when_every_worker_is_on_one_core_then_it_says_one_core(host):
    host.cores(range(4))
    assert place_workers(PIPELINE, [3], "auto").summary().endswith(
        "cores from --cores/config; 4 workers share 1 core")


@pytest.mark.parametrize("text, cores", [
    ("0-3,8,10-11\n", [0, 1, 2, 3, 8, 10, 11]),
    ("5", [5]),
    ("", []),
    ("\n", []),
])
def test_parse_cpu_list_when_given_a_kernel_cpulist_then_it_expands_it(text, cores):
    assert parse_cpu_list(text) == cores


def test_isolated_cores_when_both_lists_are_set_then_it_is_their_sorted_union(tmp_path):
    (tmp_path / "isolated").write_text("6-7\n")
    (tmp_path / "nohz_full").write_text("2,7\n")
    assert isolated_cores(str(tmp_path)) == [2, 6, 7]


def test_isolated_cores_when_files_are_missing_or_null_then_none(tmp_path):
    assert isolated_cores(str(tmp_path)) == []
    (tmp_path / "nohz_full").write_text("(null)\n")
    (tmp_path / "isolated").write_text("\n")
    assert isolated_cores(str(tmp_path)) == []


def test_place_apart_puts_a_background_worker_on_a_core_the_pipeline_leaves_free(host):
    host.cores([0, 1])
    chosen = place_workers(PIPELINE, None, "auto", 100_000)   # the pipeline: all on core 1
    placement.place_apart(chosen, "journal")
    assert chosen.cores["journal"] == 0 and chosen.waits["journal"] == "backoff"
    assert {chosen.cores[role] for role in PIPELINE} == {1}


def test_place_apart_shares_the_least_shared_core_when_the_pipeline_uses_them_all(host):
    host.cores([0, 1, 2])
    chosen = place_workers(PIPELINE, [0, 1, 2], "auto")      # feed and gateway share core 0
    placement.place_apart(chosen, "journal")
    assert chosen.cores["journal"] in (1, 2)
