"""The scripted reference agent and its tools, without HTTP: exact replies, tool calls, memory."""

from __future__ import annotations

from pathlib import Path

import pytest

from convtest.server.agent import (
    DEFAULT_AGENT_FILE,
    Agent,
    AgentFileError,
    Reply,
    SessionState,
    Step,
    ToolCall,
)
from convtest.server.tools import calculate

GREETING = "Hello! How can I help you today?"
REFUSAL = "I'm sorry, but I can only help with orders, returns and questions about our store."
FALLBACK = (
    "I'm not sure I understood that. I can help with orders, returns, shipping and simple calculations."
)
SHIPPED_1234 = (
    "Your order 1234 has shipped and is on its way with UPS. The tracking number is ZX81TRACK. "
    "It should arrive by 2026-12-02."
)
PROCESSING_5678 = "Your order 5678 is being processed and should ship soon. Expected delivery is 2026-12-05."
OUTPUT_1234 = {
    "found": True,
    "order_id": "1234",
    "status": "shipped",
    "carrier": "UPS",
    "tracking_number": "ZX81TRACK",
    "eta": "2026-12-02",
}


@pytest.fixture(scope="module")
def agent() -> Agent:
    return Agent.from_file()


def converse(agent: Agent, *messages: str) -> list[Reply]:
    """Send messages in one fresh session, as a conversation does."""
    state = SessionState()
    return [agent.respond(state, message) for message in messages]


def say(agent: Agent, message: str) -> Reply:
    return converse(agent, message)[0]


@pytest.mark.parametrize(
    ("message", "intent", "text"),
    [
        ("hi", "greeting", GREETING),
        ("Hello there", "greeting", GREETING),
        ("HEY", "greeting", GREETING),
        ("thanks, bye!", "thanks", "You're welcome! Have a great day."),
        ("Thank you", "thanks", "You're welcome! Have a great day."),
        ("What's the weather like?", "out_of_scope", REFUSAL),
        ("Should I invest in stocks?", "out_of_scope", REFUSAL),
        ("Who will win the election?", "out_of_scope", REFUSAL),
        ("Can you give me medical advice?", "out_of_scope", REFUSAL),
        ("Tell me a joke", "out_of_scope", REFUSAL),
        ("¿Hablas español?", "spanish", "¡Claro! Puedo ayudarte en español. 🙂"),
        ("Can we talk in español", "spanish", "¡Claro! Puedo ayudarte en español. 🙂"),
        (
            "resend tracking ZX81TRACK",
            "resend_tracking",
            "Done! I've resent tracking number ZX81TRACK to the email on file.",
        ),
        (
            "please resend the tracking number 1Z999AA10123456784",
            "resend_tracking",
            "Done! I've resent tracking number 1Z999AA10123456784 to the email on file.",
        ),
        ("Please resend my tracking", "resend_tracking", "Which tracking number should I resend?"),
        ("asdf qwerty", "fallback", FALLBACK),
        ("I am looking for help", "fallback", FALLBACK),
        ("do you sell kayaks?", "fallback", FALLBACK),
    ],
)
def test_text_only_intents_give_their_exact_reply_without_tools(
    agent: Agent, message: str, intent: str, text: str
) -> None:
    reply = say(agent, message)
    assert (reply.intent, reply.text) == (intent, text)
    assert reply.steps[0].tool_calls == ()
    assert len(reply.steps) == 1
    assert (reply.finish_reason, reply.raw_finish_reason) == ("stop", "STOP")


@pytest.mark.parametrize(
    "message", ["Hi, my name is Ana", "hello, I'm Ana", "I am Ana", "call me Ana", "my name is ana!"]
)
def test_introduction_is_remembered_and_recalled(agent: Agent, message: str) -> None:
    intro, recall = converse(agent, message, "what is my name?")
    assert intro.text == "Nice to meet you, Ana! How can I help you today?"
    assert recall.text == "Your name is Ana."


@pytest.mark.parametrize("question", ["What's my name?", "do you remember my name", "WHAT IS MY NAME"])
def test_unknown_name_is_asked_for(agent: Agent, question: str) -> None:
    assert say(agent, question).text == "I don't know your name yet. What should I call you?"


@pytest.mark.parametrize(
    "message",
    ["where is my order 1234", "order 1234", "status of order #1234", "track order 1234", "ORDER 1234"],
)
def test_order_status_looks_the_order_up_then_answers_from_the_output(agent: Agent, message: str) -> None:
    reply = say(agent, message)
    assert reply.intent == "order_status"
    assert len(reply.steps) == 2
    assert reply.steps[0].tool_calls == (ToolCall("lookup_order", {"order_id": "1234"}, OUTPUT_1234),)
    assert reply.steps[0].text is None
    assert reply.steps[1] == Step(text=SHIPPED_1234)


