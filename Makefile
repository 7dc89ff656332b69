# trtssd: `make demo` and `make test` set everything up (idempotent) and run.
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
SHARED ?= $(abspath ../shared)
EXTRAS ?= convert,eval,test
STAMP := $(VENV)/.setup-$(subst $(comma),-,$(EXTRAS))
comma := ,
export TRTSSD_SHARED_DIR ?= $(SHARED)

.PHONY: setup demo test clean

setup: $(STAMP)

$(STAMP): pyproject.toml scripts/setup-system.sh
	bash scripts/setup-system.sh
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e ".[$(EXTRAS)]"
	touch $@

demo: setup
	$(VPY) trt_ssd.py -m ssd_mobilenet_v1_coco_quant --model_dir $(SHARED)/models \
	  --video $(SHARED)/media/car-detection.mp4 --headless \
	  --output demo-out/car-detection.mp4 --json demo-out/car-detection.jsonl
	@echo "demo: wrote demo-out/car-detection.mp4 and demo-out/car-detection.jsonl"

test: setup
	$(VPY) -m pytest -q -ra

clean:
	rm -rf $(VENV) demo-out bench-results .pytest_cache
