"""The About tab's text: what the model is, how it works, where every figure comes from, what to try.

The reference tables (parameters, policies, outputs, data sources, targets) are generated from the
registry, the policy classes, `COLUMNS`, the data files and the targets file, so the page cannot
describe a parameter or a source the code does not have.
"""

from __future__ import annotations

import tomllib
from importlib import resources

from sim.params import REGISTRY, defaults
from sim.policies import KINDS
from sim.recorder import COLUMNS
from sim.ui.calibration import load_targets

INTRO = """
## What Weightshift is

An agent-based model of the race between **Chinese open-weight AI models** (Qwen, DeepSeek, Kimi,
GLM, MiniMax) and **Western models**, open (Llama, Gemma, gpt-oss, Phi, Mistral) and closed (GPT,
Claude, Gemini). It asks: *why did Chinese open models overtake Western open models in developer
adoption in 2023–2025, and what would export controls, licensing, procurement rules, public
investment and pricing do to that race from 2026 on?*

One step is one month, from 2023-01. The shaded part of every chart, **2023-01 to 2025-12, is the
history window**: the model's free parameters are fitted so that it reproduces reported figures
there (see the Calibration tab). **Everything after is a projection under assumptions**, not a forecast.

## How to use this page

* **Explore** – pick a scenario, press ▶ (or *Step*), and watch the charts. Every slider and
  policy re-runs the model from 2023-01 up to the current month with the same random seed, so what
  changes is the effect of your change. Dashed lines show the scenario as shipped. Click a dot in
  the network or a bar of the labs chart to inspect that agent. *Share link* gives a URL that
  reopens exactly this state; the download buttons save the tables (CSV) and the charts (PNG).
* **Compare** – two or more scenarios over many seeds, or over draws of the calibration's
  posterior (parameters too): median lines, 5–95% bands, and the difference from the first
  scenario, run by run.
* **Calibration** – the reported figures against the model's history window.
"""

MECHANISMS = """
## How it works

**Labs** (one per model family; the full account is the model card, `docs/model.md`). Each
month a lab's training compute grows toward a ceiling (`compute_growth`); for Chinese labs, US
chip export controls remove part of the Nvidia growth (`control_effect` × the tightness in
force), and part of what they block is spent on domestic chips (`domestic_substitution`), which
controls do not reach: the *backfire*. Algorithmic know-how is a world stock every lab keeps pace
with and catches up on through papers, open weights and distillation (`diffusion_papers`,
`diffusion_open`, `diffusion_distill`); Chinese labs start `cn_knowhow_lag_2023` months behind
and can build an efficiency premium under controls (`cn_efficiency_premium`, `necessity_years`).
One step breaks the trend: reasoning models (o1, 2024-09) lift the frontier by `reasoning_gain`,
held by OpenAI alone until others replicate it (`reasoning_replication_months`; DeepSeek-R1,
2025-01), which is why open models fall behind in late 2024 and catch up in 2025.
Capability grows with the log of a lab's own compute (`compute_elasticity`) and its know-how.
Before each release an open line **decides** whether to publish weights: the value of an
ecosystem against the lead it would give away and the API revenue it would lose; no family has
a hard-coded opening date (the labs chart marks open lines that keep their weights closed).
Prices are serving cost times a markup (`markup_open`; closed labs add a premium for their lead,
`markup_lead`), and developers pay list prices changed by policies (*Prices paid* chart).

**Developers** (each agent stands for `real_developers / n_developers` real ones). A developer
starts using AI models Bass-style: on its own (`bass_p`) or by imitating peers who already do
(`bass_q`). It can only pick families it has heard of: awareness spreads through general
channels (`awareness_p`), word of mouth in its region (`awareness_q`) and launch news when a
release tops its class (`launch_buzz`). Each month a user reviews its choice with probability
`review_rate` and picks by a multinomial logit over the families available in its region. The
utility adds capability, price (per tenfold), open weights, licence, language fit, distrust of the
origin, the share of its peers on each family, the family's derivative ecosystem, a persistent
personal fit, and a bonus for staying (`switching_cost`). Tastes differ by segment (startup,
enterprise, individual, researcher, public sector) and by developer (`taste_sd`); usage volume
is heavy-tailed (`volume_sd`), and shares are shares of **tokens**. A developer picks one family
per task type (frontier work, commodity work, local use), so it can use a Chinese open model for
one and a closed API for another (*Usage by task type* chart).

**Ecosystem.** Users of open families download them (`downloads_per_user`) and publish
derivatives (`derivative_rate`), which make the family more attractive to others.

**Governments** (US, China, EU, rest of the world) hold the policies of the scenario, each in
force from a start month to an optional end month, and the US may follow a reactive rule
(`reactive_us_controls`: tighten chip controls once the Chinese open share passes a threshold).

**Social network.** Each developer watches `contacts` peers, mostly in its own region and segment
(`homophily`, `regional_ties`). The Explore tab draws a sample of it.
"""

