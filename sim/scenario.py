"""Scenario files: `scenarios/*.toml`, strictly validated.

A scenario names parameter overrides, dated parameter changes and dated policies. `[params]`
apply from the first month (they restate the world, history included); a change of course is a
`[[changes]]` entry with a `start` month and a `params` table, in force from that month on, so
history stays history. A scenario may `extend` another (by name or path): its parameters
override the parent's, and its changes and policies are added after the parent's. Every error
names the file and the key, and says what is allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim import tomlfile
from sim.calendar import month_index, month_label
from sim.claims import Claim, parse_claims
from sim.errors import FileProblem, InputError
from sim.params import POPULATION, check, resolve
from sim.policies import Policy, make_policy
from sim.recorder import COLUMNS
from sim.world import World, load_world

SCENARIO_DIR = Path(__file__).resolve().parent.parent / "scenarios"
TOP_KEYS = ("name", "description", "extends", "params", "changes", "policies", "claims")
CHANGE_KEYS = ("start", "params", "note")
MAX_EXTENDS = 32  # scenarios in one `extends` chain (the shipped ones use 2)
MAX_PATH = 1024  # characters of an `extends` reference


@dataclass(frozen=True)
class Scenario:
    """A validated scenario: overrides (not yet merged with defaults) and policy objects."""

    name: str
    description: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)
    policies: tuple[Policy, ...] = ()
    path: str = ""
    changes: tuple[tuple[int, dict[str, Any]], ...] = ()  # (start step, checked overrides), by start
    claims: tuple[Claim, ...] = ()  # what the scenario says will happen (sim.claims), not inherited

    def params(self, extra: dict[str, Any] | None = None, where: str = "overrides") -> dict[str, Any]:
        """Defaults, then this scenario's overrides, then `extra` (each checked)."""
        return resolve(self.overrides, self.path or self.name) | check(extra or {}, where)

    def params_at(self, base: dict[str, Any], step: int) -> dict[str, Any]:
        """`base` with every dated change that has started by `step` (later starts win)."""
        if not any(start <= step for start, _ in self.changes):
            return base
        merged = dict(base)
        for start, values in self.changes:
            if start <= step:
                merged.update(values)
        return merged


def _changes(doc: dict, where: str) -> tuple[tuple[int, dict[str, Any]], ...]:
    """The checked `[[changes]]` entries: a start month and parameters that are not population-fixed."""
    tables = doc.get("changes", [])
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise InputError(where, "changes", tables, "an array of [[changes]] tables")
    out = []
    for i, table in enumerate(tables):
        here = f"{where} [[changes]] #{i + 1}"
        for key in table:
            if key not in CHANGE_KEYS:
                raise InputError(here, key, table[key], f"one of {', '.join(CHANGE_KEYS)}")
        if "start" not in table:
            raise InputError(here, "start", None, "a month YYYY-MM")
        start = month_index(table["start"], here, "start")
        values = table.get("params", {})
        if not isinstance(values, dict) or not values:
            raise InputError(here, "params", values, "a table of parameter = value")
        values = check(values, here)
        for key in values:
            if key in POPULATION:
                raise InputError(here, key, values[key], "a parameter that can change mid-run (not a population one)")
        out.append((start, values))
    return tuple(sorted(out, key=lambda c: c[0]))


def find(name_or_path: str | Path) -> Path:
    """The file for a scenario given as a path or as a name in the shipped `scenarios/` folder."""
    text = str(name_or_path)
    if not text.strip() or "\x00" in text:
        raise FileProblem(repr(text)[:80], "not a scenario name or path")
    p = Path(name_or_path)
    try:
        if p.suffix == ".toml" or p.exists():
            return p
    except (OSError, ValueError) as exc:
        raise FileProblem(str(name_or_path)[:80], f"not a usable path ({exc})") from None
    return SCENARIO_DIR / f"{name_or_path}.toml"


