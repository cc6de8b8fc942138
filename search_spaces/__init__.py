"""The example specs (``raylaws.examples``), installed with raylaws as ``raylaws.search_spaces``:
setup.py maps that package to this folder. Only the ``*.yaml`` files are data."""
