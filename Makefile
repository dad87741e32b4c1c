# Two entry points, both idempotent on a fresh machine:
#   make demo   set up, then collect -> train -> evaluate -> deploy on the MuJoCo twin, on the built-in default task
#   make test   set up, then run the test suite
# `make setup` alone installs system packages and the virtual environment.

PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
APT_PKGS := libusb-1.0-0 libegl1 libgl1 libgles2 libosmesa6 ffmpeg xvfb
export MUJOCO_GL ?= egl
export PYOPENGL_PLATFORM ?= egl
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: setup apt demo test test-repeat lint bench clean

setup: apt $(STAMP)

apt:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

# torch 2.13.0 first: it is the CPU wheel; an unpinned torch would pull CUDA packages.
$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -c constraints.txt -e ".[dev,realsense,teleop,lerobot,bench,viz]"
	@# lerobot pulls torchvision/torchcodec: CUDA-only wheels that fail to load with the CPU
	@# torch and, once present, break `import transformers`. Nothing here uses them.
	$(BIN)/pip uninstall -y -q torchvision torchcodec
	touch $(STAMP)

demo: setup
	$(BIN)/robot demo

test: setup
	$(BIN)/ruff check robot data sim policies hardware tests benchmarks
	$(BIN)/python -m pytest -n 2 -q tests

# Reliability: the whole suite N times in a row (default 20), stopping at the first red run.
N ?= 20
test-repeat: setup
	@for i in $$(seq 1 $(N)); do echo "== run $$i/$(N)"; $(BIN)/python -m pytest -n 2 -q tests || exit 1; done
	@echo "$(N) runs in a row passed"

lint: setup
	$(BIN)/ruff check robot data sim policies hardware tests benchmarks

bench: setup
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache
