"""Policy instruments: objects that apply from a start month to an optional end month.

A policy never changes a base parameter. Each month the model builds a fresh `Effects` (the
neutral world), and every active policy adds its effect to it; labs and developers read the
effects, not the parameters. Switching a policy off is therefore exact: the month after its end
the world is as if it had never been there (apart from what already happened).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from sim.calendar import month_index, month_label
from sim.errors import InputError
from sim.world import ORIGINS, World


@dataclass
class Effects:
    """What the active policies do this month, on arrays shaped by the world."""

    chip_tightness: float
    weight_cap: np.ndarray  # (family,) capability cap on open releases
    region_cap: np.ndarray  # (region, family) open releases above this are not available there
    blocked: np.ndarray  # (region, segment, family) bool: not available
    release_delay: np.ndarray  # (family,) months added to the cadence
    compliance_cost: np.ndarray  # (family,) million USD per open release
    open_bonus: np.ndarray  # (region, segment) utility bonus of open families
    compute_boost: np.ndarray  # (family,) extra compute growth, x per year
    cost_subsidy: np.ndarray  # (family,) share of the serving cost paid publicly
    price_mult: np.ndarray  # (region, family)
    price_floor: np.ndarray  # (region, family) USD per million tokens
    trust_shift: np.ndarray  # (region, segment, origin) utility shift
    chip_start: int = -10_000  # start of the chip policy in force (latest start wins)

    @classmethod
    def neutral(cls, world: World) -> Effects:
        nr, ns, nf = len(world.regions), len(world.segments), world.n_families
        return cls(
            chip_tightness=0.0,
            weight_cap=np.full(nf, np.inf),
            region_cap=np.full((nr, nf), np.inf),
            blocked=np.zeros((nr, ns, nf), bool),
            release_delay=np.zeros(nf),
            compliance_cost=np.zeros(nf),
            open_bonus=np.zeros((nr, ns)),
            compute_boost=np.zeros(nf),
            cost_subsidy=np.zeros(nf),
            price_mult=np.ones((nr, nf)),
            price_floor=np.zeros((nr, nf)),
            trust_shift=np.zeros((nr, ns, len(ORIGINS))),
        )


@dataclass(frozen=True)
class Field:
    """A policy field: its kind ("number" or a list of names), default, bounds and meaning."""

    kind: str  # "number", "origins", "regions", "segments", "families"
    default: Any
    help: str
    low: float = 0.0
    high: float = 1.0
    unit: str = ""


def _names(world: World, kind: str) -> tuple[str, ...]:
    return {
        "origins": ORIGINS,
        "regions": world.regions,
        "segments": world.segments,
        "families": world.families,
    }[kind]


@dataclass(frozen=True)
class Policy:
    """Base class: a dated instrument with validated fields (see each subclass's FIELDS)."""

    start: int
    end: int | None
    values: Mapping[str, Any] = field(default_factory=dict)

    kind: ClassVar[str] = ""
    government: ClassVar[str] = ""
    help: ClassVar[str] = ""
    FIELDS: ClassVar[dict[str, Field]] = {}

    def active(self, step: int) -> bool:
        """In force from `start` up to, not including, `end`."""
        return self.start <= step and (self.end is None or step < self.end)

    def __getattr__(self, name: str) -> Any:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)

    def mask(self, world: World, kind: str) -> np.ndarray:
        """Boolean mask over regions/segments/origins/families for a list field."""
        names = _names(world, kind)
        chosen = self.values[kind]
        return np.array([n in chosen for n in names])

    def family_mask(self, world: World) -> np.ndarray:
        """Families picked by the `origins` field, or by `families` where the policy has one."""
        by_origin = self.mask(world, "origins")[world.origin]
        if self.values.get("families"):
            return self.mask(world, "families")
        return by_origin

    def apply(self, effects: Effects, world: World) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        end = f" to {month_label(self.end)}" if self.end is not None else ""
        fields = ", ".join(f"{k}={v}" for k, v in self.values.items())
        return f"{self.kind} from {month_label(self.start)}{end}: {fields}"


_ORIGINS_FIELD = "origins"


