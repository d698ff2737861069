"""The reference agent's tools: they really run, so tool outputs in a stream are computed, not canned.

The data they read (orders table, help-center articles) comes from ``agent.yaml`` through
:meth:`Toolbox.from_config`; the tools never touch files themselves.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Article", "CalculationError", "ToolError", "Toolbox", "calculate"]

#: Longest expression ``calculate`` accepts; bounds parse time and nesting depth.
MAX_EXPRESSION_LENGTH = 200
#: Largest magnitude a result may reach, so ``9 ** 9 ** 9`` cannot stall the server.
_MAX_MAGNITUDE = 10**300
_MAX_RESULTS = 3

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.USub: operator.neg, ast.UAdd: operator.pos}


class CalculationError(ValueError):
    """An expression ``calculate`` refuses; the message becomes the tool's ``error`` output."""


class ToolError(RuntimeError):
    """A tool that failed to run at all: streamed as ``tool-output-error`` with this message."""


def calculate(expression: str) -> dict[str, Any]:
    """Evaluate arithmetic safely: numbers, + - * / // % **, parentheses and signs, nothing else.

    Returns ``{"result": n}`` or ``{"error": reason}``; an integral float comes back as an int so
    that ``10 / 5`` reads ``2``, and float noise is rounded away (``0.1 + 0.2`` gives ``0.3``).
    """
    try:
        value = _evaluate(expression)
    except ZeroDivisionError:
        return {"error": "division by zero"}
    except CalculationError as exc:
        return {"error": str(exc)}
    return {"result": _tidy(value)}


def _evaluate(expression: str) -> int | float:
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise CalculationError("expression too long")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise CalculationError("invalid expression") from None
    return _node_value(tree.body)


def _node_value(node: ast.expr) -> int | float:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise CalculationError("invalid expression")
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _checked(_UNARY[type(node.op)](_node_value(node.operand)))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _node_value(node.left), _node_value(node.right)
        if isinstance(node.op, ast.Pow):
            _check_power(left, right)
        try:
            return _checked(_BINARY[type(node.op)](left, right))
        except OverflowError:
            raise CalculationError("result too large") from None
    raise CalculationError("invalid expression")


def _check_power(base: int | float, exponent: int | float) -> None:
    """Refuse a power before computing it when its result would be astronomically large."""
    # Float powers overflow on their own (OverflowError); only int ** positive int grows unbounded.
    growing = isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1
    if growing and exponent * math.log10(abs(base)) > 300:
        raise CalculationError("result too large")


def _checked(value: Any) -> int | float:
    if isinstance(value, complex):
        raise CalculationError("result is not a real number")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculationError("result too large")
    if abs(value) > _MAX_MAGNITUDE:
        raise CalculationError("result too large")
    result: int | float = value
    return result


def _tidy(value: int | float) -> int | float:
    if isinstance(value, int):
        return value
    rounded = round(value, 10)
    return int(rounded) if rounded.is_integer() and abs(rounded) < 2**53 else rounded


@dataclass(frozen=True, slots=True)
class Article:
    """A help-center article; ``keywords`` decide whether it answers a query."""

    id: str
    title: str
    snippet: str
    keywords: tuple[str, ...]


class Toolbox:
    """The tools bound to the agent's knowledge, callable by name as a model would call them."""

    def __init__(self, orders: Mapping[str, Mapping[str, str]], articles: Sequence[Article]) -> None:
        self._orders = {order_id: dict(fields) for order_id, fields in orders.items()}
        self._articles = tuple(articles)
        self._keyword_patterns = tuple(
            tuple(
                (re.compile(rf"\b{re.escape(keyword)}\b", re.IGNORECASE), len(keyword.split()))
                for keyword in article.keywords
            )
            for article in self._articles
        )
        self._tools: dict[str, Callable[[Mapping[str, Any]], dict[str, Any]]] = {
            "lookup_order": lambda args: self.lookup_order(str(args["order_id"])),
            "calculate": lambda args: calculate(str(args["expression"])),
            "search_kb": lambda args: self.search_kb(str(args["query"])),
            "check_stock": lambda args: self.check_stock(str(args["product"])),
        }

    @classmethod
    def from_config(cls, orders: Any, articles: Any) -> Toolbox:
        """Build from the ``orders`` and ``knowledge_base`` sections of ``agent.yaml``, checking types."""
        if not isinstance(orders, dict) or not all(isinstance(v, dict) for v in orders.values()):
            raise ValueError("'orders' must map order ids to tables of fields")
        if not isinstance(articles, list):
            raise ValueError("'knowledge_base' must be a list of articles")
        table = {str(k): {str(f): str(v) for f, v in fields.items()} for k, fields in orders.items()}
        return cls(table, [_article(entry) for entry in articles])

    @property
    def orders(self) -> Mapping[str, Mapping[str, str]]:
        return self._orders

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._tools)

    def call(self, name: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Run the tool ``name`` with the input a model would send; unknown names are a bug."""
        return self._tools[name](arguments)

    def lookup_order(self, order_id: str) -> dict[str, Any]:
        """The order's row from the table, or ``{"found": false, "order_id": ...}``."""
        fields = self._orders.get(order_id)
        if fields is None:
            return {"found": False, "order_id": order_id}
        return {"found": True, "order_id": order_id, **fields}

    def check_stock(self, product: str) -> dict[str, Any]:
        """The inventory service is always down here, so suites can see a tool fail."""
        raise ToolError(f"inventory service unavailable (HTTP 503) while checking {product!r}")

    def search_kb(self, query: str) -> dict[str, Any]:
        """Articles whose keywords occur in ``query``, best first (ties keep file order)."""
        scored = []
        for index, patterns in enumerate(self._keyword_patterns):
            score = sum(weight for pattern, weight in patterns if pattern.search(query))
            if score:
                scored.append((-score, index))
        best = [self._articles[index] for _, index in sorted(scored)[:_MAX_RESULTS]]
        return {"articles": [{"id": a.id, "title": a.title, "snippet": a.snippet} for a in best]}


def _article(entry: Any) -> Article:
    if not isinstance(entry, dict):
        raise ValueError("each knowledge_base entry must be a mapping")
    try:
        keywords = entry["keywords"]
        if not isinstance(keywords, list) or not keywords:
            raise ValueError(f"article {entry.get('id')!r} needs a non-empty keywords list")
        return Article(
            str(entry["id"]), str(entry["title"]), str(entry["snippet"]), tuple(map(str, keywords))
        )
    except KeyError as exc:
        raise ValueError(f"article {entry.get('id')!r} is missing {exc.args[0]!r}") from None
