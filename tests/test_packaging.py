"""pyproject.toml lists its packages by hand (package-dir maps the repository root to
`tickpipe`): a folder of code left off the list is missing from a plain `pip install .`
(an editable install, the tests', would never notice). workers/journal/ was, once."""

import os
import tomllib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_package_folder_is_in_pyproject_packages():
    with open(os.path.join(REPO, "pyproject.toml"), "rb") as f:
        listed = set(tomllib.load(f)["tool"]["setuptools"]["packages"])
    found = {"tickpipe"}
    for top in ("engine", "workers", "shm_layouts", "cli", "bench", "tuning"):
        for path, dirs, files in os.walk(os.path.join(REPO, top)):
            dirs[:] = [d for d in dirs if not d.startswith((".", "__"))]
            if "__init__.py" in files:
                found.add("tickpipe." + os.path.relpath(path, REPO).replace(os.sep, "."))
    assert found - listed == set(), "folders of code missing from pyproject's packages"
