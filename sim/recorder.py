"""Outputs: what is recorded each month, into preallocated arrays, and the tables built from them.

Usage is measured as the share of tokens on an API router (the basis of the OpenRouter/a16z
figures the usage targets come from), not all AI use: enterprise and consumer use lean far more to
closed models.

`COLUMNS` documents every output column (unit and one-line definition); the README's output
reference and `weightshift columns` are generated from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sim.calendar import month_label
from sim.world import ORIGINS, World

if TYPE_CHECKING:
    from sim.choice import Decision
    from sim.model import WeightshiftModel

BLOCS = ("cn_open", "west_open", "closed")
TASKS = ("frontier", "commodity", "local")  # the task types of sim/data/regions.toml, in order

_TS: dict[str, tuple[str, str]] = {
    "month": ("YYYY-MM", "Calendar month."),
    "usage_share_cn_open": ("share", "Share of developers' API-router tokens on Chinese open-weight families."),
    "usage_share_west_open": ("share", "Share of tokens on non-Chinese open-weight families (US, EU, other)."),
    "usage_share_closed": ("share", "Share of tokens on closed (API-only) families; the three shares sum to 1."),
}
for _task in TASKS:
    for _bloc, _what in zip(BLOCS, ("Chinese open", "non-Chinese open", "closed"), strict=True):
        _TS[f"usage_share_{_bloc}_{_task}"] = ("share", f"Share of {_task}-task tokens on {_what} families.")
_TS |= {
    "multi_model_share": ("share", "Share of adopters using two or more families across their task types."),
    "download_share_cn_open": ("share", "Chinese families' share of this month's open-model downloads."),
    "startup_share_cn_among_open": ("share", "Among startups' task uses of open families, the share on a Chinese one."),
    "best_capability_cn_open": ("rating points", "Capability of the best available Chinese open release."),
    "best_capability_west_open": ("rating points", "Capability of the best available non-Chinese open release."),
    "best_capability_closed": ("rating points", "Capability of the best available closed release (any origin)."),
    "best_capability_us_closed": ("rating points", "Capability of the best available US closed release."),
    "best_capability_cn": ("rating points", "Capability of the best available Chinese release, open or closed."),
    "best_capability_us": ("rating points", "Capability of the best available US release, open or closed."),
    "cn_knowhow_lag_months": (
        "months",
        "Months by which the best-placed Chinese lab's know-how trails the frontier (negative: its premium is ahead).",
    ),
    "cn_compute_index": ("x 2023-01", "Chinese labs' total effective training compute relative to 2023-01."),
    "cn_domestic_chip_share": ("share", "Share of Chinese labs' effective compute on domestic chips."),
    "cn_frontier_chip_share": ("share", "Share of Chinese labs' effective compute on imported (Nvidia) chips."),
    "cn_serving_cost": (
        "USD per Mtok",
        "Geometric mean cost for available Chinese families to serve a token of the month's top capability"
        " (capability-adjusted: chips, hardware and know-how, not how weak a model is).",
    ),
    "chip_tightness": ("0-1", "Tightness of US chip export controls in force."),
    "price_index_cn": ("USD per Mtok", "Geometric mean list price of available Chinese families."),
    "price_index_us": ("USD per Mtok", "Geometric mean list price of available US families."),
    "price_index_eu": ("USD per Mtok", "Geometric mean list price of available EU families."),
    "price_paid_cn": ("USD per Mtok", "Geometric mean price developers pay for Chinese families (all regions)."),
    "price_paid_us": ("USD per Mtok", "Geometric mean price developers pay for US families (all regions)."),
    "price_paid_eu": ("USD per Mtok", "Geometric mean price developers pay for EU families (all regions)."),
    "open_lines_publishing": ("labs", "Open model lines whose lab publishes weights at its releases."),
    "adopters": ("developers", "Real developers using some model (agents x scale)."),
    "welfare": (
        "utils",
        "Mean consumer surplus of a random sample of this month's reviewing developers: task-weighted logit "
        "logsum, capability against a fixed reference, awareness left out; comparable across scenarios.",
    ),
    "welfare_price_equiv": ("tenfold prices", "Welfare divided by the price coefficient: tenfold price cuts worth it."),
}

_BLOC_COLUMNS = {
    "usage_share_cn_open": ("share", "Token share on Chinese open families."),
    "usage_share_west_open": ("share", "Token share on non-Chinese open families."),
    "usage_share_closed": ("share", "Token share on closed families."),
}

COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "timeseries": _TS,
    "families": {
        "month": ("YYYY-MM", "Calendar month."),
        "family": ("name", "Model family."),
        "origin": ("bloc", "Origin of the lab: CN, US, EU or other."),
        "open": ("bool", "An open-weights line."),
        "available": ("bool", "Released and available to developers this month."),
        "publishing": ("bool", "Open line whose lab publishes weights at its releases (its decision); closed: False."),
        "users": ("developers", "Real developers using the family for at least one task."),
        "usage_share": ("share", "Family's share of all tokens."),
        "downloads": ("downloads", "Downloads this month (open families only)."),
        "cum_downloads": ("downloads", "Downloads since 2023-01."),
        "derivatives": ("models", "Derivative models (fine-tunes) published since 2023-01."),
        "releases": ("releases", "Releases since 2023-01."),
        "capability": ("rating points", "Capability of the current release (arena-style rating)."),
        "compute": ("FLOP", "Lab's effective training compute for this family."),
        "knowhow_lag": ("months", "Months by which the lab's know-how trails the world frontier."),
        "cost": ("USD per Mtok", "Serving cost per million tokens."),
        "markup": ("fraction", "Markup over serving cost."),
        "price": ("USD per Mtok", "List price per million tokens, blended input/output."),
        "price_paid": ("USD per Mtok", "Geometric mean over regions of the price developers pay (after policies)."),
    },
    "regions": {
        "month": ("YYYY-MM", "Calendar month."),
        "region": ("name", "Developer region."),
        **{k: (u, "Region's " + d[0].lower() + d[1:]) for k, (u, d) in _BLOC_COLUMNS.items()},
        "startup_share_cn_among_open": (
            "share",
            "Among the region's startups' task uses of open families, the share on Chinese ones.",
        ),
        "adopters": ("developers", "Real developers in the region using some model."),
        "welfare": ("utils", "Consumer surplus of the region's reviewing developers (as timeseries `welfare`)."),
    },
    "segments": {
        "month": ("YYYY-MM", "Calendar month."),
        "segment": ("name", "Developer segment."),
        **{k: (u, "Segment's " + d[0].lower() + d[1:]) for k, (u, d) in _BLOC_COLUMNS.items()},
        "adopters": ("developers", "Real developers in the segment using some model."),
        "welfare": ("utils", "Consumer surplus of the segment's reviewing developers (as timeseries `welfare`)."),
    },
}


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(whole > 0, part / np.where(whole > 0, whole, 1), np.nan)


def _ratio(part: float, whole: float) -> float:
    """`_share` of two numbers, without numpy's per-call overhead (a dozen of them a month)."""
    return float(part / whole) if whole > 0 else np.nan


