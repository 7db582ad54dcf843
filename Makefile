# Makefile - a thin wrapper over CMake: make, make demo, make test, make bench.
BUILD   ?= build
ASAN    ?= build-asan
JOBS    ?= $(shell nproc)
# The demo store sits at the top so citations read 'samples/...'.
DEMO_STORE ?= .docqa-demo
SAMPLES = samples/lease-zh.pdf samples/manual-en.pdf samples/faq.md samples/notice-gb18030.txt

.PHONY: all deps build demo test test-release test-asan bench fuzz clean

all: build

deps:
	@sh scripts/install-deps.sh
	@[ -d tests/browser/node_modules/playwright-core ] || \
	    npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory

demo: build
	@rm -rf $(DEMO_STORE)
	@echo "== docqa ingest $(SAMPLES)"
	@DOCQA_STORE=$(DEMO_STORE) $(BUILD)/docqa ingest $(SAMPLES)
	@echo
	@echo "== docqa ask \"合同的违约金是多少？\""
	@DOCQA_STORE=$(DEMO_STORE) $(BUILD)/docqa ask "合同的违约金是多少？"
	@echo
	@echo "== docqa ask \"How long is the warranty period?\""
	@DOCQA_STORE=$(DEMO_STORE) $(BUILD)/docqa ask "How long is the warranty period?"

test: deps test-release test-asan

test-release:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) -- --no-print-directory
	@cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# Criterion runs tests in worker processes and does not fail a test on a
# sanitizer report from one, so reports go to log files and any log fails the run.
SAN_LOGS = $(CURDIR)/$(ASAN)/sanitizer-logs
test-asan:
	@cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DDQ_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN) -j $(JOBS)
	@rm -rf $(SAN_LOGS) && mkdir -p $(SAN_LOGS)
	@cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:log_path=$(SAN_LOGS)/asan \
	    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$(SAN_LOGS)/ubsan \
	    ctest --output-on-failure -j $(JOBS)
	@if [ -n "$$(ls -A $(SAN_LOGS))" ]; then cat $(SAN_LOGS)/*; \
	    echo "sanitizer reports above: failing"; exit 1; fi
	@echo "sanitizers: no reports"

bench: build
	@sh scripts/install-deps.sh --bench
	@BUILD=$(BUILD) sh bench/ingest
	@BUILD=$(BUILD) sh bench/embed
	@BUILD=$(BUILD) sh bench/serve
	@BUILD=$(BUILD) sh bench/llm
	@BUILD=$(BUILD) sh bench/lm
	@BUILD=$(BUILD) sh bench/reindex
	@BUILD=$(BUILD) sh bench/ocr
	@BUILD=$(BUILD) sh bench/query
	@BUILD=$(BUILD) sh bench/bpe

# libFuzzer harnesses (clang) in build-fuzz, each run FUZZ_SECONDS (60); see fuzz/README.md.
fuzz:
	@sh scripts/install-deps.sh --fuzz
	@sh scripts/fuzz.sh

clean:
	rm -rf $(BUILD) $(ASAN) build-fuzz
