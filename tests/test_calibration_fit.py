"""The ABC-SMC fit (calibration/abc.py on pyabc, calibration/fit.py): a known posterior, determinism,
resume after an interruption, priors.toml validation, and recovery of known parameters."""

from __future__ import annotations

import tomllib
from dataclasses import replace

import numpy as np
import pandas as pd
import pyabc
import pytest
from scipy.stats import norm

from calibration.abc import DB_NAME, AbcSettings, Problem, read_journal, run_abc
from calibration.pilot import CAP, FLOOR, RISE, screen, spreads_from
from calibration.priors import Prior, all_priors, load_priors, parse_priors
from calibration.truncated import TruncatedPrior, log_mass
from sim.cli import main
from sim.errors import InputError
from sim.params import REGISTRY, defaults

# --- a toy model with a known posterior ------------------------------------------------------------
# theta ~ N(0, 1); one observation x ~ N(theta, 0.5^2) of value 1. Conjugate: the posterior is
# N(0.8, 0.2), sd 0.447. ABC at a small tolerance approximates it.

NOISE = 0.5
POST_MEAN, POST_SD = 0.8, (1 / (1 + 1 / NOISE**2)) ** 0.5


def toy_simulate(params: dict[str, float], seed: int) -> dict[str, float]:
    return {"x": float(np.random.default_rng(seed).normal(params["theta"], NOISE))}


def toy_distance(x: dict[str, float], x0: dict[str, float]) -> float:
    return abs(x["x"] - x0["x"])


TOY = Problem(
    {"theta": Prior("theta", "normal", {"mean": 0.0, "sd": 1.0}, -6.0, 6.0, "toy", calibrated=False)},
    toy_simulate,
    toy_distance,
    {"x": 1.0},
)


def _moments(post: pd.DataFrame) -> tuple[float, float]:
    m = float(np.average(post["theta"], weights=post["weight"]))
    return m, float(np.sqrt(np.average((post["theta"] - m) ** 2, weights=post["weight"])))


def test_the_wrapper_recovers_a_conjugate_normal_posterior(tmp_path):
    settings = AbcSettings(population=400, batch=100, budget=8000, min_epsilon=0.05, seed=11)
    res = run_abc(TOY, settings, tmp_path, workers=1)
    mean, sd = _moments(res.posterior)
    assert abs(mean - POST_MEAN) < 0.1, mean
    assert 0.75 * POST_SD < sd < 1.25 * POST_SD, sd
    assert res.posterior["weight"].sum() == pytest.approx(1.0)
    gens = res.generations
    assert (np.diff(gens["epsilon"].to_numpy()[1:]) < 0).all()  # tolerances shrink
    assert (gens["ess"] > 0.3 * settings.population).all()  # importance weights do not collapse
    assert gens["pressed_faces"].iloc[-1] == 0  # the last box holds the posterior: nothing cut off
    assert res.model_runs <= settings.budget


def test_a_warm_start_away_from_the_posterior_does_not_move_it(tmp_path):
    """Generation 0 drawn around a point on the wrong side of the prior (theta = -1.5; the posterior
    is N(0.8, 0.45)): later generations are weighted against the prior, so the posterior is the
    same as from a start at the prior."""
    settings = AbcSettings(population=400, batch=100, budget=8000, min_epsilon=0.05, seed=11)
    res = run_abc(replace(TOY, start={"theta": -1.5}), settings, tmp_path, workers=1)
    first, _ = pyabc.History(f"sqlite:///{tmp_path / DB_NAME}").get_distribution(m=0, t=0)
    assert -1.7 < float(np.median(first["theta"])) < -1.3  # the pilot was used (on the normal-score scale)
    mean, sd = _moments(res.posterior)
    assert abs(mean - POST_MEAN) < 0.1, mean
    assert 0.75 * POST_SD < sd < 1.25 * POST_SD, sd
    assert (res.generations["pressed_faces"].iloc[1:3] > 0).all()  # the box grew from the pilot ...
    assert res.generations["pressed_faces"].iloc[-1] == 0  # ... until it held the posterior


def wide_simulate(params: dict[str, float], seed: int) -> dict[str, float]:
    mean = (params["p00"] + params["p01"] + params["p02"]) / 3
    return {"y": float(mean + 0.02 * np.random.default_rng(seed).standard_normal())}