def available() -> list[str]:
    """Names of the shipped scenarios."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def _read_toml(path: Path) -> dict:
    where = str(path)
    try:
        exists = path.is_file()
    except (OSError, ValueError) as exc:
        raise FileProblem(where[:80], f"not a usable path ({exc})") from None
    if not exists:
        shipped = ", ".join(available())
        raise FileProblem(where, f"no such scenario file (shipped scenarios: {shipped})")
    return tomlfile.read(path, "scenario")


def load(name_or_path: str | Path, _seen: tuple[Path, ...] = ()) -> Scenario:
    """Read and validate a scenario file (and the scenarios it extends)."""
    path = find(name_or_path)
    where = str(path)
    doc = _read_toml(path)
    if len(_seen) >= MAX_EXTENDS:
        raise InputError(where, "extends", str(name_or_path)[:80], f"a chain of at most {MAX_EXTENDS} scenarios")
    if path.resolve() in _seen:
        raise InputError(where, "extends", str(name_or_path), "a scenario that does not extend itself")
    for key in doc:
        if key not in TOP_KEYS:
            raise InputError(where, key, doc[key], f"one of {', '.join(TOP_KEYS)}")
    for key in ("name", "description", "extends"):
        if key in doc and not isinstance(doc[key], str):
            raise InputError(where, key, doc[key], "a string")
    if "name" not in doc:
        raise InputError(where, "name", None, "a string naming the scenario")
    params = doc.get("params", {})
    if not isinstance(params, dict):
        raise InputError(where, "params", params, "a table of parameter = value")
    params = check(params, where)
    tables = doc.get("policies", [])
    if not isinstance(tables, list):
        raise InputError(where, "policies", tables, "an array of [[policies]] tables")
    world = load_world()
    policies = tuple(make_policy(t, world, where) for t in tables)
    changes = _changes(doc, where)
    claims = _claims(doc.get("claims", []), where, world)
    if "extends" in doc:
        if not doc["extends"].strip() or len(doc["extends"]) > MAX_PATH:
            allowed = f"the name or path (at most {MAX_PATH} characters) of another scenario"
            raise InputError(where, "extends", doc["extends"], allowed)
        parent_path = _parent(doc["extends"], path)
        parent = load(parent_path, (*_seen, path.resolve()))
        params = parent.overrides | params
        policies = parent.policies + policies
        changes = tuple(sorted(parent.changes + changes, key=lambda c: c[0]))
    return Scenario(doc["name"], doc.get("description", ""), dict(params), policies, where, changes, claims)


def _claims(tables: Any, where: str, world: World) -> tuple[Claim, ...]:
    return parse_claims(tables, where, COLUMNS, {"regions": world.regions, "segments": world.segments})


def _parent(ref: str, child: Path) -> Path:
    """The file a scenario extends: a shipped name, a path, or a path relative to the child file."""
    parent = find(ref)
    try:
        if not parent.is_absolute() and not parent.exists():
            parent = child.parent / parent
    except (OSError, ValueError) as exc:
        raise FileProblem(ref[:80], f"not a usable path ({exc})") from None
    return parent


def warnings(sc: Scenario, overrides: dict[str, Any] | None = None) -> list[str]:
    """Things in a valid scenario that are probably mistakes: policies that never act.

    A policy entirely outside the simulated period (it starts after the last month, or ends
    before the first) has no effect, which is legal but rarely meant.
    """
    months = sc.params(overrides or {}, "--set")["months"]
    found = []
    for i, p in enumerate(sc.policies, 1):
        if p.start >= months:
            found.append(
                f"{sc.path or sc.name}: policy {i} ({p.kind}) starts {month_label(p.start)}, after the last "
                f"simulated month {month_label(months - 1)}: it has no effect"
            )
        elif p.end is not None and p.end <= 0:
            found.append(
                f"{sc.path or sc.name}: policy {i} ({p.kind}) ends {month_label(p.end)}, before the first "
                f"simulated month {month_label(0)}: it has no effect"
            )
    return found
