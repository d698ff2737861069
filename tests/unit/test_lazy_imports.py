"""What every run's start-up pays for: libraries a run may not need are imported when needed."""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import sys
    import convtest.plugin
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
