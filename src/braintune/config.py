"""Configuration: loading, defaults, JSON-schema validation with messages that name the key, the check
that every name the config uses exists, and the small amount of logic that turns a config into the
list of stories, subjects and checkpoints.

The schema ships inside the package (``braintune/config.schema.yaml``) and states every default once:
the paper protocol's value (the ``demo`` section: the generated miniature's). :func:`validate_config`
fills the absent keys with those defaults, so a config file states only what differs from the paper.
``workflow/rules/common.smk`` calls it before any job runs, and the tests call it without Snakemake.
"""

from __future__ import annotations

import copy
import functools
import re
from importlib import resources
from pathlib import Path
from typing import Iterator

import jsonschema
import yaml

#: Variants that are not trained per participant (one checkpoint shared by every subject).
SHARED_VARIANTS = ("pretrained", "stimulus")
SHARED_OWNER = "shared"
#: The multi-participant brain-tuned variant: one checkpoint of a group of participants (owner: the group).
MULTI_VARIANT = "multibraintuned"
GROUP_PREFIX = "group_"
#: A donor variant ``braintuned_<subject>``: that participant's brain-tuned checkpoint, evaluated on the other
#: participants (the cross-participant baseline of the data-efficiency curve, ``alignment.curve.donors``).
DONOR_VARIANT = re.compile(r"^braintuned_(UTS0[1-9])$")

#: The config sections whose ``variants`` key selects among each family's variants (null: all).
VARIANT_SELECTING_STAGES = ("alignment", "lowlevel", "downstream")


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the key."""


@functools.cache
def _schema() -> dict:
    """The schema, parsed once (validation never changes it)."""
    text = resources.files("braintune").joinpath("config.schema.yaml").read_text()
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def load_schema() -> dict:
    """The configuration schema shipped with the package (a copy)."""
    return copy.deepcopy(_schema())


def _filling(validator_class):
    """``validator_class`` whose ``properties`` keyword first sets each absent property that has a
    ``default`` (a copy), then validates; nested objects are filled as validation descends into them."""
    check_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, properties, instance, schema):
        if validator.is_type(instance, "object"):
            for name, subschema in properties.items():
                if name not in instance and "default" in subschema:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from check_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": properties})


FillingValidator = _filling(jsonschema.Draft202012Validator)


def defaults() -> dict:
    """The configuration of the paper protocol: every default of the schema."""
    config: dict = {}
    FillingValidator(_schema()).validate(config)
    return config


def model_entry(entry: dict) -> dict:
    """A ``models.<family>`` entry with the schema's defaults filled in (a copy), validated.

    The keys a caller may leave out on purpose stay absent: ``layers`` and ``variants`` (brain-tuning
    builds a family without them, so that listing another layer reruns nothing).

    Raises:
        ConfigError: naming the key and what was expected.
    """
    root = _schema()
    schema = {k: v for k, v in root["properties"]["models"]["additionalProperties"].items() if k != "required"}
    filled = copy.deepcopy(dict(entry))
    errors = list(FillingValidator({**schema, "$defs": root.get("$defs", {})}).iter_errors(filled))
    if errors:
        raise ConfigError("invalid model entry\n  " + "\n  ".join(
            f"key 'models.<family>.{_key_path(e)}': {e.message}" for e in errors))
    for key in ("architecture", "checkpoint"):
        if key not in filled:
            raise ConfigError(f"invalid model entry: key 'models.<family>.{key}' is required")
    return filled


def load_config(path: str | Path) -> dict:
    """Read a YAML config, fill its defaults and validate it."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    with open(path) as handle:
        config = yaml.safe_load(handle) or {}
    validate_config(config, source=str(path))
    return config


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def validate_config(config: dict, schema: dict | None = None, source: str = "config") -> dict:
    """Fill the absent keys of ``config`` with the schema's defaults (in place), validate it against the
    schema, then check that every name it uses exists; return it.

    Raises:
        ConfigError: naming every offending key, its value and what was expected (for a name: the
            valid names).
    """
    schema = _schema() if schema is None else schema
    validator = FillingValidator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    messages = []
    for error in errors:
        key = _key_path(error)
        if error.validator == "additionalProperties":
            messages.append(f"{source}: unknown key under '{key}': {error.message}")
        elif error.context:  # oneOf/anyOf: why the alternative of the value's type fails
            same_type = [e for e in error.context if e.path or e.validator != "type"]
            best = jsonschema.exceptions.best_match(same_type or error.context)
            messages.append(f"{source}: key '{_key_path(best)}': {best.message} (nor any other allowed form)")
        else:
            messages.append(f"{source}: key '{key}': {error.message}")
    if not errors:
        messages.extend(f"{source}: {m}" for m in _cross_checks(config))
    if messages:
        raise ConfigError("invalid configuration\n  " + "\n  ".join(messages))
    return config


