"""Command-line entry points (segnet, segnet-eval, segnet-download, segnet-build-engine); one error policy in entry."""
