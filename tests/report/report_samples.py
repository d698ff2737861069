"""Hand-made report data: conversations shaped like ``ConversationResult.to_dict()``, so the
report is tested on every case (goldens, hostile text, unknown fields) without running a bot.

A module with a unique name (not conftest) so test modules can import its builders."""

from __future__ import annotations

from typing import Any

from convtest.report.entry import Entry

XSS_SCRIPT = "<script>window.__xss=1</script>"
XSS_IMG = '<img src=x onerror="window.__xss=2">'
XSS_CLOSE = "</script><script>window.__xss=3</script>"


def turn(
    index: int,
    user: str,
    text: str | None,
    *,
    failures: list[dict[str, Any]] | None = None,
    error: str | None = None,
    tools: list[dict[str, Any]] | None = None,
    first_token_ms: float = 40.0,
    total_ms: float = 120.0,
    **transcript_extra: Any,
) -> dict[str, Any]:
    transcript = None
    if text is not None:
        transcript = {
            "user": user,
            "text_blocks": [text],
            "text": text,
            "tool_calls": tools or [],
            "steps": 1,
            "finish_reason": "stop",
            "raw_finish_reason": "stop",
            "session_id": "sess-1",
            "message_id": "msg-1",
            "unknown_events": [],
            "errors": [],
            "done": True,
            "timings": {"first_byte_ms": 10.0, "first_token_ms": first_token_ms, "total_ms": total_ms},
            **transcript_extra,
        }
    return {
        "index": index,
        "location": f"suites/demo.yaml:{index * 4}",
        "user": user,
        "passed": not failures and error is None,
        "transcript": transcript,
        "failures": failures or [],
        "error": error,
        "error_type": "ConnectError" if error else None,
        "saved": {},
    }


def tool(name: str, input: Any, output: Any, **extra: Any) -> dict[str, Any]:
    return {
        "id": f"call-{name}",
        "name": name,
        "input": input,
        "output": output,
        "input_text": "",
        "error": None,
        "step": 0,
        **extra,
    }


def entry(
    name: str,
    turns: list[dict[str, Any]] | None = None,
    *,
    outcome: str | None = None,
    file: str = "suites/demo.yaml",
    tags: list[str] | None = None,
    turn_count: int | None = None,
    golden: dict[str, Any] | None = None,
    messages: list[str] | None = None,
    kind: str = "conversation",
) -> Entry:
    turns = turns if turns is not None else []
    passed = all(t["passed"] for t in turns) and len(turns) == (turn_count or len(turns))
    data: dict[str, Any] | None = None
    if kind == "conversation" and outcome not in ("skipped",):
        data = {
            "name": name,
            "location": f"{file}:3",
            "tags": tags or [],
            "target": "reference",
            "passed": passed,
            "duration_s": 0.25,
            "turn_count": turn_count or len(turns),
            "turns": turns,
        }
        if golden is not None:
            data["golden"] = golden
    return Entry(
        nodeid=f"{file}::{name}",
        name=name,
        file=file,
        location=f"{file}:3",
        kind=kind,
        tags=tags or [],
        outcome=outcome or ("passed" if passed else "failed"),
        duration_s=0.25,
        data=data,
        messages=messages or [],
    )


def sample_entries() -> list[Entry]:
    """A small run with every kind of conversation the report has to show."""
    return [
        entry(
            "greets the user",
            [turn(1, "Hello", "Hello! How can I help you today?")],
            tags=["smoke"],
        ),
        entry(
            "hostile reply is shown as text",
            [
                turn(
                    1,
                    f"please say {XSS_SCRIPT}",
                    f"Sure: {XSS_SCRIPT} and {XSS_IMG} {XSS_CLOSE}",
                    tools=[
                        tool("lookup_order", {"order_id": XSS_IMG}, {"note": XSS_SCRIPT, "html": XSS_CLOSE})
                    ],
                    reasoning=f"thinking about {XSS_IMG}",
                    failures=[
                        {
                            "check": 'text contains "Ada"',
                            "actual": f'text was "{XSS_SCRIPT}"',
                            "location": "suites/demo.yaml:9",
                        }
                    ],
                ),
            ],
            file="suites/hostile.yaml",
            tags=["security"],
        ),
        entry(
            "order status drifted from its golden",
            [
                turn(
                    1,
                    "Where is my order 1234?",
                    "Your order 5678 has shipped.",
                    first_token_ms=900,
                    total_ms=2400,
                )
            ],
            file="suites/orders.yaml",
            tags=["orders", "smoke"],
            golden={
                "status": "mismatch",
                "path": "goldens/orders/order-status.yaml",
                "message": "1 turn differs from the golden",
                "turns": [
                    {
                        "index": 1,
                        "changes": [
                            {
                                "path": "text",
                                "kind": "changed",
                                "expected": "Your order 1234 has shipped.",
                                "actual": "Your order 5678 has shipped.",
                                "word_diff": [
                                    ["equal", "Your order "],
                                    ["delete", "1234"],
                                    ["insert", "5678"],
                                    ["equal", " has shipped."],
                                ],
                            },
                            {
                                "path": "tool_calls[0].output.carrier",
                                "kind": "added",
                                "expected": None,
                                "actual": "UPS",
                                "word_diff": None,
                                "subject": "tool call 1 lookup_order output.carrier",
                                "note": "a new field",
                            },
                        ],
                    }
                ],
            },
            outcome="failed",
        ),
        entry(
            "target was down",
            [turn(1, "Hello", None, error="target 'reference': connection refused at http://127.0.0.1:9")],
            turn_count=2,
            file="suites/orders.yaml",
        ),
        entry(
            "waits for the new knowledge base",
            outcome="skipped",
            messages=["waiting for KB v2"],
            file="suites/orders.yaml",
            tags=["kb"],
        ),
        entry(
            "<invalid suite>",
            kind="invalid",
            outcome="failed",
            file="suites/broken.yaml",
            messages=["invalid suite: suites/broken.yaml:1: not a mapping"],
        ),
    ]
