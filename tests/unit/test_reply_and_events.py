"""The pure parts of the python and http adapters: answers folded into transcripts, NDJSON at
every split point, event rules, and the http target's configuration errors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from convtest.adapters import TargetOptions
from convtest.adapters.http_events import EventError, EventFolder, NDJSONDecoder, sse_event
from convtest.adapters.http_settings import EventRule, EventRules, configure_http
from convtest.adapters.reply import Finish, ReplyBuilder, ReplyError, Text, ToolCall
from convtest.adapters.robofy_settings import ResponseFields
from convtest.exceptions import ConfigError, Location
from convtest.stream import ServerSentEvent

WHERE = "convtest.yaml:4: target 'bot'"


def test_streamed_and_returned_answers_give_the_same_transcript() -> None:
    streamed = ReplyBuilder("hi")
    for item in (ToolCall("find", {"q": 1}, output=[1]), Text("Hel"), "lo", Finish("length", "s-1")):
        streamed.add(item)
    returned = ReplyBuilder("hi")
    returned.add(
        {
            "tool_calls": [{"name": "find", "input": {"q": 1}, "output": [1]}],
            "text": "Hello",
            "finish_reason": "length",
            "session_id": "s-1",
        }
    )
    assert streamed.finish().to_dict() == returned.finish().to_dict()
    transcript = streamed.transcript
    assert (transcript.text_blocks, transcript.steps, transcript.tool_calls[0].state) == (
        ["Hello"],
        2,
        "output-available",
    )


def test_text_after_a_tool_call_starts_a_new_block_and_a_later_event_completes_the_call() -> None:
    reply = ReplyBuilder("hi")
    for item in (Text("Let me look."), ToolCall("find", {"q": 1}, id="c1"), Text("Found it.")):
        reply.add(item)
    reply.add(ToolCall("", output={"hits": 3}, id="c1"))
    transcript = reply.finish()
    assert transcript.text_blocks == ["Let me look.", "Found it."]
    [call] = transcript.tool_calls
    assert (call.name, call.input, call.output, call.step) == ("find", {"q": 1}, {"hits": 3}, 1)
    assert (transcript.finish_reason, transcript.done, transcript.steps) == ("stop", True, 3)


def test_a_list_of_texts_is_one_block_each_and_errors_and_reasoning_are_kept() -> None:
    reply = ReplyBuilder("hi")
    reply.add({"text": ["one", "two"], "reasoning": "why", "errors": ["boom"], "steps": 5})
    transcript = reply.finish()
    assert (transcript.text_blocks, transcript.reasoning, transcript.errors, transcript.steps) == (
        ["one", "two"],
        "why",
        ["boom"],
        5,
    )


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (None, "NoneType None is not an answer; return or yield a string, a dict or *"),
        ({"txt": "x"}, "unknown key `txt` in a dict answer — did you mean `text`?"),
        ({"text": 3}, "`text` must be a string, got int 3"),
        ({"tool_calls": {"name": "x"}}, "`tool_calls` must be a list, got {'name': 'x'}"),
        ({"tool_calls": [{"input": {}}]}, "a tool call needs a string `name`, got {'input': {}}"),
        (
            {"tool_calls": [{"name": "x", "inptu": {}}]},
            "unknown key `inptu` in a tool call — did you mean `input`?",
        ),
        ({"steps": "2"}, "`steps` must be a whole number, got '2'"),
    ],
)
def test_an_answer_of_the_wrong_shape_says_what_is_wrong(item: Any, message: str) -> None:
    import fnmatch

    with pytest.raises(ReplyError) as info:
        ReplyBuilder("hi").add(item)
    assert fnmatch.fnmatch(str(info.value), message), str(info.value)


NDJSON = b'{"text": "Gr\xc3\xbc\xc3\x9fe"}\r\n\n{"text": " \xf0\x9f\x98\x80"}\n{"done": true}'


@pytest.mark.parametrize("cut", range(len(NDJSON) + 1))
def test_ndjson_decodes_the_same_whatever_the_split(cut: int) -> None:
    decoder = NDJSONDecoder()
    lines = decoder.feed(NDJSON[:cut]) + decoder.feed(NDJSON[cut:]) + decoder.close()
    values = [decoder.parse(line, number) for number, line in enumerate(lines, 1)]
    assert values == [{"text": "Grüße"}, {"text": " 😀"}, {"done": True}]
    assert decoder.unterminated == b""


def test_ndjson_keeps_a_cut_last_line_and_names_a_bad_one() -> None:
    decoder = NDJSONDecoder()
    assert decoder.feed(b'{"a": 1}\n{"b"') == [b'{"a": 1}']
    assert decoder.close() == []
    assert decoder.unterminated == b'{"b"'
    with pytest.raises(EventError, match=r"line 3 is not valid JSON .*: 'oops'"):
        NDJSONDecoder.parse(b"oops\n", 3)


def test_sse_data_is_parsed_when_it_is_json_and_must_be_when_it_looks_like_an_object() -> None:
    assert sse_event(ServerSentEvent('{"t": 1}', "token", "7"), 1) == {
        "event": "token",
        "data": {"t": 1},
        "id": "7",
    }
    assert sse_event(ServerSentEvent("[DONE]"), 2)["data"] == "[DONE]"
    assert sse_event(ServerSentEvent("plain words"), 3)["data"] == "plain words"
    with pytest.raises(EventError, match="event 4 is not valid JSON"):
        sse_event(ServerSentEvent('{"t": '), 4)


def test_event_rules_read_only_the_events_their_when_selects() -> None:
    rules = EventRules(
        text=EventRule("delta", {"type": ("text", "delta")}),
        finish_reason=EventRule("reason", {"type": ("end",)}),
        session_id=EventRule("session"),
        done=EventRule("", {"type": ("end",), "final": ("true",)}),
    )
    folder = EventFolder(rules, ResponseFields(), "hi")
    events = [
        {"type": "text", "delta": "Hel"},
        {"type": "other", "delta": "ignored"},
        {"type": "delta", "delta": "lo", "session": 7},
        {"type": "end", "reason": "stop", "final": False},
    ]
    for event in events:
        folder.feed(event)
    assert not folder.done
    folder.feed({"type": "end", "final": True})
    transcript = folder.reply.finish(default_reason=None)
    assert (folder.done, transcript.text, transcript.finish_reason, transcript.session_id) == (
        True,
        "Hello",
        "stop",
        "7",
    )


def test_a_tool_call_event_without_a_name_must_complete_an_earlier_one() -> None:
    rules = EventRules(tool_call=EventRule("call"))
    folder = EventFolder(rules, ResponseFields(tool_id="callId"), "hi")
    folder.feed({"call": {"callId": "1", "name": "find", "input": {}}})
    folder.feed({"call": {"callId": "1", "output": 42}})
    assert [(c.name, c.output) for c in folder.reply.transcript.tool_calls] == [("find", 42)]
    with pytest.raises(EventError, match="event 3: the tool call has no string `name`"):
        folder.feed({"call": {"callId": "2", "output": 1}})


def configure(raw: dict[str, Any], base_url: str = "http://127.0.0.1:9") -> Any:
    options = TargetOptions(
        name="bot",
        where=WHERE,
        raw=raw,
        base_url=base_url,
        environ={"KEY": "k-1"},
        location=Location("convtest.yaml", 4),
    )
    return configure_http(options), options


def test_configure_compiles_templates_and_keeps_env_values_secret() -> None:
    settings, options = configure(
        {"request": {"path": "/c/{{ turn }}", "headers": {"X-Key": "${KEY}"}, "body": {"q": "{{ user }}"}}}
    )
    assert settings.url.source == "http://127.0.0.1:9/c/{{ turn }}"
    assert settings.headers == {"X-Key": "k-1"} and options.secrets == ["k-1"]
    assert (settings.method, settings.format) == ("POST", "json")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"request": {"path": "/x", "url": "http://a"}},
            "`request` takes `url` or `path` (under base_url), not both",
        ),
        ({"request": {"url": "ftp://a"}}, "`request.url` must start with http:// or https://, got 'ftp://a'"),
        (
            {"request": {"method": "FETCH"}},
            "`request.method` must be one of GET, POST, PUT, PATCH, DELETE, got 'FETCH'",
        ),
        (
            {"request": {"body": "{{ user"}},
            "`request.body`: invalid template '{{ user': unexpected end of template*",
        ),
        (
            {"request": {"body": {"h": ["{{ histroy }}"]}}},
            "`request.body.h.0`: unknown name `histroy` — did you mean `history`?*",
        ),
        ({"request": {"bdy": 1}}, "unknown key `bdy` — did you mean `body`?"),
        (
            {"format": "ndjsn"},
            "`format` must be json, sse or ndjson, got 'ndjsn' — did you mean `ndjson`?",
        ),
        (
            {"events": {"text": "t"}},
            "`events` reads a stream: set `format: sse` or `format: ndjson` (or drop `events`)",
        ),
        ({"format": "sse", "events": {"txt": "t"}}, "unknown key `txt` — did you mean `text`?"),
        ({"format": "sse", "events": {"text": "a..b"}}, "`events.text` must be a dotted path like*"),
        (
            {"format": "sse", "events": {"done": {}}},
            "`events.done` needs `when` (e.g. when: {type: end}), or is `end`",
        ),
        ({"session_id": {"header": "X", "cookie": "y"}}, "`session_id` takes one of `header` or `cookie`"),
        ({"response_fields": {"txt": "a"}}, "unknown key `txt` — did you mean `text`?"),
    ],
)
def test_configuration_errors_name_the_target_and_the_key(raw: dict[str, Any], message: str) -> None:
    import fnmatch

    with pytest.raises(ConfigError) as info:
        configure(raw)
    text = str(info.value)
    assert text.startswith(WHERE), text
    assert fnmatch.fnmatch(text, f"{WHERE}*: {message}"), text


def test_a_path_needs_a_base_url() -> None:
    with pytest.raises(
        ConfigError, match=r"`base_url` is required \(e.g. http://localhost:8000, or set `request.url`\)"
    ):
        configure({"request": {"path": "/chat"}}, base_url="")


def test_a_sse_target_reads_the_default_rules_and_done_end_drops_the_terminator() -> None:
    settings, _ = configure({"format": "sse", "events": {"done": "end", "text": "data.delta"}})
    assert settings.events.text == EventRule("data.delta")
    assert settings.events.finish_reason == EventRule("data.finish_reason")
    assert settings.events.done is None
    default, _ = configure({"format": "sse"})
    assert default.events.done == EventRule("", {"data": ("[DONE]",)})
    assert json.dumps(default.events.done.when) == '{"data": ["[DONE]"]}'


def test_ndjson_stops_at_a_line_longer_than_its_limit_complete_or_not() -> None:
    decoder = NDJSONDecoder(max_line_bytes=16)
    assert decoder.feed(b'{"a": 1}\n{"text": "0123') == [b'{"a": 1}']
    assert decoder.too_large is None
    assert decoder.feed(b'456789"}\n{"b": 2}\n') == []
    assert decoder.too_large == 2
    assert decoder.feed(b'{"c": 3}\n') == [] and decoder.close() == []
