# Quick start:  make report   (validation report)
#               make test     (default test suite)
#               make test-long (20,000 generated hostile designs)
# Every target first runs scripts/setup.sh, which does nothing when the
# machine is already set up.

PYTHON := .venv/bin/python
# Per-group matrices are tiny: BLAS threads only add overhead on a 2-core machine.
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: setup report test test-long book book-pdf data clean

setup:
	bash scripts/setup.sh

report: setup
	$(PYTHON) -m validation run

# pytest exits 5 when it collected no tests: report that as the failure it is.
test: setup
	@$(PYTHON) -m pytest -q $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: FAILED: pytest collected no tests (exit 5)" >&2; fi; \
	exit $$rc

# The long robustness run: 20,000 generated hostile inputs (designs, arguments,
# formulas, plug-in answers) through every entry point and optimizer, and 2,000
# designs through Dask against the in-memory answer
# (tests/test_properties*.py; `make test` runs a bounded number).
# About half an hour on 2 cores; counts per outcome in reports/robustness_counts.json.
test-long: setup
	ROBUST_EXAMPLES=$${ROBUST_EXAMPLES:-20000} ROBUST_DASK_EXAMPLES=$${ROBUST_DASK_EXAMPLES:-2000} $(PYTHON) -m pytest -q tests/test_properties*.py $(PYTEST_ARGS)

book: setup
	$(PYTHON) -m book.build

# The book as one PDF (xelatex; TeX Live from Debian, installed on first use):
# book/_build/latex/lmm-refimpl-book.pdf
book-pdf: setup
	bash scripts/setup_pdf.sh
	.venv/bin/jupyter-book build book --builder pdflatex --quiet
	@echo "book-pdf: book/_build/latex/lmm-refimpl-book.pdf"

# Re-export refimpl/data/*.csv and MANIFEST.json from R (see refimpl/data/README.md).
data: setup
	$(PYTHON) scripts/export_r_datasets.py

# Removes build output and caches; keeps .venv and .cache (downloaded tools).
# `make distclean` also removes those.
clean:
	rm -rf book/_build reports .pytest_cache .hypothesis
	find . -path ./.venv -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +

.PHONY: distclean
distclean: clean
	rm -rf .venv .cache
