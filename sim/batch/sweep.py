"""Sweep files (`scenarios/sweeps/*.toml`): what to vary, how to sample it, and what to record.

A sweep names a base scenario, fixed parameter overrides, the factors to vary (registry parameters
and fields of added policies, including policy on/off switches), a design (grid, Latin hypercube,
Sobol' or Morris), replications and the outputs of interest. Everything is validated here, before
any run or file exists, so a bad sweep file costs one line on stderr and nothing else.

The design is a pure function of the file (and the `--samples/--reps/--set` overrides), so the same
sweep always expands to the same runs: run `run_id` is design point `run_id // reps`, replication
`run_id % reps`, and its seed derives from the sweep seed alone (see `run_seed`). That is what
makes results identical for any worker count or backend, and resumption exact.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sim import scenario as scenarios
from sim import tomlfile
from sim.batch.outputs import STATS, TS_COLUMNS, Condition, Outputs, parse_condition
from sim.calendar import month_index
from sim.errors import FileProblem, InputError
from sim.params import REGISTRY, check, defaults, parse_assignment
from sim.policies import KINDS, make_policy
from sim.scenario import Scenario
from sim.world import load_world

SWEEP_DIR = scenarios.SCENARIO_DIR / "sweeps"
DESIGNS = ("grid", "lhs", "sobol", "morris")
TOP_KEYS = ("name", "description", "scenario", "design", "params", "vary", "policies", "outputs", "analysis")
DESIGN_KEYS = ("kind", "samples", "replications", "seed", "common_seeds", "second_order", "levels")
FACTOR_KEYS = ("low", "high", "levels", "values")
OUTPUT_KEYS = ("columns", "at", "stats", "from", "to", "timeseries")
ANALYSIS_KEYS = ("condition", "min_coverage")


@dataclass(frozen=True)
class Factor:
    """One varied input: a registry parameter or a field (or the `enabled` switch) of an added policy.

    A factor is either a range [low, high] (sampled continuously; a grid takes `levels` evenly
    spaced values) or a list of `values` (discrete levels; sampling designs map the unit interval
    onto the list in equal parts). Samplers work on a raw float per factor; `values_of` turns raws
    into the values a run receives (rounded for whole-number parameters).
    """

    name: str  # results column: the parameter name or "policy.field"
    target: tuple[str, ...]  # ("param", name) or ("policy", key, field)
    kind: type  # float, int or bool
    low: float | None = None
    high: float | None = None
    levels: int | None = None
    values: tuple[Any, ...] | None = None

    @property
    def bounds(self) -> tuple[float, float]:
        """Raw sampling bounds: the range, or [0, 1] for a list of values."""
        return (0.0, 1.0) if self.values is not None else (float(self.low), float(self.high))  # type: ignore[arg-type]

    def grid_raws(self) -> np.ndarray:
        """Raw values of this factor's grid levels."""
        if self.values is not None:
            k = len(self.values)
            return (np.arange(k) + 0.5) / k
        return np.linspace(self.low, self.high, self.levels)  # type: ignore[arg-type]

    def values_of(self, raw: np.ndarray) -> np.ndarray:
        """The run values for an array of raw samples."""
        if self.values is not None:
            idx = np.clip(np.floor(raw * len(self.values)).astype(int), 0, len(self.values) - 1)
            return np.array(self.values, dtype=object if self.kind is bool else self.kind)[idx].astype(self.kind)
        if self.kind is int:
            return np.clip(np.rint(raw), self.low, self.high).astype(np.int64)
        return raw.astype(float)

    def describe(self) -> dict[str, Any]:
        """A JSON-able description (used in the manifest and the report)."""
        d: dict[str, Any] = {"name": self.name, "target": list(self.target), "kind": self.kind.__name__}
        if self.values is not None:
            d["values"] = list(self.values)
        else:
            d |= {"low": self.low, "high": self.high}
            if self.levels:
                d["levels"] = self.levels
        return d


@dataclass(frozen=True)
class Design:
    """How the factor space is sampled and how often each point is run."""

    kind: str = "grid"
    samples: int | None = None  # lhs: points; sobol: base N; morris: trajectories; grid: optional cap
    replications: int = 1
    seed: int = 0
    common_seeds: bool = True  # replication r uses the same seed at every point (common random numbers)
    second_order: bool = False  # sobol only
    levels: int = 4  # morris only


