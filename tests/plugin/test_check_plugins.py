"""Third-party checks, installed as real packages: the worked example of docs/writing-checks.md
(``convtest-wordcount``: the ``expect`` key ``word_count`` and the text check ``shouts``), a package
whose import fails, and one that registers a key convtest already has.

The packages are built once per module with pip (offline: ``--no-build-isolation``, no
dependencies) into folders of their own; each test runs pytest in a subprocess with those folders
on ``PYTHONPATH``, so their entry points are found the way an installed plugin's are.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from importlib.metadata import version
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs" / "writing-checks.md"
#: a fenced block whose first line is a comment naming the file it is: ``# suites/words.yaml``
DOC_FILE = re.compile(r"```(?:toml|python|yaml)\n# (\S+)\n.*?```", re.DOTALL)

BROKEN = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=70.1"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "convtest-polite"
        version = "0.3"

        [project.entry-points."convtest.checks"]
        politeness = "convtest_polite:POLITENESS"

        [project.entry-points."convtest.text_checks"]
        polite = "convtest_polite:POLITE"
        """,
    "convtest_polite/__init__.py": "import polite_model\n",
}
CLASH = {
    "pyproject.toml": """
        [build-system]
        requires = ["setuptools>=70.1"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "convtest-clash"
        version = "2.0"

        [project.entry-points."convtest.checks"]
        text = "convtest_clash:TEXT"
        words = "convtest_clash:WORDS"
        loudness = "convtest_clash:loudness"
        """,
    "convtest_clash/__init__.py": """
        from convtest.checks import CheckKind

        TEXT = None


        def loudness(reader, entry):
            return None


        WORDS = CheckKind("word_count", loudness)
        """,
}


def doc_files() -> dict[str, str]:
    """The files the worked example shows, by path, each with its first comment line."""
    text = DOCS.read_text(encoding="utf-8")
    return {
        match.group(1): match.group(0).split("\n", 1)[1].rsplit("```", 1)[0]
        for match in DOC_FILE.finditer(text)
    }


