"""docs/contract.md stays the contract (issue 12 §5): its error table is the SDK's table (every code, its
gRPC status, whether a retry helps, the proto's description), its golden vectors are the golden file's,
its limits are the server's, and every proto file links it.

Regenerate the error table after changing codes: `.venv/bin/python -m tests.unit.test_contract_doc`
prints it; paste it between the markers in docs/contract.md.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from effectd._errors import CODE_STATUS, RETRYABLE
from effectd_server.config import JournalConfig, LimitsConfig
from effectd_server.edge.checks import MAX_LEASE_TTL_MS, MAX_TIMEOUT_MS

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "docs" / "contract.md"
GOLDEN = ROOT / "tests" / "unit" / "golden" / "lashjson.json"
BEGIN, END = "<!-- error-codes:begin -->", "<!-- error-codes:end -->"


def _descriptions() -> dict[str, str]:
    """Each ErrorReason's comment in errors.proto (a value without its own takes the one above it)."""
    found: dict[str, str] = {}
    comment: list[str] = []
    last = ""
    for line in (ROOT / "proto" / "effectd" / "v1" / "errors.proto").read_text().splitlines():
        stripped = line.strip()
        if stripped.startswith("// --"):
            comment, last = [], ""
        elif stripped.startswith("//"):
            comment.append(stripped[2:].strip())
        elif match := re.match(r"ERROR_REASON_([A-Z0-9_]+) = \d+", stripped):
            if comment:
                last = " ".join(comment)
            found[match.group(1).lower()] = last
            comment = []
    return found


def render_error_table() -> str:
    descriptions = _descriptions()
    rows = ["| code | gRPC status | retry can help | meaning |", "|---|---|---|---|"]
    for code, status in sorted(CODE_STATUS.items(), key=lambda item: (item[1].value[0], item[0])):
        retry = "yes" if code in RETRYABLE else "no"
        rows.append(f"| `{code}` | {status.name} | {retry} | {descriptions.get(code, '')} |")
    return "\n".join(rows)


def _section(text: str) -> str:
    return text[text.index(BEGIN) + len(BEGIN) : text.index(END)].strip()


def test_the_error_table_is_the_sdks() -> None:
    assert _section(CONTRACT.read_text()) == render_error_table(), (
        "docs/contract.md's error table is stale: run `.venv/bin/python -m tests.unit.test_contract_doc`"
    )


def test_every_code_has_a_description() -> None:
    descriptions = _descriptions()
    assert all(descriptions.get(code) for code in CODE_STATUS), set(CODE_STATUS) - set(descriptions)


def test_the_golden_vectors_quoted_are_the_golden_files() -> None:
    text = CONTRACT.read_text()
    golden = json.loads(GOLDEN.read_text())
    first = golden["key_ids"][0]
    assert first["json"] in text and first["key_id"] in text
    for vector in golden["floats"][:5]:
        assert f"`{vector['lash']}`" in text, vector
    for value in golden["exact_numbers"]["values"]:
        assert f"`{value['json']}`" in text and f"`{value['lash']}`" in text, value
    assert golden["opaque_sorting"][0]["lash"] in text
    for resolution in golden["resolutions"].values():
        assert resolution in text, resolution


def test_the_limits_quoted_are_the_servers() -> None:
    text = CONTRACT.read_text()
    limits, journal = LimitsConfig(), JournalConfig()
    for value in (limits.max_id_bytes, limits.max_key_bytes, limits.max_envelope_bytes, limits.max_payload_bytes):
        assert f"{value:,}" in text, value
    for value in (journal.default_lease_ttl_ms, journal.max_lease_ttl_ms, MAX_LEASE_TTL_MS, MAX_TIMEOUT_MS):
        assert f"{value:,}" in text, value


def test_every_proto_file_links_the_contract() -> None:
    for proto in (ROOT / "proto" / "effectd" / "v1").glob("*.proto"):
        assert "docs/contract.md" in proto.read_text(), proto.name


if __name__ == "__main__":
    print(render_error_table())
