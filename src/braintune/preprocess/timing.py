"""The TR grid of ds003020 and the mapping between stimulus time and response rows.

This module is the single place where response rows, TR indices and seconds meet
(docs/decisions.md 2; docs/protocol.md 2.1).

ds003020 ships no TR files. Its official code simulates them from ``respdict.json``:
``respdict[story] - 5`` TRs (``RESPDICT_PAD``), TR ``k`` centred at
``k * tr_s + tr_s / 2 - sound_start_s`` seconds relative to audio onset. The preprocessed
responses are already trimmed: hf5 row ``j`` is TR ``k = j + trim_start`` and the file holds
``respdict - 5 - trim_start - trim_end`` (= respdict - 20) rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: TRs of respdict.json that the dataset's simulated TR files leave out (their ``pad=5``).
RESPDICT_PAD = 5

#: The ``timing`` keys a :class:`TRGrid` reads (``timing.test_trim`` is not one of them).
GRID_KEYS = ("tr_s", "sound_start_s", "trim_start", "trim_end")


def grid_timing(timing: dict) -> dict:
    """The TR-grid keys of the ``timing`` section: what a job that only builds TR grids depends on."""
    return {k: timing[k] for k in GRID_KEYS}


@dataclass(frozen=True)
class TRGrid:
    """The TR grid of one story.

    Attributes:
        n_respdict: the story's TR count in ``respdict.json``.
        tr_s: repetition time in seconds.
        sound_start_s: time of audio onset after the first TR starts.
        trim_start, trim_end: TRs trimmed from the grid to give the response rows.
    """

    n_respdict: int
    tr_s: float
    sound_start_s: float
    trim_start: int
    trim_end: int

    @classmethod
    def from_config(cls, n_respdict: int, timing: dict) -> "TRGrid":
        return cls(
            n_respdict=int(n_respdict),
            tr_s=float(timing["tr_s"]),
            sound_start_s=float(timing["sound_start_s"]),
            trim_start=int(timing["trim_start"]),
            trim_end=int(timing["trim_end"]),
        )

    @property
    def n_trs(self) -> int:
        """Number of TRs on the (simulated) grid."""
        return self.n_respdict - RESPDICT_PAD

    @property
    def n_rows(self) -> int:
        """Number of response rows in the preprocessed hf5 file."""
        return self.n_trs - self.trim_start - self.trim_end

    @property
    def tr_times(self) -> np.ndarray:
        """Centre of every TR of the grid, seconds relative to audio onset (float64)."""
        k = np.arange(self.n_trs, dtype=np.float64)
        return k * self.tr_s + self.tr_s / 2.0 - self.sound_start_s

    @property
    def row_slice(self) -> slice:
        """Slice of the grid that corresponds to the response rows."""
        return slice(self.trim_start, self.n_trs - self.trim_end)

    @property
    def row_times(self) -> np.ndarray:
        """Centre of the TR of every response row (seconds relative to audio onset)."""
        return self.tr_times[self.row_slice]

    @property
    def row_end_times(self) -> np.ndarray:
        """End of the acquisition of every response row's TR (brain-tuning windows end here)."""
        return self.row_times + self.tr_s / 2.0

    def row_to_tr(self, row: int | np.ndarray) -> int | np.ndarray:
        """Grid index of response row(s)."""
        return row + self.trim_start

    def check_rows(self, n_rows: int, where: str) -> None:
        """Fail with the three numbers when a response file disagrees with the grid."""
        if n_rows != self.n_rows:
            raise ValueError(
                f"{where}: {n_rows} response rows, but respdict gives {self.n_respdict} TRs, "
                f"i.e. {self.n_rows} rows after the pad of {RESPDICT_PAD} and trims "
                f"{self.trim_start}/{self.trim_end}"
            )
