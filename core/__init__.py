"""The bottom layer: what every other layer may use and which uses none of them: the clock,
geometry, the domain errors and SQL helpers (docs/architecture.md#layers)."""