@dataclass(frozen=True)
class Task:
    """Everything a worker needs for one run (small, picklable, self-contained)."""

    run_id: int
    seed: int
    scenario: Scenario
    overrides: dict[str, Any]
    outputs: Outputs
    keep_timeseries: bool = False
    timeout: float | None = None  # seconds (--run-timeout); None: no limit


def run_seed(sweep_seed: int, key: int, common: bool = True) -> int:
    """The seed of replication `key` (common seeds) or of run `key` (distinct seeds), from the sweep seed.

    A pure function of its arguments, so a run's seed never depends on who runs it or when.
    """
    ss = np.random.SeedSequence(sweep_seed, spawn_key=(0 if common else 1, key))
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(1))


@dataclass(frozen=True)
class Sweep:
    """A validated sweep: base scenario, fixed overrides, factors, policy templates, design, outputs."""

    name: str
    scenario: Scenario
    params: dict[str, Any]
    factors: tuple[Factor, ...]
    policies: dict[str, dict[str, Any]]  # key -> scenario-file table without the varied fields
    design: Design
    outputs: Outputs
    condition: Condition | None = None
    min_coverage: float = 0.5
    description: str = ""
    path: str = ""
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n_points(self) -> int:
        """Design points, counted from the design's formula (nothing is sampled or allocated)."""
        return planned_points(self.factors, self.design)

    @property
    def n_runs(self) -> int:
        return self.n_points * self.design.replications

    @cached_property
    def raw_design(self) -> np.ndarray:
        """The sampler's matrix (points x factors): raw floats, as SALib's analysers expect them."""
        return sample(self.factors, self.design)

    @cached_property
    def table(self) -> pd.DataFrame:
        """One row per design point: `point` and each factor's run value."""
        raw = self.raw_design
        cols = {f.name: f.values_of(raw[:, j]) for j, f in enumerate(self.factors)}
        return pd.DataFrame({"point": np.arange(len(raw), dtype=np.int64)} | cols)

    @cached_property
    def _columns(self) -> list[list[Any]]:
        return [self.table[f.name].tolist() for f in self.factors]

    def seed_of(self, run_id: int) -> int:
        reps = self.design.replications
        return run_seed(
            self.design.seed, run_id % reps if self.design.common_seeds else run_id, self.design.common_seeds
        )

    def task(self, run_id: int, keep_timeseries: bool | None = None) -> Task:
        """The task of run `run_id` (point run_id // reps, replication run_id % reps)."""
        point = run_id // self.design.replications
        overrides = dict(self.params)
        policy_values: dict[str, dict[str, Any]] = {k: {} for k in self.policies}
        for f, col in zip(self.factors, self._columns, strict=True):
            value = col[point]
            if f.target[0] == "param":
                overrides[f.name] = value
            else:
                policy_values[f.target[1]][f.target[2]] = value
        key = tuple(sorted((k, tuple(sorted(v.items()))) for k, v in policy_values.items()))
        sc = self._cache.get(key)
        if sc is None:
            sc = self._cache[key] = self._scenario_with(policy_values)
        keep = self.outputs.timeseries if keep_timeseries is None else keep_timeseries
        return Task(run_id, self.seed_of(run_id), sc, overrides, self.outputs, keep)

    def _scenario_with(self, policy_values: Mapping[str, Mapping[str, Any]]) -> Scenario:
        world, base = load_world(), self.scenario
        extra = []
        for key, template in self.policies.items():
            table = dict(template) | dict(policy_values[key])
            if table.pop("enabled", True):
                extra.append(make_policy(table, world, f"{self.path} [policies.{key}]"))
        return Scenario(base.name, base.description, base.overrides, base.policies + tuple(extra), base.path)

    def manifest(self) -> dict[str, Any]:
        """What determines the results (JSON-able): two sweeps with equal manifests give equal results.

        Includes the registry defaults and the package version, so that a sweep is not resumed
        on a model whose defaults changed in between (its results would mix two models).
        """
        import sim

        sc = self.scenario
        return {
            "model": {"version": sim.__version__, "defaults": defaults()},
            "scenario": {"name": sc.name, "overrides": sc.overrides, "policies": [p.describe() for p in sc.policies]},
            "params": self.params,
            "factors": [f.describe() for f in self.factors],
            "policies": self.policies,
            "design": self.design.__dict__,
            "outputs": {"names": self.outputs.names, "timeseries": self.outputs.timeseries},
        }


