# The commands of the README. `make` and `make test` run `setup` first, so a fresh
# Debian/Ubuntu machine needs nothing else:
#   make        compile the newest pinned release into generated/ (the main job)
#               and its wheel into dist/ (pip install dist/vfio-*.whl)
#   make test   the whole test suite
#   make docs   the reference docs as HTML in build/docs-html
# `setup` installs the toolchain (gcc, the cross gccs that are the layout
# oracle for aarch64, powerpc64, arm, riscv64, s390x and mips64el), the Python
# package, and fetches every
# pinned release into the cache (~/.cache/vfiogen).

PYTHON ?= python3
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEB_PACKAGES := gcc gcc-aarch64-linux-gnu gcc-powerpc64-linux-gnu gcc-arm-linux-gnueabihf \
	gcc-riscv64-linux-gnu gcc-s390x-linux-gnu gcc-mips64el-linux-gnuabi64
NEWEST := $(shell sed -n 's/^\[releases\."\(.*\)"\]/\1/p' headers/releases.toml | tail -n 1)

.PHONY: all generate test setup deb-packages python-packages fetch bench docs mutation

all: generate

generate: setup
	vfiogen build --release $(NEWEST) --out generated
	rm -f dist/vfio-*.whl
	vfiogen wheel --release $(NEWEST) --out dist

test: setup
	$(PYTHON) -m pytest -q

setup: deb-packages python-packages fetch

deb-packages:
	@missing=$$(for p in $(DEB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		echo "installing $$missing"; \
		$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	bash tests/install-abigail.sh
	sh tests/hardware/install-deps.sh
	bash tests/install-chromium.sh

python-packages:
	$(PYTHON) -m pip install -q -e '.[test,docs,fuzz]'

fetch:
	vfiogen fetch

# only the docs: `make` (or `make setup`) has installed the tools
docs:
	vfiogen docs --release $(NEWEST) --out build/docs-src --html build/docs-html

# The mutation campaign over the code that decides correctness (long: about
# an hour on 2 cores; `make test` runs only the fixed sample in
# tests/mutation/sample.toml). Report: build/mutation/report.md.
mutation: setup
	$(PYTHON) -m pip install -q -e '.[mutation]'
	nice $(PYTHON) tests/mutation/run.py

bench: setup
	$(PYTHON) tests/bench/bench_spec.py
	$(PYTHON) tests/bench/bench_speed.py
	$(PYTHON) tests/bench/bench_ab.py main
	$(PYTHON) tests/bench/bench_bindings.py
	$(PYTHON) tests/bench/bench_diff.py
	$(PYTHON) tests/bench/bench_docs.py
	$(PYTHON) tests/bench/bench_fuzz.py
