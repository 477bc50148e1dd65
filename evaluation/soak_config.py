"""Schema of the soak config (``configs/evaluate_soak.yaml``): the protocol of
:mod:`evaluation.soak`, selected in ``driftline evaluate`` by ``protocol: soak``.

Example
-------
>>> from driftline.configs import CONFIG_DIR, load_config
>>> config = load_config(CONFIG_DIR / "evaluate_soak.yaml", SoakConfig)
>>> config.n_events >= 5_000_000, config.insurance.expect_alerts
(True, ['age', 'emergency_braking', 'miles'])
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from driftline.configs import ConfigModel, key_error

__all__ = ["SoakConfig", "SoakInsuranceConfig"]


class SoakInsuranceConfig(ConfigModel):
    """The second phase: the same run configuration on the 36 insurance months, which must
    alert on every feature of ``expect_alerts`` and on none of ``expect_quiet``."""

    enabled: bool = True
    expect_alerts: list[str] = Field(
        default_factory=lambda: ["age", "emergency_braking", "miles"])
    expect_quiet: list[str] = Field(default_factory=lambda: ["braking_distance", "power"])

    @model_validator(mode="after")
    def _check(self) -> SoakInsuranceConfig:
        both = sorted(set(self.expect_alerts) & set(self.expect_quiet))
        if both:
            raise key_error("expect_quiet", f"{both} also in expect_alerts")
        return self


class SoakConfig(ConfigModel):
    """A long in-control stream through the executor into a real Prometheus.

    ``run_config``: the ``driftline run`` config under test (its ``alarms`` budget and
    detectors; its source is replaced). ``n_events`` rows bootstrapped (``seed``) from the
    insurance reference split, with their labels, replayed at full speed. Prometheus evaluates
    the project's rules every ``interval_s`` and scrapes every ``scrape_interval_s`` (also
    the scrape timeout: ``up == 0`` after a timeout would page as an outage); after each
    phase the executor stays up, idle, for ``settle_s`` so that an alert pending at the end
    of the stream can fire (the drift alerts wait ``for: 2m`` while the exporter holds a flag
    ``metrics.drift_hold_s``). ``require_firing``: count only firing alerts as alerts of the
    insurance phase (false: pending ones too, for short runs that do not wait 2 minutes).
    """

    protocol: Literal["soak"]
    output_dir: str = "runs/soak"
    run_config: str = "configs/demo.yaml"
    n_events: int = Field(5_000_000, ge=1000)
    seed: int = Field(0, ge=0)
    interval_s: float = Field(1.0, ge=0.05, le=60.0)
    scrape_interval_s: float = Field(2.0, ge=0.05, le=60.0)
    settle_s: float = Field(150.0, ge=0.0)
    require_firing: bool = True
    insurance: SoakInsuranceConfig = Field(default_factory=SoakInsuranceConfig)