def wide_distance(x: dict[str, float], x0: dict[str, float]) -> float:
    return abs(x["y"] - x0["y"])


@pytest.mark.slow  # ~20 s of sampler overhead in 51 dimensions
def test_weights_do_not_collapse_when_most_parameters_are_uninformed(tmp_path):
    """51 uniform priors, of which the data inform 3 (their mean): the Model v2 fit's situation.
    pyabc's kernel mixture gave an ESS of 1-3 of 400 here from the first generation on."""
    priors = {f"p{i:02d}": Prior(f"p{i:02d}", "uniform", {"low": 0, "high": 1}, 0, 1, "toy", True) for i in range(51)}
    wide = Problem(priors, wide_simulate, wide_distance, {"y": 0.5})
    settings = AbcSettings(population=200, batch=100, budget=2500, min_epsilon=0.02, seed=3)
    res = run_abc(wide, settings, tmp_path, workers=1)
    gens = res.generations
    assert len(gens) >= 4 and gens["epsilon"].iloc[-1] < 0.3 * gens["epsilon"].iloc[1]  # it narrows
    assert (gens["ess"] > 0.3 * settings.population).all(), gens
    post = res.posterior
    mean = (post["p00"] + post["p01"] + post["p02"]) / 3
    assert abs(float(np.average(mean, weights=post["weight"])) - 0.5) < 0.02  # the informed combination
    uninformed = np.average(post["p30"], weights=post["weight"])
    assert 0.4 < uninformed < 0.6  # an uninformed one keeps its prior's centre


def test_the_pilot_is_as_wide_as_the_prior_along_what_the_targets_do_not_see_and_narrow_along_what_they_do():
    """The one-at-a-time screen (calibration/pilot.py): `phi` does not touch the figure, `theta` moves
    it one for one."""
    prior = Prior("p", "normal", {"mean": 0.0, "sd": 1.0}, -6.0, 6.0, "toy", calibrated=False)
    pair = Problem(
        {"theta": prior, "phi": prior}, toy_simulate, toy_distance, {"x": 1.0}, start={"theta": 1.0, "phi": 0.0}
    )
    spread = screen(pair, seed=5, workers=1)
    assert spread["phi"] == CAP
    assert FLOOR <= spread["theta"] < 0.5  # a move of 1 sd adds ~1 to the distance: far above RISE


def test_pilot_widths_follow_a_quadratic_bowl_through_the_measured_rise():
    spreads = spreads_from(
        {"flat": {1.0: 0.0, 0.5: 0.01}, "bowl": {1.0: 0.6, 0.5: 0.15}, "cliff": {1.0: 50.0, 0.5: 30.0}}
    )
    assert spreads["flat"] == CAP
    assert spreads["bowl"] == pytest.approx(np.sqrt(RISE / 0.6))  # 1 sd adds 4 x RISE: half a sd adds RISE
    assert spreads["cliff"] == FLOOR


@pytest.mark.parametrize(
    "dist,args",
    [
        ("uniform", {"low": 0.0, "high": 2.0}),
        ("triangular", {"low": 0.0, "mode": 0.3, "high": 2.0}),
        ("lognormal", {"median": 0.5, "sigma": 0.6}),
        ("normal", {"mean": 1.8, "sd": 0.5}),
    ],
)
def test_on_the_normal_score_scale_every_prior_is_a_standard_normal(dist, args):
    rv = Prior("x", dist, args, 0.0, 2.0, "test", calibrated=False).normal_score_rv()
    xs = np.linspace(0.01, 1.99, 25)
    assert np.allclose([rv.to_x(rv.to_z(x)) for x in xs], xs, atol=1e-7)  # the scale is a bijection
    us = np.random.default_rng(0).uniform(size=4000)
    xs = [rv.base.ppf(u) for u in us]  # draws of the truncated prior itself
    zs = np.array([rv.to_z(x) for x in xs])
    assert abs(zs.mean()) < 0.06 and abs(zs.std() - 1) < 0.05
    assert rv.pdf(0.0) == pytest.approx(1 / np.sqrt(2 * np.pi))
    assert all(0.0 <= rv.to_x(z) <= 2.0 for z in (-40.0, -8.0, 0.0, 8.0, 40.0))  # never leaves the support


