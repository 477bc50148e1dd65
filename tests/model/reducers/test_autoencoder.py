"""The untrained autoencoder: reproducible from its seed without touching torch's global random
state, the architecture of each field shape, its input scaling, and an exact round trip through
its stored arrays."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from driftline.model.reducers.autoencoder import UntrainedEncoder, build_encoder, fit_uae

RNG = np.random.default_rng(0)


def test_the_seed_fixes_the_encoder_and_the_global_state_is_restored() -> None:
    reference = RNG.random((50, 64)).astype(np.float32)
    torch.manual_seed(123)
    before = torch.rand(3)
    torch.manual_seed(123)
    a = fit_uae("uae", "im", reference, [8, 8], 16, seed=5)
    after = torch.rand(3)
    assert torch.equal(before, after)
    b = fit_uae("uae", "im", reference, [8, 8], 16, seed=5)
    c = fit_uae("uae", "im", reference, [8, 8], 16, seed=6)
    np.testing.assert_array_equal(a.transform(reference), b.transform(reference))
    assert not np.array_equal(a.transform(reference), c.transform(reference))


@pytest.mark.parametrize(("shape", "first"), [([8, 8], torch.nn.Conv2d),
                                              ([5, 7, 3], torch.nn.Conv2d),
                                              ([100], torch.nn.Linear)])
def test_each_field_shape_gets_its_encoder(shape: list[int], first: type) -> None:
    size = int(np.prod(shape))
    reference = RNG.normal(size=(40, size)).astype(np.float32)
    uae = fit_uae("uae", "f", reference, shape, 12, seed=0)
    assert isinstance(uae.encoder[0], first)
    assert uae.transform(reference).shape == (40, 12)
    assert np.isfinite(uae.transform(reference)).all()


def test_channels_last_images_are_read_channel_by_channel() -> None:
    images = RNG.normal(size=(4, 5, 6, 3)).astype(np.float32)
    uae = fit_uae("uae", "rgb", images.reshape(4, -1), [5, 6, 3], 8, seed=0)
    direct = uae.encoder(torch.from_numpy(
        ((images.reshape(4, -1) - uae.mean) / uae.scale).reshape(4, 5, 6, 3)).permute(0, 3, 1, 2))
    np.testing.assert_allclose(uae.transform(images.reshape(4, -1)), direct.detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_inputs_are_centred_and_scaled_by_the_reference() -> None:
    reference = (RNG.normal(size=(200, 10)) * 50 + 1000).astype(np.float32)
    uae = fit_uae("uae", "v", reference, [10], 4, seed=0)
    assert abs(uae.scale - 50) < 5
    np.testing.assert_allclose(uae.mean, reference.mean(axis=0), rtol=1e-5)
    shifted = fit_uae("uae", "v", reference + 10_000, [10], 4, seed=0)
    np.testing.assert_allclose(shifted.transform(reference + 10_000),
                               uae.transform(reference), atol=1e-3)


def test_the_stored_arrays_rebuild_it_exactly() -> None:
    reference = RNG.random((30, 64)).astype(np.float32)
    uae = fit_uae("uae", "im", reference, [8, 8], 32, seed=1)
    again = UntrainedEncoder.from_stored("uae", "im", uae.params(), uae.arrays())
    np.testing.assert_array_equal(again.transform(reference), uae.transform(reference))
    assert uae.params() == {"input_size": 64, "shape": [8, 8], "scale": uae.scale, "seed": 1}
    # the 8x8 encoder mirrors Failing Loudly's: 2x2x8 = 32 values before the linear map
    assert build_encoder([8, 8], 32)[-1].in_features == 32
