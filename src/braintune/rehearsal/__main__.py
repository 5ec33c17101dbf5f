"""``python -m braintune.rehearsal``: rehearse the paper run offline, end to end, on miniature data.

1. Reads the demo configuration with the rehearsal's differences (``config/config.yaml`` then
   ``config/rehearsal.yaml``, merged key by key as Snakemake merges configfiles).
2. Starts the loopback HTTP server (:mod:`.server`) on 127.0.0.1 and builds what it serves under
   ``<workdir>/fixtures/www``: the ds003020 export and its git-annex-style repository and the atlas
   (:mod:`.dataset`), the public downstream corpora in their distribution formats (:mod:`.corpora`);
   writes the user folders (TIMIT, the aligned preference corpus) and a Hugging Face cache of tiny models
   under the paper's hub ids (:mod:`.hub`). Each builder skips work whose inputs have not changed.
3. Writes ``<workdir>/fixtures/served.yaml`` (the URLs and the checksums of what is served) and runs
   Snakemake in ``<workdir>`` with the three configfiles, ``HF_HOME`` on the fixtures' cache and
   ``HF_HUB_OFFLINE=1`` (no Hugging Face token: the gated model is found in the cache), then stops the
   server. Arguments after ``--`` go to Snakemake (a target, ``-n``, ``--profile`` ...).

Everything the rehearsal writes stays under ``<workdir>`` (default ``rehearsal/``). The server lives as
long as this process and only answers on the loopback interface.
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import subprocess
import sys
from pathlib import Path

import yaml

from braintune.config import validate_config
from braintune.preprocess.transcripts import read_textgrid
from braintune.rehearsal import server
from braintune.utils import atomic_output

log = logging.getLogger("braintune.rehearsal")

CONFIGFILES = ("config/config.yaml", "config/rehearsal.yaml")
DEFAULT_PORT = 18763
# the dataset export's large files: each one's first transfer is cut, so that every download resumes
CUT_PREFIXES = ("openneuro/",)
# variables that would let the rehearsal reach the network or a user's own models and token
_UNSET = ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "TRANSFORMERS_CACHE")


def merged_config(repo: Path, files=CONFIGFILES) -> dict:
    """The configfiles merged as Snakemake merges them (maps key by key, lists replaced), validated."""
    from snakemake.utils import update_config

    config: dict = {}
    for name in files:
        with open(repo / name) as handle:
            update_config(config, yaml.safe_load(handle) or {})
    return validate_config(config, source=" + ".join(files))


def _merge(base: dict, extra: dict) -> dict:
    from snakemake.utils import update_config

    out = copy.deepcopy(base)
    update_config(out, extra)
    return out


def story_texts(config: dict, www_dataset: Path) -> list[str]:
    """The stories' transcripts (the text the tiny target models' tokenizers are trained on)."""
    from braintune import config as btconfig
    from braintune.data import layout

    return [read_textgrid(www_dataset / layout.textgrid_path(story)).text for story in btconfig.all_stories(config)]


def prepare(repo: Path, workdir: Path, httpd) -> Path:
    """Build every fixture for the server ``httpd`` (already serving ``<workdir>/fixtures/www``) and
    write ``served.yaml``; returns its path. Runs with ``workdir`` as the working directory, so that the
    config's relative paths (user folders) land inside it."""
    from braintune.rehearsal import (  # the builders import torch, pycortex...
        corpora,
        dataset,
        hub,
    )

    config = merged_config(repo)
    fixtures = workdir / "fixtures"
    www = fixtures / "www"
    overrides = dataset.build_dataset(config, www, httpd.url, fixtures / "staging")
    corpus_overrides, refusals = corpora.build_corpora(config, www, httpd.url, fixtures / "staging")
    httpd.refusals.update(refusals)
    overrides = _merge(overrides, corpus_overrides)
    texts = story_texts(config, www / "openneuro" / "ds003020")
    ids = hub.populate_hub_cache(config, fixtures / "hf_home", texts, int(config["seed"]))
    log.info("Hugging Face cache %s: %s", fixtures / "hf_home", f"wrote {', '.join(ids)}" if ids else "up to date")
    # the generated file must itself be a valid overlay of the merged config
    validate_config(_merge(config, overrides), source=f"{' + '.join(CONFIGFILES)} + served.yaml")
    served = fixtures / "served.yaml"
    text = ("# Written by python -m braintune.rehearsal: where the loopback server serves the fixtures, and\n"
            "# the checksums of what it serves (as a user pins them). Regenerated on every run.\n"
            + yaml.safe_dump(overrides, sort_keys=True))
    if not served.exists() or served.read_text() != text:
        with atomic_output(served) as tmp:
            tmp.write_text(text)
    return served


def rehearsal_env(fixtures: Path) -> dict[str, str]:
    """The environment of the rehearsal's Snakemake: offline, on the fixtures' Hugging Face cache."""
    env = {k: v for k, v in os.environ.items() if k not in _UNSET}
    env.update(
        HF_HOME=str(fixtures / "hf_home"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        HF_TOKEN_PATH=str(fixtures / "hf_home" / "no-token"),  # not a token saved by huggingface-cli login
    )
    return env


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m braintune.rehearsal",
        description="Rehearse the paper run offline on miniature data (config/rehearsal.yaml). Arguments after "
                    "'--' go to Snakemake.",
    )
    parser.add_argument("--workdir", default="rehearsal", help="folder of the rehearsal's fixtures and results")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help="loopback port of the server (the URLs are part of rule params: keep it fixed)")
    parser.add_argument("--cores", default="2", help="Snakemake --cores")
    parser.add_argument("--prepare-only", action="store_true", help="build the fixtures and served.yaml, run nothing")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")

    repo = Path.cwd()
    if not (repo / "workflow" / "Snakefile").is_file():
        parser.error(f"run it from the repository root ({repo} has no workflow/Snakefile)")
    workdir = (repo / args.workdir).resolve()
    fixtures = workdir / "fixtures"
    (fixtures / "www").mkdir(parents=True, exist_ok=True)
    with server.serving(fixtures / "www", args.port, cut_prefixes=CUT_PREFIXES) as httpd:
        os.chdir(workdir)
        try:
            served = prepare(repo, workdir, httpd)
        finally:
            os.chdir(repo)
        if args.prepare_only:
            return 0
        # the extra arguments (targets, options) go before --configfile, which would take targets for files
        cmd = [sys.executable, "-m", "snakemake", "--snakefile", str(repo / "workflow" / "Snakefile"),
               "--directory", str(workdir), "--cores", str(args.cores), *extra,
               "--configfile", *(str(repo / f) for f in CONFIGFILES), str(served)]
        log.info("running %s", " ".join(cmd))
        return subprocess.run(cmd, check=False, env=rehearsal_env(fixtures)).returncode


if __name__ == "__main__":
    sys.exit(main())
