"""The contract's ErrorReason enum (errors.proto) equals the SDK's error table exactly."""

from __future__ import annotations

import grpc
from effectd._errors import CODE_STATUS, RETRYABLE
from effectd.v1 import errors_pb2

PREFIX = "ERROR_REASON_"


def _reasons() -> dict[str, tuple[str, bool]]:
    enum = errors_pb2.DESCRIPTOR.enum_types_by_name["ErrorReason"]
    reasons: dict[str, tuple[str, bool]] = {}
    for value in enum.values:
        if value.number == 0:
            assert value.name == PREFIX + "UNSPECIFIED"
            continue
        assert value.name.startswith(PREFIX)
        options = value.GetOptions()
        assert options.HasExtension(errors_pb2.grpc_status), value.name
        assert options.HasExtension(errors_pb2.retryable), value.name
        status = options.Extensions[errors_pb2.grpc_status]
        retryable = options.Extensions[errors_pb2.retryable]
        reasons[value.name[len(PREFIX) :].lower()] = (status, retryable)
    return reasons


def test_error_reason_enum_equals_the_error_table() -> None:
    table = {code: (status.name, code in RETRYABLE) for code, status in CODE_STATUS.items()}
    assert _reasons() == table


def test_retryable_codes_are_codes_of_the_table() -> None:
    assert set(RETRYABLE) <= set(CODE_STATUS)


def test_every_status_name_is_a_grpc_status() -> None:
    names = {status.name for status in grpc.StatusCode}
    assert {status for status, _ in _reasons().values()} <= names


def test_new_codes_of_issue_8() -> None:
    for code in ("invalid_json", "id_too_long", "envelope_too_large", "value_out_of_range"):
        assert CODE_STATUS[code] is grpc.StatusCode.INVALID_ARGUMENT
    for code in ("too_many_streams", "stream_too_slow"):
        assert CODE_STATUS[code] is grpc.StatusCode.RESOURCE_EXHAUSTED
