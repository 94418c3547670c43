"""Benchmark the pipeline's stages on this machine: wall time and peak memory of each, the ingest's votes per
second, and the floor for the ingest (the time merely decompressing and reading its inputs takes).

    .venv/bin/python scripts/benchmark.py            # ingest, catalog, features, train, evaluate, predict
    .venv/bin/python scripts/benchmark.py ingest     # one stage
    .venv/bin/python scripts/benchmark.py --scaling  # ingest of 2, 5 and 10 congresses, extrapolated to 1789-2025
    .venv/bin/python scripts/benchmark.py --forecast # CLI cold (new process), Python API warm
    .venv/bin/python scripts/benchmark.py --noop     # `dvc repro` with nothing changed

Each stage runs as its own process (as `dvc repro` runs it) so peak RSS is that stage's alone. It rewrites
the stages' outputs, exactly as `dvc repro --force` would.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from pipeline.config import METRICS_DIR, DataConfig  # noqa: E402

STAGES = {
    "ingest": "pipeline.ingest",
    "catalog": "features.catalog",
    "features": "features.build",
    "member_state": "features.member_state",
    "general": "models.general",
    "train": "models.train",
    "evaluate": "models.evaluate",
    "predict": "forecasts.predict",
    "report": "forecasts.report",
}


def run_stage(module: str, *args: str) -> tuple[float, float, float]:
    """(wall seconds, peak RSS of the largest single process, peak RSS of all its processes together; MiB) of
    ``python -m module`` and everything it starts (the ingest's second process reads the bills meanwhile)."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-m", module, *args], cwd=ROOT, stdout=subprocess.DEVNULL)
    joint = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            joint[0] = max(joint[0], _tree_rss_mib(child.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, status, usage = os.wait4(child.pid, 0)
    done.set()
    sampler.join()
    if status != 0:
        raise SystemExit(f"{module} failed (status {status})")
    peak = usage.ru_maxrss / 1024
    return time.perf_counter() - started, peak, max(joint[0], peak)


def _tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and its descendants now (0 once gone), from /proc."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    return total / 2**20


def decompression_floor(config: DataConfig, bulk: bool = True) -> tuple[float, int]:
    """Seconds to read and decompress every file the ingest reads; their uncompressed size in bytes. ``bulk``:
    with the bill archives of billstatus-bulk (inputs of the ingest too; the floor left them out before)."""
    snapshot = config.snapshot_dir
    paths = [snapshot / "unitedstates-votes" / f"votes-{c}.jsonl.gz" for c in config.congresses]
    for c in config.congresses:
        for letter in "HS":
            paths += [p for p in (snapshot / "voteview").glob(f"{letter}{c}_*")]
    paths += list((snapshot / "congress-legislators").glob("legislators-*")) + list(
        (snapshot / "billstatus").glob("*.xml")
    )
    paths += list((snapshot / "congress-legislators").glob("executive.yaml"))
    if bulk:
        paths += [snapshot / "billstatus-bulk" / f"bills-{c}.tar.gz" for c in config.congresses]
        paths = [path for path in paths if path.exists()]
    started = time.perf_counter()
    size = 0
    for path in paths:
        data = path.read_bytes()
        size += len(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    return time.perf_counter() - started, size


VOTEVIEW_MEMBER_VOTES = 25_000_000  # all of Voteview, 1789-2025 (about 25 M member votes)


def ingest_scaling(sizes: tuple[int, ...] = (2, 5, 10), last: int = 119) -> dict:
    """Wall time and peak RSS of the ingest for the ``sizes`` congresses ending at ``last`` (each into a scratch
    table set, params copied with only data.congresses changed), and a least-squares line through (member votes,
    seconds) and (member votes, MiB) extrapolated to all of Voteview's member votes."""
    import tempfile

    import numpy as np
    import yaml

    from pipeline.config import load_params

    rows = []
    with tempfile.TemporaryDirectory(prefix="natocast-scaling-") as scratch:
        for size in sizes:
            params = load_params()
            params["data"]["congresses"] = [last - size + 1, last]
            params["data"]["snapshot_dir"] = str(DataConfig.from_params(params).snapshot_dir)
            folder = Path(scratch) / str(size)
            folder.mkdir()
            (folder / "params.yaml").write_text(yaml.safe_dump(params))
            argv = ["--params", str(folder / "params.yaml"), "--tables", str(folder / "tables")]
            try:
                wall, peak, joint = run_stage("pipeline.ingest", *argv, "--report", str(folder / "report.json"))
            except SystemExit as exc:
                raise SystemExit(f"ingest of {size} congresses failed ({exc})") from exc
            votes = json.loads((folder / "report.json").read_text())["rows"]["votes"]
            rows.append(
                {
                    "congresses": size,
                    "member_votes": votes,
                    "wall_s": round(wall, 2),
                    "peak_mib": round(peak),
                    "joint_peak_mib": round(joint),
                }
            )
            print(
                f"{size:3d} congresses ({last - size + 1}-{last}): {votes:>10,} member votes, "
                f"{wall:7.2f} s, {peak:6.0f} MiB largest process, {joint:6.0f} MiB all processes"
            )
    votes = np.array([r["member_votes"] for r in rows], dtype=float)
    per_vote_s, fixed_s = np.polyfit(votes, [r["wall_s"] for r in rows], 1)
    per_vote_mib, fixed_mib = np.polyfit(votes, [r["peak_mib"] for r in rows], 1)
    per_vote_joint, fixed_joint = np.polyfit(votes, [r["joint_peak_mib"] for r in rows], 1)
    projection = {
        "member_votes": VOTEVIEW_MEMBER_VOTES,
        "wall_s": round(fixed_s + per_vote_s * VOTEVIEW_MEMBER_VOTES, 1),
        "peak_mib": round(fixed_mib + per_vote_mib * VOTEVIEW_MEMBER_VOTES),
        "seconds_per_million_votes": round(per_vote_s * 1e6, 2),
        "mib_per_million_votes": round(per_vote_mib * 1e6, 1),
        "joint_peak_mib": round(fixed_joint + per_vote_joint * VOTEVIEW_MEMBER_VOTES),
        "joint_mib_per_million_votes": round(per_vote_joint * 1e6, 1),
    }
    print(
        f"all of Voteview (1789-2025, {VOTEVIEW_MEMBER_VOTES / 1e6:.0f} M member votes), extrapolated linearly: "
        f"{projection['wall_s']:.0f} s, {projection['peak_mib']:,} MiB peak "
        f"({projection['seconds_per_million_votes']} s and {projection['mib_per_million_votes']} MiB per million "
        "votes); "
        f"all processes together {projection['joint_peak_mib']:,} MiB ({projection['joint_mib_per_million_votes']} "
        "MiB per million votes)"
    )
    return {"runs": rows, "voteview_1789_2025": projection}


def noop_repro(runs: int = 3) -> list[float]:
    """Seconds of `dvc repro` when nothing changed (the snapshot stage still fingerprints the inputs)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        env = {**os.environ, "PATH": f"{ROOT / '.venv' / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
        subprocess.run(["dvc", "repro"], cwd=ROOT, env=env, check=True, capture_output=True)
        times.append(round(time.perf_counter() - started, 2))
    return times


def main() -> None:
    if "--scaling" in sys.argv[1:]:
        print(json.dumps(ingest_scaling()))
        return
    if "--forecast" in sys.argv[1:]:
        sys.path.insert(0, str(ROOT / "scripts"))
        from benchmark_forecast import measure

        print(json.dumps(measure(), indent=2))
        return
    if "--noop" in sys.argv[1:]:
        print(json.dumps({"noop_dvc_repro_s": noop_repro()}))
        return
    chosen = sys.argv[1:] or list(STAGES)
    config = DataConfig.from_params()
    print(f"{'stage':10} {'wall s':>8} {'peak MiB':>9} {'all procs':>9}")
    results = {}
    before = decompression_floor(config)[0] if "ingest" in chosen else 0.0  # the floor on either side of the ingest
    for stage in chosen:
        wall, peak, joint = run_stage(STAGES[stage])
        results[stage] = {"wall_s": round(wall, 2), "peak_rss_mib": round(peak), "joint_peak_mib": round(joint)}
        print(f"{stage:10} {wall:8.2f} {peak:9.0f} {joint:9.0f}")
    total, peak = sum(r["wall_s"] for r in results.values()), max(r["peak_rss_mib"] for r in results.values())
    joint = max(r["joint_peak_mib"] for r in results.values())
    print(f"{'all':10} {total:8.2f} {peak:9.0f} {joint:9.0f}")
    if "ingest" in results:
        votes = json.loads((METRICS_DIR / "data_quality.json").read_text())["rows"]["votes"]
        after, size = decompression_floor(config)
        floor = min(before, after)
        narrow = decompression_floor(config, bulk=False)[0]
        ratio = results["ingest"]["wall_s"] / floor
        results["ingest"] |= {"floor_s": round(floor, 2), "floor_without_bulk_s": round(narrow, 2)}
        results["ingest"] |= {"ratio": round(ratio, 1), "load_average": os.getloadavg()[0]}
        print(
            f"ingest: {votes:,} member votes, {votes / results['ingest']['wall_s']:,.0f} votes/s; decompressing "
            f"the inputs ({size / 2**20:,.0f} MiB) takes {floor:.2f} s (the faster of before and after the ingest; "
            f"{narrow:.2f} s without billstatus-bulk): ingest = {ratio:.1f}x that floor; "
            f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
    resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
