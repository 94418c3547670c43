"""Benchmark the pipeline's stages on this machine: wall time and peak memory of each, the ingest's votes per
second, and the floor for the ingest (the time merely decompressing and reading its inputs takes).

    .venv/bin/python scripts/benchmark.py            # ingest, catalog, features, train, evaluate, predict
    .venv/bin/python scripts/benchmark.py ingest     # one stage
    .venv/bin/python scripts/benchmark.py --scaling  # every stage on 2, 5 and 10 congresses, extrapolated to 1789-2025
    .venv/bin/python scripts/benchmark.py --forecast # CLI cold (new process), Python API warm
    .venv/bin/python scripts/benchmark.py --noop     # `dvc repro` with nothing changed
    .venv/bin/python scripts/benchmark.py --ingest-bound  # least CPU any ingest needs (parse, extract, write)

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
from pipeline.config import METRICS_DIR, TABLES_DIR, DataConfig  # noqa: E402

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


def run_stage(
    module: str, *args: str, cwd: Path = ROOT, env: dict | None = None, quiet: bool = False
) -> tuple[float, float, float]:
    """(wall seconds, peak RSS of the largest single process, peak RSS of all its processes together; MiB) of
    ``python -m module`` and everything it starts (the ingest's second process reads the bills meanwhile), run
    in ``cwd`` (the project, or a copy of its code); ``quiet``: its log kept back, shown only if it fails."""
    started = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE if quiet else None,
    )
    joint = [0.0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.02):
            joint[0] = max(joint[0], _tree_rss_mib(child.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    errors = child.stderr.read().decode(errors="replace") if quiet else ""  # read to the end: it never blocks
    _, status, usage = os.wait4(child.pid, 0)
    done.set()
    sampler.join()
    if status != 0:
        raise SystemExit(f"{module} failed (status {status}): {errors[-2000:]}")
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


def project_copy(folder: Path, congresses: list[int]) -> dict:
    """A copy of the project's code in ``folder`` with a params.yaml that differs only in ``data.congresses``
    (and an absolute snapshot path, read as the snapshot): every stage finds its paths from its module's location,
    so its tables, features, models, MLflow store and reports are the copy's. Returns the environment to run its
    stages in. ``tests/test_scale.py`` runs the chain in such a copy too."""
    import shutil

    import yaml

    from pipeline.config import load_params

    for package in ("pipeline", "features", "models", "forecasts"):
        shutil.copytree(ROOT / package, folder / package, ignore=shutil.ignore_patterns("__pycache__"))
    params = load_params()
    snapshot = str(DataConfig.from_params(params).snapshot_dir)
    params["data"].update(congresses=congresses, snapshot_dir=snapshot, source="snapshot")
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    unset = ("MLFLOW_TRACKING_URI", "NATOCAST_SNAPSHOT_DIR", "NATOCAST_DEBUG", "DVC_EXP_BASELINE_REV", "DVC_EXP_NAME")
    return {k: v for k, v in os.environ.items() if k not in unset} | {"PYTHONPATH": str(folder)}


def pipeline_scaling(sizes: tuple[int, ...] = (2, 5, 10), last: int = 119) -> dict:
    """Wall time and peak RSS of every stage for the ``sizes`` congresses ending at ``last``, each run in its own
    copy of the project (``project_copy``), and per stage a least-squares line through (member votes, seconds)
    and (member votes, MiB) extrapolated to all of Voteview's member votes."""
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory(prefix="natocast-scaling-") as scratch:
        for size in sizes:
            folder = Path(scratch) / str(size)
            folder.mkdir()
            env = project_copy(folder, [last - size + 1, last])
            stages = {}
            for stage, module in STAGES.items():
                try:
                    wall, peak, joint = run_stage(module, cwd=folder, env=env, quiet=True)
                except SystemExit as exc:
                    raise SystemExit(f"{stage} on {size} congresses failed ({exc})") from exc
                stages[stage] = {"wall_s": round(wall, 2), "peak_mib": round(peak), "joint_peak_mib": round(joint)}
            votes = json.loads((folder / "metrics" / "data_quality.json").read_text())["rows"]["votes"]
            rows.append({"congresses": size, "member_votes": votes, "stages": stages})
            _print_run(size, last, votes, stages)
    return {"runs": rows, "voteview_1789_2025": _extrapolate(rows)}


def _print_run(size: int, last: int, votes: int, stages: dict) -> None:
    print(f"{size} congresses ({last - size + 1}-{last}), {votes:,} member votes:")
    for stage, run in stages.items():
        print(f"  {stage:13} {run['wall_s']:7.2f} s {run['peak_mib']:6} MiB largest {run['joint_peak_mib']:6} MiB all")
    wall = sum(run["wall_s"] for run in stages.values())
    peak = max(run["peak_mib"] for run in stages.values())
    print(f"  {'all':13} {wall:7.2f} s {peak:6} MiB largest")


def _extrapolate(rows: list[dict]) -> dict:
    """Per stage (and for the whole pipeline: summed time, largest peak), the line through the runs' (member
    votes, value) evaluated at all of Voteview's member votes, with its slope per million votes."""
    import numpy as np

    votes = np.array([r["member_votes"] for r in rows], dtype=float)
    projection = {"member_votes": VOTEVIEW_MEMBER_VOTES}
    print(f"all of Voteview (1789-2025, {VOTEVIEW_MEMBER_VOTES / 1e6:.0f} M member votes), extrapolated linearly:")
    for stage in rows[0]["stages"]:
        line = {}
        for key, unit in (("wall_s", "s"), ("peak_mib", "mib"), ("joint_peak_mib", "joint_mib")):
            slope, fixed = np.polyfit(votes, [r["stages"][stage][key] for r in rows], 1)
            line[key] = round(float(fixed + slope * VOTEVIEW_MEMBER_VOTES), 1)
            line[f"{unit}_per_million_votes"] = round(float(slope * 1e6), 2)
        projection[stage] = line
        print(
            f"  {stage:13} {line['wall_s']:8.0f} s ({line['s_per_million_votes']} s per million votes), "
            f"{line['peak_mib']:7,.0f} MiB largest ({line['mib_per_million_votes']} per million), "
            f"{line['joint_peak_mib']:7,.0f} MiB all processes"
        )
    stages = [projection[stage] for stage in rows[0]["stages"]]
    projection["all"] = {  # the stages run one after another: times add up, the peak is the largest stage's
        "wall_s": round(sum(line["wall_s"] for line in stages), 1),
        "peak_mib": max(line["peak_mib"] for line in stages),
        "joint_peak_mib": max(line["joint_peak_mib"] for line in stages),
    }
    print(
        f"  {'all':13} {projection['all']['wall_s']:8.0f} s, {projection['all']['peak_mib']:7,.0f} MiB largest "
        "(the largest stage's)"
    )
    return projection


def _cpu_seconds() -> float:
    """CPU seconds so far of this process, all its threads (DuckDB's too), and of the children it waited for."""
    usages = [resource.getrusage(who) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)]
    return sum(usage.ru_utime + usage.ru_stime for usage in usages)


