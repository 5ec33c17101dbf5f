"""Configuration: loading, JSON-schema validation with messages that name the key, and the
small amount of logic that turns a config into the list of stories, subjects and checkpoints.

The schema lives in ``workflow/schemas/config.schema.yaml``; ``workflow/rules/common.smk`` calls
:func:`validate_config` before any job runs, and the tests call it without Snakemake.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"

#: Variants that are not trained per participant (one checkpoint shared by every subject).
SHARED_VARIANTS = ("pretrained", "stimulus")
SHARED_OWNER = "shared"


class ConfigError(ValueError):
    """A configuration value is missing or invalid; the message names the key."""


def load_schema(path: str | Path = SCHEMA_PATH) -> dict:
    with open(path) as handle:
        return yaml.safe_load(handle)


def load_config(path: str | Path) -> dict:
    """Read a YAML config and validate it."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist")
    with open(path) as handle:
        config = yaml.safe_load(handle)
    validate_config(config, source=str(path))
    return config


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def validate_config(config: dict, schema: dict | None = None, source: str = "config") -> dict:
    """Validate ``config`` against the schema and the cross-key rules; return it unchanged.

    Raises:
        ConfigError: naming every offending key, its value and what was expected.
    """
    schema = load_schema() if schema is None else schema
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    messages = []
    for error in errors:
        key = _key_path(error)
        if error.validator == "additionalProperties":
            messages.append(f"{source}: unknown key under '{key}': {error.message}")
        else:
            messages.append(f"{source}: key '{key}': {error.message}")
    if not errors:
        messages.extend(f"{source}: {m}" for m in _cross_checks(config))
    if messages:
        raise ConfigError("invalid configuration\n  " + "\n  ".join(messages))
    return config


def _cross_checks(config: dict) -> list[str]:
    """Rules a JSON schema cannot express."""
    problems = []
    stories = config["stories"]
    test = stories["test"]
    for split in ("braintuning_train", "braintuning_val", "alignment_train", "lowlevel_train"):
        if test in (stories.get(split) or []):
            problems.append(f"key 'stories.{split}': contains the test story '{test}'")
    overlap = set(stories["braintuning_train"]) & set(stories["braintuning_val"])
    if overlap:
        problems.append(f"key 'stories.braintuning_val': also in braintuning_train: {sorted(overlap)}")
    return problems


# --- what the config asks for -------------------------------------------------------------


def all_stories(config: dict) -> list[str]:
    """Every story any stage needs, in a stable order (train, val, alignment, low-level, test)."""
    s = config["stories"]
    ordered: list[str] = []
    for name in (
        *s["braintuning_train"],
        *s["braintuning_val"],
        *s["alignment_train"],
        *(s.get("lowlevel_train") or []),
        s["test"],
    ):
        if name not in ordered:
            ordered.append(name)
    return ordered


def lowlevel_train_stories(config: dict) -> list[str]:
    """Train stories of the low-level impact analysis (DECISIONS.md 8)."""
    return list(config["stories"].get("lowlevel_train") or config["stories"]["alignment_train"])


def is_shared_variant(variant: str) -> bool:
    """True for variants with one checkpoint for every subject (pretrained, stimulus-tuned)."""
    return variant in SHARED_VARIANTS or variant.startswith("stimulus")


def checkpoint_owner(variant: str, subject: str) -> str:
    """Directory level naming whose checkpoint a variant uses: ``shared`` or the subject."""
    return SHARED_OWNER if is_shared_variant(variant) else subject
