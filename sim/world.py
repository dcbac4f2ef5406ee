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
NEVER = 10_000  # step index of "not scheduled": trigger families wait for their lab's decision


@dataclass(frozen=True)
class World:
    """Families, regions and segments as parallel arrays (index = family/region/segment id)."""

    families: tuple[str, ...]
    labs: tuple[str, ...]
    origin: np.ndarray  # int index into ORIGINS
    open: np.ndarray  # bool
    license: np.ndarray
    first_release: np.ndarray  # step index; NEVER for trigger families
    trigger: np.ndarray  # bool: opens weights when its lab is losing developers
    capability: np.ndarray
    price: np.ndarray
    compute: np.ndarray
    cadence: np.ndarray
    breadth: np.ndarray
    brand: np.ndarray
    zh: np.ndarray
    business: tuple[str, ...]
    regions: tuple[str, ...]
    region_share: np.ndarray
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
    fam = _read("families.toml")["family"]
    reg = _read("regions.toml")
    regions, segments = reg["region"], reg["segment"]
    first = [
        NEVER if f["first_release"] == "trigger" else month_index(f["first_release"], "families.toml", f["name"])
        for f in fam
    ]
    return World(
        families=tuple(f["name"] for f in fam),
        labs=tuple(f["lab"] for f in fam),
        origin=np.array([ORIGINS.index(f["origin"]) for f in fam]),
        open=_col(fam, "open", bool),
        license=_col(fam, "license"),
        first_release=np.array(first),
        trigger=np.array([f["first_release"] == "trigger" for f in fam]),
        capability=_col(fam, "capability"),
        price=_col(fam, "price"),
        compute=_col(fam, "compute"),
        cadence=_col(fam, "cadence", int),
        breadth=_col(fam, "breadth"),
        brand=_col(fam, "brand"),
        zh=_col(fam, "zh"),
        business=tuple(f["business"] for f in fam),
        regions=tuple(r["name"] for r in regions),
        region_share=_col(regions, "share"),
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
    )
