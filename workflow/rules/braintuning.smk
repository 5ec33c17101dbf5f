# Stage: braintuning (see docs/artifacts.md). Owned by the braintuning stage; filled in by its issue.


def braintuning_targets():
    """Final outputs of this stage that `rule all` requests."""
    return []
