# Stage: downstream (see docs/artifacts.md). Owned by the downstream stage; filled in by its issue.


def downstream_targets():
    """Final outputs of this stage that `rule all` requests."""
    return []
