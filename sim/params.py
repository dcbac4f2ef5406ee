"""The parameter registry: every model parameter is declared here, once.

The CLI, scenario loader, UI sliders, sweep ranges and calibration bounds all read this table,
so a parameter's default, unit, bounds, source and meaning live in exactly one place.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from sim.errors import InputError


@dataclass(frozen=True)
class Param:
    """One declared parameter.

    `calibrate` marks the parameters that the calibration fits within [low, high].
    """

    name: str
    default: float | int | bool
    unit: str
    low: float
    high: float
    source: str
    help: str
    group: str
    calibrate: bool = False

    @property
    def kind(self) -> type:
        """The Python type values of this parameter take (bool, int or float)."""
        return type(self.default)

    def check(self, value: Any, where: str) -> float | int | bool:
        """Return `value` converted to this parameter's type, or raise InputError."""
        kind = self.kind
        if kind is bool:
            if not isinstance(value, bool):
                raise InputError(where, self.name, value, "true or false")
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise InputError(where, self.name, value, f"a number in [{self.low:g}, {self.high:g}]")
        if kind is int and value != int(value):
            raise InputError(where, self.name, value, f"a whole number in [{self.low:g}, {self.high:g}]")
        if not self.low <= value <= self.high:
            raise InputError(where, self.name, value, f"a number in [{self.low:g}, {self.high:g}]")
        return kind(value)


def _p(name, default, unit, low, high, source, help, group, calibrate=False) -> Param:
    return Param(name, default, unit, low, high, source, help, group, calibrate)


_ASSUMED = "assumed"

