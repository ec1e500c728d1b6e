# nemomq — one entry point: build, test, run, install, bench, fuzz.
#
#   make run       install missing Debian packages, build, start a node in the
#                  foreground with conf/nemomq.conf
#   make test      install missing packages, build, run every test, print a summary
#   make bench     benchmarks (codec; brokers side by side with Mosquitto)
#   make fuzz      libFuzzer over the MQTT stream decoder (FUZZ_TIME seconds)
#   make install   PREFIX=/usr/local DESTDIR=
#
# Sources are found by directory, so adding a file needs no edit here:
#   common/*.c + generated protobuf-c  -> build/lib/libnmq.a       (shared by all)
#   supervisor/*.c workers/*/*.c       -> build/lib/libnmq_node.a  (the node's roles)
#   supervisor/nemomq.c                -> build/bin/nemomq         (main: node and workers)
#   tools/<tool>/*.c                   -> build/bin/<tool>
#   test/unit/check_*.c                -> build/test/check_*       (one Check program each)
#   test/bench/bench_*.c               -> build/bench/bench_*
#   test/fuzz/fuzz_*.c                 -> build/fuzz/fuzz_*        (clang, libFuzzer + ASan/UBSan)

CC       ?= cc
CLANG    ?= clang
PREFIX   ?= /usr/local
DESTDIR  ?=
FUZZ_TIME ?= 30

B        := build
PKGS     := libzmq libczmq libprotobuf-c lmdb libcrypto
OPT      ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CPPFLAGS += -D_GNU_SOURCE -Icommon -I$(B)/gen -Isupervisor -Iworkers
CFLAGS   += -std=c11 $(OPT) $(WARN) -fno-strict-aliasing -MMD -MP
LDLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
CHECK_LIBS := $(shell pkg-config --libs check 2>/dev/null)

