# Cove: one Makefile for the host programs, the guest programs, the guest
# kernel and image, the tests and the benchmarks. Outputs go under build/.
#
#   make          build everything (host binaries, guest kernel and image)
#   make deps     install the Debian packages Cove needs (idempotent)
#   make demo     deps + build + boot a sandbox and run a command in it
#   make check    deps + build + every test; ends with 'N passed, N failed'
#   make test TESTS="coved.sh test_store"   only those tests (names as run.sh prints them)
#   make asan     the tests again under AddressSanitizer and UBSan
#   make tsan     the threaded programs' tests again under ThreadSanitizer
#                 (TSAN_TESTS; TESTS= for others)
#   make bench    the benchmarks
#   make soak     SOAK_CYCLES (200) cycles of random operations with faults on
#                 a real coved, invariants checked after each (not in check)

BUILD ?= build
O := $(BUILD)/obj
BIN := $(BUILD)/bin
GUEST := $(BUILD)/guest

CC ?= cc
SANITIZE ?=
OPT ?= -O2
CFLAGS_COMMON := -std=gnu17 -Wall -Wextra -Werror $(OPT) -g -D_GNU_SOURCE -Isrc \
	-fno-strict-aliasing -Wshadow -Wno-missing-field-initializers -Wno-format-truncation
# nettle: SHA-256 and HMAC for template builds' layer cache keys and upload
# tokens; libarchive: checking their COPY uploads (tar, tar.gz) (src/build);
# ext2fs and com_err: a fresh UUID for each volume's image (src/volume).
HOST_PKGS := jansson libmnl libcurl sqlite3 libnftables libmicrohttpd gnutls nettle libarchive libevent_core libevent_extra libevent_pthreads \
	ext2fs com_err
HOST_CFLAGS := $(CFLAGS_COMMON) $(SANITIZE) $(shell pkg-config --cflags $(HOST_PKGS) 2>/dev/null)
HOST_LIBS := $(shell pkg-config --libs $(HOST_PKGS) 2>/dev/null) -lpthread
# Guest programs are static so they run in any root filesystem. The agent's
# HTTP server is Debian's libmicrohttpd built without TLS (see the script).
MHD := $(BUILD)/deps/microhttpd
MHD_LIB := $(MHD)/lib/libmicrohttpd.a
GUEST_CFLAGS := $(CFLAGS_COMMON) $(GUEST_SANITIZE) -Isrc/guest -I$(MHD)/include $(shell pkg-config --cflags jansson 2>/dev/null)
GUEST_LDFLAGS ?= -static
# make asan builds the guest programs with sanitizers too (dynamically linked)
# to test the agent on the host; the guest image keeps the static ones.
GUEST_SANITIZE ?=
GUEST_LIBS := $(shell pkg-config --static --libs jansson nettle 2>/dev/null) -lz -lpthread
TEST_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

