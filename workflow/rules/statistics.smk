# Stage: statistics (see docs/artifacts.md). Owned by the statistics stage; filled in by its issue.


def statistics_targets():
    """Final outputs of this stage that `rule all` requests."""
    return []
