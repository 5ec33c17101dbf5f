# Stage: features (see docs/artifacts.md). Owned by the features stage; filled in by its issue.


def features_targets():
    """Final outputs of this stage that `rule all` requests."""
    return []
