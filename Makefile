# trtssd: `make demo` and `make test` set everything up (idempotent) and run.
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
SHARED ?= $(abspath ../shared)
EXTRAS ?= convert,eval,test,bench
# The torch backend's CPU parity tests need PyTorch. On this project's machines torch==2.13.0 is a
# local CPU wheel; elsewhere PyPI serves a CUDA build (GBs): `make test TORCH=` skips it (those
# tests then skip).
TORCH ?= torch==2.13.0
comma := ,
STAMP := $(VENV)/.setup-$(subst $(comma),-,$(EXTRAS))
TORCH_STAMP := $(VENV)/.torch-$(TORCH)
export TRTSSD_SHARED_DIR ?= $(SHARED)

.PHONY: setup demo test clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup-system.sh
	@bash scripts/setup-system.sh
	@test -x $(VPY) || { echo "setup: creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "setup: upgrading pip in $(VENV)"
	@$(VPY) -m pip install -q --upgrade pip
	@echo "setup: installing trtssd and its extras [$(EXTRAS)] into $(VENV): numpy, OpenCV, ONNX Runtime, TensorFlow (CPU), tf2onnx, pycocotools, matplotlib ... (about a minute, more on a slow link)"
	@$(VPY) -m pip install -q -e ".[$(EXTRAS)]"
	@touch $@
	@echo "setup: done ($(VENV)/bin/trtssd, $(VENV)/bin/python)"

$(TORCH_STAMP): $(STAMP)
	@$(if $(TORCH),echo "setup: installing $(TORCH) (CPU build) for the torch backend's tests"; $(VPY) -m pip install -q "$(TORCH)")
	@touch $@

demo: setup
	$(VPY) trt_ssd.py -m ssd_mobilenet_v1_coco_quant --model_dir $(SHARED)/models \
	  --video $(SHARED)/media/car-detection.mp4 --headless \
	  --output demo-out/car-detection.mp4 --json demo-out/car-detection.jsonl
	@echo "demo: wrote demo-out/car-detection.mp4 and demo-out/car-detection.jsonl"

test: setup $(TORCH_STAMP)
	$(VPY) -m pytest -q -ra

clean:
	rm -rf $(VENV) demo-out bench-results .pytest_cache
