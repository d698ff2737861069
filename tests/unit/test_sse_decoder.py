"""The SSE decoder gives the same events for every way the byte stream can be cut."""

from __future__ import annotations

import pytest

from convtest.stream import ServerSentEvent, SSEDecoder, preview, preview_bytes

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


def test_close_keeps_an_event_missing_only_its_blank_line_apart_without_dispatching_it() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"id: 3\nevent: note\ndata: a\ndata: b\r\n") == []
    assert decoder.close() == []
    assert decoder.unended == ServerSentEvent("a\nb", "note", "3")
    assert decoder.unterminated == b""


@pytest.mark.parametrize("ending", [b"", b"\n", b"\r\n", b"\r"])
def test_a_stream_ending_on_a_blank_line_leaves_nothing_unended(ending: bytes) -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: x\n" + (b"\n" + ending if ending else b"\n")) == [ServerSentEvent("x")]
    assert decoder.close() == [] and decoder.unended is None


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


# --- max_event_bytes: an event larger than the limit is never held whole -----------------------------

#: its events' lines add up to 14 bytes (the BOM counts), 15 (the comment counts), then 20
WITHIN = b"\xef\xbb\xbfdata: first\r\n\r\n: note\ndata: 2nd\r\n\ndata: 12345678901234\n\n"


def decode_limited(limit: int, *chunks: bytes) -> tuple[list[ServerSentEvent], SSEDecoder]:
    decoder = SSEDecoder(limit)
    events = [event for chunk in chunks for event in decoder.feed(chunk)]
    return events + decoder.close(), decoder


def test_an_event_within_the_limit_passes_and_one_over_it_is_named_at_every_split() -> None:
    # every event of WITHIN is at most 20 bytes (its lines, line breaks not counted)
    for cut in range(len(WITHIN) + 1):
        events, decoder = decode_limited(20, WITHIN[:cut], WITHIN[cut:])
        assert [event.data for event in events] == ["first", "2nd", "12345678901234"], f"split at {cut}"
        assert decoder.too_large is None
    for cut in range(len(WITHIN) + 1):
        events, decoder = decode_limited(19, WITHIN[:cut], WITHIN[cut:])
        assert [event.data for event in events] == ["first", "2nd"], f"split at {cut}"
        assert decoder.too_large == 3, f"split at {cut}"


def test_after_an_event_over_the_limit_nothing_more_is_dispatched() -> None:
    stream = b"data: a\n\n" + b"data: " + b"x" * 100 + b"\n\ndata: b\n\n"
    for cut in range(len(stream) + 1):
        events, decoder = decode_limited(50, stream[:cut], stream[cut:])
        assert events == [ServerSentEvent("a")] and decoder.too_large == 2, f"split at {cut}"
    assert decoder.feed(b"data: c\n\n") == [] and decoder.unterminated == b""


def test_a_line_without_end_is_dropped_at_the_limit_not_buffered() -> None:
    decoder = SSEDecoder(1000)
    assert decoder.feed(b"data: ok\n\ndata: ") == [ServerSentEvent("ok")]
    for _ in range(1000):
        assert decoder.feed(b"y" * 997) == []
        assert sum(map(len, decoder._tail)) <= 1000
    assert decoder.too_large == 2


def test_keep_alive_comments_between_events_never_add_up() -> None:
    # each comment block ends with a blank line, so none is larger than the limit
    events, decoder = decode_limited(20, b": keep-alive\n\n" * 1000, b"data: x\n\n")
    assert events == [ServerSentEvent("x")] and decoder.too_large is None


def test_endless_comments_without_a_blank_line_count_as_one_event() -> None:
    events, decoder = decode_limited(100, b": keep-alive\n" * 1000)
    assert events == [] and decoder.too_large == 1


def test_without_a_limit_a_large_event_passes() -> None:
    assert decode(b"data: " + b"x" * 3_000_000 + b"\n\n") == [ServerSentEvent("x" * 3_000_000)]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"short",
        b"a" * 324,
        b"a" * 325,
        "é😀你".encode() * 200,
        b"\xff" * 1000,
        "😀".encode() * 81 + b"\xf0\x9f",
    ],
)
def test_preview_of_bytes_is_the_preview_of_their_text(data: bytes) -> None:
    for limit in (80, 120):
        assert preview_bytes(data, limit) == preview(data.decode("utf-8", "replace"), limit)


def test_preview_of_a_long_line_counts_its_characters_without_decoding_it_whole() -> None:
    line = "ü".encode() * 3_000_000
    assert preview_bytes(line, 80) == repr("ü" * 80) + "... (3000000 chars)"


@pytest.mark.parametrize("prefix", [b"data: ", b"data:", b"data:  "])
def test_a_long_data_line_is_decoded_alike_wherever_it_is_cut(prefix: bytes) -> None:
    # past 64 KiB a data line is decoded in place rather than sliced: same text, same replacements
    text = "é😀x" * 20_000 + "\ufffd"
    stream = prefix + text.encode()[:-3] + b"\xff\r\n\r\ndata: short\n\n"
    expected = [ServerSentEvent(prefix[5:].removeprefix(b" ").decode() + text), ServerSentEvent("short")]
    for cut in (1, 5, 6, 7, 1000, 65_537, len(stream) - 18, len(stream) - 16, len(stream) - 1):
        assert decode(stream[:cut], stream[cut:]) == expected, f"split at {cut}"