class ChipExportControls(Policy):
    kind = "chip_export_controls"
    government = "US"
    help = "US controls on AI-chip exports to China: cut CN compute growth, spur domestic chips."
    FIELDS: ClassVar[dict[str, Field]] = {
        "tightness": Field("number", None, "How tight: 0 none, 1 total embargo.", 0, 1, "0-1")
    }

    def apply(self, effects: Effects, world: World) -> None:
        if self.start >= effects.chip_start:  # the latest round in force sets the tightness
            effects.chip_tightness, effects.chip_start = self.tightness, self.start


class WeightExportControls(Policy):
    kind = "weight_export_controls"
    government = "US"
    help = "Labs of the listed origins may not publish open weights above a capability threshold."
    FIELDS: ClassVar[dict[str, Field]] = {
        "threshold": Field(
            "number", 1300.0, "Capability above which weights may not be published.", 800, 2000, "rating points"
        ),
        _ORIGINS_FIELD: Field("origins", ["US"], "Origins whose labs are bound."),
        "regions": Field("regions", None, "Regions denied weights above the threshold (default: all: no release)."),
    }

    def apply(self, effects: Effects, world: World) -> None:
        bound = self.family_mask(world) & world.open
        if set(self.regions) == set(world.regions):
            effects.weight_cap[bound] = np.minimum(effects.weight_cap[bound], self.threshold)
        else:
            where = np.ix_(self.mask(world, "regions"), bound)
            effects.region_cap[where] = np.minimum(effects.region_cap[where], self.threshold)


class LicensingRegime(Policy):
    kind = "licensing_regime"
    government = "any"
    help = "Licences for open releases: a compliance cost and delay per release; small labs may stop."
    FIELDS: ClassVar[dict[str, Field]] = {
        _ORIGINS_FIELD: Field("origins", ["US"], "Origins whose labs need a licence."),
        "compliance_cost": Field("number", 10.0, "Cost of licensing one open release.", 0, 1000, "million USD"),
        "delay_months": Field("number", 3.0, "Delay added to each open release.", 0, 24, "months"),
    }

    def apply(self, effects: Effects, world: World) -> None:
        bound = self.family_mask(world) & world.open
        effects.compliance_cost[bound] += self.compliance_cost
        effects.release_delay[bound] += self.delay_months


class Procurement(Policy):
    kind = "procurement"
    government = "any"
    help = "Public purchasing: a preference for open models and/or bans of some origins."
    FIELDS: ClassVar[dict[str, Field]] = {
        "regions": Field("regions", None, "Regions whose buyers follow the rule (default: all)."),
        "segments": Field("segments", ["public"], "Segments bound (default: the public sector)."),
        "prefer_open": Field("number", 0.0, "Utility bonus of open models.", 0, 5, "utils"),
        "ban": Field("origins", [], "Origins whose models these buyers may not use."),
    }

    def apply(self, effects: Effects, world: World) -> None:
        who = np.ix_(self.mask(world, "regions"), self.mask(world, "segments"))
        effects.open_bonus[who] += self.prefer_open
        banned = np.array([ORIGINS[o] in self.ban for o in world.origin])
        r, s = self.mask(world, "regions"), self.mask(world, "segments")
        effects.blocked[np.ix_(r, s, banned)] = True


class PublicInvestment(Policy):
    kind = "public_investment"
    government = "any"
    help = "Public compute or inference subsidies for chosen labs (AI+ plan, sovereign funds)."
    FIELDS: ClassVar[dict[str, Field]] = {
        _ORIGINS_FIELD: Field("origins", [], "Origins whose labs are funded (or name `families`)."),
        "families": Field("families", [], "Families funded (overrides `origins`)."),
        "compute_boost": Field("number", 0.5, "Extra compute growth per year.", 0, 10, "x per year"),
        "price_subsidy": Field(
            "number", 0.0, "Share of the labs' serving cost paid publicly (it lowers their prices).", 0, 0.9, "fraction"
        ),
    }

    def apply(self, effects: Effects, world: World) -> None:
        funded = self.family_mask(world)
        effects.compute_boost[funded] += self.compute_boost
        effects.cost_subsidy[funded] = 1.0 - (1.0 - effects.cost_subsidy[funded]) * (1.0 - self.price_subsidy)


