# Two commands set everything up on a fresh machine:
#   make run   — install, build the index on first start, serve the web app
#   make test  — install, run the test suite (what CI runs)
PY ?= python3
PIP = $(PY) -m pip install --disable-pip-version-check -q

.PHONY: install install-dev run build test test-slow eval learn bench

install:
	$(PIP) torch==2.13.0
	$(PIP) -r requirements.txt

install-dev: install
	$(PIP) -r requirements-dev.txt

run: install
	$(PY) app.py

build: install
	$(PY) -m bot build

test: install-dev
	$(PY) -m pytest -q -m "not slow"

test-slow: install-dev
	$(PY) -m pytest -q -m slow

eval:
	$(PY) -m bot eval --data ../shared/eval/lecoqa_dev.json

bench:
	$(PY) -m bot.lab.bench --data ../shared/eval/lecoqa_dev.json

# rebuilds bot/data/reranker.json (the only learned file) from ../shared/eval; prints CV figures
learn:
	$(PY) -m bot.lab.learn --data ../shared/eval/lecoqa_dev.json --data ../shared/eval/lawbench_3-2_scene_article.json
