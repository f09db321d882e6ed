# lrcpipe — build, test, benchmark, demo, install.
#
#   make            build libcommon.a and every filter into bin/
#   make check      install missing Debian packages (as root), build, run the tests
#   make demo       install missing packages, build, run the demo on the bundled sample
#   make bench      benchmarks against the reference implementations (not part of check)
#   make install    PREFIX=/usr/local DESTDIR= : binaries and man pages
#   make check SANITIZE=1   the same tests built with ASan + UBSan (in build/san/)

PREFIX  ?= /usr/local
DESTDIR ?=
CC      ?= cc
PKG_CONFIG ?= pkg-config
PYTHON  ?= /usr/bin/python3

PKGS := libzmq msgpack
PKG_CFLAGS := $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null)
# OpenBLAS ships a .pc on Debian 12 (openblas.pc); fall back to its Debian path.
BLAS_CFLAGS := $(shell $(PKG_CONFIG) --cflags openblas 2>/dev/null || echo -I/usr/include/x86_64-linux-gnu/openblas-pthread)
BLAS_LIBS   := $(shell $(PKG_CONFIG) --libs openblas 2>/dev/null || echo -lopenblas)
# libnifti has no .pc file: Debian puts its headers in /usr/include/nifti.
NIFTI_CFLAGS := -I/usr/include/nifti
NIFTI_LIBS  := -lnifti2 -lznz -lz
PNG_CFLAGS  := $(shell $(PKG_CONFIG) --cflags libpng 2>/dev/null)
PNG_LIBS    := $(shell $(PKG_CONFIG) --libs libpng 2>/dev/null || echo -lpng)
# DCMTK (C++) reads DICOM behind libcommon/io/dicom.h; only the libraries used
# are linked (Debian links with --as-needed).
# DCMTK's free codecs have no JPEG 2000: OpenJPEG decodes it.
DCMTK_CFLAGS := $(shell $(PKG_CONFIG) --cflags dcmtk 2>/dev/null) $(shell $(PKG_CONFIG) --cflags libopenjp2 2>/dev/null || echo -I/usr/include/openjpeg-2.5)
# Open MPI (data-parallel training, nn/dist.h): its .pc file, else mpicc's own flags.
MPI_CFLAGS  := $(shell $(PKG_CONFIG) --cflags ompi-c 2>/dev/null || mpicc --showme:compile 2>/dev/null)
MPI_LIBS    := $(shell $(PKG_CONFIG) --libs ompi-c 2>/dev/null || mpicc --showme:link 2>/dev/null || echo -lmpi)
DCMTK_LIBS  := $(shell $(PKG_CONFIG) --libs dcmtk 2>/dev/null || echo -ldcmjpls -ldcmtkcharls -ldcmjpeg -lijg8 -lijg12 -lijg16 -ldcmimgle -ldcmdata -loflog -lofstd) -lopenjp2 -lstdc++

ifeq ($(SANITIZE),1)
BUILD   := build/san
BIN     := build/san/bin
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# -O2 as the release build: the suite is mostly training, and the engine's
# kernels at -O1 took 2.6 times the CPU of -O2 under the sanitizers (a
# 20-step seg-finetune: 30.7 s against 11.8 s user); ASan and UBSan check
# every load and store the optimised code still makes
OPT     := -O2
else
BUILD   := build/rel
BIN     := bin
SANFLAGS :=
OPT     := -O2
endif

CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Wshadow -Wno-unused-parameter -Wno-psabi
ALL_CFLAGS := -std=gnu11 -D_GNU_SOURCE $(CFLAGS) $(WARN) $(SANFLAGS) -pthread -fopenmp -Ilibcommon \
              $(PKG_CFLAGS) $(BLAS_CFLAGS) $(NIFTI_CFLAGS) $(PNG_CFLAGS) $(MPI_CFLAGS) -MMD -MP
ALL_CXXFLAGS := -std=gnu++17 -D_GNU_SOURCE $(CFLAGS) $(WARN) $(SANFLAGS) -pthread -Ilibcommon $(DCMTK_CFLAGS) -MMD -MP
LDLIBS  := $(PKG_LIBS) $(NIFTI_LIBS) $(BLAS_LIBS) $(PNG_LIBS) $(DCMTK_LIBS) $(MPI_LIBS) -lm
ALL_LDFLAGS := $(LDFLAGS) $(SANFLAGS) -pthread -fopenmp

