"""The report's templates ship inside the wheel and are found from a real (non-editable) install.

The wheel test builds with pip (which fetches setuptools into an isolated build environment), so
it runs in CI (``CI=true``) or when ``CONVTEST_TEST_WHEEL=1``; locally it is skipped, with that reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from convtest.report.html import _environment

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = sorted(p.name for p in (ROOT / "templates").iterdir() if p.suffix in (".j2", ".css", ".js"))

RENDER_FROM_INSTALL = """
import sys
from datetime import datetime, timezone
import convtest.templates
from convtest.report.entry import Entry
from convtest.report.html import RunInfo, render_report

assert convtest.templates.__file__.startswith(sys.argv[1]), convtest.templates.__file__
entry = Entry("s.yaml::hi", "says hi", "s.yaml", "s.yaml:3", "conversation", outcome="skipped")
entry.messages.append("later")
html = render_report([entry], RunInfo(datetime.now(timezone.utc), 1.0))
assert "says hi" in html and "later" in html, html[:500]
print("rendered", len(html))
"""


def wheel_wanted() -> bool:
    return os.environ.get("CI") == "true" or os.environ.get("CONVTEST_TEST_WHEEL") == "1"


def test_every_folder_of_python_modules_is_a_listed_package() -> None:
    """Packages are listed (not discovered) in pyproject.toml, so a new folder must be added there."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    on_disk = {
        ".".join(folder.relative_to(ROOT).parts)
        for folder in [ROOT / "convtest", *(ROOT / "convtest").rglob("*")]
        if folder.is_dir() and any(folder.glob("*.py"))
    }
    missing = on_disk - listed
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"
    assert "convtest.templates" in listed


def test_the_loader_finds_every_template_through_the_package() -> None:
    assert TEMPLATES, "templates/ is empty"
    assert sorted(_environment().list_templates(extensions=["j2", "css", "js"])) == TEMPLATES


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not wheel_wanted():
        pytest.skip("builds a wheel with pip (network, ~10 s): runs in CI, or with CONVTEST_TEST_WHEEL=1")
    source = tmp_path_factory.mktemp("source")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("convtest", "templates"):
        shutil.copytree(ROOT / name, source / name, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    dist = tmp_path_factory.mktemp("dist")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", str(source), "--no-deps", "-w", str(dist)], check=True, capture_output=True
    )
    (built,) = dist.glob("convtest-*.whl")
    return built


def test_wheel_holds_the_templates_and_every_module(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for template in TEMPLATES:
        assert f"convtest/templates/{template}" in names
    modules = {str(p.relative_to(ROOT)) for p in (ROOT / "convtest").rglob("*.py")}
    assert modules <= names, f"missing from the wheel: {sorted(modules - names)}"


def test_report_renders_from_a_venv_installed_from_the_wheel(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    # system site-packages lend jinja2 and pytest; convtest itself comes from the wheel only
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True
    )
    python = venv / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check", "-q"]
    subprocess.run([*install, "install", "--no-deps", str(wheel)], check=True, capture_output=True)
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    result = subprocess.run(
        [str(python), "-c", RENDER_FROM_INSTALL, site], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("rendered")
