# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The browser tests drive Debian's Chromium (playwright's own browser downloads are not used).
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test lint bench bench-protection bench-national clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

$(CHROMIUM):
	@command -v apt-get > /dev/null || { echo "no apt-get: install Chromium and run make test CHROMIUM=/path/to/chromium"; exit 1; }
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium > /dev/null

demo: $(STAMP)
	rm -rf demo-workspace
	$(BIN)/udc demo --workspace demo-workspace

lint: $(STAMP)
	$(BIN)/ruff check catalog dashboards flows marts pseudonymize quality sources workspace tests bench

test: $(STAMP) $(CHROMIUM) lint
	UDC_CHROMIUM=$(CHROMIUM) $(BIN)/pytest

bench: $(STAMP)
	$(BIN)/python bench/run.py --persons $${PERSONS:-1000000}
	$(BIN)/python bench/protection.py --sizes $${SIZES:-100000,300000,1000000,3000000}

bench-protection: $(STAMP)
	$(BIN)/python bench/protection.py --sizes $${SIZES:-100000,300000,1000000,3000000}

bench-national: $(STAMP)
	$(BIN)/python bench/national.py --persons $${PERSONS:-18000000} --gemeenten $${GEMEENTEN:-342} --runner $${RUNNER:-dask}

clean:
	rm -rf $(VENV) demo-workspace test-artifacts bench-workspace bench-workspace-* bench-results.json bench-protection.json bench-national.json