def planned_points(factors: Sequence[Factor], design: Design) -> int:
    """How many points `sample` returns, computed without sampling (a huge design costs nothing here).

    grid: the product of the levels (capped by samples); lhs: samples; sobol: samples x (d + 2),
    or x (2d + 2) with second-order indices; morris: samples (trajectories) x (d + 1).
    """
    d, n = len(factors), design.samples or 0
    if design.kind == "grid":
        full = math.prod(len(f.values) if f.values is not None else int(f.levels or 0) for f in factors)
        return min(full, design.samples) if design.samples else full
    if design.kind == "sobol":
        return n * (2 * d + 2 if design.second_order else d + 2)
    if design.kind == "morris":
        return n * (d + 1)
    return n


def sample(factors: Sequence[Factor], design: Design) -> np.ndarray:
    """The raw design matrix: a full (or capped) grid, or SALib/scipy samples from the design seed."""
    d = len(factors)
    if design.kind == "grid":
        axes = [f.grid_raws() for f in factors]
        raw = np.array(list(itertools.product(*axes)), dtype=float).reshape(-1, d)
        if design.samples and design.samples < len(raw):
            raw = raw[np.unique(np.linspace(0, len(raw) - 1, design.samples).round().astype(int))]
        return raw
    n = design.samples or 0
    seed = int(np.random.SeedSequence(design.seed, spawn_key=(2,)).generate_state(1)[0])
    problem = {"num_vars": d, "names": [f.name for f in factors], "bounds": [list(f.bounds) for f in factors]}
    if design.kind == "lhs":
        from scipy.stats import qmc

        u = qmc.LatinHypercube(d=d, rng=np.random.default_rng(seed)).random(n)
        lo, hi = np.array(problem["bounds"]).T
        return lo + u * (hi - lo)
    if design.kind == "sobol":
        from SALib.sample import sobol

        return sobol.sample(problem, n, calc_second_order=design.second_order, seed=seed)
    from SALib.sample import morris

    return morris.sample(problem, n, num_levels=design.levels, seed=seed)


def salib_problem(sweep: Sweep) -> dict[str, Any]:
    """The SALib problem dict of the sweep's factors."""
    fs = sweep.factors
    return {"num_vars": len(fs), "names": [f.name for f in fs], "bounds": [list(f.bounds) for f in fs]}


# --- loading and validation -------------------------------------------------------------------------


def find(name_or_path: str | Path) -> Path:
    """A sweep file given as a path, or as a name in the shipped `scenarios/sweeps/` folder."""
    text = str(name_or_path)
    if not text.strip() or "\x00" in text:
        raise FileProblem(repr(text)[:80], "not a sweep name or path")
    p = Path(name_or_path)
    try:
        if p.suffix == ".toml" or p.exists():
            return p
    except (OSError, ValueError) as exc:
        raise FileProblem(text[:80], f"not a usable path ({exc})") from None
    return SWEEP_DIR / f"{name_or_path}.toml"


def available() -> list[str]:
    """Names of the shipped sweep files."""
    return sorted(p.stem for p in SWEEP_DIR.glob("*.toml"))


