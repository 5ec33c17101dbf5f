"""Per-rule conda environments and environment.yml carry exactly the pins of pyproject.toml."""

import re
import tomllib
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def _pins():
    with open(REPO / "pyproject.toml", "rb") as handle:
        project = tomllib.load(handle)["project"]
    deps = project["dependencies"] + project["optional-dependencies"]["test"]
    pins = {}
    for dep in deps:
        name, version = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([\w.+]+)", dep).groups()
        pins[name.lower()] = version
    return pins


def _pip_entries(env_file):
    with open(env_file) as handle:
        env = yaml.safe_load(handle)
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            yield from (d for d in dep["pip"] if "==" in d)


ENV_FILES = sorted((REPO / "workflow" / "envs").glob("*.yaml")) + [REPO / "environment.yml"]


def test_every_dependency_is_pinned():
    pins = _pins()
    assert "torch" in pins and pins["torch"] == "2.13.0"


@pytest.mark.parametrize("env_file", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_match_pyproject(env_file):
    pins = _pins()
    entries = list(_pip_entries(env_file))
    assert entries, f"{env_file} pins nothing"
    for entry in entries:
        name, version = entry.split("==")
        assert name.lower() in pins, f"{env_file}: {name} is not a dependency in pyproject.toml"
        assert pins[name.lower()] == version, f"{env_file}: {name}=={version}, pyproject pins {pins[name.lower()]}"


def test_no_unrelated_cortex_package():
    # the PyPI package `cortex` shadows pycortex's `import cortex`
    for env_file in ENV_FILES:
        assert not re.search(r"^\s*-\s*cortex==", env_file.read_text(), re.M)
