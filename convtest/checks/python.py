"""``expect: {python: "mypkg.checks:polite"}``: a check written as the user's own Python function.

The function is imported when the suite loads (a missing module or function, or ``args`` its
parameters do not take, is reported at its line). It is called with the
:class:`~convtest.checks.base.CheckContext` (the turn's transcript, the conversation so far, the
template variables) and the ``args`` as keyword arguments. It passes by returning None or True,
and fails by returning False, a :class:`Verdict` or a ``(passed, message)`` pair, or by raising
``AssertionError``; any other exception fails the turn with the function's own traceback.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final

from convtest.checks.base import CheckContext, CheckKind, Failure
from convtest.exceptions import Location, TemplateRenderError
from convtest.templating import Template, render_value, templates_in

if TYPE_CHECKING:
    from convtest.suite.reader import Reader
    from convtest.suite.tree import Entry

__all__ = ["PYTHON", "PYTHON_KEYS", "PythonCheck", "Verdict", "import_function"]

PYTHON_KEYS: Final = frozenset({"check", "args"})
_INDENT: Final = " " * 10
#: ``file.py`` checks already executed, by path and modification time
_FILE_MODULES: dict[tuple[Path, int], ModuleType] = {}


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a check function may return to fail with a message of its own (or to pass)."""

    passed: bool
    message: str = ""


@dataclass(frozen=True, slots=True)
class PythonCheck:
    """A user's function, imported at load time, and its keyword arguments."""

    #: as written: ``mypkg.checks:polite`` or ``checks/polite.py:polite``
    reference: str
    function: Callable[..., Any] = field(compare=False)
    location: Location
    #: string leaves may be templates, rendered per turn
    args: Mapping[str, Any] = field(default_factory=dict)

    def evaluate(self, context: CheckContext) -> Sequence[Failure]:
        try:
            args = render_value(dict(self.args), context.variables)
        except TemplateRenderError as exc:
            failure = f"could not render its args: {exc}"
            return (Failure(self._describe(_sources(self.args)), failure, self.location),)
        try:
            outcome = self.function(context, **args)
        except AssertionError as exc:
            return (Failure(self._describe(args), _assertion_message(exc), self.location),)
        except Exception as exc:  # the user's code: show its own traceback, not ours
            return (Failure(self._describe(args), _raised(exc), self.location),)
        problem = _outcome_problem(outcome)
        return () if problem is None else (Failure(self._describe(args), problem, self.location),)

    def templates(self) -> Iterator[Template]:
        yield from templates_in(dict(self.args))

    def _describe(self, args: Mapping[str, Any]) -> str:
        """With the args as this turn rendered them, as a text check shows its operand."""
        shown = ", ".join(f"{name}={value!r}" for name, value in args.items())
        return f"python check {self.reference}" + (f"({shown})" if shown else "") + " holds"


