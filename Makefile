# Two commands on a fresh machine (Python 3.11+): `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run test test-fast bench bench-pipeline bench-storage eval-workout eval-highlights clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(BIN)/.installed  ## the whole service: web + workers (+ embedded Redis if REDIS_URL is unset)
	$(BIN)/python -m api

test: $(BIN)/.installed  ## lint, types, then every test (integration suite included)
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest

test-fast: $(BIN)/.installed  ## unit tests only
	$(BIN)/python -m pytest -m "not integration"

bench: $(BIN)/.installed  ## every performance figure, its target and its same-run baseline
	$(BIN)/python bench/performance.py

bench-pipeline: $(BIN)/.installed  ## the issue-2 figures: ffmpeg decode baseline vs upload->completed
	$(BIN)/python bench/pipeline.py

bench-storage: $(BIN)/.installed  ## local vs S3 store: upload->completed, store bytes, web RSS
	$(BIN)/python bench/storage.py

eval-workout: $(BIN)/.installed  ## the issue-4 figures: rep counting against synthetic truth
	$(BIN)/python bench/eval_workout.py

eval-highlights: $(BIN)/.installed  ## the issue-3 figures: highlights, cuts vs PySceneDetect, reel
	$(BIN)/pip install --quiet -r requirements-bench.txt
	$(BIN)/python bench/eval_highlights.py

clean:
	rm -rf $(VENV) var
