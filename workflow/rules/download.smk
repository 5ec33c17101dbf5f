# Stage: download (see docs/artifacts.md). Owned by the download stage; filled in by its issue.


def download_targets():
    """Final outputs of this stage that `rule all` requests."""
    return []
