"""Every code the server can answer with was provoked by an integration test.

Runs last (file order); it is meaningful when the whole integration folder runs, as `make test` does.
"""

from __future__ import annotations

from effectd._errors import CODE_STATUS

from tests.integration.codes import PROVOKED

# Codes the SDK itself produces (unavailable, deadline_exceeded), or that only a bug would produce.
CLIENT_SIDE = {"unavailable", "deadline_exceeded", "internal"}


def test_every_server_code_is_provoked() -> None:
    assert set(CODE_STATUS) - CLIENT_SIDE == PROVOKED
