# Two commands set up a fresh machine from nothing:
#   make demo   creates .venv (Python 3.10), installs neurochip, runs the pipeline (twin to joules per inference)
#   make test   creates .venv (Python 3.10), installs neurochip[dev], runs the tests
# lava-nc 0.10 supports only Python 3.10; see README.md for how to get it.

PYTHON ?= $(shell command -v python3.10 2>/dev/null || echo python3.10)
VENV   ?= .venv
STAMP  := $(VENV)/.installed
# Two pytest workers: a cold run compiles ~180 Brian2 Cython modules, CPU-bound work that
# halves on 2 cores. PYTEST_ARGS="-n 0" runs the tests in one process.
PYTEST_ARGS ?= -n 2

.PHONY: demo test venv clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 10) else "neurochip needs Python 3.10 (lava-nc 0.10 supports only 3.10), but $(PYTHON) is " + sys.version.split()[0] + ". Install 3.10 (pyenv install 3.10) or run make PYTHON=/path/to/python3.10")' \
	  || { echo "error: no usable Python 3.10 found as '$(PYTHON)'; install it (e.g. 'pyenv install 3.10') or pass PYTHON=/path/to/python3.10" >&2; exit 1; }
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --upgrade "pip>=23.1"
	$(VENV)/bin/python -m pip install -e '.[dev]'
	touch $@

demo: $(STAMP)
	$(VENV)/bin/neurochip run pipeline

test: $(STAMP)
	MPLBACKEND=Agg $(VENV)/bin/python -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info
