"""``adapter: http`` as a user meets it: pytest runs of suites against the reference agent, its
Robofy endpoints described in convtest.yaml by templates and dotted paths alone."""

from __future__ import annotations

import textwrap

import pytest

from convtest.server import ReferenceServer

#: the reference agent's two chat endpoints as generic HTTP targets
CONFIG = """
targets:
  chat-json:
    adapter: http
    base_url: {url}
    token: ${{BOT_TOKEN}}
    request:
      path: /v1/ai-agent/chat
      body:
        query: "{{{{ user }}}}"
        pid: p1
        chatbot_id: c1
        user_context: {{session_id: "{{{{ session_id }}}}", platform: "{{{{ platform }}}}"}}
    format: json                   # the defaults of response_fields fit the reference's answer
  chat-stream:
    adapter: http
    base_url: {url}
    token: ${{BOT_TOKEN}}
    request:
      path: /v1/ai-agent/chat/stream
      headers: {{X-Turn: "{{{{ turn }}}}"}}
      body: '{{"query": {{{{ user | tojson }}}}, "pid": "p1", "chatbot_id": "c1",
        "user_context": {{"session_id": {{{{ session_id | tojson }}}}, "platform": "web"}}}}'
    format: sse
    events:                        # the UI message stream, read event by event
      text: {{path: data.delta, when: {{data.type: text-delta}}}}
      tool_call: {{path: data, when: {{data.type: [tool-input-available, tool-output-available]}}}}
      finish_reason: {{path: data.finishReason, when: {{data.type: finish}}}}
      session_id: {{path: data.data, when: {{data.type: data-session}}}}
      error: {{path: data.errorText, when: {{data.type: error}}}}
    response_fields: {{tool_id: toolCallId, tool_name: toolName}}
"""

SUITE = """
conversations:
  - name: remembers the name
    turns:
      - user: "Hi, my name is Ada"
        expect:
          text: {starts_with: "Nice to meet you", contains: Ada}
          finish_reason: stop
      - user: "What is my name?"
        expect:
          text: {equals: "Your name is Ada."}
  - name: looks up an order
    turns:
      - user: "Where is my order 1234?"
        expect:
          tool_calls:
            - {name: lookup_order, input: {order_id: "1234"}, output: {status: shipped}}
        save:
          tracking: {from: text, regex: 'tracking number is (\\w+)'}
      - user: "Please resend tracking {{ tracking }}"
        expect:
          text: {contains: "{{ tracking }}"}
  - name: wrong expectation
    turns:
      - user: "Hello"
        expect:
          text: {contains: Goodbye}
"""


@pytest.fixture
def http_targets(
    pytester: pytest.Pytester, reference_server: ReferenceServer, monkeypatch: pytest.MonkeyPatch
) -> pytest.Pytester:
    pytester.path.joinpath("convtest.yaml").write_text(CONFIG.format(url=reference_server.url), "utf-8")
    pytester.path.joinpath("chat.yaml").write_text(textwrap.dedent(SUITE), "utf-8")
    monkeypatch.setenv("BOT_TOKEN", "test-token")
    return pytester


@pytest.mark.parametrize("target", ["chat-json", "chat-stream"])
def test_suite_passes_and_fails_through_the_http_adapter(http_targets: pytest.Pytester, target: str) -> None:
    result = http_targets.runpytest("--convtest-target", target)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "*conversation 'wrong expectation' failed at turn 1 of 1 (chat.yaml:23)*",
            f"*target: {target} · session *",
            "*bot:  Hello! How can I help you today?*",
            '*expected text contains "Goodbye"  (chat.yaml:27)*',
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_rejected_token_names_its_env_var(
    http_targets: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOT_TOKEN", "wrong-token")
    result = http_targets.runpytest("--convtest-target", "chat-stream", "-k", "wrong")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*HTTP 401 from http://127.0.0.1:*/v1/ai-agent/chat/stream*$BOT_TOKEN*"])
    assert "wrong-token" not in result.stdout.str()


def test_unknown_template_name_is_reported_at_the_targets_line(pytester: pytest.Pytester) -> None:
    pytester.path.joinpath("convtest.yaml").write_text(
        "targets:\n  bot:\n    adapter: http\n    request:\n      url: http://127.0.0.1:9/chat\n"
        "      body: {q: '{{ usr }}'}\n",
        "utf-8",
    )
    pytester.path.joinpath("chat.yaml").write_text(textwrap.dedent(SUITE), "utf-8")
    result = pytester.runpytest("--convtest-target", "bot")
    result.stderr.fnmatch_lines(
        ["*convtest.yaml:2: target 'bot': `request.body.q`: unknown name `usr` — did you mean `user`?*"]
    )
    assert "Traceback" not in result.stdout.str() + result.stderr.str()
