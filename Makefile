# gvae: the two commands of the README are `make demo` and `make test`; the rest are parts of them.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
JOBS ?= $(shell nproc)
CPP_BUILD ?= build/cpp
SAN_BUILD ?= build/cpp-sanitize
TSAN_BUILD ?= build/cpp-tsan
SUPP := $(abspath tests/cpp/sanitizers)
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: help setup build demo test test-python test-cpp sanitize tsan bench reference-model latent-study clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

setup:  ## create .venv and install torch 2.13 (CPU), every dependency, Horovod and gvae itself
	@bash scripts/setup_env.sh

build:  ## rebuild the gvae package (C++ library + bindings) into .venv after C++ changes
	@mkdir -p build && flock build/.install.lock $(PY) -m pip install --quiet --no-build-isolation --no-deps -e .

demo: setup  ## the main job end to end on the embedded default (see README)
	@bash scripts/demo.sh

# `make tsan` is the last part of `make test` since the C++ tests compile as one TU: its own ThreadSanitizer
# build of libgvae + gvae_tests and the two stress tests took 72 s on 2 cores (82 s of CPU; 2026-11-30, fresh
# clone). Before, one instrumented executable per test cost ~15 min of compiling and was left out.
# While pytest runs (it leaves part of the 2 cores idle: subprocess start-ups, single-threaded g++ of
# its AOTInductor exports), the C++ tests' models (ctest's fixtures gvae_test_models + gvae_omp_probe:
# two AOTInductor exports and a probe, ~95 s alone) are exported at nice 5 in the background into the
# shared, content-stamped $(TEST_MODELS); ctest's fixtures then find them up to date (~5 s).
TEST_MODELS := build/test-models
test: setup  ## the whole test suite: Python (pytest) and C++ (ctest, then ASan+UBSan, then TSan)
	@mkdir -p build; ( PYTHONPATH=python nice -n 5 $(PY) tests/cpp/make_test_models.py $(TEST_MODELS) --cuda-if-available && \
	  PYTHONPATH=python nice -n 5 $(PY) tests/cpp/make_omp_probe.py $(TEST_MODELS) ) > build/test-models.log 2>&1 & models=$$!; \
	  $(MAKE) --no-print-directory test-python; rc=$$?; \
	  wait $$models || echo "[test] background export of the C++ test models failed (ctest's fixture retries it): see build/test-models.log"; \
	  exit $$rc
	@$(MAKE) --no-print-directory test-cpp TEST_CPP_NEEDS=   # setup has just built the package
	@$(MAKE) --no-print-directory sanitize
	@$(MAKE) --no-print-directory tsan

# pytest-xdist with one worker per core (PYTEST_WORKERS=0: in this process); --dist loadfile keeps a file's
# tests (and its module fixtures) on one worker; session fixtures are built once for all workers
# (tests/fixtures_shared.py). Measured in docs/DESIGN.md section 11.
PYTEST_WORKERS ?= $(JOBS)
test-python:  ## pytest over tests/, one xdist worker per core
	$(PY) -m pytest tests -q -n $(PYTEST_WORKERS) --dist loadfile

# The test executables themselves compile at -O0 (GVAE_TEST_OPT; the installed libgvae they test keeps
# its Release level): ~40% less compile time per test (test_producer: 19.5 s instead of 32.8 s of CPU
# at -O3). `make sanitize` keeps its tests at SAN_CXX_FLAGS' -O1 (-O0 not yet verified under ASan/UBSan).
TEST_OPT ?= -O0
# The C++ unit tests link the installed package's libgvae (the one pytest and the bindings use), so
# the library is compiled once; `make build` first brings it up to date with cpp/ (a no-op when it is).
TEST_CPP_NEEDS ?= build
test-cpp: $(TEST_CPP_NEEDS)  ## rebuild the package if needed, then build and run the C++ unit tests against its libgvae with ctest
	cmake -S . -B $(CPP_BUILD) -G Ninja -DPython_EXECUTABLE=$(abspath $(PY)) -DGVAE_BUILD_TESTS=ON -DGVAE_TEST_OPT=$(TEST_OPT) \
	  -DGVAE_TEST_INSTALLED="$$($(PY) -c 'import gvae.native as n; print(n.cmake_prefix_path())')" >/dev/null
	cmake --build $(CPP_BUILD) -j $(JOBS)
	ctest --test-dir $(CPP_BUILD) --output-on-failure -j $(JOBS)