def _start_interpreter(config: DataConfig) -> None:
    """A new interpreter importing what the ingest imports."""
    subprocess.run([sys.executable, "-c", "import pipeline.ingest"], cwd=ROOT, check=True)


def _parse_vote_records(config: DataConfig) -> None:
    """The vote JSON: every voter reached and the three fields the votes table needs of each (id, party, state)
    extracted and counted; nothing kept."""
    import duckdb

    from pipeline import engine, usvotes

    records, _ = usvotes.record_files(config, Path(os.devnull))  # the snapshot's bundles (nothing is gathered)
    with duckdb.connect(config={"threads": os.cpu_count() or 1}) as con:
        con.execute(
            "SELECT count(f[1]), count(f[2]), count(f[3]) FROM (SELECT json_extract_string(voter, "
            "['$.id', '$.party', '$.state']) AS f FROM (SELECT unnest(voters) AS voter FROM (SELECT "
            f"unnest(map_values(votes)) AS voters FROM read_json({engine.file_list(records)}, "
            "format = 'newline_delimited', columns = {vote_id: 'VARCHAR', votes: 'MAP(VARCHAR, JSON[])'}))))"
        ).fetchall()


def _parse_voteview(config: DataConfig) -> None:
    """Voteview's CSVs: the member votes by DuckDB, members and roll calls (and HSall's members) by pandas."""
    import duckdb
    import pandas as pd

    from pipeline import engine, voteview

    places = [(chamber, congress) for chamber in voteview.CHAMBERS for congress in config.congresses]
    vote_files = [path for place in places if (path := voteview.locate_optional(config, "votes", *place))]
    tables = [voteview.locate_file(config, kind, *place) for kind in ("members", "rollcalls") for place in places]
    with duckdb.connect(config={"threads": os.cpu_count() or 1}) as con:
        con.execute(f"SELECT count(*) FROM read_csv({engine.file_list(vote_files)}, all_varchar = true)").fetchall()
    for path in [*tables, *config.snapshot_dir.glob("voteview/HSall_members*")]:
        pd.read_csv(path)