def load(
    name_or_path: str | Path,
    samples: int | None = None,
    reps: int | None = None,
    sets: Mapping[str, Any] | Iterable[str] | None = None,
) -> Sweep:
    """Read and validate a sweep file; `samples`, `reps` and `sets` override its sample count,
    replications and fixed parameters (as the `--samples`, `--reps` and `--set` flags do)."""
    path = find(name_or_path)
    where = str(path)
    doc = _read(path)
    _keys(doc, TOP_KEYS, where)
    for key in ("name", "description", "scenario"):
        if key in doc and not isinstance(doc[key], str):
            raise InputError(where, key, doc[key], "a string")
    for key in ("name", "scenario"):
        if key not in doc:
            raise InputError(where, key, None, "a string" if key == "name" else "a base scenario name or .toml path")
    base = _scenario(doc["scenario"], path)
    params = check(_table(doc, "params", where), where)
    given = check(dict(_pairs(sets)), "--set") if sets is not None else {}
    design = _design(_table(doc, "design", where), where, samples, reps)
    factors = [_param_factor(k, v, where, design.kind) for k, v in _table(doc, "vary", where).items()]
    for f in factors:
        for source, fixed, key in ((where, params, f"params.{f.name}"), ("--set", given, f.name)):
            if f.name in fixed:
                raise InputError(
                    source, key, fixed[f.name], f"a parameter that the sweep does not vary (vary.{f.name})"
                )
    params |= given
    policies: dict[str, dict[str, Any]] = {}
    for key, table in _table(doc, "policies", where).items():
        template, pf = _policy(key, table, where, design.kind)
        policies[key] = template
        factors += pf
    if design.kind != "grid" and not factors:
        raise InputError(where, "vary", {}, f"at least one factor to vary for design kind = {design.kind}")
    outputs = _outputs(_table(doc, "outputs", where), where)
    analysis = _table(doc, "analysis", where)
    _keys(analysis, ANALYSIS_KEYS, where, "analysis.")
    cond = (
        parse_condition(analysis["condition"], outputs.names, where, "analysis.condition")
        if "condition" in analysis
        else None
    )
    cover = analysis.get("min_coverage", 0.5)
    if isinstance(cover, bool) or not isinstance(cover, int | float) or not 0 < cover <= 1:
        raise InputError(where, "analysis.min_coverage", cover, "a number in (0, 1]")
    sweep = Sweep(
        doc["name"],
        base,
        params,
        tuple(factors),
        policies,
        design,
        outputs,
        cond,
        float(cover),
        doc.get("description", ""),
        where,
    )
    if sweep.n_points == 0:
        raise InputError(where, "design", design.kind, "a design with at least one point")
    return sweep


def _pairs(sets: Mapping[str, Any] | Iterable[str]) -> list[tuple[str, Any]]:
    return list(sets.items()) if isinstance(sets, Mapping) else [parse_assignment(s) for s in sets]


def _read(path: Path) -> dict:
    try:
        exists = path.is_file()
    except (OSError, ValueError) as exc:
        raise FileProblem(str(path)[:80], f"not a usable path ({exc})") from None
    if not exists:
        raise FileProblem(str(path), f"no such sweep file (shipped sweeps: {', '.join(available())})")
    return tomlfile.read(path, "sweep")


def _keys(doc: Mapping[str, Any], allowed: Sequence[str], where: str, prefix: str = "") -> None:
    for key in doc:
        if key not in allowed:
            raise InputError(where, f"{prefix}{key}", doc[key], f"one of {', '.join(allowed)}")


def _table(doc: Mapping[str, Any], key: str, where: str) -> dict[str, Any]:
    value = doc.get(key, {})
    if not isinstance(value, dict):
        raise InputError(where, key, value, f"a [{key}] table")
    return value


def _scenario(ref: str, sweep_path: Path) -> Scenario:
    """The base scenario: a shipped name, a path, or a path relative to the sweep file."""
    p = Path(ref)
    beside = sweep_path.parent / p
    try:
        if len(ref) <= scenarios.MAX_PATH and not p.is_absolute() and not p.exists() and beside.exists():
            return scenarios.load(beside)
        usable = bool(ref.strip()) and len(ref) <= scenarios.MAX_PATH and scenarios.find(ref).is_file()
    except (OSError, ValueError):
        usable = False
    if not usable:
        allowed = f"a shipped scenario ({', '.join(scenarios.available())}) or a .toml path"
        raise InputError(str(sweep_path), "scenario", ref, allowed)
    return scenarios.load(ref)