# Sanitized builds compile at -O1 -g1 (line tables: symbolized file:line stacks), the level the ASan
# documentation recommends: the same checks as -O2 -g, at about 60% of the compile time (Contract.cpp:
# 75 s instead of 127 s of CPU); NDEBUG as in RelWithDebInfo.
SAN_CXX_FLAGS := -O1 -g1 -DNDEBUG
# intercept_tls_get_addr=0: GCC <= 13's sanitizer runtime (here GCC 12) takes a dynamic TLS block whose
# start is 16 bytes past a page boundary for a glibc-2.19 block with a header, reads a bogus range from
# the words before it, and LeakSanitizer's tracer then segfaults at exit ("Tracer caught signal 11",
# google/sanitizers#1322; seen on CI in test_thread_count, whose fresh threads each allocate DTLS). It
# reports no leak, and it strikes at random. The option stops LSan from registering dynamic TLS blocks
# as roots; libgvae keeps no heap pointer only in thread_local storage of a dlopen'ed library, so no
# leak report can come from it (checked: the whole suite runs clean with it).
sanitize:  ## the C++ unit tests built and run with AddressSanitizer (leak detection on) + UndefinedBehaviorSanitizer
	cmake -S . -B $(SAN_BUILD) -G Ninja -DPython_EXECUTABLE=$(abspath $(PY)) -DGVAE_BUILD_TESTS=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$(SAN_CXX_FLAGS)" \
	  -DGVAE_SANITIZE=address,undefined >/dev/null
	cmake --build $(SAN_BUILD) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:protect_shadow_gap=0:intercept_tls_get_addr=0 LSAN_OPTIONS=suppressions=$(SUPP)/lsan.supp:print_suppressions=0 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(SAN_BUILD) --output-on-failure -j $(JOBS)

# tsan: intra-op 1 only (test_threading, test_thread_count); the intra=2 case is left out because its
# OpenMP workers run in uninstrumented libgomp, see tests/cpp/sanitizers/tsan.supp.
tsan:  ## the stress tests (test_threading, test_thread_count) built and run with ThreadSanitizer
	cmake -S . -B $(TSAN_BUILD) -G Ninja -DPython_EXECUTABLE=$(abspath $(PY)) -DGVAE_BUILD_TESTS=ON \
	  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="$(SAN_CXX_FLAGS)" -DGVAE_SANITIZE=thread >/dev/null
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target gvae_tests   # every test in one TU (tests/cpp/CMakeLists.txt)
	GVAE_STRESS_JETS=200 TSAN_OPTIONS=suppressions=$(SUPP)/tsan.supp:halt_on_error=1:second_deadlock_stack=1 \
	  ctest --test-dir $(TSAN_BUILD) --output-on-failure -j $(JOBS) -R '^(gvae_test_models|gvae_omp_probe|gvae_export_clean|test_threading|test_thread_count)$$'

bench: setup  ## run every benchmark in benchmarks/ (results land in benchmarks/results/)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

reference-model: setup  ## rebuild the small committed reference model in export/reference (7-15 min on 2 cores)
	$(PY) -m gvae.export --reference --out export/reference

latent-study: setup  ## issue 14 study: >= 10k train / 5k test jets per type, latent 50x4 and 50x16 (hours on 2 cores)
	@bash scripts/latent_study.sh

clean:  ## remove build products (keeps .venv)
	rm -rf build demo_output
