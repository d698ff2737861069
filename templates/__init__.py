"""The HTML report's templates, CSS and JS.

This folder is installed as the package ``convtest.templates`` (see ``package-dir`` in
``pyproject.toml``), so ``jinja2.PackageLoader`` finds it in a wheel install as well as in an
editable one. It holds no Python.
"""