def _box_fitted_to(pop: pd.DataFrame) -> TruncatedPrior:
    proposal = TruncatedPrior()
    proposal.fit(pop, np.full(len(pop), 1 / len(pop)))
    return proposal


def test_the_proposal_is_the_prior_along_uninformed_directions_and_boxed_along_informed_ones():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((400, 20))
    x[:, 0] = -3.6 + 0.1 * rng.standard_normal(400)  # informed, in the prior's tail (a value at its bound)
    proposal = _box_fitted_to(pd.DataFrame(x, columns=[f"p{i}" for i in range(20)]))
    np.random.seed(0)
    draws = pd.DataFrame([proposal.rvs_single() for _ in range(4000)])
    assert draws["p0"].between(-4.1, -3.1).all()  # inside the population's span, widened
    assert draws["p0"].mean() > -3.6  # and shaped by the prior: more mass on the side nearer its centre
    for col in ["p5", "p12", "p19"]:  # uninformed: the prior, N(0, 1), to within sampling error
        assert abs(draws[col].mean()) < 0.06 and abs(draws[col].std() - 1) < 0.05


def test_generation_after_generation_an_uninformed_direction_keeps_the_priors_spread():
    """The box is refitted to what it proposed, again and again (flat likelihood): it must not
    shrink a direction the targets say nothing about."""
    np.random.seed(4)
    pop = pd.DataFrame(np.random.standard_normal((400, 3)), columns=list("abc"))
    for _ in range(12):
        proposal = _box_fitted_to(pop)
        pop = pd.DataFrame([proposal.rvs_single() for _ in range(400)])
    big = pd.DataFrame([proposal.rvs_single() for _ in range(8000)])
    assert (big.std() > 0.95).all() and (big.abs().max() > 2.9).all(), big.describe()


def test_every_proposed_particle_has_the_same_importance_weight_the_boxs_prior_mass():
    rng = np.random.default_rng(2)
    pop = pd.DataFrame(rng.multivariate_normal([0.3, -2.0, 0.0], [[0.04, 0.03, 0], [0.03, 0.04, 0], [0, 0, 1]], 300))
    proposal = _box_fitted_to(pop.set_axis(list("abc"), axis=1))
    np.random.seed(3)
    draws = pd.DataFrame([proposal.rvs_single() for _ in range(20_000)])
    prior = np.exp(-0.5 * (draws.to_numpy() ** 2).sum(axis=1)) / (2 * np.pi) ** 1.5
    ratio = prior / proposal.pdf(draws)
    assert np.allclose(ratio, np.exp(proposal.log_box_mass()), rtol=1e-9)  # ESS = the population size
    mc = rng.standard_normal((400_000, 3))  # the box's prior mass, by plain Monte Carlo from the prior
    inside = proposal.pdf(pd.DataFrame(mc, columns=list("abc"))) > 0
    assert inside.mean() == pytest.approx(np.exp(proposal.log_box_mass()), rel=0.05)


def test_in_many_informed_directions_the_region_is_cut_to_the_populations_ellipsoid():
    """A box holds far more than the cloud inside it once many directions are informed (in 12, ~2.4x); the
    proposal keeps only the part within the population's widened 99% ellipsoid, and still holds it."""
    rng = np.random.default_rng(5)
    pop = pd.DataFrame(0.5 + 0.1 * rng.standard_normal((400, 12)), columns=[f"p{i}" for i in range(12)])
    proposal = _box_fitted_to(pop)
    box_only = proposal.log_box_mass() - proposal._log_share
    assert proposal.log_box_mass() < box_only - np.log(2)  # the ellipsoid keeps under half the box (~42%)
    np.random.seed(6)
    draws = pd.DataFrame([proposal.rvs_single() for _ in range(2000)])
    assert (proposal.pdf(draws) > 0).all()  # every draw inside the box and the ellipsoid
    r2 = (((draws - 0.5) / 0.1) ** 2).sum(axis=1)
    assert np.quantile(r2, 0.95) < 1.3**2 * 26.2  # within ~the population's 99% radius (chi2_12: 26.2)
    assert proposal.pdf(pop).astype(bool).mean() > 0.95  # and the population itself is inside (~97%)


