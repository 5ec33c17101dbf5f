"""What each trained variant is: its target kind, its training stories and whether it is per subject.

Variant names (docs/artifacts.md): ``braintuned``, ``braintuned_n{K}`` (the first K training stories;
paper appendix E.2, fig. 12), ``random`` (block-permuted responses), ``bigslm`` (Whisper-medium decoder
targets), ``lmtuned_{name}`` (text-LM targets, e.g. ``lmtuned_gpt2``, ``lmtuned_llama``) and ``stimulus``
(self-supervised wav2vec2 training on the stimulus audio, shared by all subjects) and ``multibraintuned``
(one model tuned jointly on ``braintuning.multi.train_subjects``' responses in the common space, used for
every subject: :mod:`braintune.braintuning.multi`). ``pretrained`` is not trained here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from braintune.config import MULTI_VARIANT, ConfigError, is_shared_variant

__all__ = ["VariantSpec", "parse_variant", "trained_variants", "STIMULUS_ARCHITECTURES"]

#: Architectures whose self-supervised objective transformers implements with its pre-training head
#: (``Wav2Vec2ForPreTraining``: contrastive + diversity loss). HuBERT's masked prediction of k-means
#: cluster targets has no pre-training head in transformers and Whisper is supervised, so a
#: ``stimulus`` variant is only defined for wav2vec2 families (paper D.2 trains it for Wav2Vec2.0 only).
STIMULUS_ARCHITECTURES = ("wav2vec2",)

_N_STORIES = re.compile(r"^braintuned_n(\d+)$")


@dataclass(frozen=True)
class VariantSpec:
    """A trained variant.

    Attributes:
        name: the variant name.
        target: ``responses`` (fMRI), ``permuted`` (block-permuted fMRI), or the name of a precomputed
            target set (``bigslm``, ``lmtuned_gpt2``, ...), or ``stimulus`` (self-supervised, no targets), or
            ``common`` (several participants' fMRI projected to the common space).
        n_train_stories: the first K training stories only (None = all).
    """

    name: str
    target: str
    n_train_stories: int | None = None

    @property
    def needs_subject(self) -> bool:
        """Whether the targets are subjects' responses (else one target set for every subject)."""
        return self.target in ("responses", "permuted", "common")

    @property
    def precomputed(self) -> bool:
        """Targets computed once per story by a target model (BigSLM or text LM)."""
        return self.target not in ("responses", "permuted", "stimulus", "common")

    @property
    def multi(self) -> bool:
        """One model of a group of participants (owner: the group, :func:`braintune.config.multi_group`)."""
        return self.target == "common"

    @property
    def shared(self) -> bool:
        return is_shared_variant(self.name)


def parse_variant(variant: str) -> VariantSpec:
    """The :class:`VariantSpec` of a trained variant name; ConfigError for unknown names."""
    if variant == "braintuned":
        return VariantSpec(variant, "responses")
    match = _N_STORIES.match(variant)
    if match:
        k = int(match.group(1))
        if k < 1:
            raise ConfigError(f"variant '{variant}': the number of training stories must be >= 1")
        return VariantSpec(variant, "responses", k)
    if variant == "random":
        return VariantSpec(variant, "permuted")
    if variant == "bigslm" or variant.startswith("lmtuned_"):
        return VariantSpec(variant, variant)
    if variant == "stimulus":
        return VariantSpec(variant, "stimulus")
    if variant == MULTI_VARIANT:
        return VariantSpec(variant, "common")
    raise ConfigError(
        f"unknown variant '{variant}': expected braintuned, braintuned_n<K>, random, bigslm, lmtuned_<lm>, "
        "stimulus, multibraintuned or pretrained"
    )


def trained_variants(config: dict, family: str) -> list[VariantSpec]:
    """The variants of ``family`` that this stage trains (every listed variant but ``pretrained``).

    Raises ConfigError when a variant needs settings the ``braintuning`` section lacks (a target model for
    ``bigslm``/``lmtuned_*``), asks for more training stories than configured, or asks for ``stimulus`` on
    an architecture without a self-supervised pre-training head.
    """
    fam = config["models"][family]
    specs = []
    for name in fam["variants"]:
        if name == "pretrained":
            continue
        spec = parse_variant(name)
        if spec.precomputed and spec.target not in config["braintuning"]["targets"]:
            raise ConfigError(
                f"models.{family}.variants: '{name}' needs braintuning.targets.{name} (its target model)"
            )
        n_train = len(config["stories"]["braintuning_train"])
        if spec.n_train_stories is not None and spec.n_train_stories > n_train:
            raise ConfigError(
                f"models.{family}.variants: '{name}' asks for {spec.n_train_stories} training stories, "
                f"stories.braintuning_train has {n_train}"
            )
        if spec.target == "stimulus" and fam.get("architecture") not in STIMULUS_ARCHITECTURES:
            raise ConfigError(
                f"models.{family}.variants: 'stimulus' needs a self-supervised pre-training head; "
                f"architecture '{fam.get('architecture')}' has none (supported: {list(STIMULUS_ARCHITECTURES)})"
            )
        specs.append(spec)
    return specs