class Pricing(Policy):
    kind = "pricing"
    government = "any"
    help = "Price measures: subsidised inference (<1), tariffs or taxes on foreign APIs (>1), floors."
    FIELDS: ClassVar[dict[str, Field]] = {
        _ORIGINS_FIELD: Field("origins", None, "Origins whose prices change (default: all)."),
        "regions": Field("regions", None, "Regions where the measure applies (default: all)."),
        "multiplier": Field("number", 1.0, "Multiplier on the price developers pay.", 0.05, 10, "x"),
        "floor": Field("number", 0.0, "Lowest price allowed.", 0, 100, "USD per million tokens"),
    }

    def apply(self, effects: Effects, world: World) -> None:
        where = np.ix_(self.mask(world, "regions"), self.family_mask(world))
        effects.price_mult[where] *= self.multiplier
        effects.price_floor[where] = np.maximum(effects.price_floor[where], self.floor)


class Trust(Policy):
    kind = "trust"
    government = "any"
    help = "Warnings, audits or assurances that change how much an origin is trusted."
    FIELDS: ClassVar[dict[str, Field]] = {
        _ORIGINS_FIELD: Field("origins", None, "Origins affected (default: all)."),
        "regions": Field("regions", None, "Regions affected (default: all)."),
        "segments": Field("segments", None, "Segments affected (default: all)."),
        "shift": Field("number", -0.5, "Change of attractiveness (negative: less trust).", -5, 5, "utils"),
    }

    def apply(self, effects: Effects, world: World) -> None:
        idx = np.ix_(self.mask(world, "regions"), self.mask(world, "segments"), self.mask(world, "origins"))
        effects.trust_shift[idx] += self.shift


KINDS: dict[str, type[Policy]] = {
    c.kind: c
    for c in (ChipExportControls, WeightExportControls, LicensingRegime, Procurement, PublicInvestment, Pricing, Trust)
}


def _check_field(name: str, spec: Field, value: Any, world: World, where: str) -> Any:
    if spec.kind == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or not spec.low <= value <= spec.high:
            raise InputError(where, name, value, f"a number in [{spec.low:g}, {spec.high:g}] ({spec.unit})")
        return float(value)
    allowed = _names(world, spec.kind)
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v in allowed for v in value):
        raise InputError(where, name, value, f"a list of {spec.kind} from {', '.join(allowed)}")
    return tuple(value)


def make_policy(table: Any, world: World, where: str) -> Policy:
    """Build a validated policy from one `[[policies]]` table of a scenario file."""
    if not isinstance(table, dict):
        raise InputError(where, "policies", table, "tables with kind, start, optional end and fields")
    kind = table.get("kind")
    if not isinstance(kind, str) or kind not in KINDS:
        raise InputError(where, "kind", kind, f"one of {', '.join(KINDS)}")
    cls = KINDS[kind]
    here = f"{where} [{kind}]"
    for key in table:
        if key not in ("kind", "start", "end", *cls.FIELDS):
            raise InputError(here, key, table[key], f"one of kind, start, end, {', '.join(cls.FIELDS)}")
    if "start" not in table:
        raise InputError(here, "start", None, 'a month "YYYY-MM"')
    start = month_index(table["start"], here, "start")
    end = month_index(table["end"], here, "end") if "end" in table else None
    if end is not None and end <= start:
        raise InputError(here, "end", table["end"], f"a month after start {table['start']}")
    values = {}
    for name, spec in cls.FIELDS.items():
        if name in table:
            values[name] = _check_field(name, spec, table[name], world, here)
        elif spec.default is not None:
            values[name] = spec.default if spec.kind == "number" else tuple(spec.default)
        elif spec.kind == "number":
            raise InputError(here, name, None, f"a number in [{spec.low:g}, {spec.high:g}] ({spec.unit})")
        else:
            values[name] = _names(world, spec.kind)
    return cls(start=start, end=end, values=values)
