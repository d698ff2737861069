"""Finding adapters through the ``convtest.adapters`` entry points, and reading their options.

Distributions are written by hand (a ``.dist-info`` folder with ``METADATA`` and
``entry_points.txt``) and read back with importlib.metadata, so each entry point knows its
distribution as an installed one does.
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, distributions
from pathlib import Path

import pytest

from convtest.adapters import ENTRY_POINT_GROUP, AdapterKind, TargetOptions, installed_adapters
from convtest.adapters.discovery import AdapterRegistry
from convtest.adapters.robofy import ROBOFY
from convtest.exceptions import ConfigError

WHERE = "convtest.yaml:4: target 'x'"

#: importable objects for the entry points below
ECHO = AdapterKind(name="echo", create=lambda target, client: NotImplemented, options="prefix")
GREEDY = AdapterKind(name="greedy", create=lambda target, client: NotImplemented, options={"token", "x"})


def registry(tmp_path: Path, *dists: tuple[str, str, str]) -> AdapterRegistry:
    """A registry of the given distributions: (name, version, ``entry = module:object`` lines)."""
    for name, version, points in dists:
        info = tmp_path / f"{name.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{points}\n")
    found = distributions(path=[str(tmp_path)])
    return AdapterRegistry(
        point for dist in found for point in dist.entry_points.select(group=ENTRY_POINT_GROUP)
    )


def error(registry: AdapterRegistry, name: str) -> str:
    with pytest.raises(ConfigError) as info:
        registry.get(name, WHERE)
    return str(info.value)


def test_robofy_is_found_through_convtests_own_entry_point() -> None:
    assert installed_adapters().get("robofy", WHERE) is ROBOFY


def test_a_registered_kind_is_loaded_when_asked_for(tmp_path: Path) -> None:
    adapters = registry(tmp_path, ("convtest-echo", "0.1.0", f"echo = {__name__}:ECHO"))
    assert adapters.names == ["echo"]
    assert adapters.get("echo", WHERE) is ECHO
    assert ECHO.options == frozenset({"prefix"})  # a lone string is one option


def test_an_unknown_name_lists_the_installed_ones_with_a_did_you_mean(tmp_path: Path) -> None:
    adapters = registry(tmp_path, ("convtest-echo", "0.1.0", f"echo = {__name__}:ECHO"))
    assert error(adapters, "ecko") == (
        f"{WHERE}: unknown adapter 'ecko'; known adapters: echo — did you mean 'echo'?"
    )
    assert error(adapters, "openai") == f"{WHERE}: unknown adapter 'openai'; known adapters: echo"


def test_a_plugin_that_fails_to_import_is_named_only_when_used(tmp_path: Path) -> None:
    adapters = registry(
        tmp_path,
        ("convtest-echo", "0.1.0", f"echo = {__name__}:ECHO"),
        ("convtest-gone", "2.0", "gone = convtest_no_such_module:KIND"),
    )
    assert adapters.get("echo", WHERE) is ECHO
    assert error(adapters, "gone") == (
        f"{WHERE}: adapter 'gone' cannot be loaded from entry point "
        "'gone = convtest_no_such_module:KIND' of convtest-gone 2.0: "
        "ModuleNotFoundError: No module named 'convtest_no_such_module'"
    )


def test_two_distributions_registering_one_name_are_both_named(tmp_path: Path) -> None:
    adapters = registry(
        tmp_path,
        ("convtest-echo", "0.1.0", f"echo = {__name__}:ECHO"),
        ("echo-two", "1.0", "echo = echo2:KIND"),
    )
    message = error(adapters, "echo")
    assert message.startswith(f"{WHERE}: adapter 'echo' is registered twice, by entry point ")
    assert "'echo = echo2:KIND' of echo-two 1.0" in message
    assert f"'echo = {__name__}:ECHO' of convtest-echo 0.1.0" in message
    assert message.endswith("; uninstall one of them")


def test_one_distribution_found_twice_on_the_path_counts_once() -> None:
    robofy = [point for point in _convtest_points() if point.name == "robofy"]
    assert AdapterRegistry([*robofy, *robofy]).get("robofy", WHERE) is ROBOFY


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ("json:dumps", "is a function, not a convtest.adapters.AdapterKind"),
        (f"{__name__}:ECHO", "names itself 'echo': the entry point's name must be the adapter's name"),
        (f"{__name__}:GREEDY", "declares options that every target has already: token"),
    ],
)
def test_an_entry_point_that_is_not_a_fitting_kind_is_refused(
    tmp_path: Path, entry: str, problem: str
) -> None:
    adapters = registry(tmp_path, ("odd", "1.0", f"greedy = {entry}"))
    assert (
        error(adapters, "greedy")
        == f"{WHERE}: adapter 'greedy' from entry point 'greedy = {entry}' of odd 1.0 {problem}"
    )


def options(raw: dict[str, object], environ: dict[str, str]) -> TargetOptions:
    return TargetOptions(name="x", where=WHERE, raw=raw, base_url="", environ=environ)


def test_an_option_read_from_the_environment_is_a_secret_and_a_default_is_not() -> None:
    read = options({"key": "${KEY}", "mode": "${MODE:-fast}", "plain": "abc"}, {"KEY": "k-123"})
    assert (read.text("key"), read.text("mode"), read.text("plain")) == ("k-123", "fast", "abc")
    assert read.secrets == ["k-123"]


def test_option_mistakes_name_the_target_and_key() -> None:
    read = options({"mode": "${MODE}", "on": "yes", "map": {"txet": 1}}, {})
    with pytest.raises(
        ConfigError, match=r"^convtest\.yaml:4: target 'x': `mode`: environment variable MODE"
    ):
        read.text("mode")
    with pytest.raises(
        ConfigError, match=r"^convtest\.yaml:4: target 'x': `on` must be true or false, got 'yes'"
    ):
        read.flag("on", False)
    with pytest.raises(ConfigError, match=r"`map`: unknown key `txet` — did you mean `text`\?"):
        read.mapping("map", {"text"})
    with pytest.raises(
        ConfigError, match=r"^convtest\.yaml:4: target 'x': `base_url` is required \(e\.g\. http"
    ):
        read.require_base_url("https://bot.example")


def _convtest_points() -> list[EntryPoint]:
    return [
        point
        for dist in distributions(name="convtest")
        for point in dist.entry_points.select(group=ENTRY_POINT_GROUP)
    ]