def test_the_boxs_mass_is_right_deep_in_either_tail():
    a, b = np.array([-9.0, 2.0, 5.0, -1.0]), np.array([-5.0, 9.0, 7.5, 1.0])
    exact = np.log(norm.cdf(b) - norm.cdf(a))
    exact[2] = np.log(norm.sf(5.0) - norm.sf(7.5))  # 1 - cdf loses it in double precision
    assert np.allclose(log_mass(a, b), exact, rtol=1e-9)


def test_the_fit_is_the_same_whatever_the_number_of_workers(tmp_path):
    settings = AbcSettings(population=40, batch=20, budget=400, min_epsilon=0.1, seed=5)
    one = run_abc(TOY, settings, tmp_path / "one", workers=1)
    two = run_abc(TOY, settings, tmp_path / "two", workers=2)
    pd.testing.assert_frame_equal(one.posterior, two.posterior)
    pd.testing.assert_frame_equal(one.generations, two.generations)


def test_an_interrupted_fit_resumes_where_it_stopped_and_loses_no_run(tmp_path):
    settings = AbcSettings(population=40, batch=20, budget=600, min_epsilon=0.0, seed=7)
    whole = run_abc(TOY, settings, tmp_path / "whole", workers=1)
    seen = []

    def interrupt(n: int, t: int) -> None:
        seen.append((n, t))
        if t == 2 and sum(k for k, g in seen if g == 2) >= 40:  # mid-generation 2, after finished batches
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_abc(TOY, settings, tmp_path / "cut", workers=1, progress=interrupt)
    journalled = len(read_journal(tmp_path / "cut"))
    assert journalled == sum(n for n, _ in seen)  # every finished run was journalled
    resumed = run_abc(TOY, settings, tmp_path / "cut", workers=1, resume=True)
    assert resumed.fresh_runs == whole.fresh_runs - journalled  # no finished run was redone
    pd.testing.assert_frame_equal(resumed.generations, whole.generations)  # the history continued
    pd.testing.assert_frame_equal(resumed.posterior, whole.posterior)


# --- priors.toml --------------------------------------------------------------------------------------


def test_the_shipped_priors_name_registry_parameters_and_integrate_to_one():
    priors = load_priors()
    assert priors, "calibration/priors.toml declares no prior"
    for name, p in priors.items():
        assert name in REGISTRY and not REGISTRY[name].calibrate and p.source.strip()
        rv = p.rv()
        x = np.linspace(p.low, p.high, 20001)
        mass = np.trapezoid([rv.pdf(v) for v in x], x)
        assert mass == pytest.approx(1.0, abs=2e-3), name
        draws = [rv.rvs() for _ in range(50)]
        assert all(p.low <= d <= p.high for d in draws)
    fitted = all_priors()
    assert {n for n, p in REGISTRY.items() if p.calibrate} <= set(fitted)


def _entry(name: str, **kw) -> dict:
    return {name: {"dist": "uniform", "low": REGISTRY[name].low, "high": REGISTRY[name].high, "source": "s"} | kw}


def _uncalibrated() -> str:
    return next(n for n, p in REGISTRY.items() if not p.calibrate and p.kind is float and p.high > p.low)


def _calibrated() -> str:
    return next(n for n, p in REGISTRY.items() if p.calibrate)


@pytest.mark.parametrize(
    "doc,needle",
    [
        (lambda: {"no_such_parameter": {"dist": "uniform", "low": 0, "high": 1, "source": "s"}}, "no_such_parameter"),
        (lambda: _entry(_uncalibrated(), spread=1.0), ".spread"),
        (lambda: _entry(_uncalibrated(), dist="cauchy"), ".dist"),
        (lambda: _entry(_uncalibrated(), source=""), ".source"),
        (lambda: {_uncalibrated(): {"dist": "normal", "mean": REGISTRY[_uncalibrated()].low, "source": "s"}}, ".sd"),
        (lambda: _entry(_uncalibrated(), high=REGISTRY[_uncalibrated()].high + 1), "low/high"),
        (lambda: _entry(_calibrated()), _calibrated()),
        (lambda: {_uncalibrated(): 3}, _uncalibrated()),
    ],
)
def test_bad_priors_are_one_line_errors_naming_the_key(doc, needle):
    with pytest.raises(InputError) as err:
        parse_priors(doc())
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_a_bad_priors_file_is_reported_by_its_path(tmp_path):
    bad = tmp_path / "priors.toml"
    bad.write_text("x = {", encoding="utf-8")
    with pytest.raises(InputError, match="not valid TOML"):
        load_priors(bad)