def _cross_checks(config: dict) -> list[str]:
    """Rules a JSON schema cannot express: story roles, then every name against what exists."""
    problems = []
    stories = config["stories"]
    test = stories["test"]
    for split in ("braintuning_train", "braintuning_val", "alignment_train", "lowlevel_train"):
        if test in (stories[split] or []):
            problems.append(f"key 'stories.{split}': contains the test story '{test}'")
    overlap = set(stories["braintuning_train"]) & set(stories["braintuning_val"])
    if overlap:
        problems.append(f"key 'stories.braintuning_val': also in braintuning_train: {sorted(overlap)}")
    problems.extend(_name_checks(config))
    return problems


# --- names ---------------------------------------------------------------------------------


def _unknown(key: str, values, valid, what: str) -> Iterator[str]:
    """One message per value of ``values`` not in ``valid``, naming the key and the valid names."""
    valid = list(valid)
    for value in values:
        if value not in valid:
            yield f"key '{key}': '{value}' is not {what} (valid: {', '.join(map(str, valid)) or 'none'})"


def stage_variants(config: dict, stage: str, family: str) -> list[str]:
    """Variants of ``family`` that ``stage`` (alignment, lowlevel, downstream) evaluates: those of
    ``models.<family>.variants`` listed in ``<stage>.variants`` (null: all), in family order."""
    if stage not in VARIANT_SELECTING_STAGES:
        raise ValueError(f"stage '{stage}' selects no variants (stages: {VARIANT_SELECTING_STAGES})")
    wanted = config[stage]["variants"]
    return [v for v in config["models"][family]["variants"] if wanted is None or v in wanted]


def lowlevel_families(config: dict) -> list[str]:
    """Families the low-level impact analysis covers: those with at least one variant to analyse."""
    return [family for family in config["models"] if stage_variants(config, "lowlevel", family)]


def lowlevel_layers(config: dict, family: str) -> list[int]:
    """Layers of ``family`` the low-level impact analysis covers: ``lowlevel.layers`` (null: every layer
    of ``models.<family>.layers``) that the family has, in family order. :func:`validate_config` has
    checked that each analysed family has at least one of them."""
    wanted = config["lowlevel"]["layers"]
    return [layer for layer in config["models"][family]["layers"] if wanted is None or layer in wanted]


def region_names(config: dict) -> list[str]:
    """Regions that ``regions.h5`` holds for ``preprocess.regions.source``, plus the pseudo-region of
    every voxel that the alignment adds."""
    from braintune.alignment.encoding import ALL_REGION

    regions = config["preprocess"]["regions"]
    by_source = {
        "glasser": [*regions["areas"], *regions["groups"]],
        "pycortex": list(regions["pycortex_rois"]),
        "demo": list(regions["demo_map"]),
    }
    return list(dict.fromkeys([*by_source[regions["source"]], ALL_REGION]))


def _variant_name_problems(config: dict) -> Iterator[str]:
    """Every variant a family lists is a known variant with what it needs to be trained."""
    from braintune.braintuning.variants import trained_variants

    for family in config["models"]:
        try:
            trained_variants(config, family)
        except ConfigError as err:
            yield f"key 'models.{family}.variants': {err}"