# The host library: everything but the programs' main files.
LIB_SRCS := $(wildcard src/common/*.c src/vmm/*.c src/vmm/qemu/*.c src/vmm/rest/*.c src/vmm/fc/*.c src/vmm/ch/*.c src/vmm/pager/*.c src/net/*.c src/store/*.c src/proto/*.c src/sandbox/*.c src/manager/*.c src/template/*.c src/image/*.c src/build/*.c src/http/*.c src/tls/*.c src/api/*.c src/client/*.c src/egress/*.c src/secrets/*.c src/volume/*.c src/nfs/*.c \
	src/cluster/*.c src/gateway/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(O)/host/%.o)
CLI_SRCS := $(wildcard src/cli/*.c)
CLI_OBJS := $(CLI_SRCS:%.c=$(O)/host/%.o)
COVED_SRCS := $(wildcard src/coved/*.c)
COVED_OBJS := $(COVED_SRCS:%.c=$(O)/host/%.o)
# Guest programs share the protocol code (but etcd's, which only coved
# speaks) and the common helpers.
GUEST_SHARED_SRCS := src/common/err.c src/common/env.c src/common/fs.c src/common/proc.c src/common/log.c src/common/spawn.c \
	src/common/secret.c src/common/inet.c src/common/rootfs.c $(filter-out src/proto/etcd%,$(wildcard src/proto/*.c))
INIT_SRCS := $(wildcard src/guest/init/*.c)
# The agent also serves HTTP with the host's server code (src/http), built
# against its own libmicrohttpd; cove-init has no use for it.
AGENT_SRCS := $(wildcard src/guest/agent/*.c src/http/*.c)
# The code interpreter's server (code-interpreter-v1 template) drives
# Jupyter kernels over ZeroMQ. It runs only in Debian templates that have
# libzmq and jansson (its recipe lists them), so it links them dynamically;
# libmicrohttpd is the agent's static one.
INTERP_SRCS := $(wildcard src/guest/interpreter/*.c src/http/*.c)
INTERP_LIBS := $(shell pkg-config --libs libzmq jansson nettle 2>/dev/null) -lpthread

UNIT_TESTS := $(patsubst tests/unit/%.c,$(BIN)/tests/%,$(wildcard tests/unit/test_*.c))
INTEGRATION_TESTS := $(patsubst tests/integration/%.c,$(BIN)/tests/%,$(wildcard tests/integration/test_*.c))
# Helpers the shell tests and benchmarks drive (tests/tools).
TEST_TOOLS := $(patsubst tests/tools/%.c,$(BIN)/tools/%,$(wildcard tests/tools/*.c))
# libFuzzer targets (clang); built only where clang's fuzzer runtime is installed.
FUZZ_CC ?= clang
FUZZ_TARGETS := $(patsubst tests/fuzz/%.c,$(BIN)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SRCS := src/common/err.c $(wildcard src/proto/*.c) src/vmm/qemu/qemu_stream.c
HAVE_FUZZER := $(shell echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n; }' | \
	$(FUZZ_CC) -fsanitize=fuzzer -x c - -o /dev/null 2>/dev/null && echo yes)

KERNEL := $(GUEST)/vmlinux
# Templates (guest/templates/NAME): `tiny` is busybox, built in a second; the
# others are Debian trees made by debootstrap from a recipe (a `packages` list,
# setup.sh, template.conf), rebuilt only when the recipe changes.
TEMPLATES := $(GUEST)/templates
ROOTFS_TINY := $(TEMPLATES)/tiny/rootfs.ext4
DEBOOTSTRAP_TEMPLATES := $(patsubst guest/templates/%/packages,%,$(wildcard guest/templates/*/packages))
TEMPLATE_IMAGES := $(ROOTFS_TINY) $(DEBOOTSTRAP_TEMPLATES:%=$(TEMPLATES)/%/rootfs.ext4)
# Each template ends with a snapshot of its booted guest (sandboxes restore it).
TEMPLATE_SNAPSHOTS := $(TEMPLATE_IMAGES:%/rootfs.ext4=%/snapshot/snapshot.conf)
GUEST_TOOLS := $(GUEST)/tools/debootstrap.sh $(GUEST)/tools/image.sh

.PHONY: all deps demo check test asan tsan bench soak check-drivers clean programs guest-image kernel test-deps templates
all: programs guest-image test-deps

# The official E2B SDK, a real client for the protocol tests (tests/e2b).
E2B_SDK := $(BUILD)/node/node_modules/e2b/package.json
test-deps: $(E2B_SDK)
$(E2B_SDK): tests/e2b/package.json tests/e2b/package-lock.json
	@mkdir -p $(BUILD)/node
	@cp tests/e2b/package.json tests/e2b/package-lock.json $(BUILD)/node/
	@echo "  NPM     e2b SDK -> $(BUILD)/node"
	@cd $(BUILD)/node && npm ci --no-audit --no-fund --prefer-offline --silent
	@touch $@

programs: $(BIN)/cove $(BIN)/coved $(BIN)/cove-pager $(BIN)/cove-init $(BIN)/cove-agent $(BIN)/cove-interpreter $(UNIT_TESTS) $(INTEGRATION_TESTS) $(TEST_TOOLS) $(if $(HAVE_FUZZER),$(FUZZ_TARGETS))

