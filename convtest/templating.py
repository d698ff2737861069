"""Jinja2 templates in suite strings: compiled once at load, rendered per turn.

Strings without ``{{`` or ``{%`` stay plain ``str`` and cost nothing at run time; Jinja2 itself
is imported with the first template (~45 ms of every run's start-up otherwise).

Templates run in Jinja2's sandbox: no private attribute (``env._environ``) can be reached. Every
``env`` value a template reads is a secret of the conversation, and so is what an expression
prints after reading one (``{{ env.TOKEN | upper }}``); a value transformed and spread over
several outputs (one character per loop pass, say) is not recognised.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from convtest.exceptions import Location, SuiteError, TemplateRenderError
from convtest.secrets import note

if TYPE_CHECKING:
    import jinja2
    import jinja2.nodes

__all__ = [
    "EnvVars",
    "Template",
    "Value",
    "compile_template",
    "is_template",
    "render_value",
    "template_variables",
    "templates_in",
]


class EnvVars(Mapping[str, str]):
    """``{{ env.NAME }}``: the process environment, where an unset variable is a clear error."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ
        #: values actually read, so reports and goldens can redact them
        self.used: dict[str, str] = {}
        #: values read so far, and up to which read the printed output was already kept secret
        self._reads = 0
        self._printed = 0

    def __getitem__(self, name: str) -> str:
        try:
            value = self._environ[name]
        except KeyError:
            raise TemplateRenderError(f"environment variable {name} is not set") from None
        self.used[name] = value
        self._reads += 1
        note(value)
        return value

    def keep_secret(self, names: Iterable[str]) -> None:
        """The values of ``names`` (those set) are secrets from now on, before any template
        reads them: a bot may echo a value that only a later check was going to read."""
        note(*(self._environ[name] for name in names if name in self._environ))

    def get(self, name: str, default: str | None = None) -> str | None:  # type: ignore[override]
        """``{{ env.get("NAME", "fallback") }}``: an optional variable, no error when unset."""
        return self[name] if name in self._environ else default

    def __getattr__(self, name: str) -> str:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._environ)

    def __len__(self) -> int:
        return len(self._environ)


def is_template(source: str) -> bool:
    return "{{" in source or "{%" in source


class Template:
    """A compiled template and the names it reads, for load-time checks of undefined variables."""

    __slots__ = ("_compiled", "env_names", "location", "source", "variables")
    variables: frozenset[str]
    #: the ``env`` variables it names literally (``env.X``, ``env['X']``, ``env.get('X')``)
    env_names: frozenset[str]

    def __init__(self, source: str, location: Location) -> None:
        import jinja2

        self.source = source
        self.location = location
        try:
            self._compiled, self.variables, self.env_names = _compile(source)
        except jinja2.TemplateSyntaxError as exc:
            raise SuiteError(f"invalid template {source!r}: {exc.message}", location) from None

    def render(self, context: Mapping[str, Any]) -> str:
        import jinja2  # loaded already: this template was compiled with it

        env = context.get("env")
        if isinstance(env, EnvVars):
            env._printed = env._reads  # only what this template reads makes its output secret
        try:
            return self._compiled.render(context)
        except TemplateRenderError as exc:
            raise TemplateRenderError(f"{self.location}: {exc}") from None
        except jinja2.UndefinedError as exc:
            raise TemplateRenderError(f"{self.location}: template {self.source!r}: {exc.message}") from None
        except Exception as exc:  # a filter or expression failed on real data
            raise TemplateRenderError(f"{self.location}: template {self.source!r}: {exc}") from None

    def __repr__(self) -> str:
        return f"Template({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Template) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)


#: a string operand: plain, or a template rendered against the turn's variables
Value = str | Template


def _finalize(context: Any, value: Any) -> Any:
    """Every ``{{ expression }}``'s value on its way out: one that read an ``env`` value since the
    last output (``env.TOKEN | upper``, ``"id-" ~ env.ID``) prints a secret in another form."""
    env = context.get("env")
    if isinstance(env, EnvVars) and env._reads > env._printed:
        env._printed = env._reads
        note(str(value))
    return value


@functools.cache
def _environment() -> jinja2.Environment:
    import jinja2
    import jinja2.sandbox

    return jinja2.sandbox.SandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        finalize=jinja2.pass_context(_finalize),
    )


@functools.lru_cache(maxsize=4096)
def _compile(source: str) -> tuple[jinja2.Template, frozenset[str], frozenset[str]]:
    """Compiling costs about a millisecond; suites repeat the same templates across turns.

    The names read exclude Jinja2's own globals (range, dict, ...), always defined."""
    import jinja2.defaults
    import jinja2.meta

    environment = _environment()
    ast = environment.parse(source)
    names = jinja2.meta.find_undeclared_variables(ast) - jinja2.defaults.DEFAULT_NAMESPACE.keys()
    return environment.from_string(ast), frozenset(names), _env_names(ast)


def _env_names(ast: jinja2.nodes.Template) -> frozenset[str]:
    """``X`` of every ``env.X``, ``env['X']`` and ``env.get('X', ...)`` in a parsed template."""
    from jinja2 import nodes

    found: set[str] = set()
    for node in ast.find_all((nodes.Getattr, nodes.Getitem, nodes.Call)):
        if isinstance(node, nodes.Call):
            call = node.node
            is_get = isinstance(call, nodes.Getattr) and call.attr == "get" and _is_env(call.node)
            if is_get and node.args and isinstance(node.args[0], nodes.Const):
                found.add(str(node.args[0].value))
        elif isinstance(node, nodes.Getattr) and _is_env(node.node) and not hasattr(EnvVars, node.attr):
            found.add(node.attr)  # not a method: ``env.get`` is a call, above
        elif isinstance(node, nodes.Getitem) and _is_env(node.node) and isinstance(node.arg, nodes.Const):
            found.add(str(node.arg.value))
    return frozenset(found)


def _is_env(node: jinja2.nodes.Node) -> bool:
    from jinja2 import nodes

    return isinstance(node, nodes.Name) and node.name == "env"


def compile_template(source: str, location: Location) -> str | Template:
    """Return ``source`` itself when it has no template syntax, else a compiled :class:`Template`."""
    return Template(source, location) if is_template(source) else source


def render_value(value: Any, context: Mapping[str, Any]) -> Any:
    """Render every :class:`Template` leaf inside nested lists and dicts; keep the rest as is."""
    if isinstance(value, Template):
        return value.render(context)
    if isinstance(value, dict):
        return {key: render_value(item, context) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, context) for item in value]
    return value


def template_variables(value: Any) -> frozenset[str]:
    """All names read by the templates inside ``value`` (nested lists and dicts included)."""
    if isinstance(value, Template):
        return value.variables
    if isinstance(value, dict):
        return frozenset().union(*(template_variables(item) for item in value.values()))
    if isinstance(value, list):
        return frozenset().union(*(template_variables(item) for item in value))
    return frozenset()


def templates_in(value: Any) -> Iterator[Template]:
    """Every :class:`Template` leaf inside nested lists and dicts, for load-time name checks."""
    if isinstance(value, Template):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from templates_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from templates_in(item)
