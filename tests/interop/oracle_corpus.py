"""The stream cases of the oracle test: every kind of part, the tool states, framing and the end of a
stream, each as the bytes a server sends and the offsets at which it cuts them."""

from __future__ import annotations

import json
from typing import Any

__all__ = ["CASES", "cuts_for", "sse"]

Chunk = dict[str, Any]


def sse(*chunks: Chunk | str, done: bool = True, end: bytes = b"\n\n") -> bytes:
    """Events as ``data: <json>`` each ended by ``end``; ``[DONE]`` last unless ``done`` is false."""
    texts = [c if isinstance(c, str) else json.dumps(c, ensure_ascii=False) for c in chunks]
    if done:
        texts.append("[DONE]")
    return b"".join(b"data: " + text.encode() + end for text in texts)


def text(block_id: str, *deltas: str, kind: str = "text") -> list[Chunk]:
    return [
        {"type": f"{kind}-start", "id": block_id},
        *({"type": f"{kind}-delta", "id": block_id, "delta": delta} for delta in deltas),
        {"type": f"{kind}-end", "id": block_id},
    ]


def reasoning(block_id: str, *deltas: str) -> list[Chunk]:
    return text(block_id, *deltas, kind="reasoning")


def tool_input(call: str, name: str, value: Any, **extra: Any) -> list[Chunk]:
    """A tool call streamed in three deltas, then its whole input."""
    encoded = json.dumps(value)
    third = max(len(encoded) // 3, 1)
    deltas = [encoded[:third], encoded[third : 2 * third], encoded[2 * third :]]
    return [
        {"type": "tool-input-start", "toolCallId": call, "toolName": name, **extra},
        *({"type": "tool-input-delta", "toolCallId": call, "inputTextDelta": d} for d in deltas),
        {"type": "tool-input-available", "toolCallId": call, "toolName": name, "input": value, **extra},
    ]


def streaming(call: str, name: str, *deltas: str) -> list[Chunk]:
    """A tool input that starts streaming and never completes."""
    return [
        {"type": "tool-input-start", "toolCallId": call, "toolName": name},
        *({"type": "tool-input-delta", "toolCallId": call, "inputTextDelta": d} for d in deltas),
    ]


def output(call: str, value: Any, **extra: Any) -> Chunk:
    return {"type": "tool-output-available", "toolCallId": call, "output": value, **extra}


START: Chunk = {"type": "start", "messageId": "msg-1"}
STEP: Chunk = {"type": "start-step"}
END_STEP: Chunk = {"type": "finish-step"}
FINISH: Chunk = {"type": "finish", "finishReason": "stop"}


def turn(*chunks: Chunk | list[Chunk], done: bool = True) -> bytes:
    """A one-step turn around ``chunks``: start, start-step, the chunks, finish-step, finish."""
    flat: list[Chunk] = []
    for chunk in chunks:
        flat.extend(chunk if isinstance(chunk, list) else [chunk])
    return sse(START, STEP, *flat, END_STEP, FINISH, done=done)


def flat(*chunks: Chunk | list[Chunk]) -> list[Chunk]:
    out: list[Chunk] = []
    for chunk in chunks:
        out.extend(chunk if isinstance(chunk, list) else [chunk])
    return out


WEATHER = {"city": "Oslo", "days": [1, 2, 3], "units": {"temp": "C"}, "alerts": False}

CASES: dict[str, bytes] = {
    # --- text ------------------------------------------------------------------------------------------
    "text one block": turn(text("0", "Hello", " world")),
    "text unicode in small deltas": turn(text("0", "Grüße ", "😀", " 你好", " ", "é")),
    "text two blocks with different ids": turn(text("a", "First."), text("b", "Second.")),
    "text reused id without start-step": sse(START, *text("0", "Let me check."), *text("0", "Done."), FINISH),
    "text reused id in one step": turn(text("0", "Let me check."), text("0", "Done.")),
    "text reused id across steps": sse(
        START, STEP, *text("0", "Step one."), END_STEP, STEP, *text("0", "Step two."), END_STEP, FINISH
    ),
    "text interleaved blocks": turn(
        {"type": "text-start", "id": "a"},
        {"type": "text-start", "id": "b"},
        {"type": "text-delta", "id": "b", "delta": "second"},
        {"type": "text-delta", "id": "a", "delta": "first"},
        {"type": "text-end", "id": "a"},
        {"type": "text-end", "id": "b"},
    ),
    "text start again while open": turn(
        {"type": "text-start", "id": "0"},
        {"type": "text-delta", "id": "0", "delta": "a"},
        {"type": "text-start", "id": "0"},
        {"type": "text-delta", "id": "0", "delta": "b"},
        {"type": "text-end", "id": "0"},
    ),
    "text unended block continues across start-step": sse(
        START,
        STEP,
        {"type": "text-start", "id": "0"},
        {"type": "text-delta", "id": "0", "delta": "one "},
        STEP,
        {"type": "text-delta", "id": "0", "delta": "two"},
        {"type": "text-end", "id": "0"},
        END_STEP,
        FINISH,
    ),
    "text empty block": turn(text("0")),
    "text with provider metadata": turn(
        {"type": "text-start", "id": "0", "providerMetadata": {"p": {"x": 1}}},
        {"type": "text-delta", "id": "0", "delta": "hi", "providerMetadata": {"p": {"x": 2}}},
        {"type": "text-end", "id": "0"},
    ),
    # --- reasoning -------------------------------------------------------------------------------------
    "reasoning then text": turn(reasoning("r", "The user ", "greets me."), text("0", "Hi!")),
    "reasoning reused id": turn(reasoning("0", "First thought."), reasoning("0", "Second thought.")),
    "reasoning in two steps": sse(
        START, STEP, *reasoning("r", "Plan."), END_STEP, STEP, *reasoning("r", "Answer."), END_STEP, FINISH
    ),
    "reasoning and text share an id": turn(
        {"type": "reasoning-start", "id": "0"},
        {"type": "text-start", "id": "0"},
        {"type": "reasoning-delta", "id": "0", "delta": "think"},
        {"type": "text-delta", "id": "0", "delta": "say"},
        {"type": "reasoning-end", "id": "0"},
        {"type": "text-end", "id": "0"},
    ),
    # --- steps -----------------------------------------------------------------------------------------
    "three steps": sse(
        START,
        *flat(STEP, text("0", "one"), END_STEP, STEP, text("0", "two"), END_STEP),
        *flat(STEP, text("0", "three"), END_STEP),
        FINISH,
    ),
    "an empty step": sse(START, STEP, END_STEP, STEP, *text("0", "after"), END_STEP, FINISH),
    # --- tools -----------------------------------------------------------------------------------------
    "tool input and output": turn(tool_input("c1", "weather", WEATHER), output("c1", {"temp": 7})),
    "tool input never completed, open string": turn(streaming("c1", "weather", '{"city": "Os')),
    "tool input never completed, nested": turn(
        streaming("c1", "weather", '{"city": "Oslo", "days": [1, ', "2")
    ),
    "tool input never completed, literal": turn(streaming("c1", "weather", '{"alerts": tr')),
    "tool input never completed, unusable": turn(streaming("c1", "weather", "not json")),
    "tool input never completed, cut key": turn(streaming("c1", "weather", '{"ci')),
    "tool input started, no delta": turn({"type": "tool-input-start", "toolCallId": "c1", "toolName": "t"}),
    "tool input error, static": turn(
        {"type": "tool-input-start", "toolCallId": "c1", "toolName": "lookup"},
        {"type": "tool-input-delta", "toolCallId": "c1", "inputTextDelta": "{bad"},
        {
            "type": "tool-input-error",
            "toolCallId": "c1",
            "toolName": "lookup",
            "input": "{bad",
            "errorText": "bad",
        },
    ),
    "tool input error, dynamic": turn(
        {
            "type": "tool-input-error",
            "toolCallId": "c1",
            "toolName": "mcp",
            "input": {"q": 1},
            "errorText": "no",
            "dynamic": True,
        },
    ),
    "tool input error without start": turn(
        {
            "type": "tool-input-error",
            "toolCallId": "c1",
            "toolName": "t",
            "input": {"x": []},
            "errorText": "schema",
        }
    ),
    "tool output error": turn(
        tool_input("c1", "stock", {"sku": "A"}),
        {"type": "tool-output-error", "toolCallId": "c1", "errorText": "backend down"},
    ),
    "tool preliminary outputs then final": turn(
        tool_input("c1", "plan", {}),
        output("c1", {"step": 1}, preliminary=True),
        output("c1", {"step": 2}, preliminary=True),
        output("c1", {"step": 3}),
    ),
    "tool preliminary outputs only": turn(
        tool_input("c1", "plan", {}),
        output("c1", {"step": 1}, preliminary=True),
        output("c1", "x", preliminary=True),
    ),
    "tool preliminary output then error": turn(
        tool_input("c1", "plan", {}),
        output("c1", {"step": 1}, preliminary=True),
        {"type": "tool-output-error", "toolCallId": "c1", "errorText": "gave up"},
    ),
    "tool dynamic lifecycle": turn(
        tool_input("c1", "mcp_search", {"q": "x"}, dynamic=True), output("c1", [1, 2])
    ),
    "tool provider executed": turn(
        tool_input("c1", "web_search", {"q": "x"}, providerExecuted=True),
        output("c1", "ok", providerExecuted=True),
    ),
    "tool with a title": turn(tool_input("c1", "t", {}, title="Looking it up"), output("c1", None)),
    "two tools in one step": turn(
        tool_input("a", "first", {"n": 1}),
        tool_input("b", "second", {"n": 2}),
        output("b", 2),
        output("a", 1),
    ),
    "tools across steps": sse(
        START,
        *flat(
            STEP, text("0", "Let me check."), tool_input("c1", "lookup", {"id": 1}), output("c1", "shipped")
        ),
        *flat(END_STEP, STEP, tool_input("c2", "track", {"id": 1}), output("c2", "UPS"), END_STEP),
        *flat(STEP, text("0", "Shipped by UPS."), END_STEP),
        {"type": "finish", "finishReason": "stop"},
    ),
    "tool approval requested": turn(
        tool_input("c1", "refund", {"order": 7}),
        {"type": "tool-approval-request", "approvalId": "ap-1", "toolCallId": "c1"},
    ),
    "tool approval denied": turn(
        tool_input("c1", "refund", {"order": 7}),
        {"type": "tool-approval-request", "approvalId": "ap-1", "toolCallId": "c1"},
        {"type": "tool-output-denied", "toolCallId": "c1"},
    ),
    "tool approval then output": turn(
        tool_input("c1", "refund", {"order": 7}),
        {"type": "tool-approval-request", "approvalId": "ap-1", "toolCallId": "c1"},
        output("c1", {"refunded": True}),
    ),
    "tool approval on a dynamic tool": turn(
        tool_input("c1", "mcp_delete", {"id": 1}, dynamic=True),
        {"type": "tool-approval-request", "approvalId": "ap-2", "toolCallId": "c1"},
    ),
    "tool approval then error": turn(
        tool_input("c1", "refund", {"order": 7}),
        {"type": "tool-approval-request", "approvalId": "ap-1", "toolCallId": "c1"},
        {"type": "tool-output-error", "toolCallId": "c1", "errorText": "refund failed"},
    ),
    # --- sources and files -----------------------------------------------------------------------------
    "source url with title": turn(
        {"type": "source-url", "sourceId": "s1", "url": "https://kb.example/a", "title": "A"}
    ),
    "source url without title": turn({"type": "source-url", "sourceId": "s1", "url": "https://kb.example/a"}),
    "source document with filename": turn(
        {
            "type": "source-document",
            "sourceId": "d",
            "mediaType": "application/pdf",
            "title": "T",
            "filename": "t.pdf",
        }
    ),
    "source document without filename": turn(
        {"type": "source-document", "sourceId": "d", "mediaType": "text/plain", "title": "Notes"}
    ),
    "file part": turn(
        {"type": "file", "url": "data:image/png;base64,iVBORw0KGgo=", "mediaType": "image/png"}
    ),
    "file and sources among text": turn(
        text("0", "See:"),
        {"type": "source-url", "sourceId": "s1", "url": "https://kb.example/a"},
        {"type": "file", "url": "https://files.example/x.csv", "mediaType": "text/csv"},
        text("1", "Done."),
    ),
    # --- data ------------------------------------------------------------------------------------------
    "data part without id": turn({"type": "data-card", "data": {"title": "Order", "items": [1, 2]}}),
    "data part replaced by id": turn(
        {"type": "data-status", "id": "s", "data": {"state": "loading"}},
        text("0", "Working."),
        {"type": "data-status", "id": "s", "data": {"state": "done"}},
    ),
    "data transient after a stored one": turn(
        {"type": "data-status", "id": "s", "data": {"state": "loading"}},
        {"type": "data-status", "id": "s", "data": {"state": "done"}, "transient": True},
    ),
    "data transient alone": turn({"type": "data-notice", "data": "saved", "transient": True}),
    "data parts of two names": turn(
        {"type": "data-a", "id": "1", "data": 1},
        {"type": "data-b", "id": "1", "data": 2},
        {"type": "data-a", "data": 3},
    ),
    "data null": turn({"type": "data-empty", "data": None}),
    "data session string": turn(text("0", "Hi"), {"type": "data-session", "data": "sess-1"}),
    "data session object": turn(text("0", "Hi"), {"type": "data-session", "data": {"id": "sess-1"}}),
    "data finish reason object": sse(
        START,
        *text("0", "Hi"),
        FINISH,
        {"type": "data-finish-reason", "data": {"finishReason": "stop", "rawFinishReason": "STOP"}},
    ),
    "data finish reason string": sse(
        START, *text("0", "Hi"), FINISH, {"type": "data-finish-reason", "data": "stop"}
    ),
    "data finish reason alone": sse(
        START, *text("0", "Hi"), {"type": "data-finish-reason", "data": {"finishReason": "length"}}
    ),
    # --- metadata and finish ---------------------------------------------------------------------------
    "metadata on start": sse(
        {"type": "start", "messageId": "m", "messageMetadata": {"model": "x"}}, *text("0", "Hi"), FINISH
    ),
    "metadata merged deeply": sse(
        {"type": "start", "messageId": "m", "messageMetadata": {"model": "x", "usage": {"in": 5}}},
        {"type": "message-metadata", "messageMetadata": {"usage": {"out": 9}}},
        *text("0", "Hi"),
        {"type": "finish", "finishReason": "stop", "messageMetadata": {"model": "y", "tags": ["a"]}},
    ),
    "metadata null on finish": sse(
        {"type": "start", "messageId": "m", "messageMetadata": {"model": "x"}},
        *text("0", "Hi"),
        {"type": "finish", "finishReason": "stop", "messageMetadata": None},
    ),
    "metadata null in message-metadata": sse(
        {"type": "start", "messageId": "m", "messageMetadata": {"a": 1}},
        {"type": "message-metadata", "messageMetadata": None},
        FINISH,
    ),
    "metadata list replaced": sse(
        {"type": "start", "messageId": "m", "messageMetadata": {"tags": ["a", "b"], "n": {"x": 1}}},
        {"type": "message-metadata", "messageMetadata": {"tags": ["c"], "n": 2}},
        FINISH,
    ),
    "finish reason tool-calls": sse(
        START, STEP, *tool_input("c", "t", {}), END_STEP, {"type": "finish", "finishReason": "tool-calls"}
    ),
    "no finish chunk": sse(START, *text("0", "Hi")),
    "finish without a reason": sse(START, *text("0", "Hi"), {"type": "finish"}),
    "no start chunk": sse(*text("0", "Hi"), FINISH),
    # --- errors and abort ------------------------------------------------------------------------------
    "error chunk last": sse(
        START, *text("0", "Let me"), {"type": "error", "errorText": "model failed"}, FINISH
    ),
    "abort chunk": sse(START, *text("0", "Hal"), {"type": "abort", "reason": "user"}),
    # --- the end of the stream -------------------------------------------------------------------------
    "last event without its blank line": sse(START, *text("0", "Hi"), done=False)
    + b'data: {"type":"finish","finishReason":"stop","messageMetadata":{"late":true}}\n',
    "done without its blank line": sse(START, *text("0", "Hi"), FINISH)[:-1],
    "no done": sse(START, *text("0", "Hi"), FINISH, done=False),
    "events after done": sse(START, *text("0", "Hi"), FINISH) + sse(*text("1", "late"), done=False),
    # --- framing ---------------------------------------------------------------------------------------
    "crlf line ends": sse(START, *text("0", "Hi ", "there"), FINISH, end=b"\r\n\r\n"),
    "cr line ends": sse(START, *text("0", "Hi ", "there"), FINISH, end=b"\r\r"),
    "bom, comments and keep-alives": b"\xef\xbb\xbf: hello\n\n"
    + sse(START, done=False)
    + b": keep-alive\n\n"
    + sse(*text("0", "Hi"), FINISH),
    "data split over two lines": b'data: {"type":"text-delta",\ndata: "id":"0","delta":"x"}\n\n'.join(
        [
            sse(START, {"type": "text-start", "id": "0"}, done=False),
            sse({"type": "text-end", "id": "0"}, FINISH),
        ]
    ),
    "event names, ids and retry": b"event: message\nid: 1\nretry: 1000\n"
    + sse(START, *text("0", "Hi"), FINISH),
    "large text in many deltas": turn(text("0", *(f"word{i} " for i in range(400)))),
    # --- chunks the client refuses ---------------------------------------------------------------------
    "text delta without start": sse(START, {"type": "text-delta", "id": "0", "delta": "Hi"}, FINISH),
    "tool output for an unknown call": sse(START, output("ghost", 1), *text("0", "after"), FINISH),
    "unknown chunk type": sse(START, {"type": "brand-new-chunk", "x": 1}, *text("0", "Hi"), FINISH),
}


def cuts_for(position: int, body: bytes) -> list[int]:
    """Where the server cuts case number ``position``: whole, every byte, every 7, every 3 bytes, or
    just before each line break (so CRLF and multi-byte characters are cut too)."""
    pattern = position % 5
    if pattern == 0:
        return []
    if pattern == 4:
        return sorted({at for at, byte in enumerate(body) if byte in b"\r\n" and at > 0})
    step = (1, 7, 3)[pattern - 1]
    return list(range(step, len(body), step))