# fmt: off
REGISTRY: dict[str, Param] = {
    p.name: p
    for p in [
        # --- run ---------------------------------------------------------------------------------------
        _p("n_developers", 20000, "agents", 50, 2000000, _ASSUMED,
           "Number of developer agents (each stands for a cohort of real developers).", "run"),
        _p("months", 96, "months", 1, 240, _ASSUMED,
           "Months simulated from 2023-01 (96 = to 2030-12).", "run"),
        _p("real_developers", 30000000.0, "developers", 1000000.0, 200000000.0, "GitHub Octoverse 2024: 150M+ GitHub users; ~30M professional developers (SlashData) -- the share that builds with AI models is assumed",
           "Real developers the population stands for; one agent = real_developers / n_developers.", "run"),
        # --- network -----------------------------------------------------------------------------------
        _p("contacts", 8, "ties", 1, 30, _ASSUMED,
           "Peers each developer watches in the social network.", "network"),
        _p("homophily", 0.7, "fraction", 0.0, 1.0, _ASSUMED,
           "Share of a developer's peers from its own region and segment.", "network"),
        _p("regional_ties", 0.2, "fraction", 0.0, 1.0, _ASSUMED,
           "Share of peers from its own region but another segment (rest: anywhere).", "network"),
        # --- adoption ----------------------------------------------------------------------------------
        _p("bass_p", 0.0178, "1/month", 0.001, 0.05, "assumed; Bass (1969) innovation coefficients of new technologies are typically 0.001-0.03/yr-scaled",
           "Innovation: chance a developer starts using AI models in a month on its own.", "adoption", calibrate=True),
        _p("bass_q", 0.568, "1/month", 0.05, 1.0, "assumed; Bass imitation coefficients typically 0.1-0.5",
           "Imitation: extra monthly entry chance per unit share of peers already using models.", "adoption", calibrate=True),
        _p("review_rate", 0.206, "1/month", 0.02, 0.5, _ASSUMED,
           "Chance that a developer in the market reconsiders its model in a month.", "adoption", calibrate=True),
        # --- awareness ---------------------------------------------------------------------------------
        _p("awareness_p", 0.0042, "1/month", 0.0005, 0.05, _ASSUMED,
           "Share of the unaware who hear of a family each month through general channels.", "awareness", calibrate=True),
        _p("awareness_q", 4.82, "1/month per unit share", 0.0, 10.0, _ASSUMED,
           "Word of mouth: extra awareness gain per unit of the family's regional usage share.", "awareness", calibrate=True),
        _p("launch_buzz", 0.9, "fraction", 0.0, 1.0, "assumed; e.g. the DeepSeek-R1 release in 2025-01 (RISE, SURGE)",
           "Share of the unaware who hear of a family when its release tops its class (open or closed).", "awareness", calibrate=True),
        # --- choice ------------------------------------------------------------------------------------
        _p("beta_capability", 8.51, "utils per 100 rating points", 1.0, 10.0, _ASSUMED,
           "Value of capability.", "choice", calibrate=True),
        _p("beta_price", 0.3, "utils per 10x price", 0.1, 3.0, _ASSUMED,
           "Dislike of price (per tenfold price per million tokens).", "choice", calibrate=True),
        _p("beta_open", 0.658, "utils", -1.0, 3.0, _ASSUMED,
           "Value of open weights (self-hosting, fine-tuning, data control).", "choice", calibrate=True),
        _p("beta_license", 0.05, "utils per unit permissiveness", 0.0, 5.0, _ASSUMED,
           "Value of a permissive licence.", "choice"),
        _p("beta_trust", 0.856, "multiplier", 0.0, 3.0, _ASSUMED,
           "Scale of origin distrust (regions' distrust x segment sensitivity).", "choice", calibrate=True),
        _p("beta_language", 1.5, "utils", 0.0, 5.0, _ASSUMED,
           "Value of language fit for work that needs Chinese.", "choice"),
        _p("beta_peers", 1.43, "utils per unit peer share", 0.0, 5.0, _ASSUMED,
           "Pull of the family most of a developer's peers use.", "choice", calibrate=True),
        _p("beta_ecosystem", 0.05, "utils per e-fold derivatives", 0.0, 2.0, _ASSUMED,
           "Pull of a family's derivative ecosystem (log of derivatives).", "choice"),
        _p("switching_cost", 0.854, "utils", 0.0, 4.0, _ASSUMED,
           "Utility bonus of staying with the current family.", "choice", calibrate=True),
        _p("taste_sd", 0.4, "log-sd", 0.0, 2.0, _ASSUMED,
           "Heterogeneity of tastes across developers (lognormal sd of each weight).", "choice"),
        _p("fit_sd", 0.726, "utils", 0.2, 2.5, "assumed; developers' uses differ (coding, chat, multilingual, on-device)",
           "Spread of each developer's persistent match to each family (normal sd).", "choice", calibrate=True),
        _p("volume_sd", 1.2, "log-sd", 0.0, 3.0, "assumed; token usage is heavy-tailed (OpenRouter/a16z usage study)",
           "Spread of usage volume across developers (lognormal sd).", "choice"),
        # --- ecosystem ---------------------------------------------------------------------------------
        _p("downloads_per_user", 30.0, "downloads/user-month", 1.0, 100.0, _ASSUMED,
           "Downloads per real developer-month on an open family of full breadth.", "ecosystem", calibrate=True),
        _p("derivative_rate", 0.006, "derivatives/user-month", 0.0001, 0.02, _ASSUMED,
           "Derivatives published per real developer-month on an open family of full breadth.", "ecosystem", calibrate=True),
        # --- labs --------------------------------------------------------------------------------------
        _p("compute_growth", 4.0, "x per year", 1.0, 10.0, "Epoch AI: frontier training compute has grown ~4-5x per year since 2010",
           "Growth of labs' training compute without controls.", "labs"),
        _p("efficiency_growth_west", 3.0, "x per year", 1.5, 5.0, "Epoch AI: algorithmic progress halves compute for the same performance every ~8 months",
           "Growth of Western labs' algorithmic efficiency.", "labs", calibrate=True),
        _p("efficiency_growth_cn", 6.14, "x per year", 1.5, 10.0, "RISE: DeepSeek V3 trained for ~$5.6M vs ~$78M for GPT-4o (14x); assumed rate",
           "Growth of Chinese labs' algorithmic efficiency (necessity under controls).", "labs", calibrate=True),
        _p("capability_per_decade", 100.0, "rating points per 10x", 40.0, 200.0, "assumed; frontier arena ratings rose ~300 points 2023-2025 over ~3 decades of effective compute",
           "Capability gained per tenfold effective compute.", "labs", calibrate=True),
        _p("control_effect", 0.7, "fraction", 0.2, 1.0, "CV: US export restrictions on AI chips since 2022; strength assumed",
           "Share of CN compute growth that full chip controls remove.", "labs", calibrate=True),
        _p("domestic_substitution", 0.03, "1/month", 0.0, 0.2, "assumed (the 'backfire': controls spur domestic chips)",
           "Monthly growth of the domestic-chip share of CN compute per unit control tightness.", "labs"),
        _p("spillover", 0.0264, "1/month", 0.0, 0.1, "assumed; distillation and shared open weights",
           "Share of the gap to the best open model that a lab closes each month.", "labs", calibrate=True),
        _p("distillation", 0.0368, "1/month", 0.0, 0.5, "assumed; distillation from frontier APIs",
           "Share of the gap to the best closed model that a lab closes each month (distillation, talent, papers).", "labs"),
        _p("data_feedback", 15.2, "rating points/yr per unit share", 0.0, 300.0, "assumed (the self-reinforcing advantage: usage data improves models)",
           "Capability gained per year by a lab holding all of the market (grows with the square root of share).", "labs"),
        _p("price_decline_west", 0.25, "fraction per year", 0.0, 0.9, "assumed; API prices of a given tier fell steeply 2023-2025 (OpenAI/Anthropic price lists)",
           "Yearly fall of Western prices.", "labs"),
        _p("price_decline_cn", 0.6, "fraction per year", 0.2, 0.9, "RISE: deployment costs 80%+ lower than proprietary alternatives; rate assumed",
           "Yearly fall of Chinese prices (cloud-led price wars).", "labs", calibrate=True),
        _p("open_response_threshold", 0.07, "share", 0.0, 1.0, "assumed; OpenAI released gpt-oss in 2025-08 as Chinese open models spread",
           "CN open usage share at which a Western closed lab opens weights.", "labs"),
        # --- governments -------------------------------------------------------------------------------
        _p("reactive_us_controls", False, "switch", 0, 1, _ASSUMED,
           "US government tightens chip controls when the CN open share passes a threshold.", "governments"),
        _p("reactive_threshold", 0.4, "share", 0.0, 1.0, _ASSUMED,
           "CN open usage share that triggers the US reactive tightening.", "governments"),
        _p("reactive_step", 0.2, "tightness", 0.0, 1.0, _ASSUMED,
           "Tightness the US adds when the reactive rule fires.", "governments"),
    ]
}
# fmt: on