LIMITS = """
## Assumptions and limits

* Many values are **assumed** (marked so in the source column below); the calibrated ones are
  fitted to the history window, which constrains their combination, not each one alone.
* Capability is one arena-style rating; task types (frontier, commodity, local) weigh it, price
  and open weights differently, but share that one rating.
* Prices are cost plus a reduced-form markup (calibrated), not a game between labs.
* Export controls act on the growth of compute, not on a modelled chip market.
* Policies are scenario inputs; only the US reactive rule responds to what happens.
* One run is one possible history: randomness in the population and in choices matters, above
  all early on. Compare many seeds before drawing a conclusion.
* After 2025-12 the model projects **scenarios** (if these policies, then…), not forecasts.
"""

TRY = f"""
## Things to try in class

1. **Why did Chinese open models win?** [Baseline to 2025-12](?scenario=baseline&month=2025-12).
   Watch usage share and the capability race. Then give open weights no extra value:
   [`beta_open` at its minimum](?scenario=baseline&beta_open={REGISTRY["beta_open"].low:g}&month=2025-12).
   What is left of the lead?
2. **Do tighter chip controls help the West?** Compare *baseline* and *policy_tighter_controls*
   ([open Compare](?tab=compare&cmp=baseline,policy_tighter_controls)). Look at CN compute, the
   domestic-chip share (the backfire) and usage share.
3. **Price war.** Move *markup_lead* down, then up: what happens to closed labs' prices and to
   the usage of open models? Which chart moves first?
4. **Network effects.** Set *beta_peers* to 0, then high: does the winner change, or only how fast?
5. **A split world.** Run [regulatory fragmentation](?scenario=regulatory_fragmentation&month=2028-12)
   and look at the Regions chart: which regions form their own ecosystems?
6. **Is it luck?** Change the *seed* a few times, then compare 20 seeds on the Compare tab.
7. **Meet the agents.** Click a developer in China and one in the US in the network: why do they
   choose differently? (region, segment, trust sensitivity, tastes)
8. **Tit for tat.** Switch on *reactive_us_controls* and lower *reactive_threshold*.
"""


def _params_table() -> str:
    """Every parameter with the value a run uses (the calibrated one where fitted) and the declared one."""
    used = defaults()
    rows = [
        "| parameter | a run uses | declared | unit | range | meaning | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in REGISTRY.values():
        mark = " *(calibrated)*" if p.calibrate else ""
        value = f"**{_show(used[p.name])}**" + (" (calibrated)" if used[p.name] != p.default else "")
        rows.append(
            f"| `{p.name}` | {value} | {_show(p.default)} | {p.unit} | {p.low:g}–{p.high:g} | {p.help}{mark} "
            f"| {p.source} |"
        )
    return "\n".join(rows)


def _show(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _policies_table() -> str:
    out = []
    for kind, cls in KINDS.items():
        fields = "; ".join(
            f"`{name}` ({f.help}" + (f" {f.low:g}–{f.high:g} {f.unit}" if f.kind == "number" else "") + ")"
            for name, f in cls.FIELDS.items()
        )
        out.append(f"* **{kind}** – {cls.help} Fields: {fields}")
    return "\n".join(out)


def _outputs_table() -> str:
    rows = ["| output | unit | definition |", "|---|---|---|"]
    rows += [f"| `{k}` | {u} | {d} |" for k, (u, d) in COLUMNS["timeseries"].items() if k != "month"]
    return "\n".join(rows)


def _data_sources() -> str:
    rows = ["| data | entry | source |", "|---|---|---|"]
    for fname, keys in (("families.toml", ("family",)), ("regions.toml", ("region", "segment"))):
        doc = tomllib.loads(resources.files("sim.data").joinpath(fname).read_text(encoding="utf-8"))
        for key in keys:
            rows += [f"| {key} | {e['name']} | {e.get('source', 'assumed')} |" for e in doc.get(key, [])]
    return "\n".join(rows)


def _targets_table() -> str:
    try:
        targets = load_targets()
    except Exception as exc:  # a missing or broken file is reported, not raised
        return f"*Calibration targets unavailable: {exc}*"
    rows = ["| target | month | reported (range) | source |", "|---|---|---|---|"]
    rows += [f"| `{t.id}` | {t.month} | {t.value:g} ({t.low:g}–{t.high:g}) | {t.source} |" for t in targets]
    return "\n".join(rows)


def about_markdown() -> str:
    """The whole About page as Markdown."""
    return "\n".join(
        [
            INTRO,
            MECHANISMS,
            TRY,
            LIMITS,
            "## Policy instruments\n",
            _policies_table(),
            "\n## Sources of every figure\n\n### Parameters\n",
            _params_table(),
            "\n### Families, regions and segments (initial state, 2023-01)\n",
            _data_sources(),
            "\n### Reported figures the history window is calibrated on\n",
            _targets_table(),
            "\n## Outputs\n",
            _outputs_table(),
        ]
    )
