# gort - top-level build.  Everything lands in build/ (or build/<variant>/
# for the sanitizer builds); `make -j` is safe; headers are tracked with -MMD.

# Where `make install` puts things (DESTDIR prefixes every path: a staging
# root for packaging).  The configuration stays under /etc whatever the
# PREFIX, as the service and gortd's own defaults look there.
PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
SBINDIR     ?= $(PREFIX)/sbin
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
DATADIR     ?= $(PREFIX)/share
MANDIR      ?= $(DATADIR)/man
DOCDIR      ?= $(DATADIR)/doc/gort
SYSCONFDIR  ?= /etc
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
PLUGINDIR   ?= $(PREFIX)/lib/gortd/plugins
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions

# The release (proto/proto.h) names the library file; its first number is
# the soname's.
GORT_VERSION := $(shell sed -n 's/^\#define GORT_RELEASE "\(.*\)"/\1/p' proto/proto.h)
SOVERSION    := $(firstword $(subst ., ,$(GORT_VERSION)))
SOFULL       := libgort.so.$(GORT_VERSION)

CC      ?= cc
AR      ?= ar

# A variant is a build directory plus extra flags: "" (default), asan, tsan.
VARIANT ?=
ifeq ($(VARIANT),)
  B := build
  VFLAGS := -O2
else ifeq ($(VARIANT),asan)
  B := build/asan
  VFLAGS := -O1 -fsanitize=address,undefined -fno-sanitize-recover=undefined -DGORT_ASAN=1
else ifeq ($(VARIANT),tsan)
  B := build/tsan
  VFLAGS := -O1 -fsanitize=thread -DGORT_TSAN=1
else
  $(error unknown VARIANT=$(VARIANT): use asan or tsan)
endif

WARN     := -Wall -Wextra -Werror -Wno-unused-parameter
CFLAGS   ?= -g
ALLFLAGS := -std=gnu11 -D_GNU_SOURCE $(WARN) $(CFLAGS) $(VFLAGS) -fno-omit-frame-pointer -pthread -Iinclude -iquote runtime -iquote proto
LDLIBS   := -pthread -ldl
CMOCKA   := $(shell pkg-config --libs cmocka 2>/dev/null || echo -lcmocka)

