"""The static world: model families, regions and segments, read from the shipped data files.

The data files carry the sources; this module turns them into arrays the model indexes by
family, region and segment number.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np

from sim.calendar import month_index

ORIGINS = ("CN", "US", "EU", "other")
CN_LAG = -1.0  # `knowhow_lag` marker: the lab takes the calibrated Chinese know-how lag


@dataclass(frozen=True)
class World:
    """Families, regions and segments as parallel arrays (index = family/region/segment id)."""

    families: tuple[str, ...]
    labs: tuple[str, ...]
    origin: np.ndarray  # int index into ORIGINS
    open: np.ndarray  # bool
    license: np.ndarray
    first_release: np.ndarray  # step index from which the family can be available
    compute: np.ndarray  # FLOP at 2023-01
    knowhow_lag: np.ndarray  # months behind the know-how frontier at 2023-01; CN_LAG = calibrated
    cadence: np.ndarray
    breadth: np.ndarray
    brand: np.ndarray
    zh: np.ndarray
    business: tuple[str, ...]
    lead_premium: np.ndarray  # (family,) share of the closed-lead markup its business can charge
    open_value: np.ndarray  # (family,) rating points of lead its lab gives up to publish weights
    regions: tuple[str, ...]
    region_share: np.ndarray
    router: np.ndarray  # (region,) weight in the API-router traffic the global usage shares measure
    zh_need: np.ndarray
    distrust: np.ndarray  # (region, origin)
    closed_unavailable: np.ndarray  # (region, origin) bool
    segments: tuple[str, ...]
    segment_share: np.ndarray
    volume: np.ndarray
    w_capability: np.ndarray
    w_price: np.ndarray
    w_open: np.ndarray
    w_trust: np.ndarray
    task_share: np.ndarray  # (segment, task) token shares
    tasks: tuple[str, ...]
    task_labels: tuple[str, ...]
    task_w_capability: np.ndarray  # (task,)
    task_w_price: np.ndarray
    task_w_open: np.ndarray
    reasoning_month: int  # step at which the reasoning step moves the know-how frontier
    reasoning_family: int  # the family whose lab holds it first

    @property
    def n_families(self) -> int:
        return len(self.families)

    def family_index(self, name: str) -> int:
        return self.families.index(name)


def _read(name: str) -> dict:
    text = resources.files("sim.data").joinpath(name).read_text(encoding="utf-8")
    return tomllib.loads(text)


def _col(rows: list[dict], key: str, dtype=float) -> np.ndarray:
    return np.array([r[key] for r in rows], dtype=dtype)


@cache
def load_world() -> World:
    """Read `sim/data/families.toml` and `sim/data/regions.toml` (cached: they never change)."""
    fam_data = _read("families.toml")
    fam = fam_data["family"]
    reg = _read("regions.toml")
    regions, segments = reg["region"], reg["segment"]
    first = [month_index(f["first_release"], "families.toml", f["name"]) for f in fam]
    business = {b["name"]: b for b in fam_data["business"]}
    tasks = reg["task"]
    reasoning = fam_data["reasoning"]
    names = [f["name"] for f in fam]
    return World(
        families=tuple(names),
        labs=tuple(f["lab"] for f in fam),
        origin=np.array([ORIGINS.index(f["origin"]) for f in fam]),
        open=_col(fam, "open", bool),
        license=_col(fam, "license"),
        first_release=np.array(first),
        compute=_col(fam, "compute"),
        knowhow_lag=np.array([CN_LAG if f["knowhow_lag"] == "cn" else f["knowhow_lag"] for f in fam], float),
        cadence=_col(fam, "cadence", int),
        breadth=_col(fam, "breadth"),
        brand=_col(fam, "brand"),
        zh=_col(fam, "zh"),
        business=tuple(f["business"] for f in fam),
        lead_premium=np.array([business[f["business"]]["lead_premium"] for f in fam]),
        open_value=np.array([business[f["business"]]["open_value"] for f in fam]),
        regions=tuple(r["name"] for r in regions),
        region_share=_col(regions, "share"),
        router=_col(regions, "router"),
        zh_need=_col(regions, "zh_need"),
        distrust=np.array([[r["distrust"][o] for o in ORIGINS] for r in regions]),
        closed_unavailable=np.array([[o in r["closed_unavailable"] for o in ORIGINS] for r in regions]),
        segments=tuple(s["name"] for s in segments),
        segment_share=_col(segments, "share"),
        volume=_col(segments, "volume"),
        w_capability=_col(segments, "w_capability"),
        w_price=_col(segments, "w_price"),
        w_open=_col(segments, "w_open"),
        w_trust=_col(segments, "w_trust"),
        task_share=np.array([[s["task_share"][t["name"]] for t in tasks] for s in segments]),
        tasks=tuple(t["name"] for t in tasks),
        task_labels=tuple(t["label"] for t in tasks),
        task_w_capability=_col(tasks, "w_capability"),
        task_w_price=_col(tasks, "w_price"),
        task_w_open=_col(tasks, "w_open"),
        reasoning_month=month_index(reasoning["month"], "families.toml", "reasoning.month"),
        reasoning_family=names.index(reasoning["family"]),
    )
