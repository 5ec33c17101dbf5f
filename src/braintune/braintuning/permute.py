"""Block permutation of a story's responses: the targets of the *random brain-tuned* comparison model.

Paper 3.3.1 / appendix D.2: "block-permuted fMRI responses that correspond to different stimuli", the same
voxels and hyper-parameters as brain-tuning. The reference's ``FMRIRandomStory('local')`` swaps 15-TR chunks
with chunks >= 10 chunks later, cannot move the last ten chunks and truncates stories to a multiple of 15
(docs/protocol.md 3); we instead draw a uniformly random *derangement* of the blocks of each story, so that

- every block leaves its place (no response row stays paired with its own audio window),
- every row is kept exactly once (same multiset of rows, same length: nothing truncated or padded),
- the tail block (``n_rows % block`` rows) is a block like any other and moves too.

Because the tail block is shorter, placing it earlier shifts the blocks after it by fewer than ``block`` rows;
a row can therefore never land on its own index (see :func:`block_permutation`).
"""

from __future__ import annotations

import zlib

import numpy as np

__all__ = ["block_derangement", "block_permutation", "permute_blocks", "story_rng"]


def story_rng(seed: int, story: str) -> np.random.Generator:
    """A generator seeded by (``seed``, story name): independent of the order stories are listed in."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(story.encode())]))


def block_derangement(n_blocks: int, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random permutation ``p`` of ``range(n_blocks)`` with ``p[i] != i`` for all ``i``.

    Rejection sampling: a random permutation is a derangement with probability ~1/e, so this takes ~2.7
    draws on average. Raises ValueError for fewer than 2 blocks (no derangement exists).
    """
    if n_blocks < 2:
        raise ValueError(f"block permutation needs at least 2 blocks, got {n_blocks}")
    idx = np.arange(n_blocks)
    while True:
        perm = rng.permutation(n_blocks)
        if not np.any(perm == idx):
            return perm


def block_permutation(n_rows: int, block: int, rng: np.random.Generator) -> np.ndarray:
    """Row order after permuting consecutive ``block``-row blocks by a derangement.

    Returns ``order`` (int64, length ``n_rows``): output row ``i`` is input row ``order[i]``. The output is
    the concatenation of input blocks ``perm[0], perm[1], ...`` with ``perm[k] != k``.
    """
    if block < 1:
        raise ValueError(f"block length must be >= 1, got {block}")
    starts = np.arange(0, n_rows, block)
    blocks = [np.arange(s, min(s + block, n_rows)) for s in starts]
    perm = block_derangement(len(blocks), rng)
    return np.concatenate([blocks[p] for p in perm]).astype(np.int64)


def permute_blocks(responses: np.ndarray, block: int, rng: np.random.Generator) -> np.ndarray:
    """``responses`` (T, V) with its rows reordered by :func:`block_permutation` (a copy)."""
    order = block_permutation(responses.shape[0], block, rng)
    return np.ascontiguousarray(responses[order])
