# Stage: demo (see docs/artifacts.md). Owned by the demo stage; filled in by its issue.


def demo_targets():
    """Final outputs of this stage that `rule all` requests."""
    return []
