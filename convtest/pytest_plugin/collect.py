"""pytest nodes: a suite file is a ``pytest.File``, each conversation one ``pytest.Item``.

The nodes only call the library and turn its result into pass/fail; ``repr_failure`` renders
convtest's own errors as plain lines and leaves real bugs their traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from convtest.exceptions import ConvtestError, SuiteError
from convtest.models import Conversation, InvalidConversation
from convtest.pytest_plugin.state import state_of
from convtest.pytest_plugin.wire import utf8_safe
from convtest.report.text import format_failure, format_invalid
from convtest.runner import ConversationResult
from convtest.sniff import wide_encoding
from convtest.suite.loader import load_suite

if TYPE_CHECKING:
    from _pytest._code.code import ExceptionInfo, TerminalRepr

__all__ = ["ConversationFailed", "ConversationItem", "InvalidItem", "SuiteFile"]


class ConversationFailed(ConvtestError):
    """Raised by an item whose conversation did not pass; carries the whole result."""

    def __init__(self, result: ConversationResult) -> None:
        self.result = result
        super().__init__(format_failure(result))


class SuiteFile(pytest.File):
    """A YAML suite; yields its conversations in file order, invalid ones as failing items."""

    def collect(self) -> Iterator[pytest.Item]:
        state = state_of(self.config)
        try:
            suite = load_suite(self.path, display_path=self._display_path(), limits=state.suite_limits)
        except SuiteError as error:
            yield InvalidItem.from_parent(self, name="<invalid suite>", entry=self._explained(error))
            return
        entries: list[Conversation | InvalidConversation] = [*suite.conversations, *suite.invalid]
        entries.sort(key=lambda entry: entry.location.line)
        for entry in entries:
            if isinstance(entry, InvalidConversation):
                yield InvalidItem.from_parent(self, name=entry.name, entry=entry)
            else:
                state.register_tags(entry.tags)
                yield ConversationItem.from_parent(self, name=entry.name, conversation=entry)

    def _explained(self, error: SuiteError) -> SuiteError:
        """A file in UTF-16 or UTF-32 (as some editors save) is said to be one."""
        try:
            encoding = wide_encoding(self.path.read_bytes()[:4])
        except OSError:
            encoding = None
        if encoding is None:
            return error
        return SuiteError(f"{error.message}: the file is {encoding}; save it as UTF-8", error.location)

    def _display_path(self) -> str:
        try:
            return str(self.path.relative_to(self.config.rootpath))
        except ValueError:
            return str(self.path)


class ConversationItem(pytest.Item):
    """One conversation; its turns run in order on one session of its target."""

    def __init__(self, *, conversation: Conversation, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.conversation = conversation
        self.result: ConversationResult | None = None
        for tag in conversation.tags:
            self.add_marker(tag)
        if conversation.skip is not None:
            self.add_marker(pytest.mark.skip(reason=conversation.skip))
        if conversation.xfail is not None:
            self.add_marker(pytest.mark.xfail(reason=conversation.xfail, raises=ConversationFailed))

    def runtest(self) -> None:
        """The golden is checked (and on update written) by the process that ran the conversation."""
        from convtest.golden.check import check_golden

        state = state_of(self.config)
        self.result = state.lookahead.result(self, self.conversation)
        self.result.golden = check_golden(self.result, self.path, update=state.update_goldens)
        if not self.result.passed:
            raise ConversationFailed(self.result)

    def repr_failure(self, excinfo: ExceptionInfo[BaseException], style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, ConvtestError):
            text: str = utf8_safe(str(excinfo.value))  # a bot's lone surrogate must reach the controller
            return text
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        return self.path, self.conversation.location.line - 1, f"conversation: {self.name}"


class InvalidItem(pytest.Item):
    """A conversation (or a whole file) that failed validation: it fails with the reasons, so
    the other suites and conversations still run."""

    def __init__(self, *, entry: InvalidConversation | SuiteError, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entry = entry

    def runtest(self) -> None:
        raise SuiteError(format_invalid(self.entry))

    def repr_failure(self, excinfo: ExceptionInfo[BaseException], style: Any = None) -> str | TerminalRepr:
        if isinstance(excinfo.value, SuiteError):
            return excinfo.value.message
        return super().repr_failure(excinfo, style)

    def reportinfo(self) -> tuple[Any, int | None, str]:
        line = self.entry.location.line - 1 if self.entry.location else None
        return self.path, line, f"invalid: {self.name}"
