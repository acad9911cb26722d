/* Choosing the accelerator.
 *
 * /dev/kvm existing is not enough: on some nested hosts (measured here: a
 * kvm_pvm module) guest ring-0 code runs in KVM's instruction emulator,
 * about 8000x slower, and a stock kernel never boots. So the probe does what
 * a guest kernel does first: it builds a raw KVM VM, enters 64-bit long mode
 * at ring 0 and times a short loop. Hardware virtualisation runs it in well
 * under a millisecond; the emulator needs seconds, and is cut off at
 * PROBE_RUN_BUDGET_MS. The probe runs in a child process so that a wedged
 * KVM_RUN can simply be killed, and takes ~25 ms in the worst case. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/proc.h"
#include "vmm/vmm.h"

#define PROBE_LOOPS 200000u
/* 200k iterations of dec/jnz take ~0.1 ms on hardware and ~0.6 s in the
 * emulator (0.34 M iterations/s measured). */
#define PROBE_RUN_BUDGET_MS 20
#define PROBE_SETUP_BUDGET_MS 2000
#define GUEST_MEM (2u << 20)
#define CODE_ADDR 0x4000u

const char *vmm_accel_name(enum vmm_accel accel)
{
	switch (accel) {
	case VMM_ACCEL_AUTO: return "auto";
	case VMM_ACCEL_KVM: return "kvm";
	case VMM_ACCEL_TCG: return "tcg";
	}
	return "unknown";
}

int vmm_accel_parse(const char *name, enum vmm_accel *ret)
{
	for (int a = VMM_ACCEL_AUTO; a <= VMM_ACCEL_TCG; a++)
		if (strcmp(name, vmm_accel_name((enum vmm_accel)a)) == 0) {
			*ret = (enum vmm_accel)a;
			return 0;
		}
	return -EINVAL;
}

enum probe_result {
	PROBE_FAST = 0,
	PROBE_NO_DEVICE,
	PROBE_SETUP_FAILED,
	PROBE_RUN_FAILED,
};

/* Identity-mapped 2 MiB page at 0; 4-level paging; the loop at CODE_ADDR. */
static void probe_guest_memory(uint8_t *mem)
{
	uint64_t *pml4 = (uint64_t *)(mem + 0x1000);
	uint64_t *pdpt = (uint64_t *)(mem + 0x2000);
	uint64_t *pd = (uint64_t *)(mem + 0x3000);
	pml4[0] = 0x2000 | 0x3;     /* present, writable */
	pdpt[0] = 0x3000 | 0x3;
	pd[0] = 0x0 | 0x3 | 0x80;   /* 2 MiB page */
	const uint8_t code[] = {
		0xb9, PROBE_LOOPS & 0xff, (PROBE_LOOPS >> 8) & 0xff, (PROBE_LOOPS >> 16) & 0xff,
		(PROBE_LOOPS >> 24) & 0xff, /* mov ecx, PROBE_LOOPS */
		0xff, 0xc9,                 /* 1: dec ecx */
		0x75, 0xfc,                 /* jnz 1b */
		0xf4,                       /* hlt */
	};
	memcpy(mem + CODE_ADDR, code, sizeof(code));
}

static void probe_long_mode(struct kvm_sregs *s)
{
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x8, .type = 11, .present = 1,
		.dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = code;
	data.type = 3;
	data.selector = 0x10;
	data.l = 0;
	data.db = 1;
	s->cs = code;
	s->ds = s->es = s->fs = s->gs = s->ss = data;
	s->cr3 = 0x1000;
	s->cr4 = 1u << 5;                 /* PAE */
	s->cr0 = 0x80050033;              /* PG, AM, WP, NE, ET, MP, PE */
	s->efer = (1u << 8) | (1u << 10); /* LME, LMA */
}

/* Child side: sets up the VM, reports 'R', runs, reports the result. */
static int __attribute__((noreturn)) probe_child(int report)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		_exit(PROBE_NO_DEVICE);
	int vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		_exit(PROBE_SETUP_FAILED);
	uint8_t *mem = mmap(NULL, GUEST_MEM, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		_exit(PROBE_SETUP_FAILED);
	probe_guest_memory(mem);
	struct kvm_userspace_memory_region region = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = GUEST_MEM, .userspace_addr = (uintptr_t)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		_exit(PROBE_SETUP_FAILED);
	int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vcpu < 0 || run_size <= 0)
		_exit(PROBE_SETUP_FAILED);
	struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	struct kvm_sregs sregs;
	if (run == MAP_FAILED || ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		_exit(PROBE_SETUP_FAILED);
	probe_long_mode(&sregs);
	struct kvm_regs regs = { .rip = CODE_ADDR, .rflags = 2, .rsp = GUEST_MEM - 16 };
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0 || ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		_exit(PROBE_SETUP_FAILED);
	(void)!write(report, "R", 1);
	int r = ioctl(vcpu, KVM_RUN, 0);
	if (r < 0 || run->exit_reason != KVM_EXIT_HLT)
		_exit(PROBE_RUN_FAILED);
	_exit(PROBE_FAST);
}

static int wait_readable(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;
	do
		r = poll(&p, 1, timeout_ms);
	while (r < 0 && errno == EINTR);
	return r;
}

/* Returns a reason string; *usable tells whether KVM can be used.
 *
 * The one child Cove starts without common/spawn.h: it runs code of ours
 * (the KVM ioctls above) and never execs, so there is no program, argv or
 * descriptors to arrange, only a process to kill when KVM_RUN wedges. Like
 * a spawned child before exec it makes system calls only, then _exits. */
static const char *probe_kvm(bool *usable)
{
	*usable = false;
	if (access("/dev/kvm", R_OK | W_OK) != 0)
		return "no usable /dev/kvm";
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return "probe failed: pipe";
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return "probe failed: fork";
	}
	if (pid == 0) {
		close(p[0]);
		probe_child(p[1]);
	}
	close(p[1]);
	const char *reason = NULL;
	char c;
	if (wait_readable(p[0], PROBE_SETUP_BUDGET_MS) <= 0 || read(p[0], &c, 1) != 1) {
		reason = "kvm present but a probe VM could not be set up";
	} else if (wait_readable(p[0], PROBE_RUN_BUDGET_MS) <= 0) {
		reason = "kvm present but runs guest kernel code in its emulator (probe loop too slow)";
	}
	close(p[0]);
	if (reason)
		kill(pid, SIGKILL);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (reason)
		return reason;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != PROBE_FAST)
		return "kvm present but the probe VM failed to run 64-bit ring-0 code";
	*usable = true;
	return "kvm runs 64-bit guest kernel code at hardware speed";
}

static struct {
	pthread_once_t once;
	bool usable;
	const char *reason;
} probe = { .once = PTHREAD_ONCE_INIT };

static void probe_once(void)
{
	int64_t t0 = now_us();
	probe.reason = probe_kvm(&probe.usable);
	log_info("accel: %s (%s; probe took %.1f ms)", probe.usable ? "kvm" : "tcg", probe.reason,
		 (double)(now_us() - t0) / 1000.0);
}

enum vmm_accel vmm_accel_resolve(enum vmm_accel requested, const char **reason)
{
	if (requested != VMM_ACCEL_AUTO) {
		*reason = "requested";
		return requested;
	}
	pthread_once(&probe.once, probe_once);
	*reason = probe.reason;
	return probe.usable ? VMM_ACCEL_KVM : VMM_ACCEL_TCG;
}