# The upload target runs the agent's HTTP server and upload handler
# (libmicrohttpd's multipart parser) in process.
FUZZ_UPLOAD_SRCS := $(addprefix src/guest/agent/,http.c files.c users.c state.c resolv.c cacert.c mounts.c mounts_apply.c \
	metadata.c fs_service.c) \
	$(wildcard src/http/*.c) src/common/env.c src/common/fs.c src/common/log.c src/common/proc.c src/common/secret.c \
	src/common/rootfs.c
$(BIN)/fuzz/fuzz_upload: tests/fuzz/fuzz_upload.c $(FUZZ_SRCS) $(FUZZ_UPLOAD_SRCS) $(MHD_LIB)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) -std=gnu17 -g -O1 -D_GNU_SOURCE -Isrc -Isrc/guest -I$(MHD)/include \
		-fsanitize=fuzzer,address,undefined -o $@ $(filter %.c %.a,$^) \
		$(shell pkg-config --cflags --libs jansson nettle 2>/dev/null) -lz -lpthread

# The agent's /init caBundle parser (agent/cacert.h).
FUZZ_CA_SRCS := src/guest/agent/cacert.c src/common/fs.c src/common/log.c src/common/env.c src/common/rootfs.c
$(BIN)/fuzz/fuzz_ca_bundle: tests/fuzz/fuzz_ca_bundle.c $(FUZZ_SRCS) $(FUZZ_CA_SRCS)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) -std=gnu17 -g -O1 -D_GNU_SOURCE -Isrc -Isrc/guest -fsanitize=fuzzer,address,undefined -o $@ $(filter %.c,$^) \
		$(shell pkg-config --cflags --libs jansson 2>/dev/null)

# The agent's /init volumeMounts parser and mountinfo reader (agent/mounts.h).
$(BIN)/fuzz/fuzz_volume_mounts: tests/fuzz/fuzz_volume_mounts.c $(FUZZ_SRCS) src/guest/agent/mounts.c
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) -std=gnu17 -g -O1 -D_GNU_SOURCE -Isrc -Isrc/guest -fsanitize=fuzzer,address,undefined -o $@ $(filter %.c,$^) \
		$(shell pkg-config --cflags --libs jansson 2>/dev/null)

# The API request targets run coved's request parsers (and the egress policy
# check the create body ends with, and the secrets' rules).
FUZZ_API_SRCS := src/common/json.c src/api/request.c src/api/bodies.c src/net/policy.c src/net/rules.c src/net/addr.c src/template/ref.c \
	src/api/secrets_request.c src/secrets/names.c src/api/volume_request.c src/volume/names.c
FUZZ_API_TARGETS := $(addprefix $(BIN)/fuzz/,fuzz_create_body fuzz_list_query fuzz_sandbox_host fuzz_snapshot_request \
	fuzz_secret_request fuzz_volume_request)
$(FUZZ_API_TARGETS): $(FUZZ_API_SRCS)
# An image's JSON documents (src/image/config.c).
$(BIN)/fuzz/fuzz_image_config: src/image/config.c
# The cluster catalog's host and sandbox records (src/cluster/records.c).
$(BIN)/fuzz/fuzz_cluster_records: src/cluster/records.c
# The cluster routes' drain body (src/api/cluster_request.c).
$(BIN)/fuzz/fuzz_drain_body: src/api/cluster_request.c src/common/json.c
# The gateway catalog's list tokens (src/cluster/catalog_token.c; the id check is records.c's).
$(BIN)/fuzz/fuzz_catalog_token: src/cluster/catalog_token.c src/cluster/records.c
# The nameservers setting and the host's resolv.conf (src/net/dns.c).
$(BIN)/fuzz/fuzz_dns: src/net/dns.c src/net/addr.c src/common/log.c src/common/env.c
# A conntrack dump, as slots' addresses are forgotten (src/net/conntrack.c, libmnl).
$(BIN)/fuzz/fuzz_ct_dump: tests/fuzz/fuzz_ct_dump.c $(FUZZ_SRCS) src/net/conntrack.c src/common/log.c src/common/env.c
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) -std=gnu17 -g -O1 -D_GNU_SOURCE -Isrc -fsanitize=fuzzer,address,undefined -o $@ $(filter %.c,$^) \
		$(shell pkg-config --cflags --libs jansson libmnl 2>/dev/null)
# The page server's handshake (src/vmm/pager/mappings.c).
$(BIN)/fuzz/fuzz_uffd_mappings: src/vmm/pager/mappings.c
# The nftables notifications the rules' guard reads (src/net/nfevent.c, libmnl).
$(BIN)/fuzz/fuzz_nft_event: tests/fuzz/fuzz_nft_event.c $(FUZZ_SRCS) src/net/nfevent.c
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) -std=gnu17 -g -O1 -D_GNU_SOURCE -Isrc -fsanitize=fuzzer,address,undefined -o $@ $(filter %.c,$^) \
		$(shell pkg-config --cflags --libs jansson libmnl 2>/dev/null)

# The template build API's parsers (src/build/spec.h; the trigger target
# also computes the layer cache keys) and the check of COPY uploads
# (src/build/archive.c, libarchive).
FUZZ_BUILD_SRCS := src/common/json.c src/build/spec.c src/build/trigger.c src/build/key.c src/build/archive.c \
	src/template/ref.c
FUZZ_BUILD_TARGETS := $(addprefix $(BIN)/fuzz/,fuzz_build_create fuzz_build_trigger fuzz_build_request fuzz_build_archive)
$(FUZZ_BUILD_TARGETS): $(BIN)/fuzz/%: tests/fuzz/%.c $(FUZZ_SRCS) $(FUZZ_BUILD_SRCS)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) -std=gnu17 -g -O1 -D_GNU_SOURCE -Isrc -fsanitize=fuzzer,address,undefined -o $@ $(filter %.c,$^) \
		$(shell pkg-config --cflags --libs jansson nettle libarchive 2>/dev/null)

# The code interpreter's pure parts (wire format, request bodies, env code,
# result lines): unit-tested and fuzzed on the host.
INTERP_PURE_SRCS := $(addprefix src/guest/interpreter/,wire.c request.c envs.c lines.c)
FUZZ_INTERP_TARGETS := $(addprefix $(BIN)/fuzz/,fuzz_jupyter_msg fuzz_interpreter_request)
$(FUZZ_INTERP_TARGETS): $(BIN)/fuzz/%: tests/fuzz/%.c $(FUZZ_SRCS) $(INTERP_PURE_SRCS) src/common/secret.c src/common/fs.c src/common/inet.c
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) -std=gnu17 -g -O1 -D_GNU_SOURCE -Isrc -Isrc/guest -fsanitize=fuzzer,address,undefined -o $@ $(filter %.c,$^) \
		$(shell pkg-config --cflags --libs jansson nettle 2>/dev/null)
# The agent's volumeMounts parser, pure like the interpreter's.
$(BIN)/tests/test_agent_mounts: tests/unit/test_agent_mounts.c src/guest/agent/mounts.c $(O)/libcove.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(HOST_CFLAGS) -Isrc/guest -o $@ $(filter %.c %.a,$^) $(HOST_LIBS) $(TEST_LIBS)
$(BIN)/tests/test_interpreter: tests/unit/test_interpreter.c $(INTERP_PURE_SRCS) $(O)/libcove.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(HOST_CFLAGS) -Isrc/guest -o $@ $(filter %.c %.a,$^) $(HOST_LIBS) $(TEST_LIBS) $(shell pkg-config --libs nettle 2>/dev/null)

$(BIN)/fuzz/%: tests/fuzz/%.c $(FUZZ_SRCS)
	@mkdir -p $(dir $@)
	@echo "  FUZZ    $@"
	@$(FUZZ_CC) -std=gnu17 -g -O1 -D_GNU_SOURCE -Isrc -fsanitize=fuzzer,address,undefined -o $@ $^ \
		$(shell pkg-config --cflags --libs jansson 2>/dev/null)

$(O)/host/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(HOST_CFLAGS) -MMD -MP -c $< -o $@

$(O)/guest/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC      $< (guest)"
	@$(CC) $(GUEST_CFLAGS) -MMD -MP -c $< -o $@

# Made anew each time, members under their whole paths (P): file names repeat
# across directories (api/server.c, http/server.c).
$(O)/libcove.a: $(LIB_OBJS)
	@rm -f $@
	@echo "  AR      $@"
	@ar rcsP $@ $^

$(BIN)/cove: $(CLI_OBJS) $(O)/libcove.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(HOST_CFLAGS) -o $@ $^ $(HOST_LIBS)

$(BIN)/coved: $(COVED_OBJS) $(O)/libcove.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(HOST_CFLAGS) -o $@ $^ $(HOST_LIBS)

# The Firecracker driver's page server (src/vmm/pager), a program of its own.
$(BIN)/cove-pager: $(O)/host/src/pager/main.o $(O)/libcove.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(HOST_CFLAGS) -o $@ $^ $(HOST_LIBS)

$(BIN)/cove-init: $(INIT_SRCS:%.c=$(O)/guest/%.o) $(GUEST_SHARED_SRCS:%.c=$(O)/guest/%.o)
	@mkdir -p $(dir $@)
	@echo "  LD      $@ (guest)"
	@$(CC) $(GUEST_LDFLAGS) $(GUEST_SANITIZE) -o $@ $^ $(GUEST_LIBS)

$(BIN)/cove-agent: $(AGENT_SRCS:%.c=$(O)/guest/%.o) $(GUEST_SHARED_SRCS:%.c=$(O)/guest/%.o) $(MHD_LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@ (guest)"
	@$(CC) $(GUEST_LDFLAGS) $(GUEST_SANITIZE) -o $@ $^ $(GUEST_LIBS)

$(AGENT_SRCS:%.c=$(O)/guest/%.o): $(MHD_LIB)

$(BIN)/cove-interpreter: $(INTERP_SRCS:%.c=$(O)/guest/%.o) $(GUEST_SHARED_SRCS:%.c=$(O)/guest/%.o) $(MHD_LIB)
	@mkdir -p $(dir $@)
	@echo "  LD      $@ (guest)"
	@$(CC) $(GUEST_SANITIZE) -o $@ $^ $(INTERP_LIBS)

$(INTERP_SRCS:%.c=$(O)/guest/%.o): $(MHD_LIB)

$(MHD_LIB): scripts/build-microhttpd.sh
	@scripts/build-microhttpd.sh $(BUILD)/deps/microhttpd-src $(MHD)

# The unit tests that need a real etcd share its start-up (and some, catalog records).
$(BIN)/tests/test_etcd_client $(BIN)/tests/test_cluster_host $(BIN)/tests/test_catalog $(BIN)/tests/test_gateway \
	$(BIN)/tests/test_janitor $(BIN)/tests/test_api_cluster: tests/unit/etcd_server.c tests/unit/etcd_server.h
$(BIN)/tests/test_janitor $(BIN)/tests/test_api_cluster: tests/unit/catalog_fixture.c tests/unit/catalog_fixture.h
# test_pager plays Firecracker's side of the page server's handshake with the double's code.
$(BIN)/tests/test_pager: tests/tools/vmmdouble/uffd.c
# test_api_cluster runs the cove command's host verbs too.
$(BIN)/tests/test_api_cluster: | $(BIN)/cove
$(BIN)/tests/%: tests/unit/%.c $(O)/libcove.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(HOST_CFLAGS) -Itests/unit -o $@ $(filter %.c,$^) $(filter %.a,$^) $(HOST_LIBS) $(TEST_LIBS)

$(BIN)/tests/%: tests/integration/%.c tests/integration/harness.h $(O)/libcove.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(HOST_CFLAGS) -o $@ $(filter %.c %.a,$^) $(HOST_LIBS) $(TEST_LIBS)

# The VMM test doubles (tests/tools/vmmdouble): their shared code, the API
# documents they carry (assembled in from tests/data) and libyaml, which only
# they and their unit test use.
YAML_LIBS := $(shell pkg-config --libs yaml-0.1 2>/dev/null)
VMMDOUBLE_OBJS := $(patsubst %.c,$(O)/host/%.o,$(wildcard tests/tools/vmmdouble/*.c)) \
	$(O)/host/tests/tools/vmmdouble/documents.o
VMM_DOUBLES := $(BIN)/tools/firecracker-double $(BIN)/tools/jailer-double $(BIN)/tools/cloud-hypervisor-double $(BIN)/tools/pager-bench
$(O)/host/tests/tools/vmmdouble/documents.o: tests/tools/vmmdouble/documents.S $(wildcard tests/data/*.yaml)
	@mkdir -p $(dir $@)
	@echo "  AS      $<"
	@$(CC) -c $< -o $@
$(filter $(TEST_TOOLS),$(VMM_DOUBLES)): $(BIN)/tools/%: tests/tools/%.c $(VMMDOUBLE_OBJS) $(O)/libcove.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(HOST_CFLAGS) -Itests/tools -o $@ $^ $(HOST_LIBS) $(YAML_LIBS)
$(BIN)/tests/test_openapi: tests/unit/test_openapi.c $(VMMDOUBLE_OBJS) $(O)/libcove.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(HOST_CFLAGS) -Itests/tools -o $@ $^ $(HOST_LIBS) $(TEST_LIBS) $(YAML_LIBS)

$(BIN)/tools/%: tests/tools/%.c $(O)/libcove.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(HOST_CFLAGS) -o $@ $^ $(HOST_LIBS)

# The guest kernel: Debian's linux-source-6.1 plus our fragment on tinyconfig.
KERNEL_TARBALL := /usr/src/linux-source-6.1.tar.xz
kernel: $(KERNEL)
$(KERNEL): guest/kernel/cove.config guest/kernel/build.sh $(wildcard $(KERNEL_TARBALL))
	guest/kernel/build.sh $(KERNEL_TARBALL) guest/kernel/cove.config $(BUILD)/kernel $@

guest-image: $(KERNEL) templates $(GUEST_TOOLS)
templates: $(TEMPLATE_IMAGES) $(TEMPLATE_SNAPSHOTS)
$(ROOTFS_TINY): guest/templates/tiny/build.sh guest/templates/tiny/template.conf $(BIN)/cove-init $(BIN)/cove-agent
	@guest/templates/tiny/build.sh $(BIN) $(@D)
# The slow part (debootstrap, ~1-3 min) depends only on the recipe; the image
# (the tree plus the current guest programs) is remade in seconds.
$(TEMPLATES)/%/tree.stamp: guest/templates/debootstrap.sh guest/templates/%/packages guest/templates/%/setup.sh \
		guest/templates/%/template.conf
	@guest/templates/debootstrap.sh guest/templates/$* $(@D)
# A recipe's files/ (copied over the tree) and the programs it names are
# part of the image, not of the tree.
.SECONDEXPANSION:
$(TEMPLATES)/%/rootfs.ext4: $(TEMPLATES)/%/tree.stamp guest/templates/image.sh $(BIN)/cove-init $(BIN)/cove-agent \
		$(BIN)/cove-interpreter guest/templates/%/template.conf $$(shell find guest/templates/$$*/files -type f 2>/dev/null)
	@guest/templates/image.sh guest/templates/$* $(BIN) $(@D)
