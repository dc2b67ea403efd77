# nlpsvc — every target creates .venv and installs the project on first use (SPEC §1).
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
corpus  ?= corpora/demo
models  ?= models
port    ?= 8000
host    ?= 127.0.0.1
# one sync worker per core: /score is CPU-bound, threads only add GIL hand-offs (BENCHMARKS.md)
WORKERS ?= $(shell nproc 2>/dev/null || echo 2)
THREADS ?= 1
# make train corpus=PATH [only=ngram,embeddings] [config=FILE] [set="text.tokenizer=whitespace ngram.order=5"]
TRAIN_ARGS = $(if $(only),--only $(only)) $(if $(config),--config $(config)) \
             $(foreach s,$(set),--set $(s)) $(if $(errors),--errors $(errors))

.PHONY: install run train serve score test test-browser screenshots bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: this machine serves 2.13.0 as a CPU build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,bench,dev]'
	touch $(STAMP)

install: $(STAMP)

# Train the shipped demo corpus for every kind whose artifacts are missing, then serve.
run: install
	$(BIN)/nlpsvc train corpora/demo --out $(models) --if-missing
	@echo ""
	@echo "nlpsvc on http://$(host):$(port)  (Ctrl-C stops it)"
	@echo "  curl -s http://$(host):$(port)/ready"
	@echo "  curl -s http://$(host):$(port)/models"
	@echo "  curl -s -XPOST http://$(host):$(port)/score -H 'Content-Type: application/json' -d '{\"text\": \"Alice was beginning to get very tired\"}'"
	@echo "  curl -s -XPOST http://$(host):$(port)/score -H 'Content-Type: application/json' -d '{\"texts\": [\"the queen said\", \"said queen the\"], \"per_token\": true}'"
	@echo ""
	$(BIN)/nlpsvc serve --models $(models) --host $(host) --port $(port) --workers $(WORKERS) --threads $(THREADS)

train: install
	$(BIN)/nlpsvc train $(corpus) --out $(models) $(TRAIN_ARGS)

serve: install
	$(BIN)/nlpsvc serve --models $(models) --host $(host) --port $(port) --workers $(WORKERS) --threads $(THREADS)

score: install
	@test -n "$(input)" -a -n "$(output)" || { echo "usage: make score input=FILE output=FILE [kind=ngram] [jobs=N] [models=DIR]"; exit 2; }
	$(BIN)/nlpsvc score --models $(models) --input $(input) --output $(output) \
		$(if $(kind),--kind $(kind)) $(if $(jobs),--jobs $(jobs)) $(if $(column),--column $(column)) \
		$(if $(resume),--resume)

test: install
	$(BIN)/python -m pytest -q

# The playground in Debian's chromium (apt-get install -y chromium; .ci/run installs it).
test-browser: install
	$(BIN)/python -m pytest -q -m browser tests/browser

# docs/playground-*.png from the demo models (trained first if missing, as make run does).
screenshots: install
	$(BIN)/nlpsvc train corpora/demo --out $(models) --if-missing
	NLPSVC_BROWSER_MODELS=$(models) NLPSVC_SCREENSHOTS=docs \
		$(BIN)/python -m pytest -q -m browser tests/browser

# the service benchmark drives wrk (Debian package); installed here when missing.
# Each suite stores bench/results/<suite>.json and renders its BENCHMARKS.md section from it;
# `make bench render=1 [only=...]` re-renders from the stored JSON without measuring.
bench: install
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	$(BIN)/python -m bench.run $(if $(only),--only $(only)) $(if $(render),--render)

lint: install
	$(BIN)/ruff check nlpsvc pipelines corpora tests bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