@pytest.mark.parametrize(
    ("order_id", "text"),
    [
        ("5678", PROCESSING_5678),
        ("4321", "Your order 4321 was delivered on 2026-11-28."),
        ("9999", "I couldn't find an order with number 9999. Please check the number and try again."),
    ],
)
def test_each_order_status_has_its_sentence(agent: Agent, order_id: str, text: str) -> None:
    assert say(agent, f"where is my order {order_id}?").text == text


def test_unknown_order_output_says_not_found(agent: Agent) -> None:
    (call,) = say(agent, "order 9999").tool_calls
    assert call.output == {"found": False, "order_id": "9999"}


def test_order_without_number_uses_the_remembered_one(agent: Agent) -> None:
    _, again = converse(agent, "track order 5678", "where is my order?")
    assert again.tool_calls == (
        ToolCall("lookup_order", {"order_id": "5678"}, agent.toolbox.lookup_order("5678")),
    )
    assert again.text == PROCESSING_5678


def test_order_without_any_number_asks_for_it_without_a_tool_call(agent: Agent) -> None:
    reply = say(agent, "where is my order?")
    assert reply.text == "Could you tell me your order number?"
    assert reply.tool_calls == ()


@pytest.mark.parametrize("message", ["compare orders 1234 and 5678", "status of orders 1234 and 5678"])
def test_two_orders_are_looked_up_in_one_step_and_summarised_once(agent: Agent, message: str) -> None:
    reply = say(agent, message)
    assert [call.input for call in reply.steps[0].tool_calls] == [{"order_id": "1234"}, {"order_id": "5678"}]
    assert [step.text for step in reply.steps] == [None, f"{SHIPPED_1234} {PROCESSING_5678}"]


@pytest.mark.parametrize(
    ("message", "expression", "text"),
    [
        ("what is 12 * 7", "12 * 7", "12 * 7 = 84."),
        ("What's 12 * 7?", "12 * 7", "12 * 7 = 84."),
        ("calculate (3 + 4) * 2", "(3 + 4) * 2", "(3 + 4) * 2 = 14."),
        ("calculate 10 / 4", "10 / 4", "10 / 4 = 2.5."),
        ("what is 1 / 0", "1 / 0", "I can't divide by zero. Could you check the numbers?"),
        (
            "calculate two plus two",
            "two plus two",
            "I couldn't calculate that. I can work with numbers, + - * / // % ** and parentheses.",
        ),
    ],
)
def test_arithmetic_goes_through_the_calculate_tool(
    agent: Agent, message: str, expression: str, text: str
) -> None:
    reply = say(agent, message)
    (call,) = reply.steps[0].tool_calls
    assert (call.name, call.input, call.output) == (
        "calculate",
        {"expression": expression},
        calculate(expression),
    )
    assert reply.steps[1].text == text


@pytest.mark.parametrize(
    ("message", "query", "text"),
    [
        (
            "What is your return policy?",
            "return policy",
            "You can return any item within 30 days of delivery for a full refund.",
        ),
        (
            "Can I get a refund?",
            "refund",
            "Refunds go back to your original payment method within 5 business days"
            " of us receiving the item.",
        ),
        (
            "How long does delivery take?",
            "delivery times",
            "Standard delivery takes 3-5 business days; express delivery takes 1-2 business days.",
        ),
        (
            "Do you offer free shipping?",
            "shipping",
            "We ship with UPS and DHL. Standard shipping is free on orders over $50.",
        ),
        (
            "Is there a warranty?",
            "warranty",
            "Every product comes with a 2-year warranty that covers manufacturing defects.",
        ),
    ],
)
def test_store_questions_search_the_knowledge_base(agent: Agent, message: str, query: str, text: str) -> None:
    reply = say(agent, message)
    (call,) = reply.steps[0].tool_calls
    assert (call.name, call.input) == ("search_kb", {"query": query})
    assert call.output["articles"][0]["snippet"] == text
    assert reply.text == text


@pytest.mark.parametrize("message", ["Tell me everything about your company", "write a long story"])
def test_long_answers_stop_mid_sentence_at_the_length_limit(agent: Agent, message: str) -> None:
    reply = say(agent, message)
    assert (reply.finish_reason, reply.raw_finish_reason) == ("length", "MAX_TOKENS")
    assert len(reply.text.split()) >= 60
    assert reply.text[-1].isalpha()


