# The two commands a newcomer needs (both set everything up on a fresh machine):
#   make demo   the daemon on a laptop (simulated GPIO, SQLite, mosquitto if installed): an SOS,
#               then a sample clip through the vision pipeline
#   make test   lint, type checks and the whole test suite, as CI runs it
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck firmware pytest system-deps clean train-plates continue-plates

demo: $(STAMP)
	$(BIN)/python -m tests.demo

test: lint typecheck firmware pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# The reference firmware: warnings are errors, its C unit tests, the portable-core check.
firmware: system-deps
	$(MAKE) -C firmware_bridge/firmware ci

pytest: $(STAMP) system-deps
	$(BIN)/pytest -q

# Debian packages the tests use: the mosquitto broker, systemd-analyze, a C compiler,
# the Thai fonts the plate generator renders with.
system-deps:
	@missing=""; \
	command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing="$$missing mosquitto"; \
	command -v systemd-analyze >/dev/null 2>&1 || missing="$$missing systemd"; \
	command -v cc >/dev/null 2>&1 || missing="$$missing gcc"; \
	command -v make >/dev/null 2>&1 || missing="$$missing make"; \
	[ -d /usr/share/fonts/truetype/tlwg ] || missing="$$missing fonts-thai-tlwg"; \
	[ -f /usr/share/fonts/truetype/noto/NotoSansThai-Regular.ttf ] || missing="$$missing fonts-noto-core"; \
	[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing="$$missing fonts-dejavu-core"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "missing Debian packages:$$missing (sudo apt-get install$$missing)"; exit 1; \
	  fi; \
	fi

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache build *.egg-info

# Regenerate the synthetic plate data and retrain both plate models on the CPU, fixed seeds,
# niced (about 110 min on 2 cores); TensorFlow stays in its own venv, never in $(VENV).
train-plates: system-deps $(STAMP)
	[ -x .venv-train/bin/python ] || $(PYTHON) -m venv .venv-train
	.venv-train/bin/pip install -q -e '.[train]'
	nice -n 19 sh models/plates/train.sh

# Continue training the committed plate models from their int8 files on fresh synthetic
# data (about 2 h on 2 cores), then convert, evaluate and publish them like train-plates.
continue-plates: system-deps $(STAMP)
	[ -x .venv-train/bin/python ] || $(PYTHON) -m venv .venv-train
	.venv-train/bin/pip install -q -e '.[train]'
	nice -n 19 sh models/plates/continue.sh
