# The two commands of the README:
#   make experiment   set up, then run the main job (BM25 on SciFact, embedded Lucene)
#   make test         set up, then run the whole test suite and build the docs
VENV ?= .venv
export RANKKIT_VENV := $(VENV)
export RANKKIT_DATA ?= $(abspath ../shared/datasets)

.PHONY: setup experiment test docs bench

setup:
	bash scripts/setup.sh

experiment: setup
	$(VENV)/bin/rankkit run eval/scifact.toml --check

# The tests run against a real Elasticsearch that scripts/elasticsearch.sh starts (and stops by pid,
# also when tests fail); set RANKKIT_ES_URL to use a server of your own instead.
test: setup
	bash scripts/elasticsearch.sh run -- bash scripts/test.sh

docs: setup
	$(VENV)/bin/mkdocs serve

bench: setup
	$(VENV)/bin/python -m benchmarks.bench_eval --queries 1000 --docs 100
	$(VENV)/bin/python -m benchmarks.bench_bm25
	bash scripts/elasticsearch.sh run -- $(VENV)/bin/python -m benchmarks.bench_elasticsearch
