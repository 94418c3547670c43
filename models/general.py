"""DVC stage `general`: the general vote model over every roll call with a known sponsor.

Fits one model per congress on the congresses before it (the backtest and the NATO model's out-of-time
context), scores it by year and chamber against a party-line baseline keyed on the sponsor's party, checks that
cosponsors get the Yea rate they show, and fits the final model on everything up to ``as_of``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from features.context import CONTEXT_FEATURES
from models import context_model
from models.metrics import headline_score
from pipeline.config import MODELS_DIR, DataConfig, load_params, stage_arguments
from pipeline.errors import DataError, debug_requested, run_stage
from pipeline.tables import release_free_memory, write_json, write_parquet

log = logging.getLogger("natocast.general")
GENERAL_DIR = MODELS_DIR / "general"
# what the stage holds for every row: keys, the baseline's and the commitment table's columns, the label
LIGHT_COLUMNS = [
    "measure_id",
    "bioguide_id",
    "date",
    "congress",
    "chamber",
    "party",
    "procedure",
    "voted_yea",
    "is_sponsor",
    "is_cosponsor",
    "is_senate",
    "same_party_as_sponsor",
    "sponsor_is_republican",
]


class GeneralRows:
    """general.parquet dated by ``as_of``, read so that memory does not hold every row's features: the light
    columns of every row whole (``light``), the features only of the rows a model is fitted on (``take``) or a
    row group at a time for scoring (``groups``). Millions of rows' forty features never sit in memory at once."""

    def __init__(self, path: Path, as_of: pd.Timestamp):
        self.path = path
        self.file = self._read(lambda: pq.ParquetFile(path))
        self._check(LIGHT_COLUMNS)
        light = self._read(lambda: self.file.read(columns=LIGHT_COLUMNS).to_pandas())
        release_free_memory()
        kept = (light["date"] <= as_of).to_numpy()
        self.file_rows = np.flatnonzero(kept)  # a row of ``light`` -> its row in the file
        self.light = light if kept.all() else light[kept].reset_index(drop=True)
        sizes = [self.file.metadata.row_group(i).num_rows for i in range(self.file.num_row_groups)]
        self.group_starts = np.r_[0, np.cumsum(sizes)]

    def _read(self, read):
        """``read()``, a file pyarrow cannot read (truncated, not parquet) named in a ``DataError``."""
        try:
            return read()
        except (OSError, ValueError) as exc:  # pyarrow's errors
            raise DataError(f"{self.path}: cannot read the general rows ({exc}): run `dvc repro` first") from exc

    def _check(self, columns: list[str]) -> None:
        """A column the file lacks is an error here, not a column left out (pyarrow's row-group reads skip it)."""
        missing = sorted(set(columns) - set(self.file.schema_arrow.names))
        if missing:
            raise DataError(f"{self.path}: no column {', '.join(missing)} in the general rows: run `dvc repro` first")

    def take(self, positions: np.ndarray, columns: list[str]) -> pd.DataFrame:
        """``columns`` of the rows at ``positions`` (of ``light``), in that order: each row group read once."""
        self._check(columns)
        rows = self.file_rows[np.asarray(positions)]
        group = np.searchsorted(self.group_starts, rows, side="right") - 1
        order = np.argsort(group, kind="stable")
        parts = []
        for number in np.unique(group):
            mine = order[group[order] == number]
            table = self.file.read_row_group(int(number), columns=columns)
            parts.append(table.take(rows[mine] - self.group_starts[number]).to_pandas())
        frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
        release_free_memory()
        return frame.iloc[np.argsort(order, kind="stable")].reset_index(drop=True)

    def groups(self, columns: list[str]) -> Iterator[tuple[np.ndarray, pd.DataFrame]]:
        """(positions in ``light``, ``columns`` of those rows) a row group at a time, in file order."""
        self._check(columns)
        light_of = np.full(self.file.metadata.num_rows, -1, dtype=np.int64)
        light_of[self.file_rows] = np.arange(len(self.file_rows))
        for number in range(self.file.num_row_groups):
            frame = self.file.read_row_group(number, columns=columns).to_pandas()
            positions = light_of[self.group_starts[number] : self.group_starts[number + 1]]
            kept = positions >= 0
            yield positions[kept], (frame if kept.all() else frame[kept].reset_index(drop=True))
            del frame
            release_free_memory()  # the group's features gone (the caller drops its own) before the next is read


def party_line_by_sponsor(general: pd.DataFrame, congresses: list[int], clip: tuple[float, float]) -> np.ndarray:
    """Baseline: the Yea rate of the member's party on earlier roll calls sponsored by each party, per chamber
    and procedure (falling back to party and sponsor's party, then to the overall rate), before each congress."""
    result = np.full(len(general), np.nan)
    keys = [
        ["chamber", "party", "sponsor_is_republican", "procedure"],
        ["chamber", "party", "sponsor_is_republican"],
    ]
    columns = list(dict.fromkeys([*keys[0], *keys[1], "voted_yea"]))  # the columns read: not whole rows copied
    for congress in congresses:
        earlier = general.loc[(general["date"] < context_model.congress_start(congress)).to_numpy(), columns]
        rows = (general["congress"] == congress).to_numpy()
        if earlier.empty or not rows.any():
            continue
        guess = np.full(int(rows.sum()), earlier["voted_yea"].mean())
        for key in reversed(keys):  # the finest key that has history wins
            rates = earlier.groupby(key, dropna=False)["voted_yea"].mean()
            found = rates.reindex(pd.MultiIndex.from_frame(general.loc[rows, key])).to_numpy()
            guess = np.where(np.isnan(found), guess, found)
        result[rows] = guess
    return np.clip(result, *clip)