def _name_checks(config: dict) -> list[str]:
    """Every config value that names a family, variant, subject, story, layer, region, feature or task
    is one that exists; each message names the key and lists the valid names."""
    from braintune.braintuning.variants import parse_variant
    from braintune.downstream.run import ALL_TASKS, PROBE_TASKS

    problems = list(_variant_name_problems(config))
    if problems:
        return problems  # the checks below rely on valid variant names
    models = config["models"]
    families = list(models)
    subjects = list(config["data"]["subjects"])
    stories = all_stories(config)
    configured = list(dict.fromkeys(v for family in families for v in models[family]["variants"]))
    aligned = {family: stage_variants(config, "alignment", family) for family in families}
    all_aligned = list(dict.fromkeys(v for vs in aligned.values() for v in vs))
    regions = region_names(config)
    figures = config["figures"]
    downstream = config["downstream"]
    out = problems

    # variants selected by a stage, among those the families list
    for stage in VARIANT_SELECTING_STAGES:
        out += _unknown(f"{stage}.variants", config[stage]["variants"] or [], configured, "a variant of any family")
    out += _unknown("downstream.asr.variants", downstream["asr"]["variants"] or [], configured,
                    "a variant of any family")
    for variant in config["braintuning"]["variant_overrides"]:
        if variant != "pretrained":
            try:
                parse_variant(variant)
            except ConfigError as err:
                out.append(f"key 'braintuning.variant_overrides': {err}")

    # statistics: the reference variant is tested against every other aligned variant of its family
    statistics = config["statistics"]
    out += _unknown("statistics.reference_variant", [statistics["reference_variant"]], all_aligned,
                    "an aligned variant of any family")
    for i, pair in enumerate(statistics["cross_family"] or []):
        # a side whose family is not configured is skipped on purpose (e.g. no large model)
        for fam_key, var_key in (("reference_family", "reference_variant"), ("family", "variant")):
            if pair[fam_key] in models:
                out += _unknown(f"statistics.cross_family.{i}.{var_key}", [pair[var_key]], aligned[pair[fam_key]],
                                f"an aligned variant of {pair[fam_key]}")

    # figures
    out += _unknown("figures.families", figures["families"], families, "a family of models")
    shown = list(dict.fromkeys(v for f in figures["families"] if f in aligned for v in aligned[f]))
    out += _unknown("figures.variants", figures["variants"], shown, "an aligned variant of figures.families")
    out += _unknown("figures.variants_random", figures["variants_random"], shown,
                    "an aligned variant of figures.families")
    out += _unknown("figures.regions", figures["regions"], regions,
                    f"a region of preprocess.regions (source {config['preprocess']['regions']['source']})")
    out += _unknown("figures.scale.region", [figures["scale"]["region"]], regions, "a region of preprocess.regions")
    if config["alignment"]["curve"]["variants"]:
        out += _unknown("figures.curve_region", [figures["curve_region"]], regions, "a region of preprocess.regions")
    out += _unknown("figures.scale.base_family", [figures["scale"]["base_family"]], families, "a family of models")
    if figures["reference_variant"] != statistics["reference_variant"]:
        out.append(f"key 'figures.reference_variant': '{figures['reference_variant']}' is not "
                   f"statistics.reference_variant '{statistics['reference_variant']}', whose tests the asterisks show")
    flatmap_family = figures["flatmap_family"]
    out += _unknown("figures.flatmap_family", [flatmap_family], families, "a family of models")
    if flatmap_family in models:
        for stage in ("alignment", "lowlevel"):
            have = stage_variants(config, stage, flatmap_family)
            for key in ("reference_variant", "baseline_variant"):
                out += _unknown(f"figures.{key}", [figures[key]], have,
                                f"a variant of {flatmap_family} (figures.flatmap_family) in {stage}")
    out += _unknown("figures.representative_subject", [figures["representative_subject"]], subjects,
                    "a subject of data.subjects")
    for key in ("flatmap_subjects", "nc_subjects"):
        out += _unknown(f"figures.{key}", figures[key] or [], subjects, "a subject of data.subjects")

    # alignment and low-level impact
    out += _unknown("alignment.regions", config["alignment"]["regions"] or [], regions,
                    "a region of preprocess.regions")
    out += _unknown("lowlevel.features", config["lowlevel"]["features"] or [], config["features"]["descriptors"]["names"],
                    "a feature of features.descriptors.names")
    wanted_layers = config["lowlevel"]["layers"]
    if wanted_layers is not None:
        analysed = lowlevel_families(config)
        have = {family: models[family]["layers"] for family in analysed}
        listing = "; ".join(f"{family}: {layers}" for family, layers in have.items())
        for layer in wanted_layers:
            if not any(layer in layers for layers in have.values()):
                out.append(f"key 'lowlevel.layers': {layer} is a layer of no analysed family ({listing})")
        for family in analysed:
            if not lowlevel_layers(config, family):
                out.append(f"key 'lowlevel.layers': {wanted_layers} has no layer of {family} "
                           f"(models.{family}.layers: {models[family]['layers']})")

    # downstream
    out += _unknown("downstream.tasks", downstream["tasks"], ALL_TASKS, "a downstream task")
    out += _unknown("downstream.probe.epochs", [k for k in downstream["probe"]["epochs"] if k != "default"],
                    PROBE_TASKS, "a probe task")
    for key in ("comparison_family", "base_family", "data_size_family"):
        out += _unknown(f"figures.downstream.{key}", [config["figures"]["downstream"][key]], families,
                        "a family of models")

    out += _multi_name_problems(config, families, subjects)

    # subjects and stories named outside the story lists
    out += _unknown("preprocess.nc_override", config["preprocess"]["nc_override"], subjects,
                    "a subject of data.subjects")
    missing = config["data"]["demo"]["missing_stories"]
    out += _unknown("data.demo.missing_stories", missing, subjects, "a subject of data.subjects")
    for subject, names in missing.items():
        out += _unknown(f"data.demo.missing_stories.{subject}", names, stories, "a story of the config's story lists")
    return out


