"""The secrets audit (issue 14): a bot that echoes every secret back, in every way, leaks none.

Secrets are planted in every place convtest takes one from: the target's token, a header, a
part of ``base_url``, ``pid``, ``chatbot_id``, the endpoint ``path``, the handshake's body, the
client token the handshake hands out, and ``env`` values read by templates (one printed through
``| upper``, one read only by a check). The bot of :mod:`hostile_echo` sends them all back as error
bodies, HTML pages, stream text, reasoning, tool inputs and outputs, error chunks, a malformed
event, a stream cut in the middle of one, written across each length at which convtest cuts
text. pytest then runs the suites in a subprocess with everything that writes output turned on,
and every file it leaves behind is searched for each secret and each 8-character piece of one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hostile_echo import HANDSHAKE_ONLY, MODES, EchoServer

#: the shortest piece of a secret that counts as a leak
PIECE = 8

#: ``${VAR}`` values of convtest.yaml and ``env`` values of templates, by variable
ENVIRONMENT = {
    "AUDIT_TOKEN": "tok-Qv7rZp2LmX9sK4wB8nHc",
    "AUDIT_HEADER": "hdr-Jd3fT6yUe1oP5aGq0zRv",
    "AUDIT_TENANT": "tenant-Wm8cN2xBh7kL4sYq",
    "AUDIT_PID": "pid-Ex5rV9tZo3nM6dHj",
    "AUDIT_BOT": "bot-Gk1wQ4pS8uC2fLy7",
    "AUDIT_PATH": "route-Ha6bJ0vX3mT9eRn",
    "AUDIT_HS": "hs-Uz4yK7cD1gW5qNp8",
    "AUDIT_ENV": "env-Lf2sO9aI6rB3tVx0",
    "AUDIT_LOUD": "loud-mk4pq8zt2wx6nb",
    "AUDIT_EXPECT": "exp-Ry7uE2hN5jC8dZk1",
}
CLIENT_TOKEN = "ct-Nb5vF8qW1eT4yU7iO0pA"
#: what a template prints from AUDIT_LOUD: a secret in another form
LOUD = ENVIRONMENT["AUDIT_LOUD"].upper()
PLANTED = {**ENVIRONMENT, "client token": CLIENT_TOKEN, "AUDIT_LOUD | upper": LOUD}

CONFIG = """\
default_target: bearer
targets:
  bearer:
    base_url: http://127.0.0.1:{port}/${{AUDIT_TENANT}}
    token: ${{AUDIT_TOKEN}}
    headers: {{X-Api-Key: "${{AUDIT_HEADER}}"}}
    pid: ${{AUDIT_PID}}
    chatbot_id: ${{AUDIT_BOT}}
    path: /chat/${{AUDIT_PATH}}/stream
    timeouts: {{connect: 5, first_byte: 10, idle: 10, total: 20}}
  widget:
    base_url: http://127.0.0.1:{port}/${{AUDIT_TENANT}}
    token: ${{AUDIT_TOKEN}}
    headers: {{X-Api-Key: "${{AUDIT_HEADER}}"}}
    path: /chat/${{AUDIT_PATH}}/stream
    pid: ${{AUDIT_PID}}
    chatbot_id: ${{AUDIT_BOT}}
    timeouts: {{connect: 5, first_byte: 10, idle: 10, total: 20}}
    auth:
      handshake:
        path: /handshake
        body: {{secret: "${{AUDIT_HS}}", pid: "${{AUDIT_PID}}"}}