$(TEMPLATES)/%/snapshot/snapshot.conf: $(TEMPLATES)/%/rootfs.ext4 $(KERNEL) $(BIN)/cove guest/templates/snapshot.sh
	@guest/templates/snapshot.sh $* $(TEMPLATES) $(BIN) $(KERNEL)
# What `cove template build` runs for a Debian recipe, next to the templates.
$(GUEST)/tools/%.sh: guest/templates/%.sh
	@mkdir -p $(@D)
	@install -m 755 $< $@
# Keep the tree when make is interrupted while making the image.
.PRECIOUS: $(TEMPLATES)/%/tree.stamp

deps:
	@scripts/deps.sh

# Recursive make so that pkg-config runs after `deps` installed the packages.
demo: deps
	@$(MAKE) --no-print-directory all
	@scripts/demo.sh $(BUILD)

check: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory test

test: all
	@tests/run.sh $(BUILD) $(TESTS)

# The soak (tests/soak, through tests/integration/soak.sh): bounded in count
# and time; a random seed unless SOAK_SEED is given (it is printed). It takes
# the integration tests' lock itself: it uses their network instance.
SOAK_CYCLES ?= 200
SOAK_MAX_SECONDS ?= 10800
SOAK_SEED ?= $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
soak: all
	@flock /tmp/cove-integration.lock env VERBOSE=1 SOAK_CYCLES=$(SOAK_CYCLES) SOAK_SEED=$(SOAK_SEED) \
		SOAK_MAX_SECONDS=$(SOAK_MAX_SECONDS) tests/run.sh $(BUILD) soak.sh

