# Makefile - a thin wrapper over CMake: make, make demo, make test, make bench,
# make install, make package.
BUILD   ?= build
ASAN    ?= build-asan
# make install: a Release build of its own (no -Werror), into DESTDIR/PREFIX
RELEASE ?= build-release
PREFIX  ?= /usr/local
DESTDIR ?=
PACKAGE_OUT ?= build-package
JOBS    ?= $(shell nproc)
# The demo store sits at the top so citations read 'samples/...'.
DEMO_STORE ?= .docqa-demo
SAMPLES = samples/lease-zh.pdf samples/manual-en.pdf samples/faq.md samples/notice-gb18030.txt

.PHONY: all deps build demo test test-release test-asan test-release-build bench fuzz clean \
	install uninstall package package-test reproducible-check

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

test: deps test-release test-asan test-release-build

# What users and packagers build (Release, -O3) compiles without a warning:
# built, not run (the two builds above run the tests).
test-release-build:
	@cmake -S . -B $(BUILD)-release-check -DCMAKE_BUILD_TYPE=Release -DDQ_WERROR=ON \
	    -DDOCQA_CUDA=OFF >/dev/null
	@cmake --build $(BUILD)-release-check -j $(JOBS) -- --no-print-directory >/dev/null
	@echo "release build: no warnings"

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
	@BUILD=$(BUILD) sh bench/ask_llm
	@BUILD=$(BUILD) sh bench/reindex
	@BUILD=$(BUILD) sh bench/ocr
	@BUILD=$(BUILD) sh bench/query
	@BUILD=$(BUILD) sh bench/bpe

# make install [PREFIX=/usr/local] [DESTDIR=]: the program stripped (its debug
# info under PREFIX/lib/debug), the CUDA backend where built, man pages,
# completions, systemd units, docs; make uninstall removes what it listed.
install:
	@cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
	    -DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	@cmake --build $(RELEASE) -j $(JOBS) -- --no-print-directory
	@DESTDIR="$(DESTDIR)" cmake --install $(RELEASE)

uninstall:
	@DESTDIR="$(DESTDIR)" cmake --build $(RELEASE) --target uninstall -- --no-print-directory

# The Debian package (debian/, dpkg-buildpackage -b, lintian) in PACKAGE_OUT;
# package-test builds, installs, runs, purges it (root or sudo; CI runs it).
package:
	@sh scripts/install-deps.sh --package
	@sh scripts/build-deb.sh $(PACKAGE_OUT)

package-test:
	@sh scripts/install-deps.sh --package
	@sh tests/install/package-test.sh

# Two Release builds of the tree in different folders are byte-identical.
reproducible-check:
	@sh scripts/check-reproducible.sh

# libFuzzer harnesses (clang) in build-fuzz, each run FUZZ_SECONDS (60); see fuzz/README.md.
fuzz:
	@sh scripts/install-deps.sh --fuzz
	@sh scripts/fuzz.sh

clean:
	rm -rf $(BUILD) $(ASAN) build-fuzz $(RELEASE) $(BUILD)-release-check $(PACKAGE_OUT)
