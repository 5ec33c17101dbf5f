# Stage: demo (see docs/artifacts.md). The generated miniature of ds003020 (braintune.data.demo), in
# two jobs so that a change of the response model does not rerun what reads only the stimuli:
#   demo_stimuli:  stories -> stimuli/*.wav, TextGrids, respdict.json (+ the stories' metadata)
#   demo_responses: stimuli -> preprocessed_data/*/*.hf5 of every subject + the ground truth
# Only defined when dataset.source is demo; the download stage provides the same files otherwise.


if DEMO:

    rule demo_stimuli:
        """Synthesise every story (espeak-ng), write its 44.1 kHz WAV, its Praat TextGrid and respdict.json."""
        output:
            wav=_demo_files("wav"),
            textgrid=_demo_files("textgrid"),
            respdict=_demo_files("respdict"),
            metadata=_demo_layout.demo_stimuli_metadata(config),
        params:
            demo=_demo_layout.stimulus_params(config["demo"]),
            timing=config["timing"],
            stories=config["stories"],
            root=lambda w: DATASET,
        log:
            "logs/demo_stimuli/demo_stimuli.log",
        benchmark:
            "benchmarks/demo_stimuli/demo_stimuli.tsv"
        threads: 1
        resources:
            mem_mb=1500,
            runtime=10,
        conda:
            "../envs/data.yaml"
        script:
            "../scripts/demo_stimuli.py"

    rule demo_responses:
        """Sample every subject's responses from the generative model (pycortex S1 voxels, planted
        regions) and write the ground truth."""
        input:
            wav=_demo_files("wav"),
            textgrid=_demo_files("textgrid"),
            respdict=_demo_files("respdict"),
            metadata=_demo_layout.demo_stimuli_metadata(config),
        output:
            ground_truth=config["demo"]["ground_truth"],
            responses=_demo_files("responses"),
        params:
            demo=_demo_layout.response_params(config["demo"]),
            timing=config["timing"],
            stories=config["stories"],
            root=lambda w: DATASET,
            subjects=SUBJECTS,
        log:
            "logs/demo_responses/demo_responses.log",
        benchmark:
            "benchmarks/demo_responses/demo_responses.tsv"
        threads: 1
        resources:
            mem_mb=3000,
            runtime=15,
        conda:
            "../envs/data.yaml"
        script:
            "../scripts/demo_responses.py"
