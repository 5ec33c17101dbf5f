"""The configuration: the schema ships in the package and states every default once (the paper
protocol), the shipped configs state only their differences, and the schema names the key of every
bad value."""

import copy
import re
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import jsonschema
import pytest
import yaml

from braintune import config as btconfig

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "config" / "config.yaml"
PAPER = REPO / "config" / "ds003020.yaml"
CONFIGS = [DEMO, PAPER]

#: Schema keywords whose subschemas are only tried: a default there would fill a config while a
#: branch that does not apply is evaluated.
_TRIED = ("oneOf", "anyOf", "allOf", "if", "then", "else", "not")


def _raw(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


def _demo():
    return btconfig.load_config(DEMO)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_configs_validate(path):
    assert btconfig.load_config(path)["data"]["subjects"]


def test_schema_ships_inside_the_package():
    schema = resources.files("braintune").joinpath("config.schema.yaml")
    assert schema.is_file()
    assert yaml.safe_load(schema.read_text()) == btconfig.load_schema()
    jsonschema.Draft202012Validator.check_schema(btconfig.load_schema())
    pyproject = (REPO / "pyproject.toml").read_text()
    assert re.search(r'braintune = \[[^\]]*"config\.schema\.yaml"', pyproject)  # installed with the package


def _properties(node, path=()):
    """(path, property schema, parent schema) of every property the schema declares."""
    if not isinstance(node, dict):
        return
    for name, sub in (node.get("properties") or {}).items():
        yield path + (name,), sub, node
        yield from _properties(sub, path + (name,))
    for name, sub in (node.get("patternProperties") or {}).items():
        yield from _properties(sub, path + (name,))
    for key in ("additionalProperties", "items"):
        if isinstance(node.get(key), dict):
            yield from _properties(node[key], path + ("*",))
    for branch in node.get("oneOf") or []:
        yield from _properties(branch, path)


def _all_properties(schema):
    yield from _properties(schema)
    for name, sub in schema["$defs"].items():
        yield from _properties(sub, ("$defs", name))


def test_every_key_has_a_description_and_a_default_or_is_required():
    schema = btconfig.load_schema()
    problems = []
    for path, sub, parent in _all_properties(schema):
        key = ".".join(path)
        if "description" not in sub and "$ref" not in sub:
            problems.append(f"{key}: no description")
        # keys inside a user-named entry (a model family, a target model, an override) are
        # required, optional overrides, or defaulted per entry
        if path[0] != "$defs" and "*" not in path and not re.search(r"targets|variant_overrides|head_init", key):
            if "default" not in sub and path[-1] not in parent.get("required", []):
                problems.append(f"{key}: neither a default nor required")
    assert not problems, "\n".join(problems)


def test_no_default_where_a_branch_is_only_tried():
    def walk(node, tried, path):
        if isinstance(node, dict):
            if tried and "default" in node:
                yield path
            for key, value in node.items():
                yield from walk(value, tried or key in _TRIED, path + (key,))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                yield from walk(value, tried, path + (i,))

    assert not list(walk(btconfig.load_schema(), False, ()))


def test_defaults_are_the_paper_protocol():
    paper = btconfig.defaults()
    assert paper["data"]["source"] == "openneuro"
    assert len(paper["data"]["subjects"]) == 8
    assert paper["features"]["chunk_s"] == 0.1 and paper["features"]["context_s"] == 16.0
    assert paper["braintuning"]["max_epochs"] == 30 and paper["braintuning"]["context_trs"] == 5
    assert paper["models"]["wav2vec2"]["checkpoint"] == "facebook/wav2vec2-base"
    # the paper config states nothing: it is the defaults
    assert btconfig.load_config(PAPER) == paper


def test_the_paper_run_inherits_no_demo_value():
    """Every key the demo sets differs from the paper's value, and the paper config (alone) sets none."""
    paper = btconfig.load_config(PAPER)
    demo_keys = _leaves(_raw(DEMO))
    assert demo_keys, "the demo states its differences"
    for path, value in demo_keys:
        assert _get(paper, path) != value, f"config/config.yaml sets {'.'.join(path)} to the default"


def _leaves(node, path=()):
    """(path, value) of every leaf; a model family, a target model or a dict of overrides is one leaf."""
    if isinstance(node, dict) and node and path[-1:] not in (("models",), ("targets",), ("head_init",)):
        return [leaf for key, value in node.items() for leaf in _leaves(value, path + (key,))]
    return [(path, node)]


def _get(config, path):
    for key in path:
        config = config[key]
    return config


def test_filling_is_recursive_and_copies():
    config = {"alignment": {"cv": {"n_boots": 5}}}
    btconfig.validate_config(config)
    assert config["alignment"]["cv"] == {"n_boots": 5, "chunk_len": 20, "held_out_fraction": 0.25,
                                         "chunk_scope": "stacked"}
    assert config["alignment"]["alphas"] == {"log10_min": 1.0, "log10_max": 4.0, "n": 15}
    assert config["timing"]["tr_s"] == 2.0045
    # defaults are copies: changing one config does not change the next
    config["models"]["wav2vec2"]["layers"].append(99)
    assert btconfig.defaults()["models"]["wav2vec2"]["layers"] == [2, 5, 7, 8, 10, 11, 12]


def test_user_named_entries_replace_the_default_and_get_their_own_defaults():
    demo = _demo()
    assert list(demo["models"]) == ["wav2vec2", "hubert", "whisper", "hubert_large"]
    assert demo["models"]["hubert"]["checkpoint"] is None
    # keys of a family the demo does not state come from the family's schema
    assert demo["models"]["hubert"]["normalize"] is True
    assert demo["models"]["hubert"]["attn_implementation"] == "sdpa"
    assert "lmtuned_llama" not in demo["braintuning"]["targets"]
    assert demo["braintuning"]["variant_overrides"] == {}


def test_nullable_keys_keep_null():
    demo = _demo()
    assert demo["stories"]["lowlevel_train"] is None
    assert demo["alignment"]["n_alphas_batch"] is None
    assert demo["figures"]["nc_subjects"] is None  # the demo's override of the paper's [UTS02, UTS03]


def _paper_dry_run(tmp_path, *configfiles, quiet=()):
    """`snakemake -n --configfile config/ds003020.yaml <configfiles> <user folders>` (TIMIT and the preference
    corpus are user folders, here empty ones; Llama-2 needs a token, which a dry run only checks is set)."""
    timit = tmp_path / "TIMIT"
    timit.mkdir()
    override = tmp_path / "timit.yaml"
    aligned = tmp_path / "aligned"
    aligned.mkdir()
    (aligned / "a.TextGrid").touch()
    override.write_text(yaml.safe_dump({"downstream": {"datasets": {"timit": {"path": str(timit)}}},
                                        "preference": {"corpus": {"path": str(aligned)}}}))
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    done = subprocess.run(
        [snakemake, "-n", "--nolock", "--cores", "2", *quiet, "--configfile", str(PAPER), *map(str, configfiles),
         str(override)],
        cwd=REPO, capture_output=True, text=True, timeout=600, env={**os.environ, "HF_TOKEN": "dry-run"},
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout + done.stderr


def test_a_command_line_configfile_replaces_the_demo_config(tmp_path):
    """`snakemake --configfile config/ds003020.yaml` runs the paper protocol, not the demo merged under it."""
    output = _paper_dry_run(tmp_path)
    assert "subject=UTS08" in output  # the paper's eight participants
    assert "data_demo" not in output  # no generated miniature


def test_the_follow_up_protocol_plans_the_group_models_and_the_curves(tmp_path):
    """config/multibraintuning.yaml over the paper protocol: one group model per family (UTS03, UTS02, UTS01 in
    their order), three fsaverage projections, and curves of 3 variants x 8 participants plus UTS03's
    brain-tuned model on the 7 others, per family."""
    overlay = REPO / "config" / "multibraintuning.yaml"
    config = btconfig.load_config(overlay)  # config/ds003020.yaml states nothing: the schema is the paper
    assert len(btconfig.multi_stories(config, "train")) == 82
    assert btconfig.multi_group(config) == "group_UTS03_UTS02_UTS01"
    output = _paper_dry_run(tmp_path, overlay, quiet=("--quiet", "rules"))
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", output, flags=re.MULTILINE))
    expected = {"commonspace_space": "1", "commonspace_projection": "3", "braintuning_multi": "2",
                "alignment_curve": str(2 * (3 * 8 + 7)), "statistics_curve": "1", "figures_curve": "1"}
    assert {rule: counts.get(rule) for rule in expected} == expected


def test_unknown_key_is_named():
    cfg = _raw(DEMO)
    cfg["timing"] = {"tr_seconds": 2.0}
    with pytest.raises(btconfig.ConfigError, match=r"timing.*tr_seconds"):
        btconfig.validate_config(cfg)


def test_unknown_top_level_section_is_named():
    cfg = _raw(DEMO)
    cfg["ridge"] = {}
    with pytest.raises(btconfig.ConfigError, match="ridge"):
        btconfig.validate_config(cfg)


@pytest.mark.parametrize(
    "key, value, expected",
    [
        (("timing", "tr_s"), -2.0, r"timing\.tr_s"),
        (("timing", "trim_start"), "ten", r"timing\.trim_start"),
        (("data", "source"), "datalad", r"data\.source"),
        (("data", "subjects"), ["S1"], r"data\.subjects\.0"),
        (("preprocess", "nc_threshold"), 1.5, r"preprocess\.nc_threshold"),
    ],
)
def test_bad_values_name_their_key(key, value, expected):
    cfg = _raw(DEMO)
    section, name = key
    cfg.setdefault(section, {})[name] = value
    with pytest.raises(btconfig.ConfigError, match=expected):
        btconfig.validate_config(cfg)


def test_missing_required_key_is_named():
    cfg = _raw(DEMO)
    del cfg["models"]["hubert"]["layers"]
    with pytest.raises(btconfig.ConfigError, match=r"models\.hubert.*layers"):
        btconfig.validate_config(cfg)


def test_test_story_in_a_training_set_is_rejected():
    cfg = _demo()
    cfg["stories"]["alignment_train"] = cfg["stories"]["alignment_train"] + [cfg["stories"]["test"]]
    with pytest.raises(btconfig.ConfigError, match=r"stories\.alignment_train.*test story"):
        btconfig.validate_config(cfg)


def test_all_stories_is_ordered_and_unique():
    cfg = btconfig.load_config(PAPER)
    stories = btconfig.all_stories(cfg)
    assert len(stories) == len(set(stories))
    assert stories[-1] == "wheretheressmoke"
    assert "life" in stories and "stagefright" in stories
    # the paper protocol needs the 24 brain-tuning stories, 2 validation stories and the test story
    assert len(stories) == 27


def test_lowlevel_train_defaults_to_alignment_train():
    cfg = _demo()
    assert btconfig.lowlevel_train_stories(cfg) == cfg["stories"]["alignment_train"]
    cfg2 = copy.deepcopy(cfg)
    cfg2["stories"]["lowlevel_train"] = ["souls"]
    assert btconfig.lowlevel_train_stories(cfg2) == ["souls"]


def test_checkpoint_owner():
    assert btconfig.checkpoint_owner("pretrained", "UTS01") == "shared"
    assert btconfig.checkpoint_owner("stimulus", "UTS01") == "shared"
    assert btconfig.checkpoint_owner("braintuned", "UTS02") == "UTS02"
    assert btconfig.checkpoint_owner("random", "UTS03") == "UTS03"


def test_model_entry_fills_the_schema_defaults_and_names_bad_keys():
    entry = btconfig.model_entry({"architecture": "wav2vec2", "checkpoint": None})
    family = btconfig.load_schema()["properties"]["models"]["additionalProperties"]["properties"]
    for key in ("init_seed", "init", "normalize", "attn_implementation"):
        assert entry[key] == family[key]["default"]
    assert "layers" not in entry and "variants" not in entry  # brain-tuning builds families without them
    with pytest.raises(btconfig.ConfigError, match=r"models\.<family>\.attn_implementation"):
        btconfig.model_entry({"architecture": "wav2vec2", "checkpoint": None, "attn_implementation": "flash"})
    with pytest.raises(btconfig.ConfigError, match=r"models\.<family>\.checkpoint' is required"):
        btconfig.model_entry({"architecture": "wav2vec2"})


@pytest.mark.parametrize("path", [DEMO, PAPER], ids=["demo", "paper"])
def test_every_key_a_report_caption_names_exists(path):
    """The report's captions (workflow/report/*.rst) read the config; a renamed key fails only at --report."""
    config = btconfig.load_config(path)
    for caption in sorted((REPO / "workflow" / "report").glob("*.rst")):
        for access in re.findall(r'snakemake\.config((?:\["[a-z_]+"\])+)', caption.read_text()):
            node = config
            for key in re.findall(r'"([a-z_]+)"', access):
                assert isinstance(node, dict) and key in node, f"{caption.name}: config{access}"
                node = node[key]


def test_schema_states_each_key_once():
    """YAML keeps the last of two equal keys silently: a second `default:` or `description:` would hide the first."""

    class StrictLoader(yaml.SafeLoader):
        pass

    def mapping(loader, node, deep=False):
        keys = [loader.construct_object(key, deep=deep) for key, _ in node.value]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        assert not repeated, f"config.schema.yaml line {node.start_mark.line + 1}: {repeated} stated twice"
        return yaml.SafeLoader.construct_mapping(loader, node, deep)

    StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    yaml.load(resources.files("braintune").joinpath("config.schema.yaml").read_text(), Loader=StrictLoader)


def test_demo_dag_builds_the_multi_participant_checkpoint_and_the_data_efficiency_figure(tmp_path):
    """A dry run of the demo in an empty workspace plans the new stages' rules: the common space, the group
    checkpoint (one job, used for seen and new participants), the curves, their tables and the figure."""
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    done = subprocess.run(
        [snakemake, "-n", "--nolock", "--cores", "2", "-s", str(REPO / "workflow" / "Snakefile"), "--directory",
         str(tmp_path), "--configfile", str(DEMO), "--quiet", "rules"],
        cwd=REPO, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", done.stdout + done.stderr, flags=re.MULTILINE))
    expected = {"commonspace_space": "1", "commonspace_projection": "2", "braintuning_multi": "1",
                "alignment_curve": "8", "statistics_curve": "1", "figures_curve": "1"}
    assert {rule: counts.get(rule) for rule in expected} == expected