def _whole(value: Any, where: str, key: str, low: int, allowed: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InputError(where, key, value, allowed)
    return value


def _design(doc: dict[str, Any], where: str, samples: int | None, reps: int | None) -> Design:
    _keys(doc, DESIGN_KEYS, where, "design.")
    kind = doc.get("kind", "grid")
    if kind not in DESIGNS:
        raise InputError(where, "design.kind", kind, f"one of {', '.join(DESIGNS)}")
    for key, allowed in (("second_order", "sobol"), ("levels", "morris")):
        if key in doc and kind != allowed:
            raise InputError(where, f"design.{key}", doc[key], f"no design.{key} (it is for kind = {allowed})")
    n_where, n = ("--samples", samples) if samples is not None else (where, doc.get("samples"))
    if n is not None:
        n = _whole(n, n_where, "samples", 1, "a whole number >= 1")
    if kind != "grid" and n is None:
        raise InputError(where, "design.samples", None, f"a whole number of samples for kind = {kind}")
    if kind == "sobol" and n & (n - 1):  # type: ignore[operator]
        raise InputError(n_where, "samples", n, "a power of two for a Sobol' design (e.g. 64, 128, 256)")
    if kind == "lhs" and n < 2:  # type: ignore[operator]
        raise InputError(n_where, "samples", n, "at least 2 for a Latin hypercube")
    r_where, r = ("--reps", reps) if reps is not None else (where, doc.get("replications", 1))
    r = _whole(r, r_where, "replications", 1, "a whole number >= 1")
    seed = _whole(doc.get("seed", 0), where, "design.seed", 0, "a whole number >= 0")
    for key in ("common_seeds", "second_order"):
        if not isinstance(doc.get(key, False), bool):
            raise InputError(where, f"design.{key}", doc[key], "true or false")
    levels = _whole(doc.get("levels", 4), where, "design.levels", 2, "a whole number >= 2")
    return Design(kind, n, r, seed, doc.get("common_seeds", True), doc.get("second_order", False), levels)


def _factor_spec(spec: Any, where: str, key: str, design: str) -> dict[str, Any]:
    """Check the shape of a factor table: {low, high[, levels]} or {values = [...]}."""
    shape = "a table {low = A, high = B} (add levels = N in a grid) or {values = [...]}"
    if not isinstance(spec, dict):
        raise InputError(where, key, spec, shape)
    _keys(spec, FACTOR_KEYS, where, f"{key}.")
    if "values" in spec:
        vals = spec["values"]
        if set(spec) != {"values"}:
            raise InputError(where, key, spec, "either values or low/high, not both")
        if not isinstance(vals, list) or not vals or len({repr(v) for v in vals}) != len(vals):
            raise InputError(where, f"{key}.values", vals, "a non-empty list of distinct values")
        return spec
    if "low" not in spec or "high" not in spec:
        raise InputError(where, key, spec, shape)
    for k in ("low", "high"):
        if isinstance(spec[k], bool) or not isinstance(spec[k], int | float) or not math.isfinite(spec[k]):
            raise InputError(where, f"{key}.{k}", spec[k], "a finite number")
    if not spec["low"] < spec["high"]:
        raise InputError(where, f"{key}.high", spec["high"], f"a number above low = {spec['low']}")
    if design == "grid" and "levels" not in spec:
        raise InputError(where, key, spec, "levels = N (N >= 2) for a range in a grid design, or a list of values")
    if "levels" in spec:
        if design != "grid":
            raise InputError(
                where, f"{key}.levels", spec["levels"], f"no levels (design kind = {design} samples ranges)"
            )
        _whole(spec["levels"], where, f"{key}.levels", 2, "a whole number >= 2")
    return spec


def _param_factor(name: str, spec: Any, where: str, design: str) -> Factor:
    if name not in REGISTRY:
        raise InputError(where, f"vary.{name}", spec, "a known parameter (see `weightshift params`)")
    spec = _factor_spec(spec, where, f"vary.{name}", design)
    p = REGISTRY[name]
    if "values" in spec:
        values = tuple(p.check(v, where) for v in spec["values"])
        return Factor(name, ("param", name), p.kind, values=values)
    if p.kind is bool:
        raise InputError(where, f"vary.{name}", spec, "values = [false, true] (a switch has no range)")
    low, high = (p.check(spec[k], where) for k in ("low", "high"))
    return Factor(name, ("param", name), p.kind, low, high, spec.get("levels"))


def _policy(key: str, table: Any, where: str, design: str) -> tuple[dict[str, Any], list[Factor]]:
    """A policy template and its factors; every value a factor can take is validated by `make_policy`."""
    here = f"{where} [policies.{key}]"
    if not isinstance(table, dict):
        raise InputError(where, f"policies.{key}", table, "a table with kind, start, optional end, enabled and fields")
    kind = table.get("kind")
    if kind not in KINDS:
        raise InputError(here, "kind", kind, f"one of {', '.join(KINDS)}")
    numbers = [n for n, f in KINDS[kind].FIELDS.items() if f.kind == "number"]
    template = {k: v for k, v in table.items() if not isinstance(v, dict)}
    if not isinstance(template.get("enabled", True), bool):
        raise InputError(here, "enabled", template["enabled"], "true or false, or {values = [false, true]}")
    specs = {}
    for name, spec in table.items():
        if isinstance(spec, dict):
            if name != "enabled" and name not in numbers:
                allowed = f"a varied field among the number fields of {kind} ({', '.join(numbers)}) or enabled"
                raise InputError(here, name, spec, allowed)
            specs[name] = _factor_spec(spec, here, name, design)
    world = load_world()
    fixed = {k: v for k, v in template.items() if k != "enabled"}
    varied = {n: s for n, s in specs.items() if n != "enabled"}
    probe = fixed | {n: s["values"][0] if "values" in s else s["low"] for n, s in varied.items()}
    make_policy(probe, world, here)
    factors = []
    for name, spec in specs.items():
        column, target = f"{key}.{name}", ("policy", key, name)
        if name == "enabled":
            if "values" not in spec or not all(isinstance(v, bool) for v in spec["values"]):
                raise InputError(here, "enabled", spec, "{values = [false, true]}")
            factors.append(Factor(column, target, bool, values=tuple(spec["values"])))
            continue
        for v in spec["values"] if "values" in spec else [spec["low"], spec["high"]]:
            make_policy(probe | {name: v}, world, here)
        if "values" in spec:
            factors.append(Factor(column, target, float, values=tuple(float(v) for v in spec["values"])))
        else:
            low, high = float(spec["low"]), float(spec["high"])
            factors.append(Factor(column, target, float, low, high, spec.get("levels")))
    return template, factors


def _strings(doc: Mapping[str, Any], key: str, where: str, allowed: Sequence[str] | None, what: str) -> tuple[str, ...]:
    value = doc[key]
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or len(set(value)) != len(value):
        raise InputError(where, f"outputs.{key}", value, f"a list of distinct {what}")
    for v in value:
        if allowed is not None and v not in allowed:
            raise InputError(where, f"outputs.{key}", v, f"one of {', '.join(allowed)}")
    return tuple(value)


def _outputs(doc: dict[str, Any], where: str) -> Outputs:
    _keys(doc, OUTPUT_KEYS, where, "outputs.")
    kw: dict[str, Any] = {}
    if "columns" in doc:
        kw["columns"] = _strings(doc, "columns", where, TS_COLUMNS, "timeseries columns (see `weightshift columns`)")
    if "at" in doc:
        kw["at"] = _strings(doc, "at", where, None, 'months "YYYY-MM" or "final"')
        for m in kw["at"]:
            if m != "final":
                month_index(m, where, "outputs.at")
    if "stats" in doc:
        kw["stats"] = _strings(doc, "stats", where, STATS, "statistics")
    for key, name in (("from", "start"), ("to", "end")):
        if key in doc:
            month_index(doc[key], where, f"outputs.{key}")
            kw[name] = doc[key]
    if "start" in kw and "end" in kw and month_index(kw["end"], where, "") < month_index(kw["start"], where, ""):
        raise InputError(where, "outputs.to", kw["end"], f"a month from outputs.from = {kw['start']} on")
    if "timeseries" in doc:
        if not isinstance(doc["timeseries"], bool):
            raise InputError(where, "outputs.timeseries", doc["timeseries"], "true or false")
        kw["timeseries"] = doc["timeseries"]
    out = Outputs(**kw)
    if not out.names:
        raise InputError(where, "outputs", doc, "at least one output (columns with at months or stats)")
    return out
