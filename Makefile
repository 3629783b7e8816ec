# SpAtten — open RTL, cocotb/pyuvm testbenches, numpy golden model.
# `make help` lists the targets. Everything runs from the project's own .venv (made by `make setup`).

SHELL  := /bin/bash
VENV   := .venv
PY     := $(VENV)/bin/python
SETUP  := $(VENV)/.spatten-setup
JOBS   ?= 2

MODULE ?= stream_fifo
SIM    ?= icarus
SEED   ?=
WAVES  ?= 0
TEST   ?=
PARAMS ?=

.PHONY: help setup regs sim test regress lint synth coverage demo blocks eval bench bench-topk \
        fusesoc-lint fusesoc-sim clean distclean

help:
	@echo "make setup                      create .venv (pinned deps) and apt-install missing tools"
	@echo "make demo                       the main job: MiniLM-L6 with every attention layer on the RTL (spatten run)"
	@echo "make blocks                     golden MiniLM eval + every RTL block's testbench (spatten blocks)"
	@echo "make regs                       regenerate docs/registers.md, sw/spatten_regs.h, golden/regs.py, rtl/spatten_regs.vh from rtl/spatten_regs.rdl"
	@echo "make sim MODULE=<m> SIM=icarus|verilator [WAVES=1] [SEED=n] [TEST=Class] [PARAMS='DEPTH=4 WIDTH=8']"
	@echo "make test                       CI regression: every testbench on both simulators + golden unit tests"
	@echo "make regress                    longer sweeps (not in CI)"
	@echo "make lint                       verilator -Wall, iverilog -g2012, ruff"
	@echo "make synth                      Yosys synthesis of every RTL module, cell counts"
	@echo "make coverage                   merged code + functional coverage -> build/coverage/index.html; fails if an RTL block < 95 % lines or a bin is unhit"
	@echo "make bench                      system benchmark (< 20 min): RTL vs reference, roofline, DRAM, CPU -> build/bench/report.md"
	@echo "make bench-topk                 top-k engine cycles vs the reference latency model -> build/bench/topk.md"
	@echo "make fusesoc-lint / fusesoc-sim FuseSoC targets of spatten.core: Verilator lint, Icarus elaboration of spatten_top"
	@echo "make clean                      remove build/"

$(SETUP): requirements.txt requirements-nodeps.txt pyproject.toml scripts/setup.sh
	@bash scripts/setup.sh

setup:
	@bash scripts/setup.sh

# The CSR map: rtl/spatten_regs.rdl is the source, these views are generated and committed.
REGS_OUT := docs/registers.md sw/spatten_regs.h golden/regs.py rtl/spatten_regs.vh
$(REGS_OUT) &: rtl/spatten_regs.rdl scripts/gen_regs.py | $(SETUP)
	$(PY) scripts/gen_regs.py

regs: $(SETUP)
	$(PY) scripts/gen_regs.py

sim: $(SETUP) $(REGS_OUT)
	$(PY) -m verif.sim $(MODULE) --sim $(SIM) $(if $(SEED),--seed $(SEED)) \
	  $(if $(filter 1 yes true,$(WAVES)),--waves) $(if $(TEST),--test $(TEST)) \
	  $(foreach p,$(PARAMS),-P $(p))

# --durations: the slowest tests in every run's log (the CI budget is 30 minutes); worksteal:
# an idle worker takes tests queued on the other (conftest.py starts the `long` ones first)
test: $(SETUP) $(REGS_OUT)
	$(PY) -m pytest -n $(JOBS) --dist worksteal --durations=30 tb tests

regress: $(SETUP) $(REGS_OUT)
	$(PY) -m pytest -n $(JOBS) --dist worksteal -m "slow or not slow" tests tb

lint: $(SETUP) $(REGS_OUT)
	@bash scripts/lint.sh

synth: $(SETUP)
	@MODULES="$(MODULES)" bash scripts/synth.sh

coverage: $(SETUP)
	@if ! compgen -G "build/sim/*/verilator/*/coverage-*.dat" >/dev/null; then $(MAKE) test; fi
	$(PY) -m verif.coverage_report

demo: $(SETUP)
	$(VENV)/bin/spatten run $(DEMO_ARGS)

blocks: $(SETUP)
	$(VENV)/bin/spatten blocks

eval: $(SETUP)
	$(VENV)/bin/spatten eval

bench: $(SETUP)
	$(PY) -m bench.system_bench

bench-topk: $(SETUP)
	$(PY) -m bench.topk_bench

# FuseSoC: spatten.core in this repository is the cores root (no library set-up needed).
FUSESOC_CORE := spatten:accel:spatten_top
fusesoc-lint fusesoc-sim: fusesoc-%: $(SETUP) $(REGS_OUT)
	eval "$$($(PY) -m verif.tools)" && $(VENV)/bin/fusesoc --cores-root . run \
	  --build-root build/fusesoc/$* --target=$* $(FUSESOC_CORE)

clean:
	rm -rf build

distclean: clean
	rm -rf $(VENV)
