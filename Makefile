# The two commands: `make run` and `make test`. Everything else is set up on the way.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= var/demo
PORT ?= 8000

.PHONY: run test bench lint setup services chromium clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip==25.2
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	@test -f $(DEMO_DIR)/node.toml || $(BIN)/lien init --dir $(DEMO_DIR) --demo
	$(BIN)/lien serve --dir $(DEMO_DIR) --port $(PORT)

# The PostgreSQL tests need the machine's server on 127.0.0.1:5432 (started if it is stopped).
services:
	@pg_isready -q -h 127.0.0.1 -p 5432 || pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@pg_isready -h 127.0.0.1 -p 5432

# The browser tests drive Debian's Chromium (never a downloaded one); LIEN_CHROMIUM names another.
chromium:
	@test -n "$$LIEN_CHROMIUM" || command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium)

test: $(STAMP) services chromium
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	$(BIN)/lien bench --json --out var/bench.json

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts
	$(BIN)/mypy

clean:
	rm -rf $(VENV) var
