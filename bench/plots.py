"""PNG charts of bench results (matplotlib is the optional extra `plot`)."""

import os


class PlotUnavailable(Exception):
    pass


def _pyplot():
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise PlotUnavailable("matplotlib is not installed (pip install 'tickpipe[plot]')") from None
    return plt


def latency_chart(report: dict, path: str, title: str) -> str:
    """p50 / p99 / p99.9 per mechanism, log scale."""
    plt = _pyplot()
    rows = [r for r in report["results"] if "p50_ns" in r]
    names = [r["name"] for r in rows]
    fig, ax = plt.subplots(figsize=(max(6, len(rows) * 0.9), 4.5))
    width = 0.27
    for offset, (key, label) in enumerate((("p50_ns", "p50"), ("p99_ns", "p99"),
                                           ("p999_ns", "p99.9"))):
        ax.bar([i + (offset - 1) * width for i in range(len(rows))], [r[key] for r in rows],
               width, label=label)
    ax.set_yscale("log")
    ax.set_ylabel("ns")
    ax.set_xticks(range(len(rows)), names, rotation=30, ha="right")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def pipeline_chart(report: dict, path: str) -> str:
    """Tick-to-trade percentiles against offered rate, tickpipe and mp.Queue-pipeline."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for prefix, style in (("tickpipe", "-o"), ("mp.Queue-pipeline", "--s")):
        rows = [r for r in report["results"] if r["name"].startswith(prefix + "-") and "p50_ns" in r]
        labels = [r["name"][len(prefix) + 1:] for r in rows]
        for key in ("p50_ns", "p99_ns"):
            ax.plot(labels, [r[key] for r in rows], style, label=f"{prefix} {key[:-3]}")
    ax.set_yscale("log")
    ax.set_xlabel("offered ticks/s")
    ax.set_ylabel("tick-to-trade ns")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_charts(reports: dict, directory: str) -> list[str]:
    """Charts for whichever of ringrtt / pipeline are in `reports`; returns their paths."""
    os.makedirs(directory, exist_ok=True)
    paths = []
    if "ringrtt" in reports:
        paths.append(latency_chart(reports["ringrtt"], os.path.join(directory, "ringrtt.png"),
                                   "64-byte round trip between two pinned processes"))
    if "pipeline" in reports:
        paths.append(pipeline_chart(reports["pipeline"], os.path.join(directory, "pipeline.png")))
    return paths
