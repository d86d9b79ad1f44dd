"""tune apply / revert against a fake host tree: every item, dry run, byte-for-byte revert."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tuning_fakes import FakeKernelHost, build_fake_host_tree, snapshot_tree
from tickpipe.tuning.cli import TuneEnvironment, tune
from tickpipe.engine.sizing import default_segment_bytes
from tickpipe.tuning.items_hugepages import huge_pages_needed
from tickpipe.tuning.state import DEFAULT_STATE_FILE

REPO = Path(__file__).resolve().parent.parent
# what apply reserves and maps for the default engine's segment (2 MiB pages)
SEGMENT_PAGES = -(-default_segment_bytes() // (2 * 2**20))
PAGES = huge_pages_needed(default_segment_bytes(), 2048)
MAPPING_MIB = SEGMENT_PAGES * 2


@pytest.fixture
def host(tmp_path):
    return FakeKernelHost(build_fake_host_tree(tmp_path / "host"))


def run_tune(host, *args, root=True):
    return CliRunner().invoke(tune, list(args), obj=TuneEnvironment(host, running_as_root=root))


def read(host, path: str) -> str:
    return host.path(path).read_text()


def state_file(host) -> Path:
    return host.path(DEFAULT_STATE_FILE)


def test_apply_sets_every_item_this_host_has(host):
    result = run_tune(host, "apply", "--user", "nobody")
    assert result.exit_code == 0, result.output
    cpu = "/sys/devices/system/cpu"
    for n in range(4):
        assert read(host, f"{cpu}/cpu{n}/cpufreq/scaling_governor") == "performance\n"
        assert read(host, f"{cpu}/cpu{n}/cpufreq/energy_performance_preference") == "performance\n"
    assert read(host, f"{cpu}/intel_pstate/no_turbo") == "0\n"
    assert read(host, f"{cpu}/intel_pstate/min_perf_pct") == "100\n"
    # C1E and C6 off on the worker cores only; POLL and C1 stay; core 0 untouched.
    for n in (1, 2, 3):
        assert [read(host, f"{cpu}/cpu{n}/cpuidle/state{s}/disable") for s in range(4)] == ["0\n", "0\n", "1\n", "1\n"]
    assert [read(host, f"{cpu}/cpu0/cpuidle/state{s}/disable") for s in range(4)] == ["0\n"] * 4
    thp = "/sys/kernel/mm/transparent_hugepage"
    assert read(host, f"{thp}/enabled") == "always [madvise] never\n"
    assert read(host, f"{thp}/shmem_enabled") == "always within_size [advise] never deny force\n"
    assert read(host, "/proc/sys/vm/nr_hugepages") == f"{PAGES}\n"
    assert "hugetlbfs /dev/hugepages hugetlbfs rw,relatime,mode=0770,uid=65534,gid=65534,pagesize=2M" in read(host, "/proc/mounts")
    assert host.path("/dev/hugepages").stat().st_uid == 65534
    expected = {"/proc/sys/vm/swappiness": "10", "/sys/kernel/mm/ksm/run": "0",
                "/proc/sys/kernel/numa_balancing": "0", "/proc/sys/kernel/timer_migration": "0",
                "/proc/sys/vm/stat_interval": "10", "/proc/sys/kernel/nmi_watchdog": "0",
                "/proc/sys/kernel/sched_rt_runtime_us": "-1", "/proc/irq/default_smp_affinity": "1",
                "/sys/devices/virtual/workqueue/cpumask": "1"}
    for irq in (0, 1, 24, 25):
        expected[f"/proc/irq/{irq}/smp_affinity_list"] = "0"
    for path, value in expected.items():
        assert read(host, path) == value + "\n", path
    assert read(host, "/etc/default/irqbalance").endswith("IRQBALANCE_BANNED_CPULIST=1-3\n")
    assert "IRQBALANCE_ONESHOT=0\n" in read(host, "/etc/default/irqbalance")
    assert "nobody hard memlock unlimited\n" in read(host, "/etc/security/limits.d/95-tickpipe-memlock.conf")
    assert f"huge pages verified: {PAGES} reserved, {PAGES} free" in result.output
    assert "a SCHED_FIFO worker that spins never yields" in result.output


def test_revert_after_apply_restores_the_tree_byte_for_byte(host):
    before = snapshot_tree(host.root)
    assert run_tune(host, "apply", "--user", "nobody").exit_code == 0
    assert snapshot_tree(host.root) != before
    result = run_tune(host, "revert")
    assert result.exit_code == 0, result.output
    assert not state_file(host).exists()
    after = snapshot_tree(host.root)
    after = {path: entry for path, entry in after.items() if not path.startswith("var/lib/tickpipe")}
    assert after == before
    assert "/dev/hugepages: unmounted hugetlbfs" in result.output
    assert "/proc/sys/vm/swappiness: restored 60 (was 10)" in result.output
    assert "/etc/security/limits.d/95-tickpipe-memlock.conf: removed (tuning created it)" in result.output


def test_dry_run_writes_nothing_and_prints_every_write(host):
    before = snapshot_tree(host.root)
    result = run_tune(host, "apply", "--dry-run", "--user", "nobody")
    assert result.exit_code == 0
    assert snapshot_tree(host.root) == before and host.writes == []
    assert "write /proc/sys/vm/swappiness <- 10" in result.output
    assert "write /sys/devices/system/cpu/cpu3/cpuidle/state3/disable <- 1" in result.output
    assert "mount -t hugetlbfs -o mode=0770,uid=65534,gid=65534,pagesize=2M none /dev/hugepages" in result.output
    assert "      | nobody soft memlock unlimited" in result.output
    applied = run_tune(host, "apply", "--user", "nobody").output
    written = [line.split(":")[0].strip() for line in applied.splitlines()
               if line.startswith("  /") and " -> " in line]
    assert len(written) > 30
    for path in written:
        assert f"write {path} <- " in result.output


def test_dry_run_works_without_root_and_writes_nothing(host):
    before = snapshot_tree(host.root)
    result = run_tune(host, "apply", "--dry-run", root=False)
    assert result.exit_code == 0 and snapshot_tree(host.root) == before


def test_apply_when_not_root_then_refused_and_nothing_written(host):
    before = snapshot_tree(host.root)
    result = run_tune(host, "apply", root=False)
    assert result.exit_code == 2
    assert "apply changes kernel settings and needs root: run `sudo tickpipe tune apply`" in result.stderr
    assert snapshot_tree(host.root) == before


def test_revert_when_not_root_then_refused(host):
    result = run_tune(host, "revert", root=False)
    assert result.exit_code == 2 and "needs root" in result.stderr


def test_apply_as_a_real_non_root_process_is_refused_with_a_clear_message():
    if os.geteuid() == 0:
        # The interpreter may live under /root (mode 0700), out of reach of an
        # unprivileged user: load the CLI as root, then drop to nobody for real.
        code = ("import os, tickpipe.tuning.cli, tickpipe.tuning.syscalls; os.setgid(65534); os.setuid(65534); "
                "tickpipe.tuning.cli.tune(['apply'], prog_name='python -m tickpipe.tuning')")
        argv = [sys.executable, "-c", code]
    else:
        argv = [sys.executable, "-m", "tickpipe.tuning", "apply"]
    out = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=30)
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().splitlines() == [
        "Error: apply changes kernel settings and needs root: run `sudo tickpipe tune apply` "
        "(or `sudo python -m tickpipe.tuning apply`); --dry-run works without root"]


def test_apply_saves_every_original_before_the_first_write(host):
    seen = []

    def check_state_saved(path):
        if not seen:
            saved = json.loads(state_file(host).read_text())["changes"]
            seen.append({entry["path"] for entry in saved})
    host.before_each_write = check_state_saved
    run_tune(host, "apply", "--user", "nobody")
    assert set(host.writes) <= seen[0]
    assert "/dev/hugepages" in seen[0]


def test_second_apply_changes_nothing_and_keeps_first_originals(host):
    before = snapshot_tree(host.root)
    run_tune(host, "apply", "--user", "nobody")
    saved = state_file(host).read_text()
    tuned = snapshot_tree(host.root)
    result = run_tune(host, "apply", "--user", "nobody")
    assert result.exit_code == 0
    assert "Nothing to change" in result.output
    assert snapshot_tree(host.root) == tuned and state_file(host).read_text() == saved
    run_tune(host, "revert")
    assert {p: e for p, e in snapshot_tree(host.root).items() if "tickpipe" not in p} == before


def test_apply_with_more_cores_later_adds_originals_and_revert_restores_all(host):
    before = snapshot_tree(host.root)
    assert run_tune(host, "apply", "--cores", "3").exit_code == 0
    assert read(host, "/sys/devices/system/cpu/cpu2/cpuidle/state3/disable") == "0\n"
    assert run_tune(host, "apply", "--cores", "2-3").exit_code == 0
    assert read(host, "/sys/devices/system/cpu/cpu2/cpuidle/state3/disable") == "1\n"
    saved = {e["path"]: e.get("original") for e in json.loads(state_file(host).read_text())["changes"]}
    assert saved["/proc/irq/default_smp_affinity"] == "f\n"   # the first apply's original, not "7"
    assert run_tune(host, "revert").exit_code == 0
    assert {p: e for p, e in snapshot_tree(host.root).items() if "tickpipe" not in p} == before


def test_apply_when_files_missing_then_those_items_are_skipped_and_the_rest_applied(host):
    for rel in ("sys/kernel/mm/ksm/run", "sys/devices/system/cpu/intel_pstate/min_perf_pct",
                "sys/kernel/mm/transparent_hugepage/shmem_enabled"):
        (host.root / rel).unlink()
    result = run_tune(host, "apply")
    assert result.exit_code == 0, result.output
    assert "Not available on this host (left alone): cpu min perf (intel_pstate), THP shmem_enabled, KSM" in result.output
    assert not host.path("/sys/kernel/mm/ksm/run").exists()
    assert read(host, "/proc/sys/vm/swappiness") == "10\n"


def test_apply_when_file_read_only_then_it_is_never_written(host):
    os.chmod(host.path("/proc/sys/vm/swappiness"), 0o444)
    os.chmod(host.path("/proc/irq/25/smp_affinity_list"), 0o444)
    before = snapshot_tree(host.root)
    assert run_tune(host, "apply").exit_code == 0
    assert read(host, "/proc/sys/vm/swappiness") == "60\n"
    assert read(host, "/proc/irq/25/smp_affinity_list") == "0-3\n"
    assert "/proc/sys/vm/swappiness" not in host.writes
    run_tune(host, "revert")
    assert {p: e for p, e in snapshot_tree(host.root).items() if "tickpipe" not in p} == before


def test_apply_when_kernel_refuses_to_move_an_irq_then_reported_not_failed(host):
    host.refuse["/proc/irq/0/smp_affinity_list"] = errno.EIO
    result = run_tune(host, "apply")
    assert result.exit_code == 0, result.output
    assert "the kernel refused 1 best-effort write(s)" in result.output
    assert read(host, "/proc/irq/1/smp_affinity_list") == "0\n"


def test_apply_when_a_required_write_fails_then_exit_1_and_revert_still_restores(host):
    before = snapshot_tree(host.root)
    host.refuse["/proc/sys/vm/stat_interval"] = errno.EINVAL
    result = run_tune(host, "apply")
    assert result.exit_code == 1
    assert "FAILED write /proc/sys/vm/stat_interval <- 10: Invalid argument" in result.output
    assert "Still differing after apply:" in result.output
    assert run_tune(host, "revert").exit_code == 0
    assert {p: e for p, e in snapshot_tree(host.root).items() if "tickpipe" not in p} == before


def test_revert_when_a_restore_fails_then_the_rest_is_restored_and_it_is_kept_for_later(host):
    before = snapshot_tree(host.root)
    run_tune(host, "apply")
    host.refuse["/proc/sys/vm/swappiness"] = errno.EBUSY
    result = run_tune(host, "revert")
    assert result.exit_code == 1
    assert "NOT RESTORED /proc/sys/vm/swappiness: cannot write 60: Device or resource busy" in result.output
    kept = json.loads(state_file(host).read_text())["changes"]
    assert [entry["path"] for entry in kept] == ["/proc/sys/vm/swappiness"]
    del host.refuse["/proc/sys/vm/swappiness"]
    assert run_tune(host, "revert").exit_code == 0
    assert {p: e for p, e in snapshot_tree(host.root).items() if "tickpipe" not in p} == before


def test_revert_when_a_restore_depends_on_another_then_the_second_pass_succeeds(host):
    run_tune(host, "apply")
    epp = "/sys/devices/system/cpu/cpu0/cpufreq/energy_performance_preference"
    governor = "/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"

    def epp_busy_under_performance(path):   # as intel_pstate does
        if path == epp and read(host, governor) == "performance\n":
            raise OSError(errno.EBUSY, "Device or resource busy")
    host.before_each_write = epp_busy_under_performance
    assert run_tune(host, "revert").exit_code == 0
    assert read(host, epp) == "balance_performance\n"


def test_revert_when_no_state_file_then_one_line_and_exit_2(host):
    result = run_tune(host, "revert")
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("Error: nothing to revert: no state file at ")


def test_revert_when_state_file_damaged_then_one_line_and_exit_2(host):
    state_file(host).parent.mkdir(parents=True)
    state_file(host).write_text("{not json")
    result = run_tune(host, "revert")
    assert result.exit_code == 2 and "is damaged" in result.stderr


def test_revert_dry_run_changes_nothing_and_keeps_the_state_file(host):
    run_tune(host, "apply")
    tuned = snapshot_tree(host.root)
    result = run_tune(host, "revert", "--dry-run")
    assert result.exit_code == 0
    assert "/proc/sys/vm/swappiness: would restore 60 (now 10)" in result.output
    assert snapshot_tree(host.root) == tuned


def test_apply_when_a_writable_hugetlbfs_mount_exists_then_it_is_used_not_mounted_again(host):
    (host.root / "mnt/huge").mkdir(parents=True)
    os.chmod(host.path("/proc/mounts"), 0o644)
    with open(host.path("/proc/mounts"), "a") as mounts:
        mounts.write("hugetlbfs /mnt/huge hugetlbfs rw,relatime,pagesize=2M 0 0\n")
    result = run_tune(host, "apply")
    assert "mount -t hugetlbfs" not in result.output and not host.path("/dev/hugepages").exists()
    assert f"a test mapping of {MAPPING_MIB} MiB in /mnt/huge got 2048 kB pages" in result.output


def test_apply_when_existing_mount_not_writable_by_user_then_owner_changed_and_reverted(host):
    mount_dir = host.root / "mnt/huge"
    mount_dir.mkdir(parents=True)
    os.chmod(mount_dir, 0o755)
    os.chmod(host.path("/proc/mounts"), 0o644)
    with open(host.path("/proc/mounts"), "a") as mounts:
        mounts.write("hugetlbfs /mnt/huge hugetlbfs rw,relatime 0 0\n")
    assert run_tune(host, "apply", "--user", "nobody").exit_code == 0
    assert (mount_dir.stat().st_uid, mount_dir.stat().st_mode & 0o777) == (65534, 0o770)
    assert run_tune(host, "revert").exit_code == 0
    assert (mount_dir.stat().st_uid, mount_dir.stat().st_mode & 0o777) == (0, 0o755)


def test_apply_when_huge_pages_cannot_be_reserved_then_not_verified_and_exit_1(host):
    class FragmentedHost(FakeKernelHost):
        def _write_kernel_file(self, real, data):
            if real.name == "nr_hugepages":
                data = b"3"   # the kernel found only 3 free 2 MiB blocks
            super()._write_kernel_file(real, data)
    host = FragmentedHost(host.root)
    result = run_tune(host, "apply")
    assert result.exit_code == 1
    assert "vm.nr_hugepages" in result.output.split("Still differing after apply:")[1]
    assert "huge pages verified" not in result.output


def test_apply_counts_the_pages_a_running_engines_segment_holds_as_the_reservations(host):
    # Another engine runs on the host (a second test suite's, found so): its segment on
    # the mount holds most of the pages just reserved. The reservation is for an engine,
    # so apply verifies with the free pages mapped and the held ones counted.
    held = SEGMENT_PAGES - 2

    class BusyHost(FakeKernelHost):
        def _write_kernel_file(self, real, data):
            super()._write_kernel_file(real, data)
            if real.name == "nr_hugepages":
                total = int(data.decode())
                meminfo = self.root / "proc/meminfo"
                os.chmod(meminfo, 0o644)
                meminfo.write_text(meminfo.read_text().replace(
                    f"HugePages_Free:        {total}", f"HugePages_Free:        {total - held}"))
                os.chmod(meminfo, 0o444)
    host = BusyHost(host.root)
    host.path("/dev/hugepages").mkdir(parents=True, exist_ok=True)
    with open(host.path("/dev/hugepages/tickpipe.other"), "wb") as segment:
        segment.truncate(held * 2 * 2**20)
    result = run_tune(host, "apply")
    assert result.exit_code == 0, result.output
    assert (f"huge pages verified: {PAGES} reserved, {PAGES - held} free, {held} held by the "
            f"engines running now") in result.output


def test_revert_restores_a_config_file_that_is_not_utf8_byte_for_byte(host):
    original = b"# r\xe9glages irqbalance\r\nIRQBALANCE_BANNED_CPULIST=0\nIRQBALANCE_ARGS=\"--x\"\n"
    host.path("/etc/default/irqbalance").write_bytes(original)
    run_tune(host, "apply")
    tuned = host.path("/etc/default/irqbalance").read_bytes()
    assert tuned.startswith(b"# r\xe9glages") and tuned.endswith(b"IRQBALANCE_BANNED_CPULIST=1-3\n")
    assert b"IRQBALANCE_BANNED_CPULIST=0" not in tuned
    assert run_tune(host, "revert").exit_code == 0
    assert host.path("/etc/default/irqbalance").read_bytes() == original
