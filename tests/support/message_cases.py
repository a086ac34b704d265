"""Every declared message and version as pytest cases, for the codec property tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from client.protocol.messages import APIS
from client.protocol.schema import Message

Values = Callable[[Message, int], st.SearchStrategy[dict[str, Any]]]
"""The ``values_for`` fixture (tests/unit/conftest.py): a strategy of valid values."""

CASES = [
    pytest.param(message, version, id=f"{message.name}-v{version}")
    for request, response in APIS.values()
    for message in (request, response)
    for version in range(message.valid_versions.low, message.valid_versions.high + 1)
]


def quick(max_examples: int) -> settings:
    """Few deterministic examples per case: there are several hundred cases."""
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
