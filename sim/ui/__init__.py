"""The browser UI (Solara): Explore, Compare, Calibration and About tabs over the engine in `sim`."""
