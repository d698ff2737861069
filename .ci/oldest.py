"""Check that .ci/constraints-oldest.txt pins each runtime floor of pyproject.toml, then print what
is installed: the oldest-versions run proves the floors only while the two files agree.

Run by .ci/run with the oldest venv's python, from the checkout.
"""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

CONSTRAINTS = Path(".ci/constraints-oldest.txt")


def floors() -> dict[str, Version]:
    """Each runtime dependency's lowest allowed version (its `>=` bound), by canonical name."""
    project = tomllib.loads(Path("pyproject.toml").read_text())["project"]
    found: dict[str, Version] = {}
    for line in project["dependencies"]:
        requirement = Requirement(line)
        lows = [spec.version for spec in requirement.specifier if spec.operator == ">="]
        if len(lows) != 1:
            sys.exit(f"pyproject.toml: {line!r} needs one '>=' floor for the oldest-versions run")
        found[canonicalize_name(requirement.name)] = Version(lows[0])
    return found


def pins() -> dict[str, tuple[str, Version]]:
    """Each `name==version` line of the constraints file: canonical name -> (name, version)."""
    found: dict[str, tuple[str, Version]] = {}
    for number, raw in enumerate(CONSTRAINTS.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name, sep, pinned = line.partition("==")
        if not sep:
            sys.exit(f"{CONSTRAINTS}:{number}: {raw!r} is not a 'name==version' pin")
        found[canonicalize_name(name.strip())] = (name.strip(), Version(pinned.strip()))
    return found


def main() -> None:
    wanted, pinned = floors(), pins()
    wrong = [
        f"{name}: pyproject.toml allows >={low}, {CONSTRAINTS} pins {pinned[name][1]}"
        for name, low in wanted.items()
        if name in pinned and pinned[name][1] != low
    ]
    wrong += [f"{name}: a dependency, not pinned in {CONSTRAINTS}" for name in wanted.keys() - pinned.keys()]
    wrong += [f"{name}: pinned in {CONSTRAINTS}, not a dependency" for name in pinned.keys() - wanted.keys()]
    if wrong:
        sys.exit("the oldest-versions pins differ from pyproject.toml's floors:\n  " + "\n  ".join(wrong))
    print("oldest versions:", ", ".join(f"{name} {version(name)}" for name, _ in pinned.values()))


if __name__ == "__main__":
    main()
