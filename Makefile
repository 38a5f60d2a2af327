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

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
