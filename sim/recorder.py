"""Outputs: what is recorded each month, into preallocated arrays, and the tables built from them.

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

COLUMNS: dict[str, dict[str, tuple[str, str]]] = {
    "timeseries": {
        "month": ("YYYY-MM", "Calendar month."),
        "usage_share_cn_open": ("share", "Share of all developers' tokens on Chinese open-weight families."),
        "usage_share_west_open": ("share", "Share of tokens on non-Chinese open-weight families (US, EU, other)."),
        "usage_share_closed": ("share", "Share of tokens on closed (API-only) families; the three shares sum to 1."),
        "download_share_cn_open": ("share", "Chinese families' share of this month's open-model downloads."),
        "startup_share_cn_among_open": ("share", "Among startups using an open family, the share on a Chinese one."),
        "best_capability_cn_open": ("rating points", "Capability of the best available Chinese open release."),
        "best_capability_west_open": ("rating points", "Capability of the best available non-Chinese open release."),
        "best_capability_closed": ("rating points", "Capability of the best available closed release."),
        "cn_compute_index": ("x 2023-01", "Chinese labs' total training compute relative to 2023-01."),
        "cn_domestic_chip_share": ("share", "Share of Chinese labs' compute on domestic chips."),
        "chip_tightness": ("0-1", "Tightness of US chip export controls in force."),
        "price_index_cn": ("USD per Mtok", "Geometric mean list price of available Chinese families."),
        "price_index_us": ("USD per Mtok", "Geometric mean list price of available US families."),
        "price_index_eu": ("USD per Mtok", "Geometric mean list price of available EU families."),
        "adopters": ("developers", "Real developers using some model (agents x scale)."),
        "welfare": ("utils", "Logit consumer surplus: mean expected maximum utility of reviewing developers."),
    },
    "families": {
        "month": ("YYYY-MM", "Calendar month."),
        "family": ("name", "Model family."),
        "origin": ("bloc", "Origin of the lab: CN, US, EU or other."),
        "open": ("bool", "Open weights."),
        "available": ("bool", "Released and available to developers this month."),
        "users": ("developers", "Real developers using the family."),
        "usage_share": ("share", "Family's share of all tokens."),
        "downloads": ("downloads", "Downloads this month (open families only)."),
        "cum_downloads": ("downloads", "Downloads since 2023-01."),
        "derivatives": ("models", "Derivative models (fine-tunes) published since 2023-01."),
        "price": ("USD per Mtok", "List price per million tokens, blended input/output."),
        "capability": ("rating points", "Capability of the current release (arena-style rating)."),
    },
    "regions": {
        "month": ("YYYY-MM", "Calendar month."),
        "region": ("name", "Developer region."),
        "usage_share_cn_open": ("share", "Region's token share on Chinese open families."),
        "usage_share_west_open": ("share", "Region's token share on non-Chinese open families."),
        "usage_share_closed": ("share", "Region's token share on closed families."),
        "startup_share_cn_among_open": (
            "share",
            "Among the region's startups on open families, the share on Chinese ones.",
        ),
        "adopters": ("developers", "Real developers in the region using some model."),
        "welfare": ("utils", "Mean logit consumer surplus of the region's reviewing developers."),
    },
}


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(whole > 0, part / np.where(whole > 0, whole, 1), np.nan)


class Recorder:
    """Preallocated monthly arrays for the three output tables."""

    def __init__(self, world: World, months: int) -> None:
        nf, nr = world.n_families, len(world.regions)
        self.world, self.months = world, months
        self.ts = {k: np.full(months, np.nan) for k in COLUMNS["timeseries"] if k != "month"}
        self.fam = {
            k: np.zeros((months, nf))
            for k in (
                "users",
                "usage_share",
                "downloads",
                "cum_downloads",
                "derivatives",
                "price",
                "capability",
                "available",
            )
        }
        reg_cols = [k for k in COLUMNS["regions"] if k not in ("month", "region")]
        self.reg = {k: np.full((months, nr), np.nan) for k in reg_cols}
        cn = np.array(ORIGINS)[world.origin] == "CN"
        self.cn_open = cn & world.open
        self.west_open = ~cn & world.open
        self.startup = world.segments.index("startup")

    def record(self, m: WeightshiftModel, t: int, decision: Decision) -> None:
        """Store month t's outputs."""
        w, pop, nr = self.world, m.pop, len(self.world.regions)
        inside = m.entered
        reg = pop.region[inside]
        vol = m.region_volume
        tot = vol.sum(axis=1)
        startup_open = inside & (pop.segment == self.startup) & w.open[np.maximum(m.choice, 0)]
        so_reg = pop.region[startup_open]
        so_cn = self.cn_open[m.choice[startup_open]]
        n_open = np.bincount(so_reg, minlength=nr)
        n_cn = np.bincount(so_reg, weights=so_cn, minlength=nr)
        adopters = np.bincount(reg, minlength=nr) * m.scale
        ls_sum = np.bincount(pop.region[decision.reviewers], weights=decision.logsum, minlength=nr)
        ls_n = np.bincount(pop.region[decision.reviewers], minlength=nr)
        self.reg["usage_share_cn_open"][t] = _share(vol[:, self.cn_open].sum(1), tot)
        self.reg["usage_share_west_open"][t] = _share(vol[:, self.west_open].sum(1), tot)
        self.reg["usage_share_closed"][t] = _share(vol[:, ~w.open].sum(1), tot)
        self.reg["startup_share_cn_among_open"][t] = _share(n_cn, n_open)
        self.reg["adopters"][t] = adopters
        self.reg["welfare"][t] = _share(ls_sum, ls_n)
        self._record_global(m, t, vol.sum(0), n_cn.sum(), n_open.sum(), decision)

    def _record_global(
        self, m: WeightshiftModel, t: int, vol: np.ndarray, n_cn: float, n_open: float, decision: Decision
    ) -> None:
        total = vol.sum()
        ts, avail = self.ts, m.available
        ts["usage_share_cn_open"][t] = _share(vol[self.cn_open].sum(), total)
        ts["usage_share_west_open"][t] = _share(vol[self.west_open].sum(), total)
        ts["usage_share_closed"][t] = _share(vol[~self.world.open].sum(), total)
        ts["download_share_cn_open"][t] = _share(m.downloads[self.cn_open].sum(), m.downloads.sum())
        ts["startup_share_cn_among_open"][t] = _share(n_cn, n_open)
        for key, mask in (("cn_open", self.cn_open), ("west_open", self.west_open), ("closed", ~self.world.open)):
            caps = m.capability[mask & avail]
            ts[f"best_capability_{key}"][t] = caps.max() if caps.size else np.nan
        ts["cn_compute_index"][t] = m.cn_compute_index()
        ts["cn_domestic_chip_share"][t] = m.domestic_chip_share()
        ts["chip_tightness"][t] = m.effects.chip_tightness
        for origin in ("CN", "US", "EU"):
            ts[f"price_index_{origin.lower()}"][t] = m.geo_price(origin)
        ts["adopters"][t] = m.entered.sum() * m.scale
        ts["welfare"][t] = decision.logsum.mean() if len(decision.logsum) else np.nan
        fam = self.fam
        fam["users"][t], fam["usage_share"][t] = m.users, m.usage_share
        fam["downloads"][t], fam["cum_downloads"][t] = m.downloads, m.cum_downloads
        fam["derivatives"][t], fam["price"][t] = m.derivatives, m.price
        fam["capability"][t], fam["available"][t] = m.capability, avail

    def tables(self, months: int) -> dict[str, pd.DataFrame]:
        """The three tidy tables for the first `months` recorded months."""
        w = self.world
        labels = [month_label(t) for t in range(months)]
        ts = pd.DataFrame({"month": labels} | {k: v[:months] for k, v in self.ts.items()})
        nf, nr = w.n_families, len(w.regions)
        fam = pd.DataFrame(
            {
                "month": np.repeat(labels, nf),
                "family": np.tile(w.families, months),
                "origin": np.tile(np.array(ORIGINS)[w.origin], months),
                "open": np.tile(w.open, months),
                "available": self.fam["available"][:months].ravel().astype(bool),
            }
            | {
                k: self.fam[k][:months].ravel()
                for k in COLUMNS["families"]
                if k not in ("month", "family", "origin", "open", "available")
            }
        )
        reg = pd.DataFrame(
            {"month": np.repeat(labels, nr), "region": np.tile(w.regions, months)}
            | {k: v[:months].ravel() for k, v in self.reg.items()}
        )
        return {"timeseries": ts, "families": fam, "regions": reg}
