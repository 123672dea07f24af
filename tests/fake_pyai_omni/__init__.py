"""A faithful fake of the PyAI Omni call-records API (list calls, get a call's transcript).

Written from the contract only (it imports nothing from callmine or include)::

    from tests.fake_pyai_omni import FakeOmniServer

    with FakeOmniServer() as fake:
        fake.add_call("call_1", datetime(2026, 5, 1, 9, tzinfo=UTC), {"turns": [...]})
        fake.base_url, fake.api_key, fake.store_base_url, fake.requests()

As a process with demo calls: ``python -m tests.fake_pyai_omni.server``.
"""

from __future__ import annotations

from .app import PROBLEM_MEDIA_TYPE, SCOPE_READ, FakeCall, FakeOmniState, SeenRequest
from .server import FakeOmniServer

__all__ = ["PROBLEM_MEDIA_TYPE", "SCOPE_READ", "FakeCall", "FakeOmniServer", "FakeOmniState", "SeenRequest"]
