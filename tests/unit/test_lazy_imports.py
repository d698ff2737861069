"""What every run's start-up pays for: libraries a run may not need are imported when needed."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import sys
    import convtest.pytest_plugin
    from convtest.suite import load_suite_text

    def loaded():
        return sorted(name for name in ("jinja2", "httpx", "httpcore") if name in sys.modules)

    plain = "conversations:\\n  - name: c\\n    turns:\\n      - user: hi\\n"
    load_suite_text(plain, "plain.yaml")
    print(loaded())
    load_suite_text(plain.replace("hi", "hi {{ env.get('USER') }}"), "templated.yaml")
    print(loaded())
    import convtest.session  # what the plugin holds for a run, before a turn is sent
    print(loaded())
    from convtest.adapters import create_adapter

    print(loaded())
    """
)


def test_jinja2_comes_with_the_first_template_and_httpx_with_the_first_adapter() -> None:
    # the plugin is loaded by every pytest run in a project that has convtest installed
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == ["[]", "['jinja2']", "['jinja2']", "['httpx', 'jinja2']"]


UNRELATED_TEST = textwrap.dedent(
    """
    import sys

    def test_unrelated():
        heavy = ("convtest.pytest_plugin.collect", "convtest.suite", "convtest.session", "httpx", "yaml",
                 "jinja2")
        print("LOADED", sorted(name for name in heavy if name in sys.modules))
    """
)


def test_a_pytest_run_without_suites_loads_none_of_the_suite_machinery(tmp_path: Path) -> None:
    # every pytest run in a project with convtest installed loads the plugin, and pytest-xdist
    # loads it once more in every worker; YAML files that are not suites are sniffed, not parsed
    (tmp_path / "test_unrelated.py").write_text(UNRELATED_TEST)
    (tmp_path / "ci.yaml").write_text("jobs:\n  test: {runs-on: ubuntu}\n")
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-s", "-p", "convtest.pytest_plugin"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "LOADED []" in run.stdout
