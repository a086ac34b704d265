"""One module per API, each declaring its ``REQUEST`` and ``RESPONSE`` once for all versions.

``APIS`` maps an API key to its (request, response) declarations.
"""

from __future__ import annotations

from types import ModuleType

from client.protocol.messages import api_versions
from client.protocol.schema import Message

_MODULES: tuple[ModuleType, ...] = (api_versions,)

APIS: dict[int, tuple[Message, Message]] = {
    module.REQUEST.api_key: (module.REQUEST, module.RESPONSE) for module in _MODULES
}

for _request, _response in APIS.values():
    assert _request.api_key == _response.api_key
    assert _request.valid_versions == _response.valid_versions, _request.name
    assert _request.flexible_versions == _response.flexible_versions, _request.name
