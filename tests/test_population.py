"""A built population reused by another run: the same results as a fresh build, and never changed by a run."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from sim.model import WeightshiftModel, make_streams
from sim.population import POPULATION_PARAMS, build_population, population_key
from sim.scenario import load
from sim.ui.state import LiveRun, Settings
from sim.world import load_world

MONTHS = 24
BASE = {"n_developers": 1500, "months": MONTHS}


def run_tables(params: dict, population=None, scenario: str = "baseline", seed: int = 3) -> dict[str, pd.DataFrame]:
    sc = load(scenario)
    model = WeightshiftModel(sc, seed=seed, params=sc.params() | params, population=population)
    return model.run().recorder.tables(MONTHS)


def assert_same_tables(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert a.keys() == b.keys()
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_exact=True)


def test_a_reused_population_gives_exactly_the_tables_of_a_fresh_build():
    sc = load("policy_tighter_controls")
    first = WeightshiftModel(sc, seed=3, params=sc.params() | BASE)
    shared = first.pop.frozen()  # read-only from here: any write by a run would raise
    before = {k: v.copy() for k, v in vars(shared).items()}
    first.run()
    edited = BASE | {"beta_open": 0.7, "switching_cost": 1.1}  # not population parameters
    fresh = run_tables(edited, scenario="policy_tighter_controls")
    reused = run_tables(edited, population=shared, scenario="policy_tighter_controls")
    assert_same_tables(reused, fresh)
    assert_same_tables(run_tables(BASE, population=shared, scenario="baseline"), run_tables(BASE, scenario="baseline"))
    for name, values in before.items():  # two runs later, the population is as built
        assert np.array_equal(getattr(shared, name), values)


def test_every_parameter_the_population_is_drawn_from_is_in_its_key():
    class Reads(dict):
        def __getitem__(self, key):
            self.read.add(key)
            return super().__getitem__(key)

    params = Reads(load("baseline").params() | BASE)
    params.read = set()
    streams = make_streams(0)
    build_population(params["n_developers"], params, load_world(), streams["population"], streams["network"])
    assert params.read <= set(POPULATION_PARAMS)


@pytest.mark.parametrize("name", POPULATION_PARAMS)
def test_changing_a_population_parameter_or_the_seed_changes_the_key(name):
    params = load("baseline").params() | BASE
    changed = params | {name: params[name] + (1 if isinstance(params[name], int) else 0.05)}
    assert population_key(0, changed) != population_key(0, params)
    assert population_key(1, params) != population_key(0, params)


def test_a_population_of_another_size_is_refused():
    sc = load("baseline")
    other = WeightshiftModel(sc, seed=0, params=sc.params() | BASE).pop
    with pytest.raises(ValueError, match="n_developers"):
        WeightshiftModel(sc, seed=0, params=sc.params() | BASE | {"n_developers": 1000}, population=other)


def test_the_ui_reuses_a_population_only_while_its_parameters_and_seed_stay():
    small = Settings(params={"n_developers": 700, "months": 12}, month=3)
    first = LiveRun(small, network_sample=0)
    policy_only = LiveRun(small.with_param("beta_open", 0.9), network_sample=0)
    assert policy_only.model.pop is first.model.pop
    for other in (small.with_param("taste_sd", 0.6), small.with_param("contacts", 9), replace(small, seed=1)):
        assert LiveRun(other, network_sample=0).model.pop is not first.model.pop
    again = LiveRun(small.with_param("beta_open", 0.9), network_sample=0)
    assert_same_tables(again.tables(), policy_only.tables())
