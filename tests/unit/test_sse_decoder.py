"""The SSE decoder gives the same events for every way the byte stream can be cut."""

from __future__ import annotations

import pytest

from convtest.stream import ServerSentEvent, SSEDecoder

# Every feature in one stream: BOM, comments, CRLF / CR / LF line ends, multi-line data, named
# events, ids that persist, retry, an event without data, non-ASCII text up to 4-byte emoji.
STREAM = (
    b"\xef\xbb\xbf: keep-alive\r\n"
    b"\r\n"
    b'data: {"type":"start","messageId":"m1"}\r\n'
    b"\r\n"
    b"event: note\n"
    b"id: 7\n"
    b"retry: 1500\n"
    b"data:first line\r\n"
    b"data:  second, caf\xc3\xa9\n"
    b"\n"
    b"event: ignored-without-data\n"
    b"id: 8\n"
    b"\n"
    b'data: {"delta":"Gr\xc3\xbc\xc3\x9fe \xf0\x9f\x98\x80 \xe4\xbd\xa0\xe5\xa5\xbd"}\r'
    b"\r"
    b": another comment\n"
    b"data\n"
    b"\n"
    b"data: [DONE]\r\n"
    b"\r\n"
)

EXPECTED = [
    ServerSentEvent('{"type":"start","messageId":"m1"}'),
    ServerSentEvent("first line\n second, café", event="note", id="7"),
    ServerSentEvent('{"delta":"Grüße 😀 你好"}', id="8"),
    ServerSentEvent("", id="8"),
    ServerSentEvent("[DONE]", id="8"),
]

SHORT_STREAM = (
    b'\xef\xbb\xbfdata: {"a":"\xf0\x9f\x98\x80"}\r\n\r\ndata: x\r\ndata: y\r\r: c\ndata: \xc3\xa9\n\n'
)
SHORT_EXPECTED = [ServerSentEvent('{"a":"😀"}'), ServerSentEvent("x\ny"), ServerSentEvent("é")]


def decode(*chunks: bytes) -> list[ServerSentEvent]:
    decoder = SSEDecoder()
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.close()


def test_whole_stream_decodes_to_the_expected_events() -> None:
    assert decode(STREAM) == EXPECTED


def test_every_single_split_point_gives_the_same_events() -> None:
    for cut in range(len(STREAM) + 1):
        assert decode(STREAM[:cut], STREAM[cut:]) == EXPECTED, f"split at byte {cut}"


def test_every_pair_of_split_points_gives_the_same_events() -> None:
    assert decode(SHORT_STREAM) == SHORT_EXPECTED
    size = len(SHORT_STREAM)
    for first in range(size + 1):
        for second in range(first, size + 1):
            chunks = SHORT_STREAM[:first], SHORT_STREAM[first:second], SHORT_STREAM[second:]
            assert decode(*chunks) == SHORT_EXPECTED, f"split at bytes {first} and {second}"


def test_one_byte_at_a_time_gives_the_same_events() -> None:
    assert decode(*(STREAM[i : i + 1] for i in range(len(STREAM)))) == EXPECTED


def test_events_come_out_as_soon_as_their_blank_line_arrives() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n") == []
    assert decoder.feed(b"\n") == [ServerSentEvent("a")]


def test_cr_ending_a_chunk_and_lf_opening_the_next_are_one_line_break() -> None:
    assert decode(b"data: a\r", b"\ndata: b\r\n\r\n") == [ServerSentEvent("a\nb")]


def test_empty_chunk_between_cr_and_lf_keeps_them_one_line_break() -> None:
    assert decode(b"data: a\r", b"", b"\ndata: b\n\n") == [ServerSentEvent("a\nb")]


def test_cr_followed_by_crlf_is_two_line_breaks() -> None:
    assert decode(b"data: a\r", b"\r\ndata: b\n\n") == [ServerSentEvent("a"), ServerSentEvent("b")]


def test_only_one_space_after_the_colon_is_removed() -> None:
    assert decode(b"data:  two\ndata:none\n\n") == [ServerSentEvent(" two\nnone")]


def test_field_without_colon_has_empty_value() -> None:
    assert decode(b"data\ndata\n\n") == [ServerSentEvent("\n")]


def test_event_without_data_is_not_dispatched_and_its_type_does_not_leak() -> None:
    assert decode(b"event: ping\nid: 1\n\ndata: x\n\n") == [ServerSentEvent("x", id="1")]


def test_unknown_fields_and_ids_with_nul_are_ignored() -> None:
    assert decode(b"id: 1\n\ndata: x\nfoo: bar\nid: a\x00b\n\n") == [ServerSentEvent("x", id="1")]


@pytest.mark.parametrize(("value", "expected"), [(b"2500", 2500), (b"25x", None), (b"", None)])
def test_retry_is_kept_only_when_all_digits(value: bytes, expected: int | None) -> None:
    decoder = SSEDecoder()
    decoder.feed(b"retry: " + value + b"\n\n")
    assert decoder.retry == expected


def test_bom_is_stripped_only_at_the_very_start() -> None:
    bom = b"\xef\xbb\xbf"
    assert decode(bom + b"data: a\n\n" + bom + b"data: b\n\n") == [ServerSentEvent("a")]


def test_bom_split_across_chunks_is_stripped() -> None:
    assert decode(b"\xef", b"\xbb", b"\xbfdata: a\n\n") == [ServerSentEvent("a")]


def test_invalid_utf8_is_replaced_not_fatal() -> None:
    assert decode(b"data: \xff\xc3\n\n") == [ServerSentEvent("\ufffd\ufffd")]


def test_close_dispatches_an_event_missing_only_its_blank_line() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: [DONE]\n") == []
    assert decoder.close() == [ServerSentEvent("[DONE]")]
    assert decoder.unterminated == b""


def test_close_discards_a_cut_line_and_keeps_it_for_the_error_message() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b'data: {"type":"text-delta"}\n\ndata: {"type":"te') == [
        ServerSentEvent('{"type":"text-delta"}')
    ]
    assert decoder.close() == []
    assert decoder.unterminated == b'data: {"type":"te'


def test_close_after_a_complete_stream_returns_nothing() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: x\n\n")
    assert decoder.close() == []
    assert decoder.unterminated == b""
