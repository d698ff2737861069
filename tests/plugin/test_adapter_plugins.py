"""Third-party adapters, installed as real packages: the worked example of
docs/writing-adapters.md (``convtest-echo``) and a package whose import fails.

Both are built once per module with pip (offline: ``--no-build-isolation``, no dependencies)
into a folder of their own; each test runs pytest in a subprocess with that folder on
``PYTHONPATH``, so its entry points are found the way an installed plugin's are.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "writing-adapters.md"
#: a fenced block whose first line is a comment naming the file it is: ``# convtest.yaml``
DOC_FILE = re.compile(r"```(?:toml|python|yaml)\n# (\S+)\n.*?```", re.DOTALL)

BROKEN_PYPROJECT = """
[build-system]
requires = ["setuptools>=70.1"]
build-backend = "setuptools.build_meta"

[project]
name = "convtest-broken"
version = "0.2.0"

[project.entry-points."convtest.adapters"]
broken = "convtest_broken:BROKEN"
"""


def doc_files() -> dict[str, str]:
    """The files the worked example shows, by path, each with its first comment line."""
    text = DOCS.read_text(encoding="utf-8")
    return {
        match.group(1): match.group(0).split("\n", 1)[1].rsplit("```", 1)[0]
        for match in DOC_FILE.finditer(text)
    }


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding the installed ``convtest-echo`` and ``convtest-broken``."""
    root = tmp_path_factory.mktemp("plugins")
    for path, text in doc_files().items():
        if path.startswith("convtest-echo/"):
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(text, encoding="utf-8")
    broken = root / "convtest-broken"
    (broken / "convtest_broken").mkdir(parents=True)
    (broken / "pyproject.toml").write_text(BROKEN_PYPROJECT, encoding="utf-8")
    (broken / "convtest_broken" / "__init__.py").write_text(
        'raise ImportError("convtest_broken needs the frobnicate library")\n', encoding="utf-8"
    )
    target = root / "site"
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    subprocess.run(
        [*command, "--target", str(target), str(root / "convtest-echo"), str(broken)],
        check=True,
        capture_output=True,
        env={**os.environ, "PIP_NO_INDEX": "1"},
    )
    return target


@pytest.fixture
def project(pytester: pytest.Pytester, site: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """A project with the example's convtest.yaml and suite, the plugins on ``PYTHONPATH``."""
    files = doc_files()
    for path in ("convtest.yaml", "suites/echo.yaml"):
        pytester.path.joinpath(path).parent.mkdir(parents=True, exist_ok=True)
        pytester.path.joinpath(path).write_text(files[path], encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(site))
    return pytester


def add_targets(project: pytest.Pytester, targets: str) -> None:
    config = project.path / "convtest.yaml"
    config.write_text(config.read_text(encoding="utf-8") + targets, encoding="utf-8")


def test_the_documented_adapter_runs_a_suite_with_its_failure_text(project: pytest.Pytester) -> None:
    # a target whose plugin cannot be imported only matters to a run that uses it
    add_targets(project, "  flaky:\n    adapter: broken\n")
    result = project.runpytest_subprocess("suites/")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            "conversation 'a wrong expectation fails' failed at turn 1 of 1 (suites/echo.yaml:9)",
            "  target: echo",
            "  ✗ turn 1/1 (suites/echo.yaml:11)",
            "      user: hello",
            "      bot:  echo: hello (turn 1)",
            '    ✗ expected text contains "goodbye"  (suites/echo.yaml:12)',
        ]
    )


def test_an_adapter_option_read_from_the_environment_is_a_secret(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ECHO_PREFIX", "hush-s3cret: ")
    add_targets(project, '  hidden:\n    adapter: echo\n    prefix: "${ECHO_PREFIX}"\n')
    result = project.runpytest_subprocess("suites/", "--convtest-target", "hidden", "-k", "wrong")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["      bot:  ***hello (turn 1)"])
    assert "hush-s3cret" not in result.stdout.str()


def test_a_misspelt_option_of_a_plugin_adapter_gets_a_did_you_mean(project: pytest.Pytester) -> None:
    config = project.path / "convtest.yaml"
    config.write_text(config.read_text(encoding="utf-8").replace("prefix:", "prefx:"), encoding="utf-8")
    result = project.runpytest_subprocess("suites/")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["convtest.yaml:6: target 'echo': unknown key `prefx` — did you mean `prefix`?"]
    )


def test_a_plugin_that_fails_to_import_is_named_with_its_distribution(project: pytest.Pytester) -> None:
    add_targets(project, "  flaky:\n    adapter: broken\n")
    result = project.runpytest_subprocess("suites/", "--convtest-target", "flaky")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --convtest-target: convtest.yaml:8: target 'flaky': adapter 'broken' cannot be loaded "
            "from entry point 'broken = convtest_broken:BROKEN' of convtest-broken 0.2.0: "
            "ImportError: convtest_broken needs the frobnicate library"
        ]
    )
    assert "Traceback" not in result.stderr.str() + result.stdout.str()


def test_an_unknown_adapter_lists_the_installed_plugins(project: pytest.Pytester) -> None:
    add_targets(project, "  typo:\n    adapter: ecko\n")
    result = project.runpytest_subprocess("suites/", "--convtest-target", "typo")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: --convtest-target: convtest.yaml:8: target 'typo': unknown adapter 'ecko'; "
            "known adapters: broken, echo, *robofy — did you mean 'echo'?"
        ]
    )
