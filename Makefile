# mailferry: build, test, demo, install.  `make` builds; `make check` runs every
# test, then rebuilds with AddressSanitizer/UBSan and runs them again.
CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
BUILD    ?= build
SAN      ?=
PKGS      = libarchive libzstd libsodium

OPT      ?= -O2 -g
WARN      = -std=c11 -Wall -Wextra -Werror -Wshadow -Wpointer-arith -Wstrict-prototypes \
            -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral -Wvla
DEFS      = -D_GNU_SOURCE
ifeq ($(SAN),1)
HARDEN    = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDHARDEN  = -fsanitize=address,undefined
else
HARDEN    = -D_FORTIFY_SOURCE=2 -fstack-protector-strong -fPIE
LDHARDEN  = -pie -Wl,-z,relro,-z,now
endif
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CFLAGS   += $(OPT) $(WARN) $(DEFS) $(HARDEN) $(PKG_CFLAGS) -pthread
LDFLAGS  += $(LDHARDEN) -pthread
LDLIBS   += $(PKG_LIBS)

LIB_SRC   = $(wildcard format/*.c) $(wildcard dvindex/*.c) $(wildcard pack/*.c) $(wildcard unpack/*.c)
LIB_SRC  := $(filter-out %_cmd.c,$(LIB_SRC))
CLI_SRC   = $(wildcard cli/*.c) $(wildcard pack/*_cmd.c) $(wildcard unpack/*_cmd.c)
LIB_OBJ   = $(LIB_SRC:%.c=$(BUILD)/%.o)
CLI_OBJ   = $(CLI_SRC:%.c=$(BUILD)/%.o)
LIB       = $(BUILD)/libmailferry.a
BIN       = $(BUILD)/mailferry
UNIT_SRC  = $(wildcard tests/unit/test_*.c)
UNIT_BIN  = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_SRC  = $(wildcard tests/tools/*.c)
TOOL_BIN  = $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

.PHONY: all check check-run check-san unit deps demo install clean bench fuzz static
all: $(BIN) $(TOOL_BIN)

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c tests/unit/tap.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

$(BUILD)/tools/%: tests/tools/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

unit: $(UNIT_BIN)

# Every test, against the build in $(BUILD). Shell tests find the binaries
# through MAILFERRY and MF_TOOLS.
check-run: all unit
	MF_STRICT=1 MAILFERRY=$(abspath $(BIN)) MF_TOOLS=$(abspath $(BUILD)/tools) MF_BUILD=$(abspath $(BUILD)) \
	  MF_SAN=$(SAN) prove -f $(UNIT_BIN) tests/*.t

check-san:
	$(MAKE) BUILD=build-san SAN=1 OPT="-O1 -g" check-run

check: deps
	$(MAKE) check-run
	$(MAKE) check-san

deps:
	@sh .ci/deps.sh

demo: deps all
	sh examples/migrate.sh

install: $(BIN)
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/mailferry

clean:
	rm -rf build build-san

# ---- bench: the benchmark harness (bench/run; not part of `make check`) --------
# `make bench` installs the peers (bench/deps.sh), builds, and writes
# bench/RESULTS.md and bench/results.png: about 30 minutes on 2 cores;
# BENCH_QUICK=1 make bench (or bench/run --quick): under 5 minutes.
# BENCH_WORK and BENCH_CACHE override the work and npm cache directories.
bench: deps $(BIN)
	@sh bench/deps.sh
	MAILFERRY=$(abspath $(BIN)) python3 bench/run
# ---- end bench -----------------------------------------------------------------

# ---- static: a fully static build-static/mailferry (tests/static.t) ------------
# `make static` links the objects of $(BUILD) with Debian's static libraries:
# libarchive.a, libzstd.a, liblzma.a, libbz2.a, libz.a (the tarballs of pack
# --from-tar), libsodium.a and glibc; not libxml2, nettle, acl or lz4, which
# `pkg-config --static --libs libarchive` lists: mailferry pulls no disk, ACL or
# lz4 code, and --gc-sections drops the table of every writer format (xar, zip,
# 7zip, mtree...) that pax's writer drags in (Debian builds libarchive.a with
# -ffunction-sections). getpwuid() and friends are wrapped by static/nss_files.c,
# which reads /etc/passwd and /etc/group: no NSS, no dlopen() of the host's
# modules. Not position-independent, for the oldest kernels (3.2, glibc's floor).
STATIC_DIR     = build-static
STATIC_BIN     = $(STATIC_DIR)/mailferry
STATIC_OBJ     = $(BUILD)/static/nss_files.o
STATIC_LIBS    = -larchive -lzstd -llzma -lbz2 -lz -lsodium
STATIC_WRAP    = getpwuid getpwnam getgrgid getgrnam
STATIC_LDFLAGS = -static -no-pie -pthread -Wl,--gc-sections -Wl,-z,relro,-z,now \
                 $(STATIC_WRAP:%=-Wl,--wrap=%)
.PHONY: static clean-static
static: $(STATIC_BIN)
$(STATIC_BIN): $(CLI_OBJ) $(LIB) $(STATIC_OBJ)
	$(if $(filter 1,$(SAN)),$(error make static: not with SAN=1))
	@mkdir -p $(dir $@)
	$(CC) $(STATIC_LDFLAGS) -o $@ $(CLI_OBJ) $(STATIC_OBJ) $(LIB) $(STATIC_LIBS)
clean: clean-static
clean-static:
	rm -rf $(STATIC_DIR)
# ---- end static ----------------------------------------------------------------

# ---- man: the manual pages man/mailferry.1 and man/mailferry.5 (tests/man.t) ---
MANDIR ?= $(PREFIX)/share/man
.PHONY: install-man
install: install-man
install-man:
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5
	install -m 0644 man/mailferry.1 $(DESTDIR)$(MANDIR)/man1/mailferry.1
	install -m 0644 man/mailferry.5 $(DESTDIR)$(MANDIR)/man5/mailferry.5
# ---- end man -------------------------------------------------------------------

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)

# ---- fuzzing (tests/fuzz/README.md) ------------------------------------------
# tests/fuzz/fuzz_<parser>.c each define LLVMFuzzerTestOneInput.
#  $(BUILD)/fuzz/<target>     target + tests/fuzz/replay_main.c, built by $(CC):
#                             replays files; tests/fuzz_smoke.t runs the corpora.
#  build-fuzz/fuzz/<target>   libFuzzer binary (clang, fuzzer+address+undefined):
#                             `make fuzz` runs each for FUZZ_SECONDS.
FUZZ_SRC     = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN     = $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_CC     ?= clang
FUZZ_SECONDS ?= 60
FUZZ_JOBS   ?= 2
FUZZ_DIR     = build-fuzz
.PHONY: fuzz fuzz-bin fuzz-lf fuzz-clean
ifeq ($(SAN),fuzz)
HARDEN    = -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
            -fno-sanitize-recover=undefined
LDHARDEN  = -fsanitize=fuzzer,address,undefined
$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/fuzz_util.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)
else
$(BUILD)/fuzz/%: tests/fuzz/%.c tests/fuzz/replay_main.c tests/fuzz/fuzz_util.h $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/replay_main.c $(LIB) $(LDLIBS)
endif
fuzz-bin: $(FUZZ_BIN)
# the libFuzzer binaries, in $(FUZZ_DIR)
fuzz-lf:
	$(MAKE) BUILD=$(FUZZ_DIR) CC=$(FUZZ_CC) SAN=fuzz OPT="-O1 -g" fuzz-bin
fuzz: fuzz-lf
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_JOBS=$(FUZZ_JOBS) FUZZ_TARGETS="$(FUZZ_TARGETS)" \
	  sh tests/fuzz/run.sh $(FUZZ_DIR)
# make check: replay binaries always; libFuzzer binaries for the smoke test
# when clang is there (plain run only: they carry their own sanitizers)
check-run: fuzz-bin
ifeq ($(SAN),)
ifneq ($(shell command -v $(FUZZ_CC) 2>/dev/null),)
check-run: fuzz-lf
endif
endif
clean: fuzz-clean
fuzz-clean:
	rm -rf $(FUZZ_DIR)
# ---- end of fuzzing ----------------------------------------------------------
