"""convtest's transcript against the real ``ai`` client, part by part, on the same bytes.

``oracle.mjs`` gives each case of ``oracle_corpus.py`` (cut at the same offsets) to the package's
``readUIMessageStream`` (over ``DefaultChatTransport``'s own byte parsing) and to its ``Chat``
client (``AbstractChat`` + ``DefaultChatTransport``, fetching from a server on 127.0.0.1 that
writes each piece apart). Here convtest's decoder and assembler read the same pieces, and the
three must agree on every part (text, reasoning, tool calls with state, input, output, error,
raw input, preliminary mark and approval, sources, files, data parts, step boundaries), on the
message metadata, the message id and the finish reason.

Where convtest differs on purpose, the case is in :data:`DIFFERENCES` with the reason, and the
test checks that the difference is still there (so the list never goes stale). Besides these,
convtest gives a turn a failing verdict where the client only reports: an ``error`` chunk, an
``abort`` chunk and a stream that ends without ``data: [DONE]`` (README, "The protocol").

Node and the package come from ``npm ci --prefix tests/interop``; without them the test is skipped
locally and fails in CI.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from oracle_corpus import CASES, cuts_for

from convtest.exceptions import ProtocolError
from convtest.stream import SSEDecoder, TurnAssembler, unended_done
from convtest.transcript import (
    DataPart,
    FilePart,
    ReasoningPart,
    Source,
    StepStart,
    TextPart,
    ToolCall,
    TurnTranscript,
)

HERE = Path(__file__).parent
ORACLE_TIMEOUT = 120.0

#: (case, client) -> why convtest's transcript differs from that client's message; client is
#: "read" (readUIMessageStream) or "chat" (the Chat client); the other client must agree
DIFFERENCES: dict[tuple[str, str], str] = {
    **{
        (case, client): "finish_reason also comes from a `data-finish-reason` part, the Robofy API's "
        "own (a `finish` chunk's reason wins); the client knows only `finish` chunks"
        for case in ("data finish reason alone",)
        for client in ("read", "chat")
    },
    **{
        (case, client): "convtest stops reading at `data: [DONE]`: it ends the turn, so a server that "
        "keeps the connection open costs no timeout; the client reads on until the connection closes"
        for case in ("events after done",)
        for client in ("read", "chat")
    },
    **{
        (case, client): "a delta or output naming no open part opens one (the call) in convtest, so "
        "the reply is kept and checked; the client throws and drops the rest of the stream"
        for case in ("text delta without start", "tool output for an unknown call")
        for client in ("read", "chat")
    },
    **{
        ("unknown chunk type", client): "convtest keeps an unknown chunk in `unknown_events` and reads "
        "on, so a newer protocol never fails a run; the transport's chunk schema rejects the stream"
        for client in ("read", "chat")
    },
    ("data transient alone", "read"): "not convtest's: readUIMessageStream yields a message only when "
    "a part is written, and `start-step` writes none, so its last message lacks the step boundary "
    "that the Chat client (and convtest) has",
    ("error chunk last", "chat"): "convtest reads on after an `error` chunk (and fails the turn on "
    "it); the Chat client stops at it, before the `finish` chunk",
}


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run `npm ci --prefix tests/interop` first (see .ci/run)")
    pytest.skip(f"{reason}; run `npm ci --prefix tests/interop` to enable this test")


def pieces(body: bytes, cuts: list[int]) -> list[bytes]:
    edges = [0, *cuts, len(body)]
    return [body[start:end] for start, end in itertools.pairwise(edges)]


@pytest.fixture(scope="module")
def oracle(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Every case's result from both clients, by case name (one node run for the whole corpus)."""
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed")
    if not (HERE / "node_modules" / "ai").is_dir():
        _unavailable("the `ai` package is not installed in tests/interop/node_modules")
    corpus = [
        {"name": name, "body": base64.b64encode(body).decode(), "cuts": cuts_for(at, body)}
        for at, (name, body) in enumerate(CASES.items())
    ]
    path = tmp_path_factory.mktemp("oracle") / "corpus.json"
    path.write_text(json.dumps(corpus))
    env = {**os.environ, "NO_PROXY": "127.0.0.1"}
    done = subprocess.run(
        [str(node), "oracle.mjs", str(path)],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=ORACLE_TIMEOUT,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = [json.loads(line) for line in done.stdout.splitlines()]
    return {result["name"]: result for result in results}


def convtest_transcript(body: bytes, cuts: list[int]) -> TurnTranscript:
    """What the robofy adapter makes of the pieces: decoded as they come, read up to ``[DONE]``."""
    decoder, assembler = SSEDecoder(), TurnAssembler()
    try:
        for piece in pieces(body, cuts):
            for event in decoder.feed(piece):
                assembler.feed(event.data, 0.0)
                if assembler.done:
                    return assembler.transcript
        for event in [*decoder.close(), *unended_done(decoder)]:
            assembler.feed(event.data, 0.0)
    except ProtocolError as exc:
        assert exc.transcript is not None
        return exc.transcript
    return assembler.transcript


# --- one comparable shape for both sides ---------------------------------------------------------------


def _client_part(part: dict[str, Any]) -> dict[str, Any]:
    kind = part["type"]
    if kind in ("text", "reasoning"):
        return {"type": kind, "text": part["text"]}
    if kind == "step-start":
        return {"type": "step-start"}
    if kind == "dynamic-tool" or kind.startswith("tool-"):
        dynamic = kind == "dynamic-tool"
        return _tool(
            part["toolCallId"],
            part["toolName"] if dynamic else kind.removeprefix("tool-"),
            dynamic=dynamic,
            state=part["state"],
            input=part.get("input"),
            output=part.get("output"),
            error=part.get("errorText"),
            raw_input=part.get("rawInput"),
            preliminary=part.get("preliminary") is True,
            approval_id=(part.get("approval") or {}).get("id"),
            provider_executed=part.get("providerExecuted") is True,
            title=part.get("title"),
        )
    if kind == "source-url":
        return {"type": "source-url", "id": part["sourceId"], "url": part["url"], "title": part.get("title")}
    if kind == "source-document":
        keys = ("sourceId", "title", "mediaType", "filename")
        return {"type": "source-document", **{key: part.get(key) for key in keys}}
    if kind == "file":
        return {"type": "file", "url": part["url"], "media_type": part["mediaType"]}
    assert kind.startswith("data-"), part
    return {"type": "data", "name": kind.removeprefix("data-"), "id": part.get("id"), "data": part["data"]}


def _tool(call_id: str, name: str, **fields: Any) -> dict[str, Any]:
    return {"type": "tool", "id": call_id, "name": name, **fields}


def _convtest_part(part: object) -> dict[str, Any]:
    if isinstance(part, TextPart | ReasoningPart):
        return {"type": "text" if isinstance(part, TextPart) else "reasoning", "text": part.text}
    if isinstance(part, StepStart):
        return {"type": "step-start"}
    if isinstance(part, ToolCall):
        return _tool(
            part.id,
            part.name,
            dynamic=part.dynamic,
            state=part.state,
            input=part.input,
            output=part.output,
            error=part.error,
            raw_input=_raw_input(part),
            preliminary=part.preliminary,
            approval_id=part.approval_id,
            provider_executed=part.provider_executed,
            title=part.title,
        )
    if isinstance(part, Source) and part.kind == "url":
        return {"type": "source-url", "id": part.id, "url": part.url, "title": part.title}
    if isinstance(part, Source):
        return {
            "type": "source-document",
            "sourceId": part.id,
            "title": part.title,
            "mediaType": part.media_type,
            "filename": part.filename,
        }
    if isinstance(part, FilePart):
        return {"type": "file", "url": part.url, "media_type": part.media_type}
    assert isinstance(part, DataPart), part
    return {"type": "data", "name": part.name, "id": part.id, "data": part.data}


def _raw_input(call: ToolCall) -> Any:
    """The client's ``rawInput``: the streamed text while the input streams, the unusable input of
    a static tool's ``tool-input-error``, else nothing (convtest keeps ``input_text`` always)."""
    if call.state == "input-streaming" and call.input_text:
        return call.input_text
    if call.state == "output-error" and not call.dynamic:
        return call.raw_input
    return None


def client_view(result: dict[str, Any]) -> dict[str, Any]:
    message = result["message"] or {"parts": []}
    return {
        "parts": [_client_part(part) for part in message["parts"]],
        "metadata": message.get("metadata"),
        "message_id": message.get("id") or None,
        "finish_reason": result["finishReason"],
    }


def convtest_view(transcript: TurnTranscript) -> dict[str, Any]:
    return {
        "parts": [_convtest_part(part) for part in transcript.parts],
        "metadata": transcript.message_metadata,
        "message_id": transcript.message_id,
        "finish_reason": transcript.finish_reason,
    }


# --- the test ---------------------------------------------------------------------------------------------


def test_the_corpus_has_every_kind_of_part_and_state() -> None:
    assert len(CASES) >= 60
    everything = b"".join(CASES.values())
    for chunk_type in (
        b"text-start", b"reasoning-start", b"start-step", b"tool-input-delta", b"tool-input-error",
        b"tool-approval-request", b"tool-output-denied", b"tool-output-error", b'"preliminary"',
        b"source-url", b"source-document", b'"file"', b'"transient"', b"data-session",
        b"data-finish-reason", b"message-metadata", b'"abort"', b'"error"', b'"dynamic"',
    ):  # fmt: skip
        assert chunk_type in everything, chunk_type


@pytest.mark.parametrize("name", list(CASES))
def test_convtest_reads_each_case_as_the_ai_client_does(name: str, oracle: dict[str, dict[str, Any]]) -> None:
    body = CASES[name]
    position = list(CASES).index(name)
    mine = convtest_view(convtest_transcript(body, cuts_for(position, body)))
    for client in ("read", "chat"):
        theirs = client_view(oracle[name][client])
        if mine["message_id"] is None:
            theirs["message_id"] = None  # the client makes one up
        reason = DIFFERENCES.get((name, client))
        if reason is None:
            errors = "; ".join(oracle[name][client]["errors"])
            assert mine == theirs, f"{client} reported: {errors[:300]}"
        else:
            assert mine != theirs, f"{client} now agrees; remove the difference: {reason}"


def test_both_clients_agree_where_no_difference_is_listed(oracle: dict[str, dict[str, Any]]) -> None:
    """The oracle itself: its two paths give the same message, except where convtest notes why."""
    for name in CASES:
        if (name, "chat") in DIFFERENCES or (name, "read") in DIFFERENCES:
            continue
        read, chat = (client_view(oracle[name][client]) for client in ("read", "chat"))
        read["message_id"] = chat["message_id"] = None
        assert read == chat, name
