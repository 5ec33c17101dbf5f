# Stage: figures (see docs/artifacts.md). Owned by the figures stage; filled in by its issue.


def figures_targets():
    """Final outputs of this stage that `rule all` requests."""
    return []
