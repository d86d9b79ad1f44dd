"""Scheduler, timer and interrupt items: keep the kernel's own work off the worker cores."""

from __future__ import annotations

from tickpipe.tuning.cpulist import format_cpu_list, format_cpu_mask, parse_cpu_list, parse_cpu_mask
from tickpipe.tuning.file_items import KernelSetting
from tickpipe.tuning.findings import FileWrite, Finding, Status, TuningTargets

IRQ_DIR = "/proc/irq"
IRQBALANCE_CONFIGS = ("/etc/default/irqbalance", "/etc/sysconfig/irqbalance")
IRQBALANCE_BINARIES = ("/usr/sbin/irqbalance", "/sbin/irqbalance", "/usr/bin/irqbalance")
RT_THROTTLING_WARNING = (
    "warning: with RT throttling off, a SCHED_FIFO worker that spins never yields: "
    "nothing else (kworkers, ksoftirqd, your shell) runs on its core again until it exits")


timer_migration = KernelSetting(
    "kernel.timer_migration", "/proc/sys/kernel/timer_migration", "0",
    why="0 keeps a timer on the core that armed it instead of pulling housekeeping timers onto busy cores")

stat_interval = KernelSetting(
    "vm.stat_interval", "/proc/sys/vm/stat_interval", "10",
    why="the vmstat worker wakes every core once per interval; 10 s instead of 1 s")

nmi_watchdog = KernelSetting(
    "kernel.nmi_watchdog", "/proc/sys/kernel/nmi_watchdog", "0",
    why="the NMI watchdog interrupts every core periodically (a perf counter NMI)")

rt_throttling = KernelSetting(
    "kernel.sched_rt_runtime_us", "/proc/sys/kernel/sched_rt_runtime_us", "-1", note=RT_THROTTLING_WARNING,
    why="RT throttling takes a SCHED_FIFO worker off its core for 50 ms each second")


def irq_affinity(host, targets: TuningTargets) -> Finding:
    """Move every IRQ that may fire on a worker core to the housekeeping cores."""
    name = "IRQ affinity"
    housekeeping = format_cpu_list(targets.housekeeping_cores)
    recommended = f"all on {housekeeping}"
    why = "an interrupt on a worker core preempts the hot loop for its handler and softirq"
    irqs = [irq for irq in host.listdir(IRQ_DIR) if irq.isdigit()]
    if not irqs:
        return Finding(name, "-", recommended, Status.UNSUPPORTED, why, note=f"no {IRQ_DIR} here")
    workers = set(targets.worker_cores)
    reaching, writes, fixed = [], [], []
    for irq in sorted(irqs, key=int):
        path = f"{IRQ_DIR}/{irq}/smp_affinity_list"
        text = host.read(path)
        if text is None or not workers & set(parse_cpu_list(text)):
            continue
        reaching.append(irq)
        if host.is_writable(path):
            # best_effort: the kernel answers EIO for IRQs it cannot move (per-CPU, managed).
            writes.append(FileWrite(path, housekeeping, best_effort=True))
        else:
            fixed.append(irq)
    if not reaching:
        return Finding(name, recommended, recommended, Status.OK, why)
    if not writes:
        # Only kernel-managed IRQs (read-only affinity, e.g. a virtio or NVMe queue per
        # CPU) are left: nothing more can be moved at run time.
        return Finding(name, f"all movable on {housekeeping}; fixed: IRQ {', '.join(fixed)}",
                       recommended, Status.OK, why)
    current = f"{len(reaching)} of {len(irqs)} IRQs may run on {format_cpu_list(workers)}"
    note = f"IRQ {', '.join(fixed)}: affinity fixed by the kernel (read-only)" if fixed else ""
    return Finding(name, current, recommended, Status.DIFFERS, why, writes, note=note)


def _cpus_equal_as_mask(current: str, recommended: str) -> bool:
    return parse_cpu_mask(current) == parse_cpu_mask(recommended)


def _housekeeping_mask(targets: TuningTargets) -> str:
    return format_cpu_mask(targets.housekeeping_cores)


default_irq_affinity = KernelSetting(
    "default IRQ affinity", f"{IRQ_DIR}/default_smp_affinity", _housekeeping_mask, same=_cpus_equal_as_mask,
    why="IRQs registered later (a new NIC queue, a hot-plugged device) start on the housekeeping cores")

workqueue_cpumask = KernelSetting(
    "workqueue cpumask", "/sys/devices/virtual/workqueue/cpumask", _housekeeping_mask, same=_cpus_equal_as_mask,
    why="unbound kworkers (writeback, deferred frees) run only on the housekeeping cores")


def irqbalance_config_path(host) -> str | None:
    """The environment file irqbalance reads (Debian's or Red Hat's); None when it is not installed."""
    existing = [path for path in IRQBALANCE_CONFIGS if host.exists(path)]
    if existing:
        return existing[0]
    if not any(host.exists(path) for path in IRQBALANCE_BINARIES):
        return None
    return IRQBALANCE_CONFIGS[0] if host.is_dir("/etc/default") else IRQBALANCE_CONFIGS[1]


def irqbalance_banned_cores(host, targets: TuningTargets) -> Finding:
    """Tell irqbalance to leave the worker cores alone, or it moves IRQs back within seconds."""
    wanted_line = f"IRQBALANCE_BANNED_CPULIST={format_cpu_list(targets.worker_cores)}"
    name, why = "irqbalance banned cores", "irqbalance rebalances IRQs every 10 s and would undo the IRQ affinity above"
    config = irqbalance_config_path(host)
    if config is None:
        return Finding(name, "not installed", wanted_line, Status.UNSUPPORTED, why,
                       note="irqbalance is not installed: the IRQ affinity set here stays")
    text = (host.read_bytes(config) or b"").decode("utf-8", "surrogateescape")
    lines = text.splitlines()
    settings = [line.strip() for line in lines if line.strip().startswith("IRQBALANCE_BANNED_CPULIST=")]
    current = settings[-1] if settings else "no banned cores"
    if current.replace('"', "") == wanted_line:
        return Finding(name, current, wanted_line, Status.OK, why)
    kept = [line for line in lines if not line.strip().startswith("IRQBALANCE_BANNED_CPULIST=")]
    new_text = "\n".join(kept + ["# tickpipe tune: keep IRQs off the engine's worker cores", wanted_line]) + "\n"
    return Finding(name, current, wanted_line, Status.DIFFERS, why,
                   [FileWrite(config, new_text)],
                   note="restart irqbalance (systemctl restart irqbalance) for it to read the new setting")


KERNEL_ITEMS = [timer_migration, stat_interval, nmi_watchdog, rt_throttling,
                irq_affinity, default_irq_affinity, workqueue_cpumask, irqbalance_banned_cores]
