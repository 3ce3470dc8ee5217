"""A message that does not parse: invalid UTF-8 in a Json field is invalid_json naming the field path."""

from __future__ import annotations

import pytest
from effectd._wire_diagnosis import diagnose_decode_error
from effectd.v1 import await_events_pb2 as apb
from effectd.v1 import effect_controller_pb2 as cpb
from effectd.v1 import envelope_pb2 as epb
from effectd.v1 import scope_pb2 as spb
from google.protobuf.message import DecodeError

MARK = "MARKMARK"  # replaced by invalid UTF-8 in the serialized bytes


def _broken(message: object) -> bytes:
    raw: bytes = message.SerializeToString()  # type: ignore[attr-defined]
    assert raw.count(MARK.encode()) == 1
    return raw.replace(MARK.encode(), b"\xff\xfe\xc3\x28\xed\xa0\x80a")  # bad bytes, same length


def _json(text: str = f'"{MARK}"') -> spb.Json:
    return spb.Json(text=text)


@pytest.mark.parametrize(
    ("message", "path"),
    [
        (apb.ResolveRequest(token="t", resolution=spb.Resolution(ok=_json())), "resolution.ok"),
        (
            apb.ResolveManyRequest(
                items=[
                    apb.ResolveRequest(token="t", resolution=spb.Resolution(ok=spb.Json(text="1"))),
                    apb.ResolveRequest(
                        token="t",
                        resolution=spb.Resolution(err=spb.ExternalCompletionError(code="c", raw=_json())),
                    ),
                ]
            ),
            "items[1].resolution.err.raw",
        ),
        (
            cpb.ExecuteRequest(
                envelope=epb.RuntimeEffectEnvelope(
                    command=epb.RuntimeEffectCommand(durable_step=epb.DurableStepCommand(step_id="s", input=_json()))
                )
            ),
            "envelope.command.durable_step.input",
        ),
        (
            cpb.CompleteRequest(
                replay_key="r",
                outcome=epb.RuntimeEffectOutcome(tool_call=epb.ToolCallOutcome(triggers=[spb.Json(text="1"), _json()])),
            ),
            "outcome.tool_call.triggers[1]",
        ),
    ],
    ids=["resolve", "resolve-many", "execute", "complete"],
)
def test_invalid_utf8_in_a_json_field_names_the_field(message: object, path: str) -> None:
    raw = _broken(message)
    with pytest.raises(DecodeError):
        type(message).FromString(raw)  # type: ignore[attr-defined]
    error = diagnose_decode_error(type(message), raw)  # type: ignore[arg-type]
    assert error.code == "invalid_json"
    assert error.message == f"{path}: not valid UTF-8"


def test_invalid_utf8_in_another_string_field_is_malformed() -> None:
    raw = _broken(apb.ResolveRequest(token=MARK, resolution=spb.Resolution(ok=spb.Json(text="1"))))
    with pytest.raises(DecodeError):
        apb.ResolveRequest.FromString(raw)
    assert diagnose_decode_error(apb.ResolveRequest, raw).code == "malformed_request"


@pytest.mark.parametrize("raw", [b"\xff\xff\xff\xff garbage", b"\x0a\xff\xff", b"\x12"])
def test_garbage_is_malformed(raw: bytes) -> None:
    assert diagnose_decode_error(apb.ResolveRequest, raw).code == "malformed_request"


def test_a_message_that_parses_is_not_blamed_on_json() -> None:
    raw = apb.ResolveRequest(token="t", resolution=spb.Resolution(ok=spb.Json(text="1"))).SerializeToString()
    assert diagnose_decode_error(apb.ResolveRequest, raw).code == "malformed_request"
