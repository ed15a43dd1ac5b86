# One venv, created on first use; every target is idempotent.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
export OMP_NUM_THREADS ?= 2

.PHONY: setup data demo test bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e '.[dev,plot]'
	touch $(STAMP)

setup: $(STAMP)

data:
	bash .ci/install-data

demo: $(STAMP) data
	PATH=$(CURDIR)/$(BIN):$$PATH bash examples/demo.sh

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	PATH=$(CURDIR)/$(BIN):$$PATH bash benchmarks/run_all.sh

clean:
	rm -rf $(VENV) runs .lt-cache
