"""CPU frequency and idle-state items.

A core that changes frequency or sleeps in a deep C-state takes microseconds to
come back: the first message after a quiet spell pays for it.
"""

from __future__ import annotations

from tickpipe.tuning.cpulist import format_cpu_list
from tickpipe.tuning.file_items import KernelSetting, per_cpu_file_item, single_file_item
from tickpipe.tuning.findings import FileWrite, Finding, Status, TuningTargets

CPU_DIR = "/sys/devices/system/cpu"
NO_CPUFREQ = "no cpufreq driver here (in a VM the hypervisor sets the frequency)"
# C1 exits in 1-2 us on current x86; C1E and deeper take 10 us or more. tuned's
# latency-performance profile draws the line at the same place (cstate.id_no_zero:1).
DEEP_CSTATE_LATENCY_US = 2


def cpu_governor(host, targets: TuningTargets) -> Finding:
    why = "a governor other than performance lowers the clock when idle; ramping up costs tens of us"
    first = targets.all_cpus[0]
    available = host.read(f"{CPU_DIR}/cpu{first}/cpufreq/scaling_available_governors")
    if available is not None and "performance" not in available.split():
        return Finding("cpu governor", "-", "performance", Status.UNSUPPORTED, why,
                       note=f"this cpufreq driver offers only: {available}")
    return per_cpu_file_item(
        host, name="cpu governor", cpus=targets.all_cpus, recommended="performance", why=why,
        path_of=lambda cpu: f"{CPU_DIR}/cpu{cpu}/cpufreq/scaling_governor", missing=NO_CPUFREQ)


def energy_performance_preference(host, targets: TuningTargets) -> Finding:
    why = "the hardware (HWP) trades latency for power unless told performance"
    # best_effort: intel_pstate pins EPP to performance itself (and refuses writes,
    # EBUSY) once the performance governor is set, so the re-check is what counts.
    return per_cpu_file_item(
        host, name="energy-perf preference", cpus=targets.all_cpus, recommended="performance",
        why=why, best_effort=True,
        path_of=lambda cpu: f"{CPU_DIR}/cpu{cpu}/cpufreq/energy_performance_preference",
        missing="no energy_performance_preference (needs intel_pstate or amd-pstate with HWP/CPPC)")


def cpu_boost(host, targets: TuningTargets) -> Finding:
    why = "turbo gives the spinning worker cores the highest clock the package allows"
    if host.exists(f"{CPU_DIR}/intel_pstate/no_turbo"):
        finding = single_file_item(host, name="cpu boost", path=f"{CPU_DIR}/intel_pstate/no_turbo",
                                   recommended="0", why=why)
        finding.name = "cpu boost (intel_pstate no_turbo)"
        return finding
    return single_file_item(host, name="cpu boost", path=f"{CPU_DIR}/cpufreq/boost",
                            recommended="1", why=why,
                            missing="no boost switch (cpufreq/boost or intel_pstate/no_turbo) here")


cpu_min_perf = KernelSetting(
    "cpu min perf (intel_pstate)", f"{CPU_DIR}/intel_pstate/min_perf_pct", "100",
    why="a floor of 100% keeps the P-state from dropping between bursts",
    missing="no intel_pstate here (the performance governor pins the frequency instead)")


def deep_idle_states(host, targets: TuningTargets) -> Finding:
    """Disable, on the worker cores, every cpuidle state slower to exit than C1."""
    name = "deep C-states on worker cores"
    why = f"waking from a C-state deeper than C1 takes 10-200 us; worker cores should poll or halt only"
    cores = format_cpu_list(targets.worker_cores)
    recommended = f"none deeper than {DEEP_CSTATE_LATENCY_US} us enabled on {cores or '-'}"
    deep_enabled: dict[str, list[int]] = {}
    writes: list[FileWrite] = []
    read_only: list[str] = []
    found_any = False
    for cpu in targets.worker_cores:
        base = f"{CPU_DIR}/cpu{cpu}/cpuidle"
        for state in host.listdir(base):
            latency = host.read(f"{base}/{state}/latency")
            disable_path = f"{base}/{state}/disable"
            disabled = host.read(disable_path)
            if latency is None or disabled is None:
                continue
            found_any = True
            if int(latency) <= DEEP_CSTATE_LATENCY_US or disabled == "1":
                continue
            label = host.read(f"{base}/{state}/name") or state
            deep_enabled.setdefault(label, []).append(cpu)
            if host.is_writable(disable_path):
                writes.append(FileWrite(disable_path, "1"))
            else:
                read_only.append(disable_path)
    if not targets.worker_cores:
        return Finding(name, "-", recommended, Status.UNSUPPORTED, why, note="no worker cores")
    if not found_any:
        return Finding(name, "-", recommended, Status.UNSUPPORTED, why,
                       note="no cpuidle states exposed on the worker cores")
    if not deep_enabled:
        return Finding(name, "none enabled", recommended, Status.OK, why)
    current = ", ".join(f"{label} on {format_cpu_list(cpus)}" for label, cpus in deep_enabled.items())
    if not writes:
        return Finding(name, f"{current} (read-only)", recommended, Status.UNSUPPORTED, why,
                       note=f"{read_only[0]} is read-only on this kernel")
    return Finding(name, f"{current} enabled", recommended, Status.DIFFERS, why, writes)


def cpu_dma_latency(host, targets: TuningTargets) -> Finding:
    """Not applied: the supervisor holds the PM QoS request itself, only while the engine runs."""
    why = "a 0 us PM QoS request keeps all cores out of deep C-states while the engine runs, and lapses when it exits"
    recommended = "held at 0 by the supervisor while running"
    if not host.exists("/dev/cpu_dma_latency"):
        return Finding("/dev/cpu_dma_latency", "missing", recommended, Status.UNSUPPORTED, why,
                       note="no /dev/cpu_dma_latency (kernel without CONFIG_CPU_IDLE PM QoS)")
    return Finding("/dev/cpu_dma_latency", "present", recommended, Status.OK, why)


CPU_ITEMS = [cpu_governor, energy_performance_preference, cpu_boost, cpu_min_perf,
             deep_idle_states, cpu_dma_latency]
