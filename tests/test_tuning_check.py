"""tune check against a fake host tree: statuses, defaults, bad input, JSON, exit codes."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from tuning_fakes import FakeKernelHost, build_fake_host_tree, set_boot_cmdline
from tickpipe.tuning.cli import TuneEnvironment, tune
from tickpipe.tuning.findings import Status
from tickpipe.tuning.items_hugepages import huge_pages_needed
from tickpipe.tuning.registry import evaluate
from tickpipe.tuning.targets import resolve_targets

FULL_BOOT_LINE = ("BOOT_IMAGE=/vmlinuz ro isolcpus=managed_irq,domain,1-3 nohz_full=1-3 rcu_nocbs=1-3 "
                  "rcu_nocb_poll irqaffinity=0 skew_tick=1 tsc=reliable nosoftlockup")


@pytest.fixture
def host(tmp_path):
    return FakeKernelHost(build_fake_host_tree(tmp_path / "host"))


def run_tune(host, *args, root=True):
    return CliRunner().invoke(tune, list(args), obj=TuneEnvironment(host, running_as_root=root))


def statuses(host, *args):
    result = run_tune(host, "check", "--json", "--user", "nobody", *args)
    return {item["item"]: item for item in json.loads(result.stdout)["items"]}, result


def test_check_when_host_untuned_then_items_differ_and_exit_1(host):
    items, result = statuses(host)
    assert result.exit_code == 1
    for name in ["cpu governor", "energy-perf preference", "cpu boost (intel_pstate no_turbo)",
                 "cpu min perf (intel_pstate)", "deep C-states on worker cores", "THP enabled",
                 "THP shmem_enabled", "vm.nr_hugepages", "hugetlbfs mount", "vm.swappiness", "KSM",
                 "kernel.numa_balancing", "RLIMIT_MEMLOCK", "kernel.timer_migration", "vm.stat_interval",
                 "kernel.nmi_watchdog", "kernel.sched_rt_runtime_us", "IRQ affinity",
                 "default IRQ affinity", "workqueue cpumask", "irqbalance banned cores"]:
        assert items[name]["status"] == "differs", name
    assert items["THP defrag"]["status"] == "ok"
    assert items["boot: isolcpus"]["status"] == "needs reboot"
    assert items["deep C-states on worker cores"]["current"] == "C1E on 1-3, C6 on 1-3 enabled"


def test_check_when_every_item_tuned_then_exit_0(host, tmp_path):
    set_boot_cmdline(host.root, FULL_BOOT_LINE)
    assert run_tune(host, "apply", "--user", "nobody").exit_code == 0
    result = run_tune(host, "check", "--user", "nobody")
    assert result.exit_code == 0, result.output
    assert "differs" not in result.output and "needs reboot" not in result.output


def test_check_when_cores_not_given_on_4_cores_then_all_but_core_0(host):
    result = run_tune(host, "check")
    assert "Worker cores: 1-3 (default: every core but core 0" in result.stdout
    assert "housekeeping cores: 0" in result.stdout


def test_check_when_cores_not_given_on_2_cores_then_core_1_and_says_so(tmp_path):
    host = FakeKernelHost(build_fake_host_tree(tmp_path / "two", cpus=2))
    result = run_tune(host, "check")
    assert "Worker cores: 1 (default on this 2-core machine: core 1" in result.stdout


@pytest.mark.parametrize("args, message", [
    (["--cores", "7"], "core 7 does not exist on this 4-core machine"),
    (["--cores", "abc"], "'abc' is not a core number or range"),
    (["--cores", "3-1"], "not an ascending range"),
    (["--cores", "0-3"], "leaves no core for IRQs"),
    (["--engine-size", "-5"], "expected a positive number of bytes"),
    (["--engine-size", "0"], "must be positive"),
    (["--engine-size", "lots"], "expected a positive number of bytes"),
    (["--engine-size", "99999999999999999999G"],
     "--engine-size '99999999999999999999G': must be <= 25273344000 bytes (this host's memory, 23.5 GiB)"),
    (["--engine-size", "24681001K"], "must be <= 25273344000 bytes"),
    (["--cores", "0-999999999999"], "'0-999999999999' goes past CPU 8191, the largest Linux has"),
    (["--user", "no-such-user-here"], "no such user"),
])
def test_check_when_input_bad_then_one_line_and_exit_2(host, args, message):
    result = run_tune(host, "check", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output and result.stdout == ""


def test_check_when_engine_size_is_the_hosts_whole_memory_then_accepted(host):
    items, result = statuses(host, "--engine-size", "24681000K")
    assert result.exit_code in (0, 1), result.output
    assert result.stderr == ""


def test_check_when_file_missing_then_item_unsupported(host):
    (host.root / "proc/sys/vm/swappiness").unlink()
    for path in (host.root / "sys/devices/system/cpu").glob("cpu*/cpufreq"):
        for file in path.iterdir():
            file.unlink()
    items, _ = statuses(host)
    assert items["vm.swappiness"]["status"] == "unsupported here"
    assert items["cpu governor"]["status"] == "unsupported here"
    assert "no cpufreq driver" in items["cpu governor"]["note"]


def test_check_when_file_read_only_and_differs_then_unsupported(host):
    os.chmod(host.root / "proc/sys/kernel/nmi_watchdog", 0o444)
    items, _ = statuses(host)
    assert items["kernel.nmi_watchdog"]["status"] == "unsupported here"
    assert items["kernel.nmi_watchdog"]["current"] == "1 (read-only)"


def test_check_when_read_only_file_already_ok_then_ok(host):
    (host.root / "proc/sys/kernel/nmi_watchdog").write_text("0\n")
    os.chmod(host.root / "proc/sys/kernel/nmi_watchdog", 0o444)
    items, _ = statuses(host)
    assert items["kernel.nmi_watchdog"]["status"] == "ok"


def test_check_when_tree_empty_then_runtime_items_unsupported(tmp_path):
    root = tmp_path / "bare"
    (root / "sys/devices/system/cpu").mkdir(parents=True)
    (root / "sys/devices/system/cpu/online").write_text("0-1\n")
    items, result = statuses(FakeKernelHost(root))
    runtime = [item for name, item in items.items() if not name.startswith("boot: ")
               and name != "RLIMIT_MEMLOCK"]
    assert {item["status"] for item in runtime} == {"unsupported here"}
    assert result.exit_code == 1   # the boot items still need a reboot


def test_check_boot_items_ignore_init_arguments_after_double_dash(host):
    set_boot_cmdline(host.root, "ro quiet -- isolcpus=1-3 nohz_full=1-3")
    items, _ = statuses(host)
    assert items["boot: isolcpus"]["current"] == "absent"


def test_check_when_isolcpus_names_other_cores_then_needs_reboot_with_exact_line(host):
    set_boot_cmdline(host.root, "ro isolcpus=domain,2-3 nohz_full=1-3")
    result = run_tune(host, "check", "--cores", "1-3")
    items, _ = statuses(host, "--cores", "1-3")
    assert items["boot: isolcpus"]["status"] == "needs reboot"
    assert items["boot: nohz_full"]["status"] == "ok"
    assert ("    isolcpus=managed_irq,domain,1-3 rcu_nocbs=1-3 rcu_nocb_poll irqaffinity=0 "
            "skew_tick=1 tsc=reliable nosoftlockup\n") in result.stdout


def test_check_json_carries_cores_and_boot_line(host):
    result = run_tune(host, "check", "--json", "--cores", "2,3")
    data = json.loads(result.stdout)
    assert data["worker_cores"] == [2, 3] and data["housekeeping_cores"] == [0, 1]
    assert data["boot_line"].startswith("isolcpus=managed_irq,domain,2-3 nohz_full=2-3")
    assert data["exit_code"] == result.exit_code == 1
    assert all(set(item) >= {"item", "current", "recommended", "status", "why"} for item in data["items"])


def test_check_every_row_says_why_it_matters(host):
    for finding in evaluate(host, resolve_targets(host, None, None, "nobody")):
        assert finding.why and finding.status in Status


def test_check_sizes_huge_pages_from_engine_size(host):
    items, _ = statuses(host, "--engine-size", "100M")
    assert items["vm.nr_hugepages"]["recommended"].startswith(">= 63 ")
    assert huge_pages_needed(22 * 2**20, 2048) == 14


def test_check_engine_size_defaults_to_the_default_engines_segment(host):
    from tickpipe.engine.sizing import default_segment_bytes
    data = json.loads(run_tune(host, "check", "--json").stdout)
    assert data["engine_bytes"] == default_segment_bytes()


def test_check_when_hugetlbfs_mounted_but_not_writable_by_user_then_differs(host):
    mount_dir = host.root / "mnt/huge"
    mount_dir.mkdir(parents=True)
    os.chmod(mount_dir, 0o755)
    os.chmod(host.root / "proc/mounts", 0o644)
    with open(host.root / "proc/mounts", "a") as mounts:
        mounts.write("hugetlbfs /mnt/huge hugetlbfs rw,relatime,pagesize=2M 0 0\n")
    items, _ = statuses(host)
    assert items["hugetlbfs mount"]["status"] == "differs"
    assert items["hugetlbfs mount"]["changes"] == ["chown 65534:65534 /mnt/huge && chmod 770 /mnt/huge"]
    items, _ = statuses(host, "--user", "root")
    assert items["hugetlbfs mount"]["status"] == "ok"


@pytest.mark.parametrize("command", ["check", "apply", "revert"])
def test_help_of_each_subcommand_explains_it(host, command):
    result = run_tune(host, command, "--help")
    assert result.exit_code == 0
    assert "Usage:" in result.stdout and len(result.stdout.splitlines()) > 6


def test_python_dash_m_tuning_runs_the_same_group():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "tickpipe.tuning", "--help"], capture_output=True, text=True,
                         cwd=os.path.dirname(os.path.dirname(__file__)), timeout=30)
    assert out.returncode == 0
    assert all(name in out.stdout for name in ("check", "apply", "revert"))


def test_check_runtime_only_when_only_boot_items_remain_then_exit_0(host):
    assert run_tune(host, "apply").exit_code == 0
    assert run_tune(host, "check").exit_code == 1
    result = run_tune(host, "check", "--runtime-only")
    assert result.exit_code == 0 and "needs reboot" in result.stdout
