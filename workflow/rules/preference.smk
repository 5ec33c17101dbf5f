# Stage: preference (see docs/artifacts.md). Owned by the preference stage; filled in by its issue.


def preference_targets():
    """Final outputs of this stage that `rule all` requests."""
    return []
