# nlpsvc — every target creates .venv and installs the project on first use.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
corpus  ?= corpora/demo
models  ?= models
port    ?= 8000
WORKERS ?= 2
THREADS ?= 4

.PHONY: install run train serve score test bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: this machine serves 2.13.0 as a CPU build.
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,bench,dev]'
	touch $(STAMP)

install: $(STAMP)

# Train on the shipped demo corpus if its artifacts are missing, then serve.
run: install
	@test -f $(models)/demo/ngram/CURRENT || $(BIN)/nlpsvc train corpora/demo --out $(models)
	@echo "nlpsvc on http://127.0.0.1:$(port)"
	@echo "  curl -s localhost:$(port)/health"
	@echo "  curl -s -XPOST localhost:$(port)/score -H 'Content-Type: application/json' -d '{\"text\": \"it was a dark night\"}'"
	$(BIN)/nlpsvc serve --models $(models) --port $(port) --workers $(WORKERS) --threads $(THREADS)

train: install
	$(BIN)/nlpsvc train $(corpus) --out $(models) $(if $(only),--only $(only)) $(if $(config),--config $(config))

serve: install
	$(BIN)/nlpsvc serve --models $(models) --port $(port) --workers $(WORKERS) --threads $(THREADS)

score: install
	$(BIN)/nlpsvc score --models $(models) --input $(input) --output $(output) $(if $(kind),--kind $(kind)) $(if $(jobs),--jobs $(jobs))

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m bench.run $(if $(only),--only $(only))

lint: install
	$(BIN)/ruff check nlpsvc pipelines corpora tests bench

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