def streamed_yea(rows: GeneralRows, models: dict) -> np.ndarray:
    """``context_model.out_of_time_yea`` of every general row, a row group at a time."""
    result = np.full(len(rows.light), np.nan)
    columns = list(dict.fromkeys([*CONTEXT_FEATURES, *context_model.COMMITMENT_COLUMNS, "congress"]))
    for positions, frame in rows.groups(columns):
        result[positions] = context_model.out_of_time_yea(frame, models)
        del frame  # so that ``groups`` can give its memory back
    return result


def general_backtest(
    general: pd.DataFrame, p_general: np.ndarray, congresses: list[int], clip: tuple[float, float]
) -> pd.DataFrame:
    """Out-of-time P(Yea) of the model (``p_general``, per row of ``general``) and of the baseline for every
    general row a model exists for."""
    scored = general[["measure_id", "bioguide_id", "date", "congress", "chamber", "party", "voted_yea"]].copy()
    scored["is_cosponsor"] = general["is_cosponsor"].to_numpy()
    scored["is_sponsor"] = general["is_sponsor"].to_numpy()
    scored["p_general"] = p_general
    scored["p_party_line_by_sponsor"] = party_line_by_sponsor(general, congresses, clip)
    scored = scored.dropna(subset=["p_general", "p_party_line_by_sponsor"])
    scored["year"] = scored["date"].dt.year
    return scored


def backtest_metrics(scored: pd.DataFrame, bins: int) -> dict:
    """Log loss and friends of both methods, pooled, by chamber and by year; sponsors' and cosponsors' mean
    P(Yea) against the rate they voted Yea."""
    table: dict = {}
    for method in ("general", "party_line_by_sponsor"):  # only the columns scored: not the whole frame copied
        frame = scored[["measure_id", "chamber", "year", "voted_yea"]].assign(p_yea=scored[f"p_{method}"])
        entry = {"pooled": headline_score(frame, bins)}
        for chamber, part in frame.groupby("chamber"):
            entry[chamber] = headline_score(part, bins)
        for year, part in frame.groupby("year"):
            entry[f"year_{year}"] = headline_score(part, bins)
        table[method] = entry
    for role in ("is_cosponsor", "is_sponsor"):
        chosen = scored[scored[role] == 1]
        table[role.removeprefix("is_") + "s"] = {
            "votes": int(len(chosen)),
            "mean_p_yea": round(float(chosen["p_general"].mean()), 4),
            "observed_yea_rate": round(float(chosen["voted_yea"].mean()), 4),
        }
    return table


def main(argv: list[str] | None = None) -> None:
    """DVC stage `general`: the general vote model, fitted per congress (out of time) and on everything."""
    args = stage_arguments("fit the general vote model", "features", "models", "metrics", argv=argv)
    general_dir = args.models / "general"
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    params = load_params()
    config = DataConfig.from_params(params)
    settings = params["general_model"]
    rows = GeneralRows(args.features / "general.parquet", config.as_of)
    general = rows.light
    training = pd.read_parquet(args.features / "training.parquet")
    congresses = sorted(set(general["congress"]) | set(training["congress"]))
    models = context_model.fit_by_congress(general, congresses, CONTEXT_FEATURES, settings, rows.take)
    log.info("fitted %d models by congress (%s)", len(models), ", ".join(map(str, models)))
    final = context_model.fit(general, CONTEXT_FEATURES, settings, take=rows.take)  # before the backtest's frames
    final.save(general_dir / "context_booster.json")
    release_free_memory()
    clip = tuple(params["evaluate"]["baseline_clip"])
    scored = general_backtest(general, streamed_yea(rows, models), congresses, clip)
    metrics = backtest_metrics(scored, params["evaluate"]["ece_bins"])
    context = training[["measure_id", "bioguide_id"]].assign(
        context_p_yea=context_model.out_of_time_yea(training, models)
    )
    write_parquet(context, general_dir / "context_out_of_time.parquet")
    write_parquet(scored, general_dir / "backtest.parquet")
    metrics["rows"] = {
        "general": len(general),
        "backtest": len(scored),
        "final_fit": min(len(general), settings["max_rows"]),
    }
    write_json(_rounded(metrics), args.metrics / "general.json")
    pooled, baseline = metrics["general"]["pooled"], metrics["party_line_by_sponsor"]["pooled"]
    log.info(
        "backtest over %d votes: log loss %.4f (party line by sponsor %.4f); cosponsors mean P(Yea) %.3f vs %.3f",
        pooled["votes"], pooled["log_loss"], baseline["log_loss"],
        metrics["cosponsors"]["mean_p_yea"], metrics["cosponsors"]["observed_yea_rate"],
    )  # fmt: skip


def _rounded(value, digits: int = 4):
    """Metrics rounded so that a rerun of the same inputs writes the same file."""
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, float):
        return round(value, digits)
    return value


if __name__ == "__main__":
    sys.exit(run_stage("general", main, debug_requested(sys.argv[1:])))  # bad input: one line, status 2