def write_package(root: Path, files: dict[str, str]) -> Path:
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``plugins``: convtest-wordcount and convtest-polite; ``clash``: convtest-clash alone."""
    root = tmp_path_factory.mktemp("check-plugins")
    example = {path: text for path, text in doc_files().items() if path.startswith("convtest-wordcount/")}
    write_package(root, example)
    packages = {
        "plugins": [root / "convtest-wordcount", write_package(root / "convtest-polite", BROKEN)],
        "clash": [write_package(root / "convtest-clash", CLASH)],
    }
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    runs = {
        name: subprocess.Popen(
            [*pip, "--target", str(root / f"site-{name}"), *map(str, paths)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
        )
        for name, paths in packages.items()
    }
    for run in runs.values():  # both build at once: pip spends most of its time starting up
        output, _ = run.communicate()
        assert run.returncode == 0, output.decode()
    return {name: root / f"site-{name}" for name in packages}


@pytest.fixture
def project(pytester: pytest.Pytester, sites: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example's suites in ``suites/``, convtest-wordcount and convtest-polite installed."""
    for path, text in doc_files().items():
        if path.startswith("suites/"):
            pytester.path.joinpath(path).parent.mkdir(parents=True, exist_ok=True)
            pytester.path.joinpath(path).write_text(text, encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", str(sites["plugins"]))
    return pytester.path


def write_suite(folder: Path, name: str, text: str) -> None:
    folder.joinpath(name).write_text(textwrap.dedent(text), encoding="utf-8")


def assert_reported(result: pytest.RunResult, line: str, *, documented: bool = False) -> None:
    """The exact line is in the output; ``documented``: its message is in docs/writing-checks.md."""
    assert line in result.stdout.lines, line
    if documented:
        message = line.split(": ", 1)[1]  # after "file:line, conversation ..., turn 1"
        assert message in DOCS.read_text(encoding="utf-8"), message


def test_the_documented_suites_pass_and_fail_in_the_plugins_own_words(
    pytester: pytest.Pytester, project: Path
) -> None:
    result = pytester.runpytest_subprocess("-v", "-n", "2", "suites")  # the workers find it too
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*PASSED suites/words.yaml::greets briefly and calmly*"])
    documented = DOCS.read_text(encoding="utf-8").split("conversation 'shouts in a few words'", 1)[1]
    block = ("conversation 'shouts in a few words'" + documented).split("```", 1)[0].splitlines()
    varying = ("  target:", "      finish ")  # the session id and the timings of a run
    lines = [line for line in block if line and not line.startswith(varying)]
    assert len(lines) == 8
    output = result.stdout.lines
    assert [line for line in output if line in lines] == lines
    assert "Traceback" not in result.stdout.str()


def test_the_text_operator_nests_and_the_plugins_parse_reports_mistakes_at_their_lines(
    pytester: pytest.Pytester, project: Path
) -> None:
    write_suite(
        project,
        "misuse.yaml",
        """
        conversations:
          - name: no alternative held
            turns:
              - user: Hello
                expect:
                  text: {any_of: [{shouts: true}, {contains: Bye}]}
          - name: negated
            turns:
              - user: Hello
                expect:
                  text: {not: {shouts: true}, all_of: [{not: {shouts: true}}, {contains: Hello}]}
                  reasoning: {not: {shouts: true}}
          - name: typo
            turns:
              - user: Hello
                expect:
                  word_cuont: {max: 5}
                  text: {shuots: true}
          - name: bad operands
            turns:
              - user: Hello
                expect:
                  word_count: {max: lots}
                  text: {shouts: false}
          - name: empty and upside down
            turns:
              - user: Hello
                expect: {word_count: {}}
              - user: Hello
                expect: {word_count: {min: 9, max: 3}}
        """,
    )
    result = pytester.runpytest_subprocess("-v", "misuse.yaml")
    result.assert_outcomes(passed=1, failed=4)
    result.stdout.fnmatch_lines(["*misuse.yaml::negated PASSED*"])
    expected = "\n".join(
        [
            '    ✗ expected any of [text is in capitals; text contains "Bye"]  (misuse.yaml:7)',
            '        but text was "Hello! How can I help you today?"; no alternative held '
            "(alternative 1: 21 lower-case letters)",
        ]
    )
    assert expected in result.stdout.str()
    for line, documented in [
        (
            "  ✗ misuse.yaml:18, conversation 'typo', turn 1: unknown key `word_cuont` in `expect` — "
            "did you mean `word_count`?",
            True,
        ),
        (
            "  ✗ misuse.yaml:19, conversation 'typo', turn 1: unknown key `shuots` in `text` — "
            "did you mean `shouts`?",
            False,
        ),
        (
            "  ✗ misuse.yaml:24, conversation 'bad operands', turn 1: `word_count` `max` must be a whole "
            "number ≥ 0, got a string ('lots')",
            True,
        ),
        (
            "  ✗ misuse.yaml:25, conversation 'bad operands', turn 1: `shouts: false` checks nothing; "
            "write `not: {shouts: true}`",
            False,
        ),
        (
            "  ✗ misuse.yaml:29, conversation 'empty and upside down', turn 1: `word_count` needs `min` "
            "and/or `max`",
            False,
        ),
        (
            "  ✗ misuse.yaml:31, conversation 'empty and upside down', turn 2: `word_count` `min` 9 is "
            "greater than `max` 3",
            False,
        ),
    ]:
        assert_reported(result, line, documented=documented)
    assert "Traceback" not in result.stdout.str()


def test_a_plugin_that_fails_to_import_is_reported_where_its_keys_are_used(
    pytester: pytest.Pytester, project: Path
) -> None:
    write_suite(
        project,
        "broken.yaml",
        """
        conversations:
          - name: uses the broken check
            turns:
              - user: Hello
                expect: {politeness: {min: 1}}
          - name: uses the broken text check
            turns:
              - user: Hello
                expect: {reasoning: {any_of: [{polite: true}]}}
          - name: runs on
            turns:
              - user: Hello
                expect: {word_count: {max: 9}, text: {contains: Hello}}
        """,
    )
    result = pytester.runpytest_subprocess("-v", "broken.yaml")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(["*broken.yaml::runs on PASSED*"])
    assert_reported(
        result,
        "  ✗ broken.yaml:6, conversation 'uses the broken check', turn 1: check 'politeness' cannot be "
        "loaded from entry point 'politeness = convtest_polite:POLITENESS' of convtest-polite 0.3: "
        "ModuleNotFoundError: No module named 'polite_model'",
        documented=True,
    )
    assert_reported(
        result,
        "  ✗ broken.yaml:10, conversation 'uses the broken text check', turn 1: text check 'polite' "
        "cannot be loaded from entry point 'polite = convtest_polite:POLITE' of convtest-polite 0.3: "
        "ModuleNotFoundError: No module named 'polite_model'",
    )
    assert "Traceback" not in result.stdout.str()


def test_a_key_registered_twice_or_registered_wrong_is_reported_where_it_is_used(
    pytester: pytest.Pytester, project: Path, sites: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(sites["plugins"]), str(sites["clash"])]))
    write_suite(
        project,
        "clash.yaml",
        """
        conversations:
          - name: uses text
            turns:
              - user: Hello
                expect: {text: {contains: Hello}}
          - name: uses words
            turns:
              - user: Hello
                expect: {words: {max: 9}}
          - name: uses loudness
            turns:
              - user: Hello
                expect: {loudness: high}
          - name: runs on
            turns:
              - user: Hello
                expect: {word_count: {max: 9}, reasoning: {not: {shouts: true}}}
        """,
    )
    result = pytester.runpytest_subprocess("-v", "clash.yaml")
    result.assert_outcomes(passed=1, failed=3)
    result.stdout.fnmatch_lines(["*clash.yaml::runs on PASSED*"])
    message = (
        "  ✗ clash.yaml:6, conversation 'uses text', turn 1: check 'text' is registered twice, by "
        "entry point 'text = {}' of {} and entry point 'text = {}' of {}; uninstall one of them"
    )
    clash = ("convtest_clash:TEXT", "convtest-clash 2.0")
    ours = ("convtest.checks.text:TEXT", f"convtest {version('convtest')}")
    # which one comes first is the order Python finds the two distributions in
    assert {message.format(*clash, *ours), message.format(*ours, *clash)} & set(result.stdout.lines)
    assert_reported(
        result,
        "  ✗ clash.yaml:10, conversation 'uses words', turn 1: check 'words' from entry point "
        "'words = convtest_clash:WORDS' of convtest-clash 2.0 has the key 'word_count': the entry "
        "point's name must be the check's key",
        documented=True,
    )
    assert_reported(
        result,
        "  ✗ clash.yaml:14, conversation 'uses loudness', turn 1: check 'loudness' from entry point "
        "'loudness = convtest_clash:loudness' of convtest-clash 2.0 is a function, not a "
        "convtest.checks.CheckKind",
        documented=True,
    )
    assert "Traceback" not in result.stdout.str()
