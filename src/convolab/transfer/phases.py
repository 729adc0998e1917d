"""The two phases of fine-tuning, as the Keras guide and fastai's `fine_tune` run them.

Phase 1: the base frozen (and always called in inference mode), only the new head learns,
at `train.lr`. Phase 2 (unless `transfer.unfreeze` is none, a linear probe): the top N
blocks of the base, or all of it, learn too at the lower `transfer.fine_tune_lr`, every
BatchNormalization of the base still frozen. `train.epochs` counts both phases.
"""

from __future__ import annotations

import dataclasses

from ..config import Config, unfreeze_value
from ..errors import ConvolabError


@dataclasses.dataclass(frozen=True)
class Phase:
    number: int            # 1 or 2
    first_epoch: int       # 0-based epoch the phase starts at
    end_epoch: int         # the epoch after its last one (fit's `epochs`)
    lr: float              # its peak learning rate
    unfreeze: str | int    # what of the base learns: "none" in phase 1

    @property
    def epochs(self) -> int:
        return self.end_epoch - self.first_epoch


def plan(config: Config) -> list[Phase]:
    """The phases of a transfer run with `config`; a ConvolabError if they do not fit."""
    t, x = config.train, config.transfer
    which = unfreeze_value(x.unfreeze)
    if which == "none":
        return [Phase(1, 0, t.epochs, t.lr, "none")]
    if x.freeze_epochs >= t.epochs:
        raise ConvolabError(f"train.epochs ({t.epochs}) must exceed transfer.freeze_epochs "
                            f"({x.freeze_epochs}) to leave epochs for fine-tuning with "
                            f"--unfreeze {which}; raise --epochs or use --unfreeze none")
    phases = [Phase(2, x.freeze_epochs, t.epochs, x.fine_tune_lr, which)]
    if x.freeze_epochs > 0:
        phases.insert(0, Phase(1, 0, x.freeze_epochs, t.lr, "none"))
    return phases


def phase_at(phases: list[Phase], epochs_done: int) -> int:
    """The index in `phases` of the phase a run with `epochs_done` epochs continues in."""
    for index, phase in enumerate(phases):
        if epochs_done < phase.end_epoch:
            return index
    return len(phases) - 1


def optimizer_config(config: Config, phase: Phase):
    """The train config for the phase's optimizer: its learning rate and its epochs."""
    return dataclasses.replace(config.train, lr=phase.lr, epochs=phase.epochs)