PROTOS     := $(wildcard proto/*.proto)
PROTO_C    := $(patsubst proto/%.proto,$(B)/gen/%.pb-c.c,$(PROTOS))
PROTO_H    := $(PROTO_C:.c=.h)

COMMON_SRC := $(wildcard common/*.c)
NODE_SRC   := $(filter-out supervisor/nemomq.c,$(wildcard supervisor/*.c workers/*/*.c))
TOOLS      := $(notdir $(patsubst %/,%,$(dir $(wildcard tools/*/*.c))))
UNIT_SRC   := $(wildcard test/unit/check_*.c)
BENCH_SRC  := $(wildcard test/bench/bench_*.c)
FUZZ_SRC   := $(wildcard test/fuzz/fuzz_*.c)

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIBNMQ     := $(B)/lib/libnmq.a
LIBNODE    := $(B)/lib/libnmq_node.a
BINS       := $(B)/bin/nemomq $(addprefix $(B)/bin/,$(sort $(TOOLS)))
UNIT_BINS  := $(patsubst test/unit/%.c,$(B)/test/%,$(UNIT_SRC))
BENCH_BINS := $(patsubst test/bench/%.c,$(B)/bench/%,$(BENCH_SRC))
FUZZ_BINS  := $(patsubst test/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))

.PHONY: all deps build run test unit e2e fuzz fuzz-build bench install clean docs
.DEFAULT_GOAL := all

all: build
build: $(BINS) $(B)/man/nemomq.conf.5

deps:
	@sh scripts/install-deps.sh

run: deps
	@$(MAKE) --no-print-directory build
	exec $(B)/bin/nemomq console -c conf/nemomq.conf

test: deps
	@$(MAKE) --no-print-directory build $(UNIT_BINS) fuzz-build
	@sh scripts/run-tests.sh

unit: build $(UNIT_BINS)
	@sh scripts/run-tests.sh unit

e2e: build
	@sh scripts/run-tests.sh e2e

bench: deps
	@$(MAKE) --no-print-directory build $(BENCH_BINS)
	@sh scripts/run-bench.sh

fuzz: fuzz-build
	@sh scripts/run-fuzz.sh $(FUZZ_TIME)

fuzz-build: $(FUZZ_BINS)

# --- protobuf-c: generated at build time, never committed ----------------------
$(B)/gen/%.pb-c.c $(B)/gen/%.pb-c.h: proto/%.proto
	@mkdir -p $(@D)
	protoc-c --proto_path=proto --c_out=$(B)/gen $<

# --- objects -------------------------------------------------------------------
$(B)/obj/$(B)/gen/%.o: $(B)/gen/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(filter-out -Wshadow,$(CFLAGS)) -c -o $@ $<

$(B)/obj/%.o: %.c | $(PROTO_H)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(LIBNMQ): $(call obj,$(COMMON_SRC) $(PROTO_C))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(LIBNODE): $(call obj,$(NODE_SRC))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(B)/bin/nemomq: $(call obj,supervisor/nemomq.c) $(LIBNODE) $(LIBNMQ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

.SECONDEXPANSION:
$(B)/bin/%: $$(call obj,$$(wildcard tools/%/*.c)) $(LIBNMQ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/test/%: $(call obj,test/unit/%.c) $(LIBNODE) $(LIBNMQ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(CHECK_LIBS) $(LDLIBS)

$(B)/bench/%: $(call obj,test/bench/%.c) $(LIBNODE) $(LIBNMQ)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# --- fuzzing: the pure common code rebuilt with clang and sanitizers ------------
FUZZ_CFLAGS := -std=c11 -O1 -g -fsanitize=fuzzer-no-link,address,undefined \
               -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_OBJ    = $(patsubst %.c,$(B)/fuzzobj/%.o,$(1))

$(B)/fuzzobj/%.o: %.c | $(PROTO_H)
	@mkdir -p $(@D)
	$(CLANG) $(CPPFLAGS) $(FUZZ_CFLAGS) -c -o $@ $<

$(B)/fuzz/%: $(call FUZZ_OBJ,test/fuzz/%.c $(COMMON_SRC) $(PROTO_C))
	@mkdir -p $(@D)
	$(CLANG) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

# --- documentation generated from the config table -----------------------------
$(B)/man/nemomq.conf.5: $(B)/bin/nemomq
	@mkdir -p $(@D)
	$(B)/bin/nemomq config doc --man > $@.tmp && mv $@.tmp $@

# conf/nemomq.conf is committed; this rewrites it from the table
# (test/unit checks that the committed file matches).
docs: $(B)/bin/nemomq
	$(B)/bin/nemomq config doc > conf/nemomq.conf

# --- install -------------------------------------------------------------------
install: build
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
	    $(DESTDIR)/etc/nemomq $(DESTDIR)/etc/init.d $(DESTDIR)/lib/systemd/system \
	    $(DESTDIR)$(PREFIX)/share/man/man8 $(DESTDIR)$(PREFIX)/share/man/man5 \
	    $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(B)/bin/nemomq $(DESTDIR)$(PREFIX)/sbin/nemomq
	for t in $(sort $(TOOLS)); do install -m 0755 $(B)/bin/$$t $(DESTDIR)$(PREFIX)/bin/$$t; done
	test -e $(DESTDIR)/etc/nemomq/nemomq.conf || \
	    install -m 0644 conf/nemomq.conf $(DESTDIR)/etc/nemomq/nemomq.conf
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g; s|@BINDIR@|$(PREFIX)/bin|g' scripts/nemomq > $(DESTDIR)/etc/init.d/nemomq
	chmod 0755 $(DESTDIR)/etc/init.d/nemomq
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' scripts/nemomq.service > $(DESTDIR)/lib/systemd/system/nemomq.service
	install -m 0644 man/nemomq.8 man/nemomq-admin.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 $(B)/man/nemomq.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -m 0644 man/nemomq-bench.1 $(DESTDIR)$(PREFIX)/share/man/man1/

clean:
	rm -rf $(B)

-include $(shell find $(B)/obj $(B)/fuzzobj -name '*.d' 2>/dev/null)
