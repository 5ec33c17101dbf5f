# Functions and settings of the data stage: every path of the ds003020 layout under data.root, the
# demo generator's settings (demo), the download plan (openneuro), targets. The rules are in
# workflow/rules/data.smk (Snakemake's linter asks to keep functions and rules in separate files).

from braintune.data import download as btdownload
from braintune.data import layout as data_layout
from braintune.data.demo_settings import ResponseSettings, StimulusSettings, response_files, stimulus_files
from braintune.data.manifest import read_manifest as bt_read_manifest
from braintune.preprocess import stories as btstories


DEMO = config["data"]["source"] == "demo"


DOWNLOAD_ACTIVE = config["data"]["source"] == "openneuro"


DOWNLOAD = config["data"]["download"]


DOWNLOAD_RULES = []


# --- the dataset's files (generated or downloaded) --------------------------------------------------


def data_stimulus_path(story):
    """A story's audio (WAV) in the dataset."""
    return f"{DATASET}/{data_layout.stimulus_path(story)}"


def data_textgrid_path(story):
    """A story's Praat TextGrid in the dataset."""
    return f"{DATASET}/{data_layout.textgrid_path(story)}"


def data_respdict_path():
    """The dataset's respdict.json (TR count of every story)."""
    return f"{DATASET}/{data_layout.RESPDICT}"


def data_response_path(subject, story):
    """A subject's preprocessed responses to one story in the dataset (HDF5)."""
    return f"{DATASET}/{data_layout.response_path(subject, story)}"


def data_pycortex_db_path(subject):
    """A subject's pycortex database folder in the dataset (real data)."""
    return f"{DATASET}/{data_layout.pycortex_db_path(subject).rstrip('/')}"


def data_sphere_reg_path(subject, hemi):
    """A subject's FreeSurfer registration sphere in the dataset (real data, Glasser regions)."""
    return f"{DATASET}/{data_layout.sphere_reg_path(subject, hemi)}"


def data_available_stories(subject, split):
    """Stories of `split` that `subject` has (data.missing_story applied; braintune.preprocess.stories)."""
    return btstories.available_stories(config, subject, split)


# --- demo --------------------------------------------------------------------------------------------


def data_demo_ground_truth_path():
    return config["data"]["demo"]["ground_truth"]


def data_demo_metadata_path():
    """The demo stories' metadata (voice, rate, pitch, text), next to the ground truth."""
    return str(Path(config["data"]["demo"]["ground_truth"]).with_name("stimuli.json"))


if DEMO:
    # The demo depends on the set of story names and on which one is the test story, not on their roles.
    DEMO_STIMULI = StimulusSettings.from_config(config["data"]["demo"], config["timing"], STORIES, TEST_STORY)
    DEMO_RESPONSES = ResponseSettings.from_config(config["data"]["demo"], config["timing"], STORIES, TEST_STORY, SUBJECTS)


def _demo_stimulus_files(kind):
    return [f"{DATASET}/{path}" for path in stimulus_files(DEMO_STIMULI)[kind]]


def _demo_response_files():
    return [f"{DATASET}/{path}" for path in response_files(DEMO_RESPONSES)]


# --- download ----------------------------------------------------------------------------------------


def download_plan():
    """{job: [dataset paths]} of the current config (empty unless data.source == openneuro)."""
    return btdownload.download_plan(config) if DOWNLOAD_ACTIVE else {}


def _download_output(path):
    """A planned dataset path as an output: a folder prefix (ends in a separator) is a directory()."""
    return directory(f"{DATASET}/{path.rstrip(os.sep)}") if path.endswith(os.sep) else f"{DATASET}/{path}"


def data_atlas_files():
    """{local path: url} of the Glasser annotation and fsaverage spheres (regions.source glasser, or the
    fsaverage common space of a multibraintuned variant)."""
    fsaverage_space = btconfig.multi_families(config) and config["commonspace"]["method"] == "fsaverage"
    if not DOWNLOAD_ACTIVE or not (config["preprocess"]["regions"]["source"] == "glasser" or fsaverage_space):
        return {}
    atlas = DOWNLOAD["atlas"]
    out = {}
    for hemi in ("lh", "rh"):
        out[data_atlas_annot_path(hemi)] = atlas["annot_url"][hemi]
        out[data_atlas_sphere_path(hemi)] = atlas["fsaverage_sphere_url"][hemi]
    return out


def data_atlas_annot_path(hemi):
    """The Glasser HCP-MMP1 annotation of one hemisphere on fsaverage."""
    return f"{DOWNLOAD['atlas']['dir']}/{hemi}.HCP-MMP1.annot"


def data_atlas_sphere_path(hemi):
    """The fsaverage registration sphere of one hemisphere."""
    return f"{DOWNLOAD['atlas']['dir']}/{hemi}.fsaverage.sphere.surf.gii"


def data_targets():
    """Final outputs of this stage that the default target requests (the generated miniature, or every
    planned download)."""
    if DEMO:
        kinds = ("wav", "textgrid", "respdict")
        return [data_demo_ground_truth_path()] + [f for k in kinds for f in _demo_stimulus_files(k)] + _demo_response_files()
    out = []
    for paths in download_plan().values():
        out.extend(f"{DATASET}/{p.rstrip('/')}" for p in paths)
    return out + list(data_atlas_files())