def multi_families(config: dict) -> list[str]:
    """Families that list the multi-participant variant (``multibraintuned``)."""
    return [family for family in config["models"] if MULTI_VARIANT in config["models"][family]["variants"]]


def curve_families(config: dict) -> list[str]:
    """Families whose data-efficiency curve is fitted: ``alignment.curve.families`` (null: every family) that
    list at least one of ``alignment.curve.variants``. A curve needs the variant's design matrices, not its
    full-data alignment: its largest subset is that fit when the sizes reach every alignment story."""
    curve = config["alignment"]["curve"]
    wanted = curve["families"]
    return [family for family in config["models"] if (wanted is None or family in wanted)
            and set(curve["variants"]) & set(config["models"][family]["variants"])]


def curve_variants(config: dict, family: str) -> list[str]:
    """Variants of ``family`` whose data-efficiency curve is fitted: those of ``alignment.curve.variants`` (in
    family order), then the donor variant of each of ``alignment.curve.donors`` (:func:`donor_variant`)."""
    if family not in curve_families(config):
        return []
    curve = config["alignment"]["curve"]
    return ([v for v in config["models"][family]["variants"] if v in curve["variants"]]
            + [donor_variant(subject) for subject in curve["donors"]])


def curve_subjects(config: dict, variant: str) -> list[str]:
    """Participants whose curve of ``variant`` is fitted: every one of ``data.subjects``, but a donor variant's
    own donor (that curve is the donor's ``braintuned`` one)."""
    return [s for s in config["data"]["subjects"] if s != variant_donor(variant)]


def donor_variant(subject: str) -> str:
    """The name under which ``subject``'s brain-tuned checkpoint is evaluated on other participants."""
    return f"braintuned_{subject}"


def variant_donor(variant: str) -> str | None:
    """The participant of a donor variant (``braintuned_UTS01`` -> ``UTS01``); None for any other variant."""
    match = DONOR_VARIANT.match(variant)
    return match.group(1) if match else None


def _multi_name_problems(config: dict, families: list[str], subjects: list[str]) -> Iterator[str]:
    """Names of the multi-participant brain-tuning (braintuning.multi, commonspace) and of the
    data-efficiency curve (alignment.curve)."""
    multi = config["braintuning"]["multi"]
    if multi_families(config):
        yield from _unknown("braintuning.multi.train_subjects", multi["train_subjects"], subjects,
                            "a subject of data.subjects")
        test = config["stories"]["test"]
        for key in ("train_stories", "val_stories"):
            if test in (multi[key] or []):
                yield f"key 'braintuning.multi.{key}': contains the test story '{test}'"
        overlap = set(multi_stories(config, "train")) & set(multi_stories(config, "val"))
        if overlap:
            yield f"key 'braintuning.multi.val_stories': also training stories: {sorted(overlap)}"
        if config["commonspace"]["method"] == "identity" and config["data"]["source"] != "demo":
            yield ("key 'commonspace.method': 'identity' needs every participant in one voxel space, which only the "
                   f"generated miniature has (data.source demo, not '{config['data']['source']}'); use fsaverage")
    curve = config["alignment"]["curve"]
    configured = list(dict.fromkeys(v for family in families for v in config["models"][family]["variants"]))
    yield from _unknown("alignment.curve.variants", curve["variants"], configured, "a variant of any family")
    yield from _unknown("alignment.curve.families", curve["families"] or [], families, "a family of models")
    if curve["variants"]:
        yield from _unknown("alignment.curve.reference_variant", [curve["reference_variant"]], curve["variants"],
                            "a variant of alignment.curve.variants")
    yield from _unknown("alignment.curve.donors", curve["donors"], subjects, "a subject of data.subjects")
    alignment_train = config["stories"]["alignment_train"]
    n_train = len(alignment_train)
    too_many = [size for size in curve["sizes"] if size > n_train]
    if curve["variants"] and too_many:
        yield (f"key 'alignment.curve.sizes': {too_many} exceed the {n_train} stories of stories.alignment_train "
               "(the curve's subsets are nested subsets of them)")
    order = curve["order"]
    if order is not None and sorted(order) != sorted(alignment_train):
        extra, absent = sorted(set(order) - set(alignment_train)), sorted(set(alignment_train) - set(order))
        yield (f"key 'alignment.curve.order': must list every story of stories.alignment_train once, in the order "
               f"the curve adds them (not in stories.alignment_train: {extra}; missing: {absent})")


