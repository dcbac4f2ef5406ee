"""Bad input: scenario files and command-line flags.

Every user error must end as exit code 2 and exactly one line on stderr that names the file (or
flag) and the offending key, with no traceback and no output files written. The loader must
raise `InputError` (and nothing else) for any malformed scenario document.

The last tests pin inputs that once crashed the loader or the CLI.
"""

from __future__ import annotations

import datetime as dt
import math
import pickle
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim import scenario as scenarios
from sim.cli import main
from sim.errors import FileProblem, InputError
from sim.params import REGISTRY, parse_assignment
from sim.policies import KINDS
from sim.world import ORIGINS, load_world

WORLD = load_world()
HISTORY_END = 36  # step index of 2026-01: shipped scenarios add policies from here on


# --- helpers ---------------------------------------------------------------------------------


def write(folder: Path, text: str, name: str = "scenario.toml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def one_line_error(capsys: pytest.CaptureFixture[str], rc: int, *needles: str) -> str:
    """Assert an input error as the CLI must report it, and return the stderr line."""
    out, err = capsys.readouterr()
    assert rc == 2, f"exit code {rc}, stderr: {err!r}"
    assert out == "", out  # nothing printed as if it had worked
    assert err.startswith("weightshift: "), err
    assert err.endswith("\n") and err.count("\n") == 1 and "\r" not in err, f"not one line: {err!r}"
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, f"{needle!r} not named in {err!r}"
    return err


def files_under(folder: Path) -> set[Path]:
    return set(folder.rglob("*"))


# --- bad scenario files ----------------------------------------------------------------------

TRUST = 'kind = "trust"\nstart = "2026-01"\n'
CHIPS = 'kind = "chip_export_controls"\nstart = "2026-01"\n'

# (case id, file text, the key the error must name)
BAD_FILES = [
    ("unknown_top_level_key", 'name = "x"\ncolour = "red"\n', "colour"),
    ("top_level_typo", 'name = "x"\nparam = {bass_p = 0.01}\n', "param"),
    ("missing_name", 'description = "no name"\n', "name"),
    ("name_not_string", "name = 3\n", "name"),
    ("description_not_string", 'name = "x"\ndescription = ["a", "b"]\n', "description"),
    ("extends_not_string", 'name = "x"\nextends = 1\n', "extends"),
    ("unknown_param_key", 'name = "x"\n[params]\nbogus_param = 1\n', "bogus_param"),
    ("param_above_bounds", 'name = "x"\n[params]\nn_developers = 5000000\n', "n_developers"),
    ("param_below_bounds", 'name = "x"\n[params]\nbass_p = -0.1\n', "bass_p"),
    ("param_string_for_number", 'name = "x"\n[params]\nbass_p = "high"\n', "bass_p"),
    ("param_bool_for_number", 'name = "x"\n[params]\nbass_p = true\n', "bass_p"),
    ("param_number_for_bool", 'name = "x"\n[params]\nreactive_us_controls = 1\n', "reactive_us_controls"),
    ("param_fraction_for_int", 'name = "x"\n[params]\nn_developers = 2000.5\n', "n_developers"),
    ("param_nan", 'name = "x"\n[params]\nbass_p = nan\n', "bass_p"),
    ("param_table_for_number", 'name = "x"\n[params]\nbass_p = {value = 0.01}\n', "bass_p"),
    ("params_not_a_table", 'name = "x"\nparams = 3\n', "params"),
    ("policies_not_an_array", 'name = "x"\npolicies = "none"\n', "policies"),
    ("policies_single_table", f'name = "x"\n[policies]\n{TRUST}', "policies"),
    ("policy_not_a_table", 'name = "x"\npolicies = [1, 2]\n', "policies"),
    ("month_13", 'name = "x"\n[[policies]]\nkind = "trust"\nstart = "2025-13"\n', "start"),
    ("month_00", 'name = "x"\n[[policies]]\nkind = "trust"\nstart = "2025-00"\n', "start"),
    ("month_slash", 'name = "x"\n[[policies]]\nkind = "trust"\nstart = "2025/01"\n', "start"),
    ("month_integer", 'name = "x"\n[[policies]]\nkind = "trust"\nstart = 202501\n', "start"),
    ("month_toml_date", 'name = "x"\n[[policies]]\nkind = "trust"\nstart = 2025-01-01\n', "start"),
    ("month_one_digit", 'name = "x"\n[[policies]]\nkind = "trust"\nstart = "2025-1"\n', "start"),
    ("month_far_future", 'name = "x"\n[[policies]]\nkind = "trust"\nstart = "2200-01"\n', "start"),
    ("end_bad_month", f'name = "x"\n[[policies]]\n{TRUST}end = "2026-13"\n', "end"),
    ("end_before_start", f'name = "x"\n[[policies]]\n{TRUST}end = "2025-06"\n', "end"),
    ("end_equals_start", f'name = "x"\n[[policies]]\n{TRUST}end = "2026-01"\n', "end"),
    ("missing_start", 'name = "x"\n[[policies]]\nkind = "trust"\n', "start"),
    ("unknown_policy_kind", 'name = "x"\n[[policies]]\nkind = "tariff"\nstart = "2026-01"\n', "kind"),
    ("missing_policy_kind", 'name = "x"\n[[policies]]\nstart = "2026-01"\n', "kind"),
    ("unknown_policy_field", f'name = "x"\n[[policies]]\n{TRUST}colour = 1\n', "colour"),
    ("field_of_another_kind", f'name = "x"\n[[policies]]\n{TRUST}tightness = 0.5\n', "tightness"),
    ("field_above_bounds", f'name = "x"\n[[policies]]\n{CHIPS}tightness = 1.5\n', "tightness"),
    ("field_below_bounds", f'name = "x"\n[[policies]]\n{TRUST}shift = -6\n', "shift"),
    ("field_wrong_type", f'name = "x"\n[[policies]]\n{TRUST}shift = "low"\n', "shift"),
    ("field_bool_for_number", f'name = "x"\n[[policies]]\n{CHIPS}tightness = true\n', "tightness"),
    ("required_field_missing", f'name = "x"\n[[policies]]\n{CHIPS}', "tightness"),
    ("unknown_region", f'name = "x"\n[[policies]]\n{TRUST}regions = ["Mars"]\n', "regions"),
    ("unknown_origin", f'name = "x"\n[[policies]]\n{TRUST}origins = ["JP"]\n', "origins"),
    (
        "unknown_family",
        'name = "x"\n[[policies]]\nkind = "public_investment"\nstart = "2026-01"\nfamilies = ["Grok"]\n',
        "families",
    ),
    ("names_not_a_list", f'name = "x"\n[[policies]]\n{TRUST}segments = 3\n', "segments"),
]


@pytest.mark.parametrize("command", ["check", "run"])
@pytest.mark.parametrize(("text", "key"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_bad_scenario_file_is_one_line_naming_file_and_key(tmp_path, capsys, command, text, key):
    path = write(tmp_path, text)
    before = files_under(tmp_path)
    out_dir = tmp_path / "out"
    argv = [command, str(path)] + (["--out", str(out_dir)] if command == "run" else [])
    err = one_line_error(capsys, main(argv), str(path), f"{key} = ")
    assert "expected" in err  # says what is allowed
    assert files_under(tmp_path) == before  # no output folder, no stray temporary files


@pytest.mark.parametrize(("text", "key"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES])
def test_loader_raises_input_error_naming_file_and_key(tmp_path, text, key):
    path = write(tmp_path, text)
    with pytest.raises(InputError) as info:
        scenarios.load(path)
    assert info.value.where.startswith(str(path))
    assert info.value.key == key


def test_an_input_error_reaches_another_process_whole():
    """A pool worker's bad-input error is pickled to the parent: it must arrive as the same one line."""
    for err in (InputError("f.toml", "bass_p", 7, "a number in 0..1"), FileProblem("f.toml", "not valid TOML")):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err)
        assert (back.where, back.key, back.value, back.allowed) == (err.where, err.key, err.value, err.allowed)


def test_toml_syntax_error_names_file_and_line(tmp_path, capsys):
    path = write(tmp_path, 'name = "x"\n[params\nbass_p = 0.01\n')
    out_dir = tmp_path / "out"
    err = one_line_error(capsys, main(["run", str(path), "--out", str(out_dir)]), str(path), "not valid TOML")
    assert "line 2" in err
    assert not out_dir.exists()


def test_binary_file_is_an_input_error(tmp_path, capsys):
    path = tmp_path / "binary.toml"
    path.write_bytes(b"\xff\xfe\x00name")
    one_line_error(capsys, main(["check", str(path)]), str(path))


def test_missing_file_names_the_file(tmp_path, capsys):
    path = tmp_path / "nope.toml"
    out_dir = tmp_path / "out"
    err = one_line_error(capsys, main(["run", str(path), "--out", str(out_dir)]), str(path))
    assert "no such scenario file" in err and "baseline" in err  # lists the shipped scenarios
    assert not out_dir.exists()


def test_unknown_scenario_name_names_it(capsys):
    one_line_error(capsys, main(["check", "no_such_scenario"]), "no_such_scenario")


def test_directory_instead_of_file(tmp_path, capsys):
    (tmp_path / "dir.toml").mkdir()
    one_line_error(capsys, main(["check", str(tmp_path / "dir.toml")]), "dir.toml")


def test_check_reports_the_bad_file_among_good_ones(tmp_path, capsys):
    bad = write(tmp_path, 'name = "x"\ncolour = 1\n', "bad.toml")
    rc = main(["check", "baseline", str(bad)])
    out, err = capsys.readouterr()
    assert rc == 2
    assert out.startswith("baseline: ok")
    assert err.count("\n") == 1 and str(bad) in err and "colour = " in err


# --- extends -------------------------------------------------------------------------------------


def test_extends_cycle_between_two_files(tmp_path, capsys):
    a = write(tmp_path, 'name = "a"\nextends = "b.toml"\n', "a.toml")
    write(tmp_path, 'name = "b"\nextends = "a.toml"\n', "b.toml")
    out_dir = tmp_path / "out"
    one_line_error(capsys, main(["run", str(a), "--out", str(out_dir)]), "a.toml", "extends = ")
    assert not out_dir.exists()
    with pytest.raises(InputError) as info:
        scenarios.load(a)
    assert info.value.key == "extends"


def test_extends_itself(tmp_path, capsys):
    a = write(tmp_path, 'name = "a"\nextends = "a.toml"\n', "a.toml")
    one_line_error(capsys, main(["check", str(a)]), str(a), "extends = ")


def test_extends_missing_parent_names_the_parent(tmp_path, capsys):
    a = write(tmp_path, 'name = "a"\nextends = "missing_parent.toml"\n', "a.toml")
    one_line_error(capsys, main(["check", str(a)]), "missing_parent.toml", "no such scenario file")


def test_error_in_parent_names_the_parent_file_and_key(tmp_path, capsys):
    write(tmp_path, 'name = "p"\n[params]\nbass_p = 7\n', "parent.toml")
    child = write(tmp_path, 'name = "c"\nextends = "parent.toml"\n', "child.toml")
    one_line_error(capsys, main(["check", str(child)]), str(tmp_path / "parent.toml"), "bass_p = ")


def test_extends_merges_parent_then_child(tmp_path):
    write(tmp_path, 'name = "p"\n[params]\nbass_p = 0.01\nbass_q = 0.3\n', "parent.toml")
    child = write(
        tmp_path,
        f'name = "c"\nextends = "parent.toml"\n[params]\nbass_q = 0.5\n[[policies]]\n{TRUST}',
        "child.toml",
    )
    sc = scenarios.load(child)
    assert sc.overrides == {"bass_p": 0.01, "bass_q": 0.5}
    assert [p.kind for p in sc.policies] == ["trust"]


# --- bad flags -----------------------------------------------------------------------------------

# (case id, extra arguments after `run baseline`, what the error must name)
BAD_FLAGS = [
    ("set_unknown_key", ["--set", "bogus=1"], ("--set", "bogus = ")),
    ("set_not_a_number", ["--set", "n_developers=abc"], ("--set", "n_developers = ")),
    ("set_above_bounds", ["--set", "n_developers=5000000"], ("--set", "n_developers = ")),
    ("set_below_bounds", ["--set", "bass_p=-1"], ("--set", "bass_p = ")),
    ("set_fraction_for_int", ["--set", "n_developers=2000.5"], ("--set", "n_developers = ")),
    ("set_word_for_bool", ["--set", "reactive_us_controls=maybe"], ("--set", "reactive_us_controls = ")),
    ("set_number_for_bool", ["--set", "reactive_us_controls=1"], ("--set", "reactive_us_controls = ")),
    ("set_missing_equals", ["--set", "n_developers"], ("--set", "n_developers")),
    ("set_missing_key", ["--set", "=5"], ("--set", "=5")),
    ("set_empty_value", ["--set", "bass_p="], ("--set", "bass_p = ")),
    ("set_second_one_bad", ["--set", "bass_p=0.01", "--set", "bass_q=9"], ("--set", "bass_q = ")),
    ("set_without_value", ["--set"], ("--set",)),
    ("seed_not_a_number", ["--seed", "abc"], ("--seed", "'abc'")),
    ("seed_negative", ["--seed", "-1"], ("--seed", "'-1'")),
    ("seed_fraction", ["--seed", "1.5"], ("--seed", "'1.5'")),
    ("seed_empty", ["--seed", ""], ("--seed",)),
    ("unknown_flag", ["--sed", "1"], ("--sed",)),
]


@pytest.mark.parametrize(("extra", "needles"), [c[1:] for c in BAD_FLAGS], ids=[c[0] for c in BAD_FLAGS])
def test_bad_flag_is_one_line_naming_flag_and_key(tmp_path, capsys, extra, needles):
    out_dir = tmp_path / "out"
    rc = main(["run", "baseline", "--out", str(out_dir), *extra])
    one_line_error(capsys, rc, *needles)
    assert files_under(tmp_path) == set()


@pytest.mark.parametrize(
    "argv",
    [[], ["run"], ["bogus"], ["check"], ["params", "--group", "nope"], ["bench", "--sizes", "10"]],
    ids=["no_command", "run_without_scenario", "unknown_command", "check_without_files", "bad_group", "bad_size"],
)
def test_other_bad_command_lines(capsys, argv):
    one_line_error(capsys, main(argv))


def test_parse_assignment_names_flag_and_key():
    with pytest.raises(InputError) as info:
        parse_assignment("bass_p=nope")
    assert (info.value.where, info.value.key) == ("--set", "bass_p")
    assert parse_assignment(" n_developers = 2000 ") == ("n_developers", 2000)
    assert parse_assignment("reactive_us_controls=TRUE") == ("reactive_us_controls", True)


@settings(max_examples=200, deadline=None)
@given(
    key=st.one_of(st.sampled_from(sorted(REGISTRY)), st.text(max_size=12)),
    raw=st.one_of(
        st.text(max_size=12),
        st.floats().map(repr),
        st.integers(-(10**7), 10**7).map(str),
        st.sampled_from(["true", "false", "nan", "inf", "-inf", "1e999", "", " 3 "]),
    ),
)
def test_any_set_text_parses_or_is_an_input_error(key, raw):
    """Random `--set` text: a checked, in-bounds value, or InputError -- never another exception."""
    text = f"{key}={raw}"
    try:
        name, value = parse_assignment(text)
    except InputError as exc:
        assert exc.where == "--set"
        return
    p = REGISTRY[name]
    assert type(value) is p.kind
    if p.kind is not bool:
        assert p.low <= value <= p.high


# --- the CLI as a subprocess ---------------------------------------------------------------------


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sim", *args], capture_output=True, text=True, cwd=cwd, timeout=120, check=False
    )


def subprocess_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    err = proc.stderr
    assert err.startswith("weightshift: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, f"{needle!r} not in {err!r}"


def test_subprocess_bad_scenario_and_bad_flags(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    path = write(work, 'name = "x"\n[params]\nbogus_param = 1\n')
    out_dir = work / "out"
    subprocess_error(run_cli("run", str(path), "--out", str(out_dir), cwd=work), str(path), "bogus_param = ")
    subprocess_error(run_cli("run", "baseline", "--seed", "abc", "--out", str(out_dir), cwd=work), "--seed", "'abc'")
    subprocess_error(run_cli("run", "baseline", "--set", "n_developers", "--out", str(out_dir), cwd=work), "--set")
    subprocess_error(run_cli("check", str(work / "missing.toml"), cwd=work), "missing.toml")
    assert files_under(work) == {path}


def test_subprocess_argparse_error_names_the_flag_and_its_value(tmp_path):
    proc = run_cli("run", "baseline", "--seed", "-3", cwd=tmp_path)
    subprocess_error(proc, "--seed", "'-3'", "whole number >= 0")


def test_console_script_reports_toml_syntax_error(tmp_path):
    script = Path(sys.executable).with_name("weightshift")
    if not script.exists():
        pytest.skip("the weightshift console script is not installed next to this Python")
    path = write(tmp_path, 'name = "x"\nname = "y"\n')  # a duplicate key is a TOML error
    proc = subprocess.run(
        [str(script), "run", str(path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    subprocess_error(proc, str(path), "not valid TOML")
    assert files_under(tmp_path) == {path}


# --- the happy path (so the checks above are not vacuous) ----------------------------------------


def test_good_scenario_checks_and_runs_and_writes_output(tmp_path, capsys):
    # months = 37 reaches 2026-01, when the policy starts (a policy outside the run gives a warning)
    path = write(tmp_path, f'name = "tiny"\nextends = "baseline"\n[params]\nmonths = 37\n[[policies]]\n{TRUST}')
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "ok (tiny" in out
    out_dir = tmp_path / "out"
    rc = main(["run", str(path), "--set", "n_developers=50", "--seed", "3", "--out", str(out_dir), "--no-parquet"])
    out, err = capsys.readouterr()
    assert rc == 0 and err == ""
    assert sorted(p.name for p in out_dir.iterdir()) == [
        "families.csv",
        "provenance.json",
        "regions.csv",
        "segments.csv",
        "timeseries.csv",
    ]


# --- shipped scenarios ---------------------------------------------------------------------------

SHIPPED = scenarios.available()


def test_the_seed_scenarios_and_policy_experiments_are_shipped():
    expected = {
        "baseline",
        "continued_chinese_dominance",
        "renewed_western_competitiveness",
        "regulatory_fragmentation",
        "convergence",
        "policy_end_export_control_overreach",
        "policy_tighter_controls",
        "policy_us_weight_export_controls",
        "policy_us_licensing_regime",
        "policy_open_procurement_preference",
        "policy_sovereign_fund_open_models",
        "policy_federal_regulatory_sandbox",
        "policy_price_war",
        "policy_china_ai_plus_push",
        "policy_reactive_us_controls",
    }
    assert expected <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenario_loads_with_a_description(name):
    sc = scenarios.load(name)
    assert sc.name.strip()
    assert sc.description.strip()
    assert sc.description.strip().splitlines()[0].strip()  # a one-line summary first


@pytest.mark.parametrize("name", [n for n in SHIPPED if n != "baseline"])
def test_shipped_scenario_extends_baseline_and_adds_from_2026(name):
    doc = tomllib.loads(scenarios.find(name).read_text(encoding="utf-8"))
    assert doc.get("extends") == "baseline"
    sc, base = scenarios.load(name), scenarios.load("baseline")
    assert sc.policies[: len(base.policies)] == base.policies
    added = sc.policies[len(base.policies) :]
    assert added or sc.overrides or sc.changes, "a scenario must change something"
    assert all(p.start >= HISTORY_END for p in added)
    assert all(start >= HISTORY_END for start, _ in sc.changes)  # a change of course leaves history alone


def test_check_accepts_every_shipped_scenario(capsys):
    files = [str(scenarios.find(n)) for n in SHIPPED]
    assert main(["check", *files]) == 0
    out, err = capsys.readouterr()
    assert err == "" and out.count(": ok (") == len(files)


# --- fuzz: malformed scenario documents ------------------------------------------------------------


def _toml_string(s: str) -> str:
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return _toml_string(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_string(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def to_toml(doc: dict[str, Any]) -> str:
    """A small TOML writer: top-level tables as [sections] and [[arrays]], deeper ones inline."""
    lines, tables = [], []
    for key, v in doc.items():
        if isinstance(v, dict) or (isinstance(v, list) and v and all(isinstance(x, dict) for x in v)):
            tables.append((key, v))
        else:
            lines.append(f"{_toml_string(key)} = {_toml_value(v)}")
    for key, v in tables:
        for table in [v] if isinstance(v, dict) else v:
            lines.append(f"[{_toml_string(key)}]" if isinstance(v, dict) else f"[[{_toml_string(key)}]]")
            lines.extend(f"{_toml_string(k)} = {_toml_value(x)}" for k, x in table.items())
    return "\n".join(lines) + "\n"


def _canonical(v: Any) -> Any:
    if isinstance(v, bool):
        return ("bool", v)
    if isinstance(v, float) and math.isnan(v):
        return ("nan",)
    if isinstance(v, list):
        return [_canonical(x) for x in v]
    if isinstance(v, dict):
        return {k: _canonical(x) for k, x in v.items()}
    return v


NAMES = (*ORIGINS, *WORLD.regions, *WORLD.segments, *WORLD.families, "", "Mars")
LIST_NAMES = {"origins": ORIGINS, "regions": WORLD.regions, "segments": WORLD.segments, "families": WORLD.families}

scalars = st.one_of(
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-5, 3000),
    st.floats(),
    st.floats(-10, 2500),
    st.text(max_size=12),
    st.sampled_from(NAMES),
    st.dates(),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
good_months = st.builds(lambda y, m: f"{y:04d}-{m:02d}", st.integers(2020, 2032), st.integers(1, 12))
bad_months = st.one_of(
    st.builds(lambda y, m: f"{y:04d}-{m:02d}", st.integers(1990, 2110), st.integers(0, 13)),
    st.sampled_from(["2025/01", "2025-1", "25-01", "2025-13", "2025-00", "", " 2026-01", "2026-01 "]),
    st.integers(190_001, 210_012),
    st.dates(),
    values,
)


def _rarely(draw: st.DrawFn, percent: int) -> bool:
    """True with about `percent` % chance; the simplest draw (0) gives False, the usual case."""
    return draw(st.integers(0, 99)) >= 100 - percent


@st.composite
def field_values(draw: st.DrawFn, spec: Any) -> Any:
    """Mostly a valid value for the field `spec` (a policies.Field), else anything."""
    if _rarely(draw, 20):
        return draw(st.one_of(values, st.lists(st.sampled_from(NAMES), max_size=4)))
    if spec.kind == "number":
        return draw(st.floats(spec.low, spec.high) | st.integers(math.ceil(spec.low), math.floor(spec.high)))
    return draw(st.lists(st.sampled_from(LIST_NAMES[spec.kind]), max_size=4, unique=True))


@st.composite
def policy_tables(draw: st.DrawFn) -> Any:
    """A [[policies]] table, mostly well-formed, with one or more things wrong now and then."""
    if _rarely(draw, 3):
        return draw(values)
    kind = draw(values) if _rarely(draw, 8) else draw(st.sampled_from(sorted(KINDS)))
    table: dict[str, Any] = {} if _rarely(draw, 3) else {"kind": kind}
    if not _rarely(draw, 3):
        table["start"] = draw(bad_months) if _rarely(draw, 10) else draw(good_months)
    if _rarely(draw, 40):
        start = table.get("start")
        if _rarely(draw, 25) or not (isinstance(start, str) and re.fullmatch(r"\d{4}-\d{2}", start)):
            table["end"] = draw(st.one_of(good_months, bad_months))
        else:  # a valid end after a valid start
            step = int(start[:4]) * 12 + int(start[5:7]) - 1 + draw(st.integers(1, 60))
            table["end"] = f"{step // 12:04d}-{step % 12 + 1:02d}"
    fields = KINDS[kind].FIELDS if isinstance(kind, str) and kind in KINDS else {}
    for name, spec in fields.items():
        required = spec.default is None
        if (required and not _rarely(draw, 5)) or (not required and _rarely(draw, 60)):
            table[name] = draw(field_values(spec))
    if _rarely(draw, 8):  # a field of any kind (often not this one's)
        other = sorted({f: s for cls in KINDS.values() for f, s in cls.FIELDS.items()}.items())
        name, spec = draw(st.sampled_from(other))
        table[name] = draw(field_values(spec))
    if _rarely(draw, 4):
        table |= draw(st.dictionaries(st.text(max_size=8), values, min_size=1, max_size=2))
    return table


@st.composite
def param_values(draw: st.DrawFn, name: str) -> Any:
    p = REGISTRY.get(name)
    if p is None or _rarely(draw, 25):
        return draw(st.one_of(values, st.floats(-10, 3e6), st.integers(-10, 3_000_000)))
    if p.kind is bool:
        return draw(st.booleans())
    if p.kind is int:
        return draw(st.integers(int(p.low), int(p.high)))
    return draw(st.floats(p.low, p.high))


@st.composite
def documents(draw: st.DrawFn) -> dict[str, Any]:
    """A scenario document: each part mostly valid, sometimes wrong, so every layer is reached."""
    doc: dict[str, Any] = {}
    if not _rarely(draw, 4):
        doc["name"] = draw(values) if _rarely(draw, 4) else draw(st.text(max_size=10))
    if _rarely(draw, 60):
        doc["description"] = draw(values) if _rarely(draw, 5) else draw(st.text(max_size=30))
    if _rarely(draw, 15):
        extends = st.sampled_from(["baseline", "scenario.toml", "nope", "nope.toml", "", "."])
        doc["extends"] = draw(st.one_of(st.text(max_size=10), values)) if _rarely(draw, 30) else draw(extends)
    if _rarely(draw, 60):
        if _rarely(draw, 5):
            doc["params"] = draw(values)
        else:
            names = draw(st.lists(st.sampled_from(sorted(REGISTRY)), max_size=5, unique=True))
            if _rarely(draw, 8):
                names.append(draw(st.text(max_size=12)))
            doc["params"] = {k: draw(param_values(k)) for k in names}
    if not _rarely(draw, 20):
        doc["policies"] = draw(values) if _rarely(draw, 5) else draw(st.lists(policy_tables(), max_size=4))
    if _rarely(draw, 4):
        doc |= draw(st.dictionaries(st.text(max_size=8), values, min_size=1, max_size=3))
    return doc


def _keys(v: Any) -> list[str]:
    if isinstance(v, dict):
        return [k for k in v] + [k for x in v.values() for k in _keys(x)]
    if isinstance(v, list):
        return [k for x in v for k in _keys(x)]
    return []


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=documents())
def test_any_scenario_document_loads_or_raises_input_error(tmp_path, doc):
    # Every example overwrites the same file, so sharing tmp_path across examples is safe.
    text = to_toml(doc)
    assert _canonical(tomllib.loads(text)) == _canonical(doc)  # the writer wrote what we meant
    path = write(tmp_path, text)
    try:
        sc = scenarios.load(path)
    except InputError as exc:
        line_breaks = any(c in s for s in [*_keys(doc), str(doc.get("extends", ""))] for c in "\r\n")
        if not line_breaks:
            assert "\n" not in str(exc) and "\r" not in str(exc)
        return
    except Exception as exc:  # the point of the test: anything else is a bug
        pytest.fail(f"{type(exc).__name__} instead of InputError for:\n{text}\n{exc}")
    assert isinstance(sc.name, str) and isinstance(sc.description, str)
    assert all(p.kind in KINDS for p in sc.policies)


# --- inputs that once crashed the loader or the CLI --------------------------------------------


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "1e999"])
def test_regression_set_non_finite_int_param(capsys, value):
    one_line_error(capsys, main(["run", "baseline", "--set", f"n_developers={value}"]), "--set", "n_developers")


@pytest.mark.parametrize("value", ["nan", "inf"])
def test_regression_non_finite_int_param_in_file(tmp_path, value):
    path = write(tmp_path, f'name = "x"\n[params]\nmonths = {value}\n')
    with pytest.raises(InputError):
        scenarios.load(path)


@pytest.mark.parametrize("kind", ['["trust"]', '{name = "trust"}'])
def test_regression_unhashable_policy_kind(tmp_path, kind):
    path = write(tmp_path, f'name = "x"\n[[policies]]\nkind = {kind}\nstart = "2026-01"\n')
    with pytest.raises(InputError):
        scenarios.load(path)


@pytest.mark.parametrize("extends", ["a\\u0000b", "a" * 300])
def test_regression_unusable_extends_path(tmp_path, extends):
    path = write(tmp_path, f'name = "x"\nextends = "{extends}"\n')
    with pytest.raises(InputError):
        scenarios.load(path)


def test_regression_newline_in_key_splits_the_error_line(tmp_path, capsys):
    path = write(tmp_path, 'name = "x"\n"bad\\nkey" = 1\n')
    one_line_error(capsys, main(["check", str(path)]), str(path))


def test_regression_argparse_error_shows_sys_argv(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["pytest", "unrelated-argument"])
    err = one_line_error(capsys, main(["run", "baseline", "--seed", "abc"]), "--seed")
    assert "unrelated-argument" not in err
