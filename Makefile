# Every target bootstraps its own virtualenv, so `make run` and `make test` work on a fresh clone.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PROTOS := $(wildcard proto/effectd/v1/*.proto)

.PHONY: install run proto proto-check fmt lint typecheck test bench check clean ts-check ts-test

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	@echo "The CLI: $(BIN)/effectd --help (or first: . $(BIN)/activate). Examples: $(BIN)/python examples/await_and_resolve.py"
	$(BIN)/effectd serve

proto: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -I proto --python_out=client --pyi_out=client --grpc_python_out=client $(PROTOS)

# Regenerates into a scratch folder and fails if the committed code differs.
proto-check: $(STAMP)
	rm -rf .proto-check && mkdir -p .proto-check
	$(BIN)/python -m grpc_tools.protoc -I proto --python_out=.proto-check --pyi_out=.proto-check --grpc_python_out=.proto-check $(PROTOS)
	diff -r -x __init__.py -x __pycache__ -x py.typed .proto-check/effectd/v1 client/effectd/v1
	rm -rf .proto-check

fmt: $(STAMP)
	$(BIN)/ruff format client server tests bench examples
	$(BIN)/ruff check --fix client server tests bench examples

lint: $(STAMP)
	$(BIN)/ruff format --check client server tests bench examples
	$(BIN)/ruff check client server tests bench examples

typecheck: $(STAMP)
	$(BIN)/mypy client/effectd server/effectd_server examples

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run_all.py

check: lint typecheck proto-check test

clean:
	rm -rf $(VENV) .proto-check .pytest_cache .mypy_cache .ruff_cache

# The TypeScript client (clients/typescript): node packages from its package-lock.json.
TS := clients/typescript
TS_STAMP := $(TS)/node_modules/.installed

$(TS_STAMP): $(TS)/package-lock.json
	cd $(TS) && npm ci --no-audit --no-fund
	touch $(TS_STAMP)

# Its generated code is what the pinned generator writes from proto/, and it compiles.
ts-check: $(TS_STAMP)
	cd $(TS) && npm run --silent generate:check && npx tsc -p tsconfig.json --noEmit

# Its tests: a real effectd from .venv (or EFFECTD_BIN), and cross-language tests with the Python SDK.
ts-test: $(STAMP) $(TS_STAMP)
	cd $(TS) && npm test