@cache
def calibrated() -> dict[str, float | int | bool]:
    """The calibrated point estimate shipped in `calibration/calibrated.toml` ({} if none).

    Checked against the registry like any other input, so a stale file cannot smuggle in an
    unknown parameter or an out-of-bounds value.
    """
    try:
        f = resources.files("calibration").joinpath("calibrated.toml")
    except ModuleNotFoundError:
        return {}
    if not f.is_file():
        return {}
    return check(tomllib.loads(f.read_text(encoding="utf-8")).get("params", {}), "calibration/calibrated.toml")


def declared() -> dict[str, float | int | bool]:
    """The registry's declared (hand-set, pre-calibration) value of every parameter."""
    return {name: p.default for name, p in REGISTRY.items()}


def defaults() -> dict[str, float | int | bool]:
    """The value every scenario starts from: declared values, updated by the calibrated set."""
    return declared() | calibrated()


def check(overrides: Mapping[str, Any], where: str) -> dict[str, float | int | bool]:
    """`overrides` with each key and value checked against the registry.

    `where` names the file or flag the overrides came from, for error messages.
    """
    checked = {}
    for key, value in overrides.items():
        if key not in REGISTRY:
            raise InputError(where, key, value, "a known parameter (see `weightshift params`)")
        checked[key] = REGISTRY[key].check(value, where)
    return checked


def resolve(overrides: Mapping[str, Any], where: str) -> dict[str, float | int | bool]:
    """Defaults updated by the checked `overrides`."""
    return defaults() | check(overrides, where)


def parse_assignment(text: str, where: str = "--set") -> tuple[str, float | int | bool]:
    """Parse one `key=value` command-line assignment into a checked (key, value) pair."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise InputError(where, text, text, "key=value")
    if key not in REGISTRY:
        raise InputError(where, key, raw, "a known parameter (see `weightshift params`)")
    raw = raw.strip()
    value: Any
    if raw.lower() in ("true", "false"):
        value = raw.lower() == "true"
    else:
        try:
            value = float(raw)
        except ValueError:
            value = raw
        if isinstance(value, float) and value.is_integer() and REGISTRY[key].kind is int:
            value = int(value)
    return key, REGISTRY[key].check(value, where)