"""

USER = "{mode} focus={focus} for {{{{ env.AUDIT_ENV }}}} and {{{{ env.AUDIT_LOUD | upper }}}}"
EXPECT = """\
        expect:
          text: {contains: "never {{ env.AUDIT_EXPECT }}", not_contains: "yyyy"}
          tool_calls: {called: {name: lookup, input: {q: "{{ env.AUDIT_EXPECT }}"}}}"""
#: the secrets each target's conversations put across the cuts, one conversation per mode each
FOCUS = {
    "bearer": [name for name in PLANTED if name not in HANDSHAKE_ONLY],
    "widget": list(HANDSHAKE_ONLY),
}
CONVERSATIONS = sum(len(MODES) * len(names) for names in FOCUS.values())


def suite(target: str) -> str:
    lines = ["conversations:"]
    for focus in FOCUS[target]:
        for mode in MODES:
            user = USER.format(mode=mode, focus=focus.replace(" ", "+"))
            lines += [
                f"  - name: {mode} on {target} ({focus})",
                f"    target: {target}",
                "    turns:",
                f'      - user: "{user}"',
                EXPECT,
            ]
    user = USER.format(mode="text", focus=FOCUS[target][0])
    lines += [
        f"  - name: golden on {target}",
        f"    target: {target}",
        "    golden: true",
        "    turns:",
        f'      - user: "{user}"',
        '        expect: {text: {not_contains: "{{ env.AUDIT_EXPECT }}-never"}}',
    ]
    return "\n".join(lines) + "\n"


@pytest.fixture
def bot() -> Iterator[EchoServer]:
    with EchoServer(PLANTED, CLIENT_TOKEN) as server:
        yield server


def pieces(secret: str) -> set[str]:
    return {secret[start : start + PIECE] for start in range(len(secret) - PIECE + 1)} | {secret}


def leaks(text: str) -> dict[str, list[str]]:
    """Each planted secret with the pieces of it that ``text`` holds."""
    found = {name: sorted(p for p in pieces(secret) if p in text) for name, secret in PLANTED.items()}
    return {name: hits for name, hits in found.items() if hits}


def outputs(root: Path) -> Iterator[tuple[str, str]]:
    """Every file the runs left (junit, report, goldens, pytest's cache, logs), as text; the
    suites and convtest.yaml too, which name variables, never values."""
    for path in sorted(root.rglob("*")):
        if path.is_file():
            yield str(path.relative_to(root)), path.read_text("utf-8", "replace")


def run_audit(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, port: int) -> list[tuple[str, str]]:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    pytester.path.joinpath("convtest.yaml").write_text(CONFIG.format(port=port))
    suites = pytester.path / "suites"
    suites.mkdir()
    suites.joinpath("audit_bearer.yaml").write_text(suite("bearer"))
    suites.joinpath("audit_widget.yaml").write_text(suite("widget"))
    written: list[tuple[str, str]] = []
    common = ["-vv", "-rA", "--log-level=DEBUG", "-o", "log_cli=true", "-o", "junit_logging=all", "suites"]
    # the second run under pytest-xdist: failures and results travel from workers as plain text
    for run, extra in (("update", ["--update-goldens"]), ("compare", ["-n", "2"])):
        result = pytester.runpytest_subprocess(
            *common,
            f"--junitxml=junit-{run}.xml",
            f"--convtest-report=report-{run}.html",
            f"--log-file={run}.log",
            "--log-file-level=DEBUG",
            *extra,
        )
        written.append((f"terminal ({run})", "\n".join(result.outlines + result.errlines)))
        if os.environ.get("CONVTEST_AUDIT_VERBOSE"):
            Path(os.environ["CONVTEST_AUDIT_VERBOSE"], f"terminal-{run}.txt").write_text(written[-1][1])
        assert result.ret == pytest.ExitCode.TESTS_FAILED, "\n".join(result.outlines[-30:])
        outcomes = result.parseoutcomes()
        # the goldens pass when written; on the next run the bot echoes more than it had (the
        # first run's requests), so they may fail and print a golden diff: one more output
        assert outcomes["failed"] + outcomes.get("passed", 0) == CONVERSATIONS + 2, outcomes
        assert outcomes["failed"] >= CONVERSATIONS
    return written


def test_no_secret_echoed_by_a_hostile_bot_reaches_any_output(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, bot: EchoServer
) -> None:
    monkeypatch.delenv("PYTEST_ADDOPTS", raising=False)
    terminal = run_audit(pytester, monkeypatch, bot.port)
    files = list(outputs(pytester.path))
    names = [name for name, _ in files]
    # every kind of output was written, so each was searched
    assert any(name.startswith(".pytest_cache/") for name in names), names
    assert any("__goldens__" in name for name in names), names
    assert {"junit-update.xml", "report-update.html", "update.log", "report-compare.html"} <= set(names)
    # the bot did receive every secret it was meant to echo (else the audit proves nothing)
    received = " ".join(bot.received)
    unsent = [name for name, secret in PLANTED.items() if secret not in received]
    assert unsent == ["AUDIT_LOUD", "AUDIT_EXPECT"]  # sent upper-cased; read by a check only
    everything = terminal + files
    assert re.search(r"\*\*\*", "".join(text for _, text in terminal)), "nothing was redacted at all?"
    found = {name: leaks(text) for name, text in everything}
    found = {name: hits for name, hits in found.items() if hits}
    report_counts(len(PLANTED), found, len(everything))
    assert found == {}
    assert not any("\x1b" in text for _, text in everything)


def report_counts(planted: int, found: dict[str, dict[str, list[str]]], searched: int) -> None:
    """The numbers of the README's table, printed for ``pytest -s``."""
    leaked = {secret for hits in found.values() for secret in hits}
    print(f"\nsecrets audit: {planted} planted, {len(leaked)} found, in {searched} outputs searched")
    if os.environ.get("CONVTEST_AUDIT_VERBOSE"):
        for name, hits in found.items():
            print(name, sorted(hits))