def _parse_bills(config: DataConfig) -> None:
    """The bill archives' members and the NATO BILLSTATUS files parsed (JSON or XML), no field read."""
    import tarfile

    import lxml.etree
    import orjson

    for path in filter(
        Path.exists, [config.snapshot_dir / "billstatus-bulk" / f"bills-{c}.tar.gz" for c in config.congresses]
    ):
        with tarfile.open(path) as tar:
            for member in filter(tarfile.TarInfo.isfile, tar):
                data = tar.extractfile(member).read()
                orjson.loads(data) if member.name.endswith(".json") else lxml.etree.fromstring(data)
    for path in (config.snapshot_dir / "billstatus").glob("*.xml"):
        lxml.etree.fromstring(path.read_bytes())


def _parse_legislators(config: DataConfig) -> None:
    """congress-legislators: the terms and Presidents YAML (libyaml) and the id crosswalk CSVs."""
    import pandas as pd
    import yaml

    folder = config.snapshot_dir / "congress-legislators"
    for name in ("legislators-current.yaml", "executive.yaml"):
        yaml.load((folder / name).read_bytes(), Loader=yaml.CSafeLoader)
    for path in [*folder.glob("legislators-*.csv"), *folder.glob("legislators-*.csv.gz")]:
        pd.read_csv(path)


def _votes_table():
    """The pipeline's own votes table, read (before the clock starts) to be written again."""
    import pyarrow.parquet as pq

    path = TABLES_DIR / "votes.parquet"
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `dvc repro` first")
    return pq.read_table(path)


BOUND_PARTS = {
    "interpreter and imports": _start_interpreter,
    "vote records (JSON, voter fields)": _parse_vote_records,
    "Voteview CSVs": _parse_voteview,
    "bills (XML, JSON)": _parse_bills,
    "congress-legislators (YAML, CSV)": _parse_legislators,
}


def ingest_bound(config: DataConfig) -> dict:
    """How fast any ingest of these inputs could be on this machine: the CPU seconds of merely parsing each input
    with the fastest reader at hand (and taking out of the vote JSON each voter's id, party and state, which the
    votes table holds) and writing the votes table, nothing joined, checked or kept; divided by the
    cores, the wall time of a perfectly parallel ingest that did nothing else. Compared with the decompression
    floor and the ingest's 3x target (issue 12). (The votes table's write is timed apart from its read.)"""
    import pyarrow.parquet as pq

    from pipeline import engine

    table = _votes_table()

    def write_votes(_: DataConfig) -> None:  # the one large output, from columns already built
        pq.write_table(table, os.devnull, row_group_size=engine.ROW_GROUP)

    parts = {}
    for name, work in {**BOUND_PARTS, "votes table (parquet)": write_votes}.items():
        wall, cpu = time.perf_counter(), _cpu_seconds()
        work(config)
        parts[name] = {
            "wall_s": round(time.perf_counter() - wall, 2),
            "cpu_s": round(_cpu_seconds() - cpu, 2),
        }
        print(f"  {name:36} {parts[name]['wall_s']:6.2f} s wall {parts[name]['cpu_s']:6.2f} s CPU")
    cores, floor = os.cpu_count() or 1, decompression_floor(config)[0]
    cpu = sum(part["cpu_s"] for part in parts.values())
    print(
        f"ingest bound: {cpu:.2f} CPU-s of bare parsing and writing / {cores} cores = {cpu / cores:.2f} s, "
        f"{cpu / cores / floor:.1f}x the decompression floor ({floor:.2f} s); the target 3x is {3 * floor:.2f} s"
    )
    bound = {"parts": parts, "cpu_s": round(cpu, 2), "cores": cores, "floor_s": round(floor, 2)}
    return bound | {"bound_s": round(cpu / cores, 2), "bound_ratio": round(cpu / cores / floor, 2)}


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
        print(json.dumps(pipeline_scaling()))
        return
    if "--forecast" in sys.argv[1:]:
        sys.path.insert(0, str(ROOT / "scripts"))
        from benchmark_forecast import measure

        print(json.dumps(measure(), indent=2))
        return
    if "--ingest-bound" in sys.argv[1:]:
        print(json.dumps(ingest_bound(DataConfig.from_params())))
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
