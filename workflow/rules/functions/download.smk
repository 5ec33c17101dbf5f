# Functions and settings of the download stage: paths, input functions, resources, targets.
# The rules themselves are in workflow/rules/download.smk (Snakemake's linter asks to keep
# functions and rules in separate files).

from braintune.data import download as btdownload


from braintune.data.manifest import read_manifest as bt_read_manifest


DOWNLOAD = config.get("download") or {}


DOWNLOAD_ACTIVE = config["dataset"]["source"] == "openneuro"


DOWNLOAD_RULES = []


def download_plan():
    """{job: [dataset paths]} of the current config (empty unless dataset.source == openneuro)."""
    return btdownload.download_plan(config) if DOWNLOAD_ACTIVE else {}


def _download_output(path):
    return directory(f"{DATASET}/{path.rstrip('/')}") if path.endswith(os.sep) else f"{DATASET}/{path}"


def atlas_files():
    """{local path: url} of the Glasser annotation and fsaverage spheres (regions.source == glasser)."""
    regions = config["preprocess"].get("regions") or {}
    if not DOWNLOAD_ACTIVE or regions.get("source") != "glasser":
        return {}
    atlas = DOWNLOAD["atlas"]
    out = {}
    for hemi in ("lh", "rh"):
        out[f"{atlas['dir']}/{hemi}.HCP-MMP1.annot"] = atlas["annot_url"][hemi]
        out[f"{atlas['dir']}/{hemi}.fsaverage.sphere.surf.gii"] = atlas["fsaverage_sphere_url"][hemi]
    return out


def download_targets():
    """Final outputs of this stage that the default target `all` requests - every planned file."""
    out = []
    for paths in download_plan().values():
        out.extend(f"{DATASET}/{p.rstrip('/')}" for p in paths)
    return out + list(atlas_files())
