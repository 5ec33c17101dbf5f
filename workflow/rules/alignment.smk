# Stage: alignment (see docs/artifacts.md). Owned by the alignment stage; filled in by its issue.


def alignment_targets():
    """Final outputs of this stage that `rule all` requests."""
    return []
