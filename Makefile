# Developer entry points. `make run` and `make test` install what they need first.
PYTHON ?= python3
VENV := .venv
UV := $(VENV)/bin/uv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install run test lint typecheck unit fuzz bench lock clean compose-smoke browser screenshots

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet "uv==0.13.9"

# Installs exactly what uv.lock pins (reproducible); re-runs only when the lock changes.
$(VENV)/.synced: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --python $(VENV)/bin/python
	touch $@

install: $(VENV)/.synced

run: install
	$(VENV)/bin/conectapro run

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy .

test: lint browser
	$(VENV)/bin/pytest

# The browser tests drive Debian's chromium (Playwright never downloads a browser): installed when missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		[ "$$(id -u)" = 0 ] || { echo "the browser tests need Debian's chromium: sudo apt-get install chromium" >&2; exit 1; }; \
		echo "installing chromium (Debian package) for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Retakes the README's screenshots of the console and the simulator (docs/screenshots).
screenshots: install browser
	CONECTAPRO_SCREENSHOTS=docs $(VENV)/bin/pytest tests/browser -q

unit: install
	$(VENV)/bin/pytest -m unit

# The whole-webhook-path property test, longer than in `make test` (tests/e2e/test_webhook_properties.py).
FUZZ_EXAMPLES ?= 200
FUZZ_MAX_UPDATES ?= 1000
fuzz: install
	WEBHOOK_EXAMPLES=$(FUZZ_EXAMPLES) WEBHOOK_MAX_UPDATES=$(FUZZ_MAX_UPDATES) \
		$(VENV)/bin/pytest tests/e2e/test_webhook_properties.py

bench: install
	$(VENV)/bin/python -m bench

# docker-compose.yml really running under podman (root; minutes; not part of `make test`).
compose-smoke:
	bash deploy/compose-smoke.sh

lock: $(UV)
	$(UV) lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
