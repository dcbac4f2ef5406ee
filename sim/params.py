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

    def typed(self, value: float) -> float | int | bool:
        """A sampled value (a posterior draw, a fit's particle) in this parameter's type: whole
        numbers are rounded, not truncated."""
        kind = self.kind
        return kind(round(value)) if kind is int else kind(value)

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
        _p("buzz_gap", 50.0, "rating points", 0.0, 300.0, "assumed; the DeepSeek-R1 moment (2025-01): news when an open release rivals the frontier (RISE, SURGE); calibrated",
           "A release that tops its class makes news when it is within this distance of the best model of all.", "awareness", calibrate=True),
        _p("launch_buzz", 0.9, "fraction", 0.0, 1.0, "assumed; e.g. the DeepSeek-R1 release in 2025-01 (RISE, SURGE)",
           "Share of the unaware who hear of a family when its release tops its class (open or closed).", "awareness", calibrate=True),
        # --- choice ------------------------------------------------------------------------------------
        _p("beta_capability", 3.0, "utils per 100 rating points", 0.5, 5.0,
           "assumed; bounded by willingness to pay: with beta_price ~1-2 utils per tenfold price, 5 utils per 100"
           " rating points already values 100 points at 2.5-5 decades of price, while developers kept using models"
           " 30-65x cheaper and ~50 points behind (Claude Opus vs DeepSeek list prices, 2025; LMArena)",
           "Value of capability.", "choice", calibrate=True),
        _p("beta_price", 1.5, "utils per 10x price", 0.5, 3.0,
           "Demirer et al. 2025 ('The Emerging Market for Intelligence', OpenRouter and Azure data): short-run price"
           " elasticity of LLM API demand ~1.1; in a logit the own-price elasticity is ~beta_price/ln(10), so ~2.5;"
           " the lower bound allows for differentiation (open models ~90% cheaper at equal benchmark scores held <30% of tokens)",
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
        # --- compute and chips ---------------------------------------------------------------------------
        _p("compute_growth", 4.5, "x per year", 4.0, 5.5, "Epoch AI (Sevilla & Roldan 2024): frontier training compute grew 4-5x a year 2010-2024; Epoch AI (Jan 2025): ~5x a year outside China",
           "Growth of labs' training compute without chip controls.", "compute", calibrate=True),
        _p("compute_ceiling", 2e29, "FLOP", 1e27, 1e31, "Epoch AI, 'Can AI scaling continue through 2030?' (2024): training runs of ~2e29 FLOP are feasible by 2030",
           "Training compute of the state of the art (the largest lab's policy-free path) at which every lab's growth stops (power, chip and data limits).", "compute"),
        _p("control_effect", 0.7, "fraction", 0.2, 1.0, "CV: US export restrictions on AI chips since 2022; Epoch AI (Jan 2025): Chinese compute grew ~3x a year vs ~5x elsewhere; strength calibrated",
           "Share of Chinese labs' frontier-chip compute growth that full controls (tightness 1) remove.", "compute", calibrate=True),
        _p("domestic_share_2023", 0.1, "share", 0.0, 0.5, "assumed; Huawei Ascend 910 shipments were small next to Nvidia's China sales in 2023",
           "Share of Chinese labs' compute on domestic chips at 2023-01.", "compute"),
        _p("domestic_substitution", 0.7, "fraction", 0.0, 1.0, "assumed (the 'backfire': controls spur domestic chip purchases); IDC: domestic chips were 41% of China's AI accelerator shipments in 2025, Nvidia's share down from ~95% to 55%",
           "Share of the chip budget that controls block which Chinese labs spend on domestic chips instead.", "compute"),
        _p("domestic_quality_2023", 0.35, "x Nvidia per dollar", 0.1, 1.0, "assumed; Huawei Ascend 910C ~60% of H100 inference performance (DeepSeek tests, Tom's Hardware Feb 2025) at yields of ~20-40% (Reuters Nov 2024, FT Feb 2025)",
           "Compute per dollar of domestic chips relative to Nvidia's, at 2023-01.", "compute"),
        _p("domestic_learning", 0.15, "1/year", 0.0, 1.0, "assumed (the backfire: domestic chips get better over time; Ascend 910B to 910C 2023-2025)",
           "Yearly rate at which domestic chips close their per-dollar gap to Nvidia.", "compute"),
        _p("grey_market_premium", 0.5, "fraction", 0.0, 2.0, "FT (Jul 2025): smuggled Nvidia chips sold in China at ~50% over US prices",
           "Extra cost of Nvidia compute for Chinese labs at tightness 1.", "compute"),
        # --- capability --------------------------------------------------------------------------------
        _p("algo_halving_months", 8.0, "months", 5.0, 14.0, "Epoch AI (Ho et al. 2024, 'Algorithmic progress in language models'): compute for a given performance halves every ~8 months (95% CI ~5-14)",
           "Halving time of the compute needed for a given capability (the world know-how frontier).", "capability"),
        _p("capability_per_decade", 120.0, "rating points per decade", 60.0, 200.0, "assumed from LMArena: the top rating rose ~250 points Mar 2023-Nov 2025 (~95 a year) while effective compute grew ~0.8 decades a year",
           "Capability gained per tenfold effective compute.", "capability"),
        _p("compute_elasticity", 0.5, "fraction", 0.3, 1.0, "assumed (diminishing returns to a lab's own compute); calibrated to the China-US lag",
           "Decades of effective compute per decade of own training compute (know-how counts 1:1).", "capability", calibrate=True),
        _p("cn_efficiency_premium", 1.5, "x", 1.0, 4.0, "RISE: DeepSeek V3 (Dec 2024) trained for ~$5.6M vs ~$78M for GPT-4 (Mar 2023), 14x on the final run only; 21 months of"
           " frontier algorithmic progress at the 8-month halving (Epoch AI) explain ~6x of it, leaving ~2.3x over the"
           " frontier at most; CAISI (Sep 2025): capability-adjusted cost far closer",
           "Efficiency level Chinese labs can reach above the frontier's know-how (necessity under controls), approached by catching up; a level, not a growth rate.", "capability", calibrate=True),
        _p("necessity_years", 2.0, "tightness-years", 0.25, 10.0, "assumed (necessity under controls: DeepSeek's efficiency work answered the H800 limits, RISE); calibrated to the China-US lag",
           "Tightness-years of chip controls over which Chinese labs build 63% of their efficiency premium.", "capability", calibrate=True),
        _p("cn_knowhow_lag_2023", 12.0, "months", 3.0, 24.0, "Epoch AI (early 2026 data insight): China's best model trailed the US best by ~7 months on average, up to 14, since 2023",
           "Months by which Chinese labs' know-how trailed the frontier at 2023-01.", "capability", calibrate=True),
        _p("diffusion_papers", 0.04, "1/month", 0.0, 0.3, "assumed (papers, talent moves); calibrated to the measured lags",
           "Share of its gap to its attainable know-how (the frontier's, plus the CN premium) a lab closes each month: papers, people, own research.", "capability", calibrate=True),
        _p("diffusion_open", 0.08, "1/month", 0.0, 0.5, "assumed (studying released weights); calibrated to the measured lags",
           "Share of its gap to the best open release's know-how a lab closes each month.", "capability", calibrate=True),
        _p("diffusion_distill", 0.04, "1/month", 0.0, 0.3, "assumed (distillation from accessible APIs); calibrated to the measured lags",
           "Share of its gap to the best accessible closed model's know-how a lab closes each month.", "capability", calibrate=True),
        _p("reasoning_gain", 0.3, "decades", 0.0, 0.6, "LMArena: the top rating rose ~100 points from Sep 2024 (o1-preview) to Mar 2025 (Gemini 2.5 Pro), ~50 above its ~95-a-year trend (0.4 decades at 120 points a decade); Epoch AI (Davidson et al. 2023): post-training enhancements are worth 5-30x training compute on benchmarks; calibrated",
           "Know-how the reasoning step (o1, 2024-09; sim/data/families.toml) adds to the frontier, held first by its lab.", "capability", calibrate=True),
        _p("reasoning_replication_months", 5.0, "months", 2.0, 6.0, "o1-preview 2024-09-12; first replications QwQ-32B-Preview 2024-11-28 and Gemini 2.0 Flash Thinking 2024-12-19 (2-3 months), DeepSeek-R1 2025-01-20 (4 months); calibrated",
           "Months after the reasoning step before other labs can learn it (the recipe was secret and o1's chains of thought hidden).", "capability", calibrate=True),
        _p("absorptive_capacity", 0.1, "decades per decade", 0.0, 0.5, "assumed (Cohen & Levinthal 1990: absorbing outside knowledge takes own capacity)",
           "Know-how a lab cannot absorb per decade its compute trails the state of the art's (a small-model lab stays one).", "capability"),
        _p("data_feedback", 20.0, "rating points", 0.0, 100.0, "assumed (the self-reinforcing advantage: usage data improves models), bounded",
           "Capability a lab gains from holding all of the market's tokens (grows with the square root of its share).", "capability"),
        # --- prices ------------------------------------------------------------------------------------
        _p("hardware_price_performance", 1.3, "x per year", 1.0, 2.0, "Epoch AI ML hardware data hub (2024-25): performance per dollar improves ~30% a year (GPU FLOP/s per dollar doubling every ~2.5 years, Epoch 2022)",
           "Yearly gain in compute per dollar of serving hardware.", "prices"),
        _p("serve_cost_2023", 1.0, "USD per Mtok", 0.1, 10.0, "assumed; GPT-3.5-turbo listed at $2 per Mtok in 2023 (OpenAI price list), read as about half cost, half margin",
           "Serving cost per million tokens at the 2023-01 frontier know-how on Nvidia hardware.", "prices"),
        _p("cost_ladder", 1.7, "decades per 100 rating points", 0.5, 3.0,
           "Epoch AI (LLM inference price trends, 2025): the price of a fixed capability level fell 9-900x a year"
           " (~40x median) while the frontier gained ~95 LMArena points a year: 1.0-3.1 decades per 100 points, ~1.7"
           " at the median; calibrated within that range",
           "Serving cost per token falls by this many decades per 100 points a model sits below the top of the month's capability ladder.", "prices", calibrate=True),
        _p("cost_floor", 0.01, "USD per Mtok", 0.001, 0.1, "assumed: energy and hosting of the smallest hosted models (~$0.01-0.02 per Mtok on third-party hosts, 2025)",
           "Physical floor under any serving cost.", "prices"),
        _p("markup_open", 1.0, "fraction", 0.0, 6.0, "assumed; DeepSeek disclosed a theoretical 545% cost-profit margin at full load (Mar 2025); third-party hosts compete near cost",
           "Markup over serving cost of open families (own API and third-party hosts).", "prices", calibrate=True),
        _p("markup_closed", 1.0, "fraction", 0.0, 2.0, "reported margins: Anthropic's gross margin ~40-60% in 2025 (a markup of ~0.7-1.5 over serving cost); calibrated",
           "Markup over serving cost of a closed API without a lead (brand, reliability, tooling); the lead premium comes on top.", "prices", calibrate=True),
        _p("markup_lead", 3.0, "fraction", 0.0, 10.0, "assumed; calibrated to the Claude/DeepSeek price ratios (~65x mid-2025, ~32x Dec 2025);"
           " bounded by reported margins: Anthropic's gross margin ~40-60% (2025 reports), DeepSeek's theoretical 545% cost-profit margin (Mar 2025)",
           "Largest markup a closed API lab charges for a lead over the best open model.", "prices", calibrate=True),
        _p("markup_lead_half", 60.0, "rating points", 5.0, 300.0, "assumed; calibrated to the fall of the price ratio in 2025 as open models closed in",
           "Lead over the best open model at which a closed lab charges half its largest markup.", "prices", calibrate=True),
        _p("price_stickiness", 0.0, "fraction", 0.0, 0.8,
           "Anthropic price pages: Claude 3 Opus (2024-03), Opus 4 (2025-05) and Opus 4.1 (2025-08) all listed at $15/$75"
           " per Mtok while serving costs fell; Opus 4.5 (2025-11) cut it to $5/$25 (menu costs, price as a signal of tier);"
           " calibrated",
           "Share by which a closed API's cost-plus price must fall below its list before a launch cuts the list.", "prices", calibrate=True),
        # --- lab strategy ------------------------------------------------------------------------------
        _p("cannibalisation", 1.0, "fraction", 0.0, 2.0, "assumed: the API revenue an open release would take from its own lab's closed models (MODEL.md rev 2, note 4); 1 counts it in full",
           "Weight of a lab's own closed token share against publishing weights (0: labs ignore it).", "strategy"),
        _p("open_threat", 2.0, "rating points per point of share", 0.0, 10.0, "assumed; OpenAI released gpt-oss (2025-08) as Chinese open models spread (RISE); MODEL.md: a Western lab opens weights when it is losing developers",
           "Value of publishing weights per percentage point of tokens on the rival bloc's open models.", "strategy", calibrate=True),
        # --- governments -------------------------------------------------------------------------------
        _p("reactive_us_controls", False, "switch", 0, 1, _ASSUMED,
           "US government tightens chip controls when the CN open share passes a threshold.", "governments"),
        _p("reactive_threshold", 0.4, "share", 0.0, 1.0, _ASSUMED,
           "CN open usage share that triggers the US reactive tightening.", "governments"),
        _p("reactive_step", 0.2, "tightness", 0.0, 1.0, _ASSUMED,
           "Tightness the US adds when the reactive rule fires.", "governments"),
        _p("reactive_cn_support", False, "switch", 0, 1, "assumed; MODEL.md: China raises subsidies when controls tighten (AI+ plan, 2025-07)",
           "Chinese government adds compute support for its labs while chip controls are tight.", "governments"),
        _p("reactive_cn_boost", 0.5, "x per year per tightness", 0.0, 3.0, _ASSUMED,
           "Extra compute growth of Chinese labs per unit chip-control tightness under the reactive rule.", "governments"),
    ]
}
# fmt: on


POPULATION = frozenset(
    (
        "n_developers",
        "months",
        "real_developers",
        "contacts",
        "homophily",
        "regional_ties",
        "taste_sd",
        "fit_sd",
        "volume_sd",
    )
)
"""Parameters fixed when the population is built: a scenario cannot change them mid-run."""


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
