"""The experiments: end-to-end scripts, one module each, writing ``results/<name>/<timestamp>/``.

Each module ``experiments.<name>`` has a ``@dataclass Config`` (every field with
a default), a dict ``TINY`` of overrides that makes it run in seconds, and
``main(config) -> Path``. Run one with ``neurochip run NAME``, ``python -m
experiments.NAME`` or ``python experiments/NAME.py`` (``--tiny``, ``--set
key=value``, ``--config file.json``). Builders that several experiments and the
benchmarks share live in :mod:`experiments._common`; no experiment imports
another.
"""
