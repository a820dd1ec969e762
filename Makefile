# MailGuard build. Sources are found by wildcard: adding a .c file to a subsystem needs no edit here.
# Program entry points (common/main.c, admin/mailguardctl.c) stay out of libmailguard.a so unit tests
# and fuzz targets link every module without a main().
#   make                 build bin/mailguard and bin/mailguardctl
#   make check           unit + golden + integration + short fuzz runs, ends with "N passed, N failed"
#   make check-unit      unit and golden tests only     make check-integ   integration tests only
#   make asan            the whole suite under AddressSanitizer/UBSan (separate build dir)
#   make fuzz            each libFuzzer target for FUZZ_SECONDS (default 60)
#   make bench           MailGuard vs a private Postfix, see bench/README.md
#   make eval            spam/ham detection quality on the SpamAssassin corpus (doc/benchmarks.md)
#   make run             install missing packages, build, write a default config and start on 127.0.0.1:2525
# BUILD=dir puts objects elsewhere (parallel builds of one tree must use different dirs).

BUILD    ?= build
CC       ?= cc
OPT      ?= -O2
CFLAGS_W  = -Wall -Wextra -Wshadow -Wmissing-prototypes -Wformat=2 -Wno-format-nonliteral -Werror
CFLAGS   ?= $(OPT) -g
ALL_CFLAGS = -std=gnu11 -D_GNU_SOURCE -I. $(CFLAGS_W) $(CFLAGS) $(EXTRA_CFLAGS) \
	$(shell pkg-config --cflags libxml-2.0 2>/dev/null)
LDLIBS   = $(shell pkg-config --libs libxml-2.0 2>/dev/null) -lev -lhttp_parser -lldns -lspf2 -lopendkim -ldb -lpsl -lidn2 -lzip -lcurl -ljansson -largon2 -lssl -lcrypto -lz -lpthread -lm $(EXTRA_LDLIBS)

SUBDIRS  = lib common config smtpd queue delivery filter dkim dmarc admin
MAINS    = common/main.c admin/mailguardctl.c
SRCS     = $(filter-out $(MAINS),$(foreach d,$(SUBDIRS),$(wildcard $(d)/*.c)))
OBJS     = $(SRCS:%.c=$(BUILD)/%.o)

UNIT_SRCS = $(wildcard tests/unit/*/test_*.c)
UNIT_BINS = $(UNIT_SRCS:%.c=$(BUILD)/%)
FUZZ_SRCS = $(wildcard tests/fuzz/fuzz_*.c)

BIN = $(BUILD)/bin

.PHONY: all deps units check check-unit check-integ asan fuzz fuzz-build bench install run clean style
all: $(BIN)/mailguard $(BIN)/mailguardctl

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

-include $(OBJS:.o=.d) $(BUILD)/common/main.d $(BUILD)/admin/mailguardctl.d

$(BUILD)/libmailguard.a: $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BIN)/mailguard: $(BUILD)/common/main.o $(BUILD)/libmailguard.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BIN)/mailguardctl: $(BUILD)/admin/mailguardctl.o $(BUILD)/libmailguard.a
	@mkdir -p $(BIN)
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/unit/%: tests/unit/%.c tests/unit/unit.h $(BUILD)/libmailguard.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libmailguard.a $(LDLIBS)

# Test drivers (tests/tools/*.c): small programs used by golden and integration tests.
TOOL_SRCS = $(wildcard tests/tools/*.c)
TOOL_BINS = $(TOOL_SRCS:tests/tools/%.c=$(BUILD)/tests/tools/%)
$(BUILD)/tests/tools/%: tests/tools/%.c $(BUILD)/libmailguard.a
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(BUILD)/libmailguard.a $(LDLIBS)

units: $(UNIT_BINS) $(TOOL_BINS)

# Fuzz targets: clang + libFuzzer + ASan/UBSan, all sources rebuilt in their own dir.
FUZZ_BUILD = build-fuzz
fuzz-build:
	$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=clang OPT=-O1 \
		EXTRA_CFLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer" \
		$(FUZZ_BUILD)/libmailguard.a
	@mkdir -p $(FUZZ_BUILD)/fuzz
	@for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
		clang -std=gnu11 -D_GNU_SOURCE -I. -O1 -g -fsanitize=fuzzer,address,undefined \
		-o $(FUZZ_BUILD)/fuzz/$$n $$f $(FUZZ_BUILD)/libmailguard.a $(LDLIBS) || exit 1; done

FUZZ_SECONDS ?= 60
fuzz: fuzz-build
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_BUILD=$(FUZZ_BUILD) tests/tools/run-fuzz.sh

# Installs missing Debian packages (idempotent; quick when everything is present).
deps:
	@tests/tools/setup-deps.sh

check-unit: all units
	BUILD=$(BUILD) tests/run-tests.sh unit golden

check-integ: all units
	BUILD=$(BUILD) tests/run-tests.sh integ

check: deps
	$(MAKE) all units fuzz-build
	BUILD=$(BUILD) FUZZ_BUILD=$(FUZZ_BUILD) tests/run-tests.sh unit golden integ fuzz

asan:
	$(MAKE) BUILD=build-asan CC=clang OPT=-O1 \
		EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer" all units
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=abort_on_error=1 \
		BUILD=build-asan tests/run-tests.sh unit golden integ

# Detection quality of the learning layers (issue D): a fixed train/held-back split of the
# SpamAssassin corpus, 10-fold cross-validation on the training part (tests/tools/eval.c,
# doc/benchmarks.md). A measurement, not a test: a minute or so, never part of `make check`.
EVAL_CORPUS ?= $(firstword $(wildcard ../shared/corpora/spam/spamassassin) /work/shared/corpora/spam/spamassassin)
.PHONY: eval
eval: $(BUILD)/tests/tools/eval
	$(BUILD)/tests/tools/eval $(EVAL_CORPUS)

bench: all units
	BUILD=$(BUILD) bench/run-bench.sh

# Issue G: fill a real daemon's quarantine with 100,000 messages, time searches through
# mailguardctl and the JSON API (bench/quarantine.py; doc/benchmarks.md "G: quarantine").
# Bounded: under 10 minutes. BENCH_QUARANTINE_ARGS="--messages 20000" for a quick run.
.PHONY: bench-dmarc
bench-dmarc: all
	BUILD=$(BUILD) nice -n 5 /usr/bin/python3 bench/dmarc_ingest.py $(BENCH_DMARC_ARGS)

.PHONY: bench-quarantine
bench-quarantine: all
	BUILD=$(BUILD) nice -n 5 /usr/bin/python3 bench/quarantine.py $(BENCH_QUARANTINE_ARGS)

run: deps
	$(MAKE) all
	tests/tools/run-default.sh

install: all
	install -d $(DESTDIR)/usr/local/sbin $(DESTDIR)/usr/local/share/man/man8 $(DESTDIR)/usr/local/share/man/man5
	install -m 755 $(BIN)/mailguard $(BIN)/mailguardctl $(DESTDIR)/usr/local/sbin/
	install -m 644 doc/mailguard.8 $(DESTDIR)/usr/local/share/man/man8/
	install -m 644 doc/mailguard.conf.5 $(DESTDIR)/usr/local/share/man/man5/

style:
	tests/tools/check-style.sh

clean:
	rm -rf build build-asan build-fuzz
