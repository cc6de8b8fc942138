"""Which packages the wheel holds; the rest of the metadata is in pyproject.toml.

Every ``raylaws*`` package under ``raylaws/``, plus ``raylaws.search_spaces``: the example
specs, kept at the top of the repository in ``search_spaces/`` (where the README and the tests
name them) and installed as that package's data, so an installed raylaws runs
``raylaws run demo`` and ``raylaws init`` without a checkout. pyproject.toml cannot say this
on its own: a package mapped to another folder must be listed by name, and a list by name
would have to name every package, where discovery finds new ones by itself.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[*find_namespace_packages(include=["raylaws*"]), "raylaws.search_spaces"],
    package_dir={"raylaws.search_spaces": "search_spaces"},
    package_data={"raylaws.search_spaces": ["*.yaml"]},
)