LIB_SRC  := $(wildcard libcommon/*/*.c)
LIB_CXX  := $(wildcard libcommon/*/*.cc)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o) $(LIB_CXX:%.cc=$(BUILD)/%.o)
LIB      := $(BUILD)/libcommon.a
FILTERS  := $(patsubst filters/%.c,%,$(wildcard filters/*.c))
BINS     := $(FILTERS:%=$(BIN)/%)
TEST_SRC := $(wildcard tests/test_*.c)
TESTS    := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
# the tests' shared helpers (testutil, egtest): an archive, so that each
# test links only those it calls
TESTUTIL_SRC := $(filter-out $(TEST_SRC),$(wildcard tests/*.c))
TESTUTIL := $(BUILD)/tests/libtestutil.a
BENCH_SRC := $(wildcard bench/*.c)
BENCHES  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
MANS     := $(wildcard man/*.1)

.PHONY: all check test demo bench install uninstall clean deps deps-test deps-bench lint-man lint-layers fuzz
# keep the object files make would delete as intermediates: without them a
# later `make install` (test_manpages runs one) compiles and relinks every
# filter again
.SECONDARY:

all: $(LIB) $(BINS)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/%.o: %.cc
	@mkdir -p $(@D)
	$(CXX) $(ALL_CXXFLAGS) -c -o $@ $<

$(LIB): $(LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(BIN)/%: $(BUILD)/filters/%.o $(LIB)
	@mkdir -p $(@D)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(TESTUTIL): $(TESTUTIL_SRC:%.c=$(BUILD)/%.o)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/tests/%: $(BUILD)/tests/%.o $(TESTUTIL) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(TESTUTIL) $(LIB) $(LDLIBS) -lcmocka

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

# ---- dependencies (Debian 12) ----
deps:
	@sh tools/deps.sh build
deps-test:
	@sh tools/deps.sh test
deps-bench:
	@sh tools/deps.sh bench

# ---- tests ----
# Every test is a cmocka program; they find the filters through LRCPIPE_BIN.
check: deps-test
	@sh tools/check-layers.sh
	@$(MAKE) --no-print-directory all tests
	@mkdir -p $(BUILD)/tmp
	@TMPDIR=$(CURDIR)/$(BUILD)/tmp LRCPIPE_BIN=$(CURDIR)/$(BIN) LRCPIPE_ROOT=$(CURDIR) PYTHON=$(PYTHON) SANITIZE=$(SANITIZE) sh tools/run-tests.sh $(TESTS)

tests: $(TESTS)
test: check

# ---- benchmarks ----
bench: deps-bench
	@$(MAKE) --no-print-directory all $(BENCHES)
	@LRCPIPE_BIN=$(CURDIR)/$(BIN) LRCPIPE_BUILD=$(CURDIR)/$(BUILD) LRCPIPE_ROOT=$(CURDIR) sh bench/run.sh

# ---- demo ----
demo: deps
	@$(MAKE) --no-print-directory all
	@LRCPIPE_BIN=$(CURDIR)/$(BIN) sh pipelines/demo

# ---- libcommon's layering (libcommon/README.md) ----
lint-layers:
	@sh tools/check-layers.sh

# ---- man pages ----
lint-man:
	@for m in $(MANS); do mandoc -Tlint -W warning $$m || exit 1; done

# ---- install ----
install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(BINS) $(DESTDIR)$(PREFIX)/bin/
	install -m 0644 $(MANS) $(DESTDIR)$(PREFIX)/share/man/man1/

uninstall:
	rm -f $(FILTERS:%=$(DESTDIR)$(PREFIX)/bin/%) $(MANS:man/%=$(DESTDIR)$(PREFIX)/share/man/man1/%)

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)

# ---- fuzzing (clang libFuzzer + ASan/UBSan); FUZZ_TIME seconds per target ----
fuzz:
	@sh tests/fuzz/run.sh $(FUZZ_TARGETS)
