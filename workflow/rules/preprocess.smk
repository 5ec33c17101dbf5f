# Stage: preprocess (see docs/artifacts.md). Owned by the preprocess stage; filled in by its issue.


def preprocess_targets():
    """Final outputs of this stage that `rule all` requests."""
    return []
