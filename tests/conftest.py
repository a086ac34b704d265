"""Shared test configuration: the hypothesis "ci" profile (deterministic), loaded when CI is set."""

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)

if os.environ.get("CI"):
    settings.load_profile("ci")
