"""Weightshift: an agent-based simulator of the race between Chinese and Western open-weight models."""

from sim.api import RunResult, run
from sim.scenario import Scenario, load

__all__ = ["RunResult", "Scenario", "load", "run"]
__version__ = "0.1.0"