class Recorder:
    """Preallocated monthly arrays for the output tables."""

    FAMILY_ARRAYS = (
        "users",
        "usage_share",
        "downloads",
        "cum_downloads",
        "derivatives",
        "releases",
        "capability",
        "compute",
        "knowhow_lag",
        "cost",
        "markup",
        "price",
        "price_paid",
        "available",
        "publishing",
    )

    def __init__(self, world: World, months: int, timeseries_only: bool = False) -> None:
        """`timeseries_only`: record the timeseries table alone, except the two columns that need the
        per-group tallies (`multi_model_share`, `startup_share_cn_among_open`: left NaN) and with the
        other tables empty. For the UI's preview, which shows only headline numbers and time charts:
        the other tables took an eighth of its run, time a visitor waits for after moving a slider."""
        nf = world.n_families
        self.world, self.months, self.timeseries_only = world, months, timeseries_only
        self.ts = {k: np.full(months, np.nan) for k in COLUMNS["timeseries"] if k != "month"}
        self.fam = {k: np.zeros((months, nf)) for k in self.FAMILY_ARRAYS}
        self.reg = self._grouped("regions", len(world.regions))
        self.seg = self._grouped("segments", len(world.segments))
        cn = np.array(ORIGINS)[world.origin] == "CN"
        self.masks = {"cn_open": cn & world.open, "west_open": ~cn & world.open, "closed": ~world.open}
        self.startup = world.segments.index("startup")

    def _grouped(self, table: str, n: int) -> dict[str, np.ndarray]:
        cols = [k for k in COLUMNS[table] if k not in ("month", "region", "segment")]
        return {k: np.full((self.months, n), np.nan) for k in cols}

    def record(self, m: WeightshiftModel, t: int, decision: Decision) -> None:
        """Store month t's outputs."""
        if self.timeseries_only:
            self._record_global(m, t, decision)
            return
        w, pop = self.world, m.pop
        seg_vol = m.rsf_volume.sum(axis=0)
        usage, shape = m.usage, m.rsf_volume.shape
        startup_uses = usage.uses.reshape(shape)[:, self.startup, :]  # (region, family) task uses by startups
        n_open = startup_uses[:, w.open].sum(axis=1).astype(float)
        n_cn = startup_uses[:, self.masks["cn_open"]].sum(axis=1).astype(float)
        adopters = usage.adopters.reshape(shape[:2])
        self._by_group(self.reg, t, m.region_volume, adopters.sum(axis=1), pop.region, decision, m.scale)
        self._by_group(self.seg, t, seg_vol, adopters.sum(axis=0), pop.segment, decision, m.scale)
        self.reg["startup_share_cn_among_open"][t] = _share(n_cn, n_open)
        self.ts["startup_share_cn_among_open"][t] = _ratio(n_cn.sum(), n_open.sum())
        self.ts["multi_model_share"][t] = _ratio(float(usage.mixed), float(usage.adopters.sum()))
        self._record_global(m, t, decision)
        self._record_families(m, t)

    def _by_group(
        self,
        out: dict,
        t: int,
        vol: np.ndarray,
        adopters: np.ndarray,
        group: np.ndarray,
        decision: Decision,
        scale: float,
    ) -> None:
        """One group table's month: bloc shares of `vol` (group, family), adopters and reviewers' welfare."""
        n = vol.shape[0]
        tot = vol.sum(axis=1)
        for bloc, mask in self.masks.items():
            out[f"usage_share_{bloc}"][t] = _share(vol[:, mask].sum(1), tot)
        out["adopters"][t] = adopters * scale
        who = group[decision.reviewers]
        out["welfare"][t] = _share(
            np.bincount(who, weights=decision.welfare, minlength=n), np.bincount(who, minlength=n)
        )

    def _record_global(self, m: WeightshiftModel, t: int, decision: Decision) -> None:
        ts, avail, w = self.ts, m.available, self.world
        vol = w.router @ m.region_volume
        for bloc, mask in self.masks.items():
            ts[f"usage_share_{bloc}"][t] = _ratio(vol[mask].sum(), vol.sum())
            for i, task in enumerate(w.tasks):
                ts[f"usage_share_{bloc}_{task}"][t] = _ratio(m.task_volume[i, mask].sum(), m.task_volume[i].sum())
        ts["download_share_cn_open"][t] = _ratio(m.downloads[self.masks["cn_open"]].sum(), m.downloads.sum())
        origin = np.array(ORIGINS)[w.origin]
        best = {
            "cn_open": self.masks["cn_open"],
            "west_open": self.masks["west_open"],
            "closed": ~w.open,
            "us_closed": (origin == "US") & ~w.open,
            "cn": origin == "CN",
            "us": origin == "US",
        }
        for key, mask in best.items():
            caps = m.capability[mask & avail]
            ts[f"best_capability_{key}"][t] = caps.max() if caps.size else np.nan
        cn_labs = [lab for lab in m.labs if lab.is_cn]
        ts["cn_knowhow_lag_months"][t] = min(lab.lag_months for lab in cn_labs)
        ts["cn_compute_index"][t] = m.cn_compute_index()
        ts["cn_domestic_chip_share"][t] = m.domestic_chip_share()
        ts["cn_frontier_chip_share"][t] = 1.0 - ts["cn_domestic_chip_share"][t]
        ts["cn_serving_cost"][t] = m.geo_mean(m.unit_cost, "CN")
        ts["chip_tightness"][t] = m.effects.chip_tightness
        paid = np.exp(np.log(m.price_paid).mean(axis=0))
        for o in ("CN", "US", "EU"):
            ts[f"price_index_{o.lower()}"][t] = m.geo_mean(m.price, o)
            ts[f"price_paid_{o.lower()}"][t] = m.geo_mean(paid, o)
        ts["open_lines_publishing"][t] = float(m.publishing.sum())
        ts["adopters"][t] = m.entered.sum() * m.scale
        ts["welfare"][t] = decision.welfare.mean() if len(decision.welfare) else np.nan
        ts["welfare_price_equiv"][t] = ts["welfare"][t] / m.p["beta_price"]
        self.paid_mean = paid

    def _record_families(self, m: WeightshiftModel, t: int) -> None:
        fam = self.fam
        fam["users"][t], fam["usage_share"][t] = m.users, m.usage_share
        fam["downloads"][t], fam["cum_downloads"][t] = m.downloads, m.cum_downloads
        fam["derivatives"][t], fam["capability"][t] = m.derivatives, m.capability
        fam["releases"][t] = [lab.releases for lab in m.labs]
        fam["compute"][t] = [lab.compute for lab in m.labs]
        fam["knowhow_lag"][t] = [lab.lag_months for lab in m.labs]
        fam["cost"][t], fam["price"][t], fam["price_paid"][t] = m.cost, m.price, self.paid_mean
        fam["markup"][t] = [lab.markup for lab in m.labs]
        fam["available"][t], fam["publishing"][t] = m.available, m.publishing

    def tables(self, months: int) -> dict[str, pd.DataFrame]:
        """The four tidy tables for the first `months` recorded months."""
        w = self.world
        labels = [month_label(t) for t in range(months)]
        ts = pd.DataFrame({"month": labels} | {k: v[:months] for k, v in self.ts.items()})
        nf = w.n_families
        fam = pd.DataFrame(
            {
                "month": np.repeat(labels, nf),
                "family": np.tile(w.families, months),
                "origin": np.tile(np.array(ORIGINS)[w.origin], months),
                "open": np.tile(w.open, months),
            }
            | {k: self.fam[k][:months].ravel() for k in COLUMNS["families"] if k in self.fam}
        )
        for k in ("available", "publishing"):
            fam[k] = fam[k].astype(bool)
        fam = fam[list(COLUMNS["families"])]
        return {
            "timeseries": ts,
            "families": fam,
            "regions": _grouped_table(labels, "region", w.regions, self.reg, months),
            "segments": _grouped_table(labels, "segment", w.segments, self.seg, months),
        }


def _grouped_table(labels: list[str], key: str, names: tuple[str, ...], data: dict, months: int) -> pd.DataFrame:
    n = len(names)
    return pd.DataFrame(
        {"month": np.repeat(labels, n), key: np.tile(names, months)} | {k: v[:months].ravel() for k, v in data.items()}
    )
