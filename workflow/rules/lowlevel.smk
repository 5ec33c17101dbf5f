# Stage: lowlevel (see docs/artifacts.md). Owned by the lowlevel stage; filled in by its issue.


def lowlevel_targets():
    """Final outputs of this stage that `rule all` requests."""
    return []