def test_replies_are_deterministic_and_turns_are_counted(agent: Agent) -> None:
    state = SessionState()
    first, second = agent.respond(state, "order 1234"), agent.respond(state, "order 1234")
    assert first == second
    assert state == SessionState(last_order_id="1234", turns=2)


def test_default_file_is_the_packaged_agent_yaml(agent: Agent) -> None:
    assert Path(__file__).parents[2] / "convtest" / "server" / "agent.yaml" == DEFAULT_AGENT_FILE
    assert say(Agent.from_file(DEFAULT_AGENT_FILE), "hi") == say(agent, "hi")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("intents: [{name: x, patterns: ['('], replies: {text: t}}]\nfallback: f", "intent 'x': bad pattern"),
        ("intents: [{name: x, patterns: [a], replies: {}}]\nfallback: f", "needs replies ['text']"),
        (
            "intents: [{name: x, action: fly, patterns: [a], replies: {text: t}}]\nfallback: f",
            "unknown action",
        ),
        ("intents: [{name: x, patterns: [a], replies: {text: t}}]", "'fallback'"),
        (
            "intents: [{name: o, action: order_status, order_id_pattern: '(\\d+)', patterns: [a],"
            " replies: {not_found: n, ask_number: a}}]\nfallback: f\norders: {'1': {status: lost}}",
            "order '1' (status 'lost') has no reply",
        ),
    ],
)
def test_a_broken_agent_file_fails_at_load_naming_the_problem(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(AgentFileError, match=r"agent\.yaml") as info:
        Agent.from_file(path)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("12 * 7", 84),
        ("(3 + 4) * 2", 14),
        ("-3 + 2", -1),
        ("-(2 + 3)", -5),
        ("+4", 4),
        ("2 ** 10", 1024),
        ("7 // 2", 3),
        ("7 % 4", 3),
        ("10 / 4", 2.5),
        ("10 / 5", 2),
        ("0.1 + 0.2", 0.3),
        ("2 ** -1", 0.5),
    ],
)
def test_calculate_evaluates_arithmetic(expression: str, result: float) -> None:
    output = calculate(expression)
    assert output == {"result": result}
    assert type(output["result"]) is type(result)


@pytest.mark.parametrize("expression", ["1 / 0", "7 // 0", "5 % 0", "0 ** -1"])
def test_calculate_reports_division_by_zero(expression: str) -> None:
    assert calculate(expression) == {"error": "division by zero"}


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("__import__('os').system('true')", "invalid expression"),
        ("x + 1", "invalid expression"),
        ("abs(-1)", "invalid expression"),
        ("(1).real", "invalid expression"),
        ("'a' * 3", "invalid expression"),
        ("True + 1", "invalid expression"),
        ("1 if 1 else 2", "invalid expression"),
        ("[1, 2]", "invalid expression"),
        ("1 +", "invalid expression"),
        ("", "invalid expression"),
        ("2j * 2", "invalid expression"),
        ("9 ** 9 ** 9", "result too large"),
        ("10.0 ** 400", "result too large"),
        ("(-8) ** 0.5", "result is not a real number"),
        ("1" + " + 1" * 100, "expression too long"),
    ],
)
def test_calculate_refuses_anything_but_bounded_arithmetic(expression: str, error: str) -> None:
    assert calculate(expression) == {"error": error}


def test_lookup_order_returns_the_row_or_not_found(agent: Agent) -> None:
    assert agent.toolbox.lookup_order("1234") == OUTPUT_1234
    assert agent.toolbox.lookup_order("0000") == {"found": False, "order_id": "0000"}


def test_search_kb_ranks_by_keyword_and_finds_nothing_for_unrelated_queries(agent: Agent) -> None:
    ranked = agent.toolbox.search_kb("return policy")["articles"]
    assert [article["id"] for article in ranked] == ["kb-returns"]
    assert set(ranked[0]) == {"id", "title", "snippet"}
    assert agent.toolbox.search_kb("shipping delivery times")["articles"][0]["id"] == "kb-delivery"
    assert agent.toolbox.search_kb("quantum physics") == {"articles": []}


def test_tools_are_callable_by_name_with_model_style_input(agent: Agent) -> None:
    assert agent.toolbox.call("calculate", {"expression": "6 * 7"}) == {"result": 42}
    assert agent.toolbox.call("lookup_order", {"order_id": "1234"}) == OUTPUT_1234
    assert agent.toolbox.names == ("lookup_order", "calculate", "search_kb", "check_stock")