# --- the command on the real model ----------------------------------------------------------------

SMALL = ["--budget", "48", "--particles", "20", "--developers", "300"]


def test_calibrate_writes_a_weighted_posterior_with_every_prior(tmp_path, capsys):
    assert main(["calibrate", *SMALL, "--workers", "1", "--out", str(tmp_path)]) == 0
    post = pd.read_csv(tmp_path / "posterior.csv")
    assert set(all_priors()) <= set(post.columns)
    assert post["weight"].sum() == pytest.approx(1.0) and (post["weight"] > 0).all()
    gens = pd.read_csv(tmp_path / "generations.csv")
    assert {"t", "epsilon", "model_runs", "ess"} <= set(gens.columns)
    doc = tomllib.loads((tmp_path / "calibrated.toml").read_text(encoding="utf-8"))
    assert doc["summary"]["model_runs"] <= 48 and set(doc["params"]) == set(all_priors())
    for name, value in doc["params"].items():
        REGISTRY[name].check(value, "test")
    used = defaults()
    assert all(
        value == pytest.approx(used[name]) for name, value in doc["params"].items()
    )  # a warm start keeps its start
    assert "final_ess" in capsys.readouterr().out


def test_resume_refuses_changed_settings_and_a_missing_history(tmp_path, capsys):
    assert main(["calibrate", "--resume", "--out", str(tmp_path / "none")]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main(["calibrate", *SMALL, "--workers", "1", "--out", str(tmp_path)]) == 0
    capsys.readouterr()
    changed = ["--budget", "60", "--particles", "24", "--developers", "300"]
    assert main(["calibrate", *changed, "--resume", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "population" in err
    assert main(["calibrate", *SMALL, "--start", "prior", "--resume", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "start" in err  # a fit from the prior cannot continue a warm start


@pytest.mark.parametrize(
    "argv",
    [
        ["calibrate", "--particles", "5"],
        ["calibrate", "--developers", "10"],
        ["calibrate", "--seed", "-1"],
        ["calibrate", "--workers", "0"],
        ["calibrate", "--start", "middle"],
    ],
)
def test_bad_fit_flags_are_one_line_and_exit_2(argv, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert argv[1] in err and argv[2] in err  # names the flag and the value


# --- recovery -----------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.xfail(
    reason="not met yet on Model v2: with ranges as wide as the reports' (tenth session), at 1200 runs / "
    "60 particles control_effect and beta_capability narrow (sd ratio 0.68, 0.69, truths inside) but "
    "compute_growth (0.99: a ridge with control_effect through Chinese compute growth) and bass_q (0.82) do not",
    strict=False,
)
def test_the_fit_recovers_known_parameters_from_targets_the_model_made(tmp_path):
    from calibration.recovery import DEMAND_SIDE, LAB_SIDE, default_names, recover

    names = default_names()
    assert set(names) & set(LAB_SIDE) and set(names) & set(DEMAND_SIDE), names
    table = recover(names, workers=2, out=tmp_path)
    assert len(table) >= 4
    assert table["recovered"].all(), table.to_string()


def test_posterior_draws_cover_every_target_over_five_fresh_seeds():
    """Posterior-predictive coverage of the shipped fit: 5 draws, each with a fresh seed, land
    inside each target's range at least 80% of the time (4 of 5)."""
    from calibration.predictive import FRESH
    from calibration.store import generations
    from calibration.targets import LAST_MONTH_NEEDED, evaluate_all, load_targets
    from sim import api
    from sim.ensemble import draws

    if generations().empty:
        pytest.skip(
            "no posterior is shipped (the kept fit in calibration/fits/ covers 3-100% per target: README, Status)"
        )
    runs = [
        evaluate_all(api.run("baseline", seed=s, overrides=p | {"months": LAST_MONTH_NEEDED}))
        for s, p in draws(5, seed=FRESH + 1)
    ]
    for t in load_targets():
        coverage = np.mean([t.inside(r[t.id]) for r in runs])
        assert coverage >= 0.8, (t.id, [r[t.id] for r in runs], (t.low, t.high))
