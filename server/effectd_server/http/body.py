"""The JSON body of `POST /v1/resolve/{token}`, read strictly (as the gRPC servicer reads `Json` fields)."""

from __future__ import annotations

from effectd._errors import InvalidArgumentError
from effectd._json import parse_json
from effectd._scope import Cancelled, Err, ExternalCompletionError, Ok, Resolution

__all__ = ["BODY_FORMS", "resolution_from_body"]

BODY_FORMS = '{"ok": VALUE}, {"err": {"code": CODE, "message": MESSAGE}} or {"cancelled": true}'


def _invalid(why: str) -> InvalidArgumentError:
    return InvalidArgumentError("invalid_resolution", f"{why}; the body is {BODY_FORMS}")


def resolution_from_body(data: bytes) -> Resolution:
    """The resolution a request body asks for; `invalid_json` or `invalid_resolution` otherwise."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgumentError("invalid_json", "body: the text is not valid UTF-8") from None
    body = parse_json(text, "body")
    if not isinstance(body, dict) or len(body) != 1:
        raise _invalid("the body must be an object with exactly one field")
    ((form, value),) = body.items()
    if form == "ok":
        return Ok(value)
    if form == "cancelled":
        if value is not True:
            raise _invalid('"cancelled" must be true')
        return Cancelled()
    if form == "err":
        if not isinstance(value, dict) or not set(value) <= {"code", "message", "raw"}:
            raise _invalid('"err" must be an object with "code", "message" and optionally "raw"')
        code, message = value.get("code"), value.get("message", "")
        if not isinstance(code, str) or not isinstance(message, str):
            raise _invalid('"err.code" and "err.message" must be strings')
        return Err(ExternalCompletionError(code, message, value.get("raw")))
    raise _invalid(f"unknown field {form[:64]!r}")
