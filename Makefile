# Two commands do everything on a fresh machine: `make demo` and `make test`.
# Both first run `setup`, which installs what is missing and is a no-op when nothing changed:
#   - a virtualenv in .venv with the exact, hash-checked versions of requirements/dev.lock
#     (Poetry itself included, for `poetry build`), and this package in editable mode;
#   - the JVM jars from Maven Central, with Maven, into the git-ignored .jars/ (cached after the
#     first time, so later runs work offline).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
JARS := .jars
STAMP := $(VENV)/.installed

.PHONY: setup jars chromium test test-all test-fast test-spark-fast lint demo bench lock build clean kafka

setup: $(STAMP) $(JARS)/spark/.fetched $(JARS)/kafka/.fetched

$(STAMP): requirements/dev.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "Python 3.11 is required (set PYTHON=/path/to/python3.11)")'
	@command -v java >/dev/null || { echo "Java 17 is required (Spark and Kafka run on the JVM)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements/dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

jars: $(JARS)/spark/.fetched $(JARS)/kafka/.fetched

$(JARS)/spark/.fetched: jvm/spark-connectors/pom.xml
	@command -v mvn >/dev/null || { apt-get update -qq && apt-get install -y -qq maven; }
	rm -rf $(JARS)/spark
	mvn -q -B -f jvm/spark-connectors/pom.xml dependency:copy-dependencies -DoutputDirectory=$(CURDIR)/$(JARS)/spark
	touch $@

$(JARS)/kafka/.fetched: jvm/kafka-broker/pom.xml
	@command -v mvn >/dev/null || { apt-get update -qq && apt-get install -y -qq maven; }
	rm -rf $(JARS)/kafka
	mvn -q -B -f jvm/kafka-broker/pom.xml dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=$(CURDIR)/$(JARS)/kafka
	touch $@

# Headless Chromium (Debian's package) for the test that opens the demo's HTML report in a
# real browser; installed only when missing.
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

# lint-imports checks the import contracts of pyproject.toml ([tool.importlinter]) on src/.
lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	PYTHONPATH=src $(BIN)/lint-imports --no-cache

# The test command of the README (and of CI): lint, types, then the suite without the e2e
# whole-pipeline runs (`make test-all` adds them). Two test processes (pytest-xdist), a test
# file per process at a time (files share their whole-pipeline runs through module fixtures);
# each prints its duration at the end.
PYTEST_PARALLEL := -n 2 --dist loadfile
timed = start=$$(date +%s); $(1); code=$$?; echo "$(2) took $$(( $$(date +%s) - start )) s"; exit $$code

test: lint chromium
	@$(call timed,$(BIN)/pytest $(PYTEST_PARALLEL) -m "not e2e",make test)

# Everything, the e2e runs included.
test-all: lint chromium
	@$(call timed,$(BIN)/pytest $(PYTEST_PARALLEL),make test-all)

# The quick loop while developing: the tests that need neither Spark nor the broker and are
# not slow (contract, configuration, rules in Python, CLI, bundle, app, generator, redaction,
# layering); under 2 minutes. `make test-spark-fast` adds the quick Spark tests (transforms,
# planning, tables on small frames).
test-fast: setup
	@$(call timed,$(BIN)/pytest $(PYTEST_PARALLEL) -m "not slow and not kafka and not spark",make test-fast)

test-spark-fast: setup
	@$(call timed,$(BIN)/pytest $(PYTEST_PARALLEL) -m "not slow and not kafka",make test-spark-fast)

demo: setup
	$(BIN)/ad-pipeline demo --env local

# Throughput against the Kafka -> Delta ceiling; writes benchmarks/results/latest.{json,md}.
bench: setup
	$(BIN)/python benchmarks/bench.py

build: setup
	$(BIN)/poetry build --format wheel

# Re-pin requirements/dev.lock after changing dependencies in pyproject.toml.
# uv is itself pinned in the lock, so this needs `make setup` once.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --extra local --extra tools --extra app --group dev \
	  --constraint requirements/constraints.txt --generate-hashes \
	  --python-version 3.11 --python-platform x86_64-manylinux_2_28 -o requirements/dev.lock

# Start the local Kafka broker by hand (Ctrl-C stops it).
kafka: setup
	$(BIN)/ad-pipeline kafka-broker

clean:
	rm -rf $(VENV) $(JARS) .pipeline dist .pytest_cache .mypy_cache .ruff_cache