# The whole E2B SDK suite once per VMM driver other than QEMU (their test
# doubles here): minutes, so outside `make check`.
check-drivers: all
	@flock /tmp/cove-integration.lock env COVE_DRIVERS_SDK=1 VERBOSE=1 tests/run.sh $(BUILD) drivers_sdk.sh

# Sanitizers: a separate tree of host binaries; the guest image is shared.
SANITIZERS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
asan: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/asan OPT=-O1 SANITIZE="$(SANITIZERS)" \
		GUEST_SANITIZE="$(SANITIZERS)" GUEST_LDFLAGS= \
		MHD=$(abspath $(MHD)) programs
	@COVE_KERNEL=$(abspath $(KERNEL)) COVE_TEMPLATES=$(abspath $(TEMPLATES)) \
		COVE_GUEST_BIN=$(abspath $(BIN)) COVE_NODE_DIR=$(abspath $(BUILD)/node) tests/run.sh $(BUILD)/asan $(TESTS)

# ThreadSanitizer: the same kind of separate tree (build/tsan), over the tests
# whose programs run threads: coved's connections, reaper, sampler, fork
# children and proxy; the egress proxy's loop (egress.sh) and its threads
# for hosts with rules (rules.sh); the net slots'
# pool, reaper and namespace threads (with cove run too: net.sh); the warm
# pool's warmer (snapshot.sh); the agent's
# connections, pumps and watchers; the cove CLI's streams. The agent runs on
# the host, dynamically linked, as TSan needs. coved_load.sh keeps its 50
# sandboxes: its coved peaks near 420 MiB under TSan (~220 threads), and the
# VMMs are not built with it. Suppressions, each with its reason:
# tests/tsan.supp.
TSAN_FLAGS := -fsanitize=thread -fno-omit-frame-pointer
TSAN_TESTS ?= $(notdir $(UNIT_TESTS)) test_agent_host agent_http.sh e2b.sh coved.sh coved_cli.sh \
	e2b_coved.sh pause.sh lifecycle.sh coved_load.sh net.sh snapshot.sh snapshots.sh egress.sh rules.sh cluster_host.sh
tsan: deps
	@$(MAKE) --no-print-directory all
	@$(MAKE) --no-print-directory BUILD=$(BUILD)/tsan OPT=-O1 SANITIZE="$(TSAN_FLAGS)" \
		GUEST_SANITIZE="$(TSAN_FLAGS)" GUEST_LDFLAGS= \
		MHD=$(abspath $(MHD)) HAVE_FUZZER= programs
	@COVE_KERNEL=$(abspath $(KERNEL)) COVE_TEMPLATES=$(abspath $(TEMPLATES)) \
		COVE_GUEST_BIN=$(abspath $(BIN)) COVE_NODE_DIR=$(abspath $(BUILD)/node) \
		tests/run.sh $(BUILD)/tsan $(or $(TESTS),$(TSAN_TESTS))

bench: deps
	@scripts/deps.sh --bench
	@$(MAKE) --no-print-directory all
	@bench/run.sh $(BUILD)

clean:
	rm -rf $(O) $(BIN) $(BUILD)/asan $(BUILD)/tsan

-include $(shell find $(O) -name '*.d' 2>/dev/null)