RT_C   := $(sort $(wildcard runtime/*.c))
RT_S   := runtime/arch/amd64.S
RT_OBJ := $(RT_C:%.c=$(B)/obj/%.o) $(RT_S:%.S=$(B)/obj/%.o)
RT_PIC := $(RT_C:%.c=$(B)/pic/%.o) $(RT_S:%.S=$(B)/pic/%.o)

# The control protocol (proto/) and the daemon (daemon/): libevent,
# jansson and SQLite, from their Debian -dev packages.
EVENT_LIBS   := $(shell pkg-config --libs libevent_pthreads libevent 2>/dev/null || echo -levent_pthreads -levent)
JANSSON_LIBS := $(shell pkg-config --libs jansson 2>/dev/null || echo -ljansson)
SQLITE_LIBS  := $(shell pkg-config --libs sqlite3 2>/dev/null || echo -lsqlite3)
PROTO_OBJ    := $(B)/obj/proto/proto.o
DAEMON_C     := $(sort $(wildcard daemon/*.c))
DAEMON_OBJ   := $(DAEMON_C:%.c=$(B)/obj/%.o)
GORTD        := $(B)/gortd
# gortctl, the client (ctl/): the protocol module and jansson.
CTL_C        := $(sort $(wildcard ctl/*.c))
CTL_OBJ      := $(CTL_C:%.c=$(B)/obj/%.o)
GORTCTL      := $(B)/gortctl

TEST_SRC  := $(sort $(wildcard tests/test_*.c))
TEST_BIN  := $(TEST_SRC:tests/%.c=$(B)/tests/%)
PROG_SRC  := $(sort $(wildcard tests/progs/*.c))
PROG_BIN  := $(PROG_SRC:tests/progs/%.c=$(B)/tests/progs/%)
PLUGIN_SRC := $(sort $(wildcard tests/plugins/*.c))
PLUGIN_SO  := $(PLUGIN_SRC:tests/plugins/%.c=$(B)/tests/plugins/lib%.so)
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(B)/bench/%)
# The example task plugins gortd loads (plugins/), one shared object each.
XPLUG_SRC := $(sort $(wildcard plugins/*.c))
XPLUG_SO  := $(XPLUG_SRC:plugins/%.c=$(B)/plugins/%.so)
EX_SRC    := $(sort $(wildcard examples/*.c))
EX_BIN    := $(EX_SRC:examples/%.c=$(B)/examples/%)

.PHONY: all test test-asan test-ubsan test-tsan bench bench-compare clean deps install uninstall fuzz run
.DEFAULT_GOAL := all

all: $(B)/libgort.a $(B)/libgort.so $(GORTD) $(GORTCTL) $(XPLUG_SO) $(TEST_BIN) $(PROG_BIN) $(PLUGIN_SO) $(BENCH_BIN) $(EX_BIN)

$(B)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALLFLAGS) -MMD -MP -c -o $@ $<
$(B)/obj/%.o: %.S
	@mkdir -p $(@D)
	$(CC) $(ALLFLAGS) -MMD -MP -c -o $@ $<
$(B)/pic/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALLFLAGS) -fPIC -fvisibility=hidden -MMD -MP -c -o $@ $<
$(B)/pic/%.o: %.S
	@mkdir -p $(@D)
	$(CC) $(ALLFLAGS) -fPIC -MMD -MP -c -o $@ $<

$(B)/libgort.a: $(RT_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^
$(B)/libgort.so: $(RT_PIC)
	$(CC) $(ALLFLAGS) -shared -Wl,-soname,libgort.so.$(SOVERSION) -o $@ $^ $(LDLIBS)

# gortd links the whole static runtime, not only what the daemon calls,
# and exports it: plugins resolve every gort_* function from gortd.
$(GORTD): $(DAEMON_OBJ) $(PROTO_OBJ) $(B)/libgort.a
	$(CC) $(ALLFLAGS) -rdynamic -o $@ $(DAEMON_OBJ) $(PROTO_OBJ) -Wl,--whole-archive $(B)/libgort.a -Wl,--no-whole-archive $(EVENT_LIBS) $(JANSSON_LIBS) $(SQLITE_LIBS) $(LDLIBS)

$(GORTCTL): $(CTL_OBJ) $(PROTO_OBJ)
	$(CC) $(ALLFLAGS) -o $@ $(CTL_OBJ) $(PROTO_OBJ) $(JANSSON_LIBS)

# Test suites, helper programs, benchmarks and examples link the static
# library so that tests may also reach internal hooks; the suites also get
# the protocol module.  The daemon's suites need gortd built.
$(B)/tests/%: tests/%.c $(B)/libgort.a $(PROTO_OBJ)
	@mkdir -p $(@D)
	$(CC) $(ALLFLAGS) -MMD -MP -rdynamic -o $@ $< $(PROTO_OBJ) $(B)/libgort.a $(CMOCKA) $(JANSSON_LIBS) $(SQLITE_LIBS) $(LDLIBS) -lm
$(TEST_BIN): | $(GORTD) $(GORTCTL)
$(B)/tests/progs/%: tests/progs/%.c $(B)/libgort.a
	@mkdir -p $(@D)
	$(CC) $(ALLFLAGS) -MMD -MP -rdynamic -o $@ $< $(B)/libgort.a $(LDLIBS)
# Test plugins: shared objects the suites dlopen.  They link against
# nothing: gort's symbols resolve from the test executable (-rdynamic).
# A suite binary is only useful with them built, hence the order-only
# prerequisite.
$(B)/tests/plugins/lib%.so: tests/plugins/%.c
	@mkdir -p $(@D)
	$(CC) $(ALLFLAGS) -fPIC -shared -MMD -MP -o $@ $<
$(TEST_BIN): | $(PLUGIN_SO) $(XPLUG_SO)
# Example plugins: gortd refuses group- or world-writable files and
# directories whatever the umask, so the modes are set explicitly.
$(B)/plugins/%.so: plugins/%.c
	@mkdir -p $(@D) && chmod 0755 $(@D)
	$(CC) $(ALLFLAGS) -fPIC -shared -MMD -MP -o $@ $<
	@chmod 0644 $@
$(B)/bench/%: bench/%.c $(B)/libgort.a
	@mkdir -p $(@D)
	$(CC) $(ALLFLAGS) -MMD -MP -rdynamic -o $@ $< $(B)/libgort.a $(LDLIBS) -lm
# bench/history.c drives the daemon's history module in-process: it links
# the daemon's objects but main.o, and the whole runtime, as gortd does;
# gort_set_observer is wrapped so that it can call the history's observer
# as the collector does.  This explicit rule overrides the pattern above.
HISTORY_BENCH_OBJ := $(filter-out $(B)/obj/daemon/main.o,$(DAEMON_OBJ)) $(PROTO_OBJ)
$(B)/bench/history: bench/history.c $(HISTORY_BENCH_OBJ) $(B)/libgort.a
	@mkdir -p $(@D)
	$(CC) $(ALLFLAGS) -iquote daemon -MMD -MP -rdynamic -Wl,--wrap=gort_set_observer -o $@ $< $(HISTORY_BENCH_OBJ) -Wl,--whole-archive $(B)/libgort.a -Wl,--no-whole-archive $(EVENT_LIBS) $(JANSSON_LIBS) $(SQLITE_LIBS) $(LDLIBS) -lm
$(B)/examples/%: examples/%.c $(B)/libgort.a
	@mkdir -p $(@D)
	$(CC) $(ALLFLAGS) -MMD -MP -rdynamic -o $@ $< $(B)/libgort.a $(LDLIBS)

test: all
	@tests/run-suites.sh $(B)

# The request parser under libFuzzer (clang): FUZZ_SECONDS of fuzzing from
# the checked-in corpus.  Skipped with a message when clang is missing.
FUZZ_SECONDS ?= 60
fuzz:
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

# Build everything and run gortd in the foreground with ./run/ as its home.
run: all
	@mkdir -p run
	exec $(GORTD) --socket run/gortd.sock --state-dir run --config /dev/null --plugin-dir $(B)/plugins

test-asan:
	@$(MAKE) --no-print-directory VARIANT=asan test
test-ubsan: test-asan
test-tsan:
	@$(MAKE) --no-print-directory VARIANT=tsan test

bench: all
	@bench/run.sh $(B)

bench-compare: all
	@bench/compare.sh $(B)

deps:
	@scripts/deps.sh

# install: the programs, the library (libgort.so.0 with its soname, the
# static archive, headers, gort.pc), man pages, bash completion, the
# systemd unit with its sysusers.d and tmpfiles.d files, an example
# configuration (copied to SYSCONFDIR/gortd/gortd.conf only when there is
# none) and the example plugins.  Without DESTDIR, as root, it then runs
# ldconfig and, on a systemd host, creates the gortd user and directories
# and reloads systemd (POST_INSTALL=no skips these steps); starting the
# service is left to `systemctl enable --now gortd`.
POST_INSTALL ?= yes
SUBST = sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@SBINDIR@|$(SBINDIR)|g' \
	-e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
	-e 's|@PLUGINDIR@|$(PLUGINDIR)|g' -e 's|@VERSION@|$(GORT_VERSION)|g'
install: $(B)/libgort.a $(B)/libgort.so $(GORTD) $(GORTCTL) $(XPLUG_SO)
	install -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(INCLUDEDIR)/gort $(DESTDIR)$(PKGCONFIGDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(DOCDIR) $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(PLUGINDIR) \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(TMPFILESDIR) \
		$(DESTDIR)$(SYSCONFDIR)/gortd $(DESTDIR)$(SYSCONFDIR)/gortd/plugins.d
	install -m 0755 $(GORTCTL) $(DESTDIR)$(BINDIR)/gortctl
	install -m 0755 $(GORTD) $(DESTDIR)$(SBINDIR)/gortd
	install -m 0755 $(B)/libgort.so $(DESTDIR)$(LIBDIR)/$(SOFULL)
	ln -sf $(SOFULL) $(DESTDIR)$(LIBDIR)/libgort.so.$(SOVERSION)
	ln -sf libgort.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libgort.so
	install -m 0644 $(B)/libgort.a $(DESTDIR)$(LIBDIR)/libgort.a
	install -m 0644 include/gort/*.h $(DESTDIR)$(INCLUDEDIR)/gort/
	$(SUBST) gort.pc.in >$(DESTDIR)$(PKGCONFIGDIR)/gort.pc && chmod 0644 $(DESTDIR)$(PKGCONFIGDIR)/gort.pc
	install -m 0644 man/gortctl.1 $(DESTDIR)$(MANDIR)/man1/gortctl.1
	install -m 0644 man/gortd.8 $(DESTDIR)$(MANDIR)/man8/gortd.8
	install -m 0644 completion/gortctl.bash $(DESTDIR)$(BASHCOMPDIR)/gortctl
	install -m 0644 $(XPLUG_SO) $(DESTDIR)$(PLUGINDIR)/
	$(SUBST) systemd/gortd.service.in >$(DESTDIR)$(UNITDIR)/gortd.service && chmod 0644 $(DESTDIR)$(UNITDIR)/gortd.service
	install -m 0644 systemd/gortd.sysusers $(DESTDIR)$(SYSUSERSDIR)/gortd.conf
	$(SUBST) systemd/gortd.tmpfiles.in >$(DESTDIR)$(TMPFILESDIR)/gortd.conf && chmod 0644 $(DESTDIR)$(TMPFILESDIR)/gortd.conf
	$(SUBST) systemd/gortd.conf.in >$(DESTDIR)$(DOCDIR)/gortd.conf.example && chmod 0644 $(DESTDIR)$(DOCDIR)/gortd.conf.example
	install -m 0644 proto/PROTOCOL.md README.md $(DESTDIR)$(DOCDIR)/
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/gortd/gortd.conf ]; then \
		echo "keeping $(DESTDIR)$(SYSCONFDIR)/gortd/gortd.conf (the new example is $(DOCDIR)/gortd.conf.example)"; \
	else \
		echo "install -m 0644 $(DESTDIR)$(DOCDIR)/gortd.conf.example $(DESTDIR)$(SYSCONFDIR)/gortd/gortd.conf"; \
		install -m 0644 $(DESTDIR)$(DOCDIR)/gortd.conf.example $(DESTDIR)$(SYSCONFDIR)/gortd/gortd.conf; \
	fi
	@if [ -z "$(DESTDIR)" ] && [ "$(POST_INSTALL)" = yes ] && [ "$$(id -u)" -eq 0 ]; then \
		if command -v ldconfig >/dev/null; then echo ldconfig; ldconfig; fi; \
		if [ -d /run/systemd/system ]; then \
			echo "systemd-sysusers gortd.conf; systemd-tmpfiles --create gortd.conf; systemctl daemon-reload"; \
			systemd-sysusers $(SYSUSERSDIR)/gortd.conf && \
			systemd-tmpfiles --create $(TMPFILESDIR)/gortd.conf && \
			systemctl daemon-reload && \
			echo "installed; start the service with: systemctl enable --now gortd"; \
		fi; \
	fi

# uninstall removes what install put there but the configuration
# (SYSCONFDIR/gortd) and the daemon's state (/var/lib/gortd).
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/gortctl $(DESTDIR)$(SBINDIR)/gortd
	rm -f $(DESTDIR)$(LIBDIR)/$(SOFULL) $(DESTDIR)$(LIBDIR)/libgort.so.$(SOVERSION) \
		$(DESTDIR)$(LIBDIR)/libgort.so $(DESTDIR)$(LIBDIR)/libgort.a $(DESTDIR)$(PKGCONFIGDIR)/gort.pc
	rm -rf $(DESTDIR)$(INCLUDEDIR)/gort $(DESTDIR)$(DOCDIR)
	rm -f $(DESTDIR)$(MANDIR)/man1/gortctl.1 $(DESTDIR)$(MANDIR)/man8/gortd.8 $(DESTDIR)$(BASHCOMPDIR)/gortctl
	rm -f $(addprefix $(DESTDIR)$(PLUGINDIR)/,$(notdir $(XPLUG_SO)))
	-rmdir $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(PREFIX)/lib/gortd 2>/dev/null
	rm -f $(DESTDIR)$(UNITDIR)/gortd.service $(DESTDIR)$(SYSUSERSDIR)/gortd.conf $(DESTDIR)$(TMPFILESDIR)/gortd.conf
	@if [ -z "$(DESTDIR)" ] && [ "$(POST_INSTALL)" = yes ] && [ "$$(id -u)" -eq 0 ] && [ -d /run/systemd/system ]; then \
		echo "systemctl daemon-reload"; systemctl daemon-reload; fi
	@echo "left in place: $(DESTDIR)$(SYSCONFDIR)/gortd and the service's state in /var/lib/gortd"

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
