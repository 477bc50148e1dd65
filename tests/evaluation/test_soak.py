"""The soak (evaluation/soak.py) on real components: executor -> real Prometheus with the
project's rules. A small configuration: 100,000 in-control events must raise no alert, pending
or firing; the 36 insurance months with the same run config must raise drift alerts on age,
emergency_braking and miles and none on braking_distance or power (pending suffices here: the
full run, docs/soak.md, waits for them to fire)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from driftline.configs import CONFIG_DIR, load_config
from driftline.dataloader.insurance import load_split
from driftline.evaluation.soak import bootstrap_records, run_soak, write_report
from driftline.evaluation.soak_config import SoakConfig
from driftline.executor.decode import EventDecoder
from tests.ops.conftest import require_binary


def test_bootstrap_records_are_reference_rows_with_their_labels() -> None:
    reference = load_split("reference")
    decoder = EventDecoder(list(reference.feature_names), n_classes=3)
    records = list(bootstrap_records(reference.features, list(reference.feature_names),
                                     reference.group, 3000, seed=5))
    assert [r.offset for r in records] == list(range(3000))
    rows = {tuple(row): int(label) for row, label in
            zip(reference.features.tolist(), reference.group.tolist(), strict=True)}
    decoded = [decoder.decode(r.value, topic=r.topic, partition=0, offset=r.offset,
                              timestamp_ms=r.timestamp_ms)
               for r in records]
    seen = [tuple(d.features.tolist()) for d in decoded]
    assert all(rows[s] == d.label for s, d in zip(seen, decoded, strict=True))
    # draws with replacement, uniform over the reference rows: ~3000 * (1 - 1/e) distinct
    assert 0.55 * 1500 < len(set(seen)) <= 1500
    # the same seed draws the same rows
    again = [r.value for r in bootstrap_records(reference.features,
                                                list(reference.feature_names),
                                                reference.group, 3000, seed=5)]
    assert np.array_equal(
        [json.loads(v)["features"]["age"] for v in again],
        [json.loads(r.value)["features"]["age"] for r in records])


def test_default_soak_config_is_the_issue_protocol() -> None:
    config = load_config(CONFIG_DIR / "evaluate_soak.yaml", SoakConfig)
    assert config.n_events >= 5_000_000 and config.require_firing
    run = yaml.safe_load((CONFIG_DIR.parent / config.run_config).read_text())
    assert run["alarms"]["per"] == "30d" and run["alarms"]["false_pages"] == 1


@pytest.mark.timeout(900)
def test_small_soak_against_real_prometheus(artifacts_dir: Path, tmp_path: Path) -> None:
    require_binary("prometheus")
    run = yaml.safe_load((CONFIG_DIR / "demo.yaml").read_text())
    run["model"] = {"artifacts_dir": str(artifacts_dir)}
    run_path = tmp_path / "run.yaml"
    run_path.write_text(yaml.safe_dump(run))
    config = SoakConfig(protocol="soak", output_dir=str(tmp_path / "soak"),
                        run_config=str(run_path), n_events=100_000, interval_s=0.5,
                        settle_s=6.0, require_firing=False)
    result = run_soak(config, log=lambda _: None)
    in_control, insurance = result.phases
    assert in_control.n_events == 100_000
    assert in_control.watchdog_seen
    assert in_control.events_seen_by_prometheus == 100_000
    assert in_control.alerts == [], in_control.alerts
    # the budget is exported and small enough over 100k events
    assert in_control.target_arl0 and min(in_control.target_arl0.values()) > 1e8
    assert in_control.expected_false_alarms is not None
    assert in_control.expected_false_alarms < 0.01
    features = {a.get("feature") for a in insurance.alerts if a.get("feature")}
    assert {"age", "emergency_braking", "miles"} <= features, insurance.alerts
    assert not {"braking_distance", "power"} & features, insurance.alerts
    assert in_control.passed and insurance.passed and result.passed
    md, js = write_report(result, tmp_path / "soak")
    assert "| in_control | 100,000 |" in md.read_text()
    assert json.loads(js.read_text())["passed"] is True
