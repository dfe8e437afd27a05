# ramzswap appliance: one entry point for building, booting and testing.
#
#   make demo    build the test image, boot it, show compressed swap at work
#   make test    run every test (host tests, then target tests on each arch)
#
# Both install what they need first (Debian packages, then a venv with the
# pinned Python packages of requirements-dev.txt).  See README.md.

ARCH ?= x86_64
KERNEL ?= 6.1
MEM ?= 256M
SMP ?= 2
BACKING ?=
APPEND ?=
TARGET_ARCHS ?= x86_64 aarch64
PYTEST_ARGS ?=

VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)/tools
export TARGET_ARCHS

.PHONY: help deps image run demo test test-host test-quick test-target lint check-kernels \
	check-fresh check-debug clean bench-setup

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))
	@echo "  make image | run | test-host | test-quick | test-target | lint | check-kernels | list-defconfigs"
	@echo "  make check-fresh             make demo on a fresh Debian root (mmdebstrap, root only)"
	@echo "  make check-debug             the module on a debug kernel -> out/check-debug/"
	@echo "  make bench-setup ARCH=...   boot cost of ramzswap-setup start (goal: <= 2 x python3)"
	@echo "  make bench [ARCH= RUNS= BENCH_ALGOS=] ramzswap vs zram per compressor -> out/bench/"
	@echo "  make bench-backing           swap with a throttled backing disk -> out/bench/backing.md"
	@echo "  make reliability [SOAK=min]  fault injection, stress, soak, fuzz -> out/reliability/"

deps: $(VENV)/.installed $(VENV)/.paths

$(VENV)/.installed: requirements-dev.txt tools/install-deps.sh
	@./tools/install-deps.sh
	@# a venv left half made (python3-venv was missing) has no pip: make it again
	@test -x $(VENV)/bin/pip || { rm -rf $(VENV); python3 -m venv $(VENV); }
	@$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	@touch $@

# The venv's python finds the host tools and the helper (whose stats parser they share)
# however it is started: by make, by pytest, or as a subprocess of a test.
$(VENV)/.paths: $(VENV)/.installed Makefile
	@$(PY) -c "import pathlib, sysconfig; pathlib.Path(sysconfig.get_path('purelib'), \
		'ramzswap-tree.pth').write_text('$(CURDIR)/tools\n$(CURDIR)/ramzswap-setup\n')"
	@touch $@

# The offline test image (Debian kernel + our module, helper and overlay).
# With BUILDROOT=<checkout> set, `make image` builds the Buildroot image instead.
ifeq ($(BUILDROOT),)
image: deps
	@$(PY) -m rztools.image --arch $(ARCH) --kernel $(KERNEL)
else
image: br-image
endif

run: image
	@$(PY) -m rztools.target.run --arch $(ARCH) --kernel $(KERNEL) --mem $(MEM) --smp $(SMP) \
		$(if $(BACKING),--backing $(BACKING)) $(if $(APPEND),--append "$(APPEND)")

demo: image
	@$(PY) -m rztools.target.demo --arch $(ARCH) --kernel $(KERNEL)

# Boot cost of `ramzswap-setup start` in the guest against `python3 -c pass` (a benchmark).
bench-setup: deps
	@$(PY) -m rztools.bench.setup_cost --arch $(ARCH) --kernel $(KERNEL) --mem $(MEM)

# ramzswap against zram per compressor, and the reliability scenarios.  Results:
# out/bench/, out/reliability/.  RUNS= pairs per algorithm and data set (bench: 6, the
# fewest with a 95 % interval; bench-backing: 3); BENCH_ALGOS= and BENCH_DATASETS= pick
# subsets (comma-separated); SOAK= soak minutes (default 10).  The tools read RUNS and
# BENCH_* from the environment.
export RUNS BENCH_ALGOS BENCH_DATASETS
SOAK ?= 10
# Swap with a throttled backing disk (rztools.bench.backing) matters from 6.3 on, where
# swap waits for every write to a synchronous disk: it runs on this kernel.
BACKING_KERNEL ?= 6.12
.PHONY: bench bench-backing reliability
bench: image
	@$(PY) -m rztools.bench.swap --arch $(ARCH) --kernel $(KERNEL)
	@$(PY) -m rztools.bench.backing --arch $(ARCH) --kernel $(BACKING_KERNEL)

bench-backing: deps
	@$(PY) -m rztools.bench.backing --arch $(ARCH) --kernel $(BACKING_KERNEL)

reliability: image
	@$(PY) -m rztools.bench.reliability --arch $(ARCH) --kernel $(KERNEL) --soak-minutes $(SOAK)

test: deps
	@$(PY) -m pytest tests $(PYTEST_ARGS)

test-host: deps
	@$(PY) -m pytest tests/host $(PYTEST_ARGS)

# the host tests that download and build nothing (README: which are slow)
test-quick: deps
	@$(PY) -m pytest tests/host -m "not slow" --hypothesis-profile=quick $(PYTEST_ARGS)

test-target: deps
	@$(PY) -m pytest tests/target $(PYTEST_ARGS)

lint: deps
	@$(VENV)/bin/ruff check .

check-kernels: deps
	@$(PY) -m rztools.kernel.check

# The module on a debug kernel (lockdep, KASAN, UBSAN, kmemleak, fault injection):
# DEBUG_ARCHS=x86_64,aarch64 by default.  -> out/check-debug/summary.md
DEBUG_ARCHS ?= x86_64,aarch64
check-debug: deps
	@$(PY) -m rztools.kernel.debugcheck --arch $(DEBUG_ARCHS)

# The README's main command on a new machine: a minimal Debian root (mmdebstrap),
# a clean clone of HEAD, an empty download cache, `make demo` inside.  Root only.
check-fresh: deps
	@$(PY) -m rztools.image.fresh

clean:
	rm -rf out

include buildroot.mk
