# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-protection clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	rm -rf demo-workspace
	$(BIN)/udc demo --workspace demo-workspace

lint: $(STAMP)
	$(BIN)/ruff check catalog flows marts pseudonymize quality sources workspace tests bench

test: $(STAMP) lint
	$(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/run.py --persons $${PERSONS:-1000000}
	$(BIN)/python bench/protection.py --sizes $${SIZES:-100000,300000,1000000,3000000}

bench-protection: $(STAMP)
	$(BIN)/python bench/protection.py --sizes $${SIZES:-100000,300000,1000000,3000000}

clean:
	rm -rf $(VENV) demo-workspace bench-workspace bench-workspace-* bench-results.json bench-protection.json
