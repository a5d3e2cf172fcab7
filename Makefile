# Benchmarks (see bench/README.md and docs/performance.md).
PYTHON ?= python

.PHONY: bench bench-quick

bench:
	$(PYTHON) -m bench

bench-quick:
	$(PYTHON) -m bench --quick