# --- what the config asks for -------------------------------------------------------------


def all_stories(config: dict) -> list[str]:
    """Every story any stage needs, in a stable order (train, val, alignment, low-level, test)."""
    s = config["stories"]
    ordered: list[str] = []
    for name in (
        *s["braintuning_train"],
        *s["braintuning_val"],
        *s["alignment_train"],
        *(s["lowlevel_train"] or []),
        *(multi_stories(config, "train") if multi_families(config) else []),
        *(multi_stories(config, "val") if multi_families(config) else []),
        s["test"],
    ):
        if name not in ordered:
            ordered.append(name)
    return ordered


def lowlevel_train_stories(config: dict) -> list[str]:
    """Train stories of the low-level impact analysis: ``stories.lowlevel_train``, null = the alignment
    train stories (docs/decisions.md 8)."""
    return list(config["stories"]["lowlevel_train"] or config["stories"]["alignment_train"])


def multi_stories(config: dict, split: str) -> list[str]:
    """Training (``split`` train) or validation (val) stories of the multi-participant brain-tuning:
    ``braintuning.multi.<split>_stories``, null = ``stories.braintuning_<split>``."""
    if split not in ("train", "val"):
        raise ValueError(f"split {split!r}; expected train or val")
    return list(config["braintuning"]["multi"][f"{split}_stories"] or config["stories"][f"braintuning_{split}"])


def multi_group(config: dict) -> str:
    """Owner of the multi-participant checkpoint: ``group_`` + ``braintuning.multi.train_subjects`` in their order
    (their order is the binding order, so another order is another model)."""
    return GROUP_PREFIX + "_".join(config["braintuning"]["multi"]["train_subjects"])


def is_shared_variant(variant: str) -> bool:
    """True for variants with one checkpoint for every subject (pretrained, stimulus-tuned)."""
    return variant in SHARED_VARIANTS or variant.startswith("stimulus")


def checkpoint_of(variant: str, subject: str | None, group: str | None = None) -> tuple[str, str]:
    """(variant, owner) of the checkpoint whose features a variant's alignment of ``subject`` reads: a donor
    variant (:func:`variant_donor`) reads its donor's ``braintuned`` checkpoint, any other variant its own
    (:func:`checkpoint_owner`)."""
    donor = variant_donor(variant)
    if donor is not None:
        return "braintuned", donor
    return variant, checkpoint_owner(variant, subject, group)


def checkpoint_owner(variant: str, subject: str | None, group: str | None = None) -> str:
    """Directory level naming whose checkpoint a variant uses: ``shared``, the group (``multibraintuned``:
    ``group``, see :func:`multi_group`; every subject, trained on or not, uses the group's model) or the subject."""
    if variant == MULTI_VARIANT:
        if group is None:
            raise ValueError(f"variant '{variant}': its owner is the group of braintuning.multi.train_subjects; "
                             "pass group=multi_group(config)")
        return group
    return SHARED_OWNER if is_shared_variant(variant) else subject


__all__ = [
    "GROUP_PREFIX",
    "MULTI_VARIANT",
    "SHARED_OWNER",
    "SHARED_VARIANTS",
    "ConfigError",
    "DONOR_VARIANT",
    "FillingValidator",
    "all_stories",
    "checkpoint_of",
    "checkpoint_owner",
    "curve_families",
    "curve_subjects",
    "curve_variants",
    "defaults",
    "donor_variant",
    "is_shared_variant",
    "load_config",
    "load_schema",
    "lowlevel_families",
    "lowlevel_layers",
    "lowlevel_train_stories",
    "multi_families",
    "multi_group",
    "multi_stories",
    "region_names",
    "stage_variants",
    "validate_config",
    "variant_donor",
]
