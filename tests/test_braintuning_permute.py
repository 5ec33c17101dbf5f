"""Block permutation of responses (random brain-tuned comparison model)."""

import numpy as np
import pytest

from braintune.braintuning.permute import block_derangement, block_permutation, permute_blocks, story_rng


@pytest.mark.parametrize("n_rows", [30, 31, 44, 45, 200, 291])
def test_every_block_moves_and_rows_are_kept(n_rows):
    block = 15
    rng = story_rng(7, "souls")
    data = np.arange(n_rows, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    out = permute_blocks(data, block, rng)
    # same multiset of rows, same length
    assert out.shape == data.shape
    assert sorted(out[:, 0].tolist()) == data[:, 0].tolist()
    order = out[:, 0].astype(int)
    # no row stays on its own index (the tail block moves too)
    assert not np.any(order == np.arange(n_rows))
    # the output is made of whole input blocks, none at its own block position
    pos, source_blocks = 0, []
    while pos < n_rows:
        first = order[pos]
        assert first % block == 0
        length = min(block, n_rows - first)
        np.testing.assert_array_equal(order[pos : pos + length], np.arange(first, first + length))
        source_blocks.append(first // block)
        pos += length
    assert all(b != k for k, b in enumerate(source_blocks))
    assert sorted(source_blocks) == list(range(int(np.ceil(n_rows / block))))


def test_seeded_and_story_specific():
    a = block_permutation(300, 15, story_rng(1, "souls"))
    b = block_permutation(300, 15, story_rng(1, "souls"))
    c = block_permutation(300, 15, story_rng(1, "avatar"))
    d = block_permutation(300, 15, story_rng(2, "souls"))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, d)


def test_derangement_is_uniformish_and_fixed_point_free():
    rng = np.random.default_rng(0)
    counts = np.zeros((4, 4))
    for _ in range(900):
        p = block_derangement(4, rng)
        assert not np.any(p == np.arange(4))
        counts[np.arange(4), p] += 1
    off = counts[~np.eye(4, dtype=bool)]
    assert off.min() > 0.25 * 900 / 3 * 0.6  # every off-diagonal move happens


def test_too_short_story_fails():
    with pytest.raises(ValueError, match="at least 2 blocks"):
        block_permutation(15, 15, np.random.default_rng(0))