def _sources(value: Any) -> Any:
    """Args whose templates could not be rendered, each shown as written."""
    if isinstance(value, Template):
        return value.source
    if isinstance(value, dict):
        return {key: _sources(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_sources(item) for item in value]
    return value


def _outcome_problem(outcome: Any) -> str | None:
    """None when the outcome is a pass; else what the failure says came instead."""
    if outcome is None or outcome is True:
        return None
    if outcome is False:
        return "it returned False"
    if isinstance(outcome, Verdict):
        return None if outcome.passed else outcome.message or "it returned a failing Verdict"
    if isinstance(outcome, tuple) and len(outcome) == 2 and isinstance(outcome[0], bool):
        return None if outcome[0] else str(outcome[1]) or "it returned (False, '')"
    return (
        f"it returned {type(outcome).__name__} {outcome!r:.60}; a check returns None or True to pass, "
        "False, a (passed, message) pair or convtest.checks.Verdict"
    )


def _user_frames(exc: BaseException) -> list[str]:
    """The traceback from the user's function down: the frame that called it is convtest's."""
    tb = exc.__traceback__.tb_next if exc.__traceback__ is not None else None
    return traceback.format_exception(type(exc), exc, tb)


def _raised(exc: Exception) -> str:
    lines = "".join(_user_frames(exc)).rstrip().splitlines()
    return f"it raised {type(exc).__name__}: {exc}\n" + "\n".join(_INDENT + line for line in lines)


def _assertion_message(exc: AssertionError) -> str:
    if str(exc):
        return str(exc)
    frames = traceback.extract_tb(exc.__traceback__)
    line = frames[-1].line if frames else None
    return f"assertion failed: {line}" if line else "assertion failed"


# --- loading -----------------------------------------------------------------------------------


def import_function(reference: str, folder: Path | None, *, allow_async: bool = False) -> Callable[..., Any]:
    """``module.path:function`` (importable, or a module beside the suite) or ``file.py:function``
    (relative to ``folder``, the suite's); raises ValueError saying what is wrong. A check must be
    a plain function; the ``python`` adapter's callable may be async (``allow_async``)."""
    target, colon, name = reference.rpartition(":")
    if not colon or not target or not name:
        raise ValueError("expected `module:function` or `path/to/file.py:function`")
    module = _load_module(target, folder, name)
    function = getattr(module, name, None)
    if function is None:
        names = sorted(attr for attr, value in vars(module).items() if inspect.isfunction(value))
        known = f" (functions: {', '.join(names)})" if names else ""
        raise ValueError(f"`{target}` has no function `{name}`{known}")
    if not callable(function):
        raise ValueError(f"`{target}:{name}` is a {type(function).__name__}, not a function")
    if inspect.iscoroutinefunction(function) and not allow_async:
        raise ValueError(f"`{target}:{name}` is async; a check function must be a plain function")
    return function  # type: ignore[no-any-return]


def _load_module(target: str, folder: Path | None, name: str) -> ModuleType:
    if target.endswith(".py"):
        return _load_file(target, folder)
    try:
        module = _run_import(lambda: importlib.import_module(target), target)
    except ValueError:
        if folder is None or str(folder) in sys.path:
            raise
        sys.path.append(str(folder))  # a module beside the suite, as pytest's rootdir conftest finds one
        module = _run_import(lambda: importlib.import_module(target), target)
    _check_not_shadowed(module, target, folder, name)
    return module


def _check_not_shadowed(module: ModuleType, target: str, folder: Path | None, name: str) -> None:
    """A module beside the suite must be the one imported: suites in two folders that each have a
    ``checks.py`` would otherwise both run the first one's functions."""
    if folder is None:
        return
    base = folder.joinpath(*target.split("."))
    beside = next((path for path in (base.with_suffix(".py"), base / "__init__.py") if path.is_file()), None)
    imported = getattr(module, "__file__", None)
    if beside is None or (imported is not None and Path(imported).resolve() == beside.resolve()):
        return
    where = f"from {imported}" if imported else "from elsewhere"
    raise ValueError(
        f"`{target}` is already imported {where}, not from {beside}; rename one of them, "
        f"or name the file: `{beside.relative_to(folder).as_posix()}:{name}`"
    )


def _load_file(target: str, folder: Path | None) -> ModuleType:
    """A check file is executed once however many turns name it, as an imported module is."""
    path = (folder or Path.cwd()) / target
    if not path.is_file():
        raise ValueError(f"no file {path}")
    resolved = path.resolve()
    key = (resolved, resolved.stat().st_mtime_ns)
    module = _FILE_MODULES.get(key)
    if module is None:
        module = _run_import(lambda: _execute_file(resolved), target)
        _FILE_MODULES[key] = module
    return module


def _execute_file(path: Path) -> ModuleType:
    # in sys.modules while it runs, as an import would be: dataclasses and pickle look it up there;
    # named after its path, so two folders' checks.py stay two modules
    digest = hashlib.sha1(str(path).encode(), usedforsecurity=False).hexdigest()[:12]
    name = f"convtest_check_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:  # pragma: no cover - a .py file always has one
        raise ValueError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


def _run_import(load: Callable[[], ModuleType | None], target: str) -> ModuleType:
    try:
        module = load()
    except Exception as exc:  # the user's module failed to import: say why, keep going
        raise ValueError(f"cannot import `{target}`: {type(exc).__name__}: {exc}") from None
    if module is None:  # exec_module fills the module made beforehand
        raise ValueError(f"cannot import `{target}`")
    return module


def _parse(reader: Reader, entry: Entry) -> PythonCheck | None:
    """``python: "mod:func"`` or ``python: {check: "mod:func", args: {...}}``."""
    node = entry.value
    if node.kind == "null":
        return None
    args: Mapping[str, Any] = {}
    if node.kind == "mapping":
        entries = reader.mapping(node, "`python`", PYTHON_KEYS, required=("check",))
        if entries is None or "check" not in entries:
            return None
        reference_node = entries["check"].value
        if "args" in entries:
            args = reader.mapping_value(entries["args"].value, "`args`") or {}
    else:
        reference_node = node
    expected = 'a "module:function" string or a mapping with `check` and `args`'
    reference = reader.string(reference_node, "`python`", expected=expected, empty_ok=False)
    if reference is None:
        return None
    try:
        function = import_function(reference, reader.folder)
        _check_arguments(reference, function, args)
    except ValueError as exc:
        reader.error(f"python check `{reference}`: {exc}", reference_node.line)
        return None
    return PythonCheck(reference, function, reader.at(entry.line), args)


def _check_arguments(reference: str, function: Callable[..., Any], args: Mapping[str, Any]) -> None:
    """The call the check will make, tried on the signature now rather than failing every turn."""
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):  # a builtin or C function may not say: the call will tell
        return
    try:
        signature.bind(None, **args)
    except TypeError as exc:
        call = ", ".join(["context", *(f"{name}=..." for name in args)])
        raise ValueError(f"cannot be called as {reference}({call}): {exc}") from None


PYTHON = CheckKind("python", _parse, order=150, scopes=frozenset({"turn", "conversation"}))
