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

# Every benchmark at a quick size (about 50 minutes on 2 cores), then one table of all comparisons.
BENCH_RECORD ?= /tmp/rankkit-bench.jsonl
bench: setup
	rm -f $(BENCH_RECORD)
	RANKKIT_BENCH_RECORD=$(BENCH_RECORD) $(VENV)/bin/python -m benchmarks.bench_eval --queries 1000 --docs 100
	RANKKIT_BENCH_RECORD=$(BENCH_RECORD) $(VENV)/bin/python -m benchmarks.bench_bm25 --repeats 5 --no-bm25s
	RANKKIT_BENCH_RECORD=$(BENCH_RECORD) $(VENV)/bin/python -m benchmarks.bench_dense --encode-docs 300 --encode-repeats 5
	RANKKIT_BENCH_RECORD=$(BENCH_RECORD) $(VENV)/bin/python -m benchmarks.bench_crossencoder --pairs 2000 --repeats 5 --skip training
	RANKKIT_BENCH_RECORD=$(BENCH_RECORD) $(VENV)/bin/python -m benchmarks.bench_crossencoder --collection scifact --pairs 1000 --repeats 5 --skip onnx cache training
	RANKKIT_BENCH_RECORD=$(BENCH_RECORD) $(VENV)/bin/python -m benchmarks.bench_shard --queries 300 --depth 20
	RANKKIT_BENCH_RECORD=$(BENCH_RECORD) bash scripts/elasticsearch.sh run -- $(VENV)/bin/python -m benchmarks.bench_elasticsearch
	$(VENV)/bin/python -m benchmarks.summary $(BENCH_RECORD)
