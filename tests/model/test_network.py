"""The MLP: standardisation buffers, output shapes, weights hash."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from driftline.model.network import GroupNet, state_dict_sha256


def test_standardisation_is_applied_inside_the_network() -> None:
    torch.manual_seed(0)
    net = GroupNet(n_features=2, hidden_sizes=[4], n_classes=3, risk_head=False)
    net.set_standardisation(np.array([10.0, -5.0]), np.array([2.0, 0.0]), 1.0, 2.0)
    assert net.feature_std.tolist() == [2.0, 1.0]  # zero std left unscaled
    raw = torch.tensor([[14.0, -3.0]], dtype=torch.float64)
    scaled = torch.tensor([[2.0, 2.0]], dtype=torch.float64)
    logits, risk = net(raw)
    expected = net.class_head(net.body(scaled))
    torch.testing.assert_close(logits, expected)
    assert risk is None


def test_weights_hash_tracks_every_tensor() -> None:
    torch.manual_seed(0)
    net = GroupNet(5, [8, 8], 3, risk_head=True)
    state = net.state_dict()
    digest = state_dict_sha256(state)
    assert digest == state_dict_sha256({k: v.clone() for k, v in reversed(state.items())})
    changed = {k: v.clone() for k, v in state.items()}
    changed["feature_mean"][0] += 1e-9
    assert state_dict_sha256(changed) != digest
    assert set(state) >= {"feature_mean", "feature_std", "risk_mean", "risk_std",
                          "risk_head.weight"}


def test_constructor_validates_parameters() -> None:
    with pytest.raises(ValueError, match="hidden_sizes"):
        GroupNet(5, [], 3, risk_head=False)
    with pytest.raises(ValueError, match="n_classes"):
        GroupNet(5, [4], 1, risk_head=False)
    net = GroupNet(5, [4], 3, risk_head=False)
    with pytest.raises(ValueError, match=r"shape \(5,\)"):
        net.set_standardisation(np.zeros(4), np.ones(4), 0.0, 1.0)
