"""Limits on delegated effects, selected on the envelope: concurrency keys and token buckets.

A rule names a selector: `tool:NAME`, `model:NAME` (an llm_call's or direct's "provider/model" or
model), `session:*` (one key per session) or `kind:KIND`; `*` in place of a name keys the rule per
value. An effect waits (in line, within its schedule-to-start timeout) until every rule it falls under
admits it: a free concurrency slot, a token in the bucket. Token rules measured in LLM tokens admit
while the bucket is not in debt and are debited with the tokens the result reports (its `usage`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from effectd._errors import ResourceExhaustedError

from effectd_server.config import LimitRule
from effectd_server.workers.registry import Match

__all__ = ["Admission", "Limits", "rule_key", "tokens_used"]


def rule_key(rule: LimitRule, match: Match, session: str) -> str | None:
    """The key an effect falls under for `rule`, or None."""
    what, _, name = rule.selector.partition(":")
    value: str | None
    if what == "tool":
        value = match.name if match.kind == "tool_call" else None
    elif what == "model":
        value = match.name if match.kind in ("llm_call", "direct") else None
        if value is not None and name not in ("*", value, value.partition("/")[2]):
            return None
        return None if value is None else f"{rule.selector}={value}"
    elif what == "session":
        value = session
    else:
        value = match.kind
    if value is None or (name != "*" and name != value):
        return None
    return f"{rule.selector}={value}"


@dataclass(eq=False, slots=True)
class _Key:
    rule: LimitRule
    running: int = 0
    tokens: float = 0.0
    refilled: float = field(default_factory=time.monotonic)

    def refill(self, now: float) -> None:
        if self.rule.rate_per_s:
            self.tokens = min(self.rule.burst, self.tokens + (now - self.refilled) * self.rule.rate_per_s)
        self.refilled = now

    def admits(self, now: float) -> bool:
        if self.rule.concurrency and self.running >= self.rule.concurrency:
            return False
        if self.rule.rate_per_s:
            self.refill(now)
            return self.tokens > 0 if self.rule.llm_tokens else self.tokens >= 1
        return True

    def wait_s(self, now: float) -> float:
        """How long until the bucket admits again (0 when only concurrency holds it)."""
        if not self.rule.rate_per_s:
            return 0.0
        needed = (1.0 if not self.rule.llm_tokens else 1e-9) - self.tokens
        return max(0.0, needed / self.rule.rate_per_s)


@dataclass(eq=False, slots=True)
class Admission:
    """What one admitted effect holds; given back with `Limits.release`."""

    keys: list[_Key]


class Limits:
    def __init__(self, rules: tuple[LimitRule, ...]) -> None:
        self._rules = rules
        self._keys: dict[str, _Key] = {}
        self._changed: asyncio.Event = asyncio.Event()
        self._paused: dict[tuple[str, str], float] = {}
        """(kind, name) → monotonic time until which a provider's rate limit pauses it."""

    def pause(self, match: Match, seconds: float) -> None:
        """A worker reported the provider's rate limit: hold every effect of this capability for `seconds`."""
        key = (match.kind, match.name)
        self._paused[key] = max(self._paused.get(key, 0.0), time.monotonic() + seconds)

    async def unpaused(self, match: Match, deadline: float) -> None:
        """Wait out a pause of this capability; ResourceExhaustedError if it outlasts `deadline` (loop time)."""
        key = (match.kind, match.name)
        until = self._paused.get(key)
        if until is None:
            return
        loop = asyncio.get_running_loop()
        remaining = until - time.monotonic()
        if remaining <= 0:
            self._paused.pop(key, None)
            return
        if loop.time() + remaining > deadline:
            raise ResourceExhaustedError(
                "effect_rate_limited",
                f"{match.describe()} is paused for {remaining:.3g} s more by a provider's rate limit",
            )
        await asyncio.sleep(remaining)

    def _keys_for(self, match: Match, session: str) -> Iterator[_Key]:
        for rule in self._rules:
            name = rule_key(rule, match, session)
            if name is None:
                continue
            key = self._keys.get(name)
            if key is None:
                key = self._keys[name] = _Key(rule, tokens=rule.burst)
            yield key

    async def admit(self, match: Match, session: str, timeout_s: float) -> Admission | None:
        """Wait until every rule admits the effect; ResourceExhaustedError when `timeout_s` passes first."""
        if not self._rules:
            return None
        keys = list(self._keys_for(match, session))
        if not keys:
            return None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            now = time.monotonic()
            if all(key.admits(now) for key in keys):
                for key in keys:
                    key.running += 1
                    if key.rule.rate_per_s and not key.rule.llm_tokens:
                        key.tokens -= 1
                return Admission(keys)
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ResourceExhaustedError(
                    "effect_rate_limited",
                    f"{match.describe()} was held by a limit ({', '.join(k.rule.selector for k in keys)})"
                    f" for {timeout_s:g} s (schedule-to-start)",
                )
            pause = max((key.wait_s(now) for key in keys), default=0.0)
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, pause) if pause else remaining)
            except TimeoutError:
                pass

    def release(self, admission: Admission | None, llm_tokens: int = 0) -> None:
        """The effect ended; `llm_tokens` are what its result reported, debited from token buckets."""
        if admission is None:
            return
        for key in admission.keys:
            key.running -= 1
            if key.rule.llm_tokens and llm_tokens:
                key.refill(time.monotonic())
                key.tokens -= llm_tokens
        self._changed.set()


def tokens_used(value: object) -> int:
    """The tokens an LlmResponse (JSON) reports in `usage`: total, else input + output."""
    if not isinstance(value, dict):
        return 0
    usage = value.get("usage")
    if not isinstance(usage, dict):
        return 0
    total = usage.get("total_tokens")
    if isinstance(total, int):
        return total
    parts = [usage.get(k) for k in ("input_tokens", "output_tokens", "prompt_tokens", "completion_tokens")]
    return sum(p for p in parts if isinstance(p, int))
