/* cove-init: the guest's PID 1.
 *
 * It mounts the kernel file systems, brings up lo (eth0 is configured by the
 * kernel itself from ip= on the command line), starts the guest agent and
 * restarts it if it dies, reaps every orphan, and powers the VM off cleanly
 * on SIGTERM/SIGUSR2/SIGINT or when the power button is pressed (QEMU's
 * system_powerdown arrives as an ACPI power-button key on /dev/input;
 * Firecracker's SendCtrlAltDel as Ctrl-Alt-Del, which is SIGINT). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/input.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/proc.h"
#include "common/spawn.h"

#define AGENT_PATH "/usr/bin/cove-agent"
#define MAX_INPUTS 8
/* An agent that keeps dying is restarted at most this often. */
#define AGENT_RESTART_MIN_MS 1000

/* Messages go to the kernel log (/dev/kmsg), so they carry the kernel's
 * timestamps and honour loglevel= like the kernel's own lines; before /dev
 * is mounted they go straight to the console. */
static void say(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(int level, const char *fmt, ...)
{
	char msg[480], line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* One write() per record: /dev/kmsg takes each write as one message
	 * (so no dprintf, which may split it). */
	int fd = open("/dev/kmsg", O_WRONLY | O_NOCTTY | O_CLOEXEC);
	int n = snprintf(line, sizeof(line), "<%d>cove-init: %s\n", level, msg);
	if (fd < 0) {
		fd = open("/dev/console", O_WRONLY | O_NOCTTY | O_CLOEXEC);
		n = snprintf(line, sizeof(line), "cove-init: %s\n", msg);
	}
	if (fd < 0)
		return;
	(void)!write(fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
	close(fd);
}

#define LOG_ERR 3
#define LOG_INFO 6

static void mount_one(const char *src, const char *target, const char *type, unsigned long flags, const char *data)
{
	mkdir(target, 0755);
	if (mount(src, target, type, flags, data) < 0 && errno != EBUSY)
		say(LOG_ERR, "mount %s on %s: %s", type, target, strerror(errno));
}

static void mount_filesystems(void)
{
	const unsigned long common = MS_NOSUID | MS_NODEV | MS_NOEXEC;
	mount_one("proc", "/proc", "proc", common, NULL);
	mount_one("sysfs", "/sys", "sysfs", common, NULL);
	mount_one("devtmpfs", "/dev", "devtmpfs", MS_NOSUID, "mode=0755");
	mount_one("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666");
	mount_one("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777");
	mount_one("tmpfs", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755");
	/* /tmp stays on the root disk, as in E2B's sandboxes: it survives pause
	 * and resume with the disk, costs no guest memory, and keeps extended
	 * attributes (file metadata), which tmpfs lacks before Linux 6.6. */
	mkdir("/tmp", 01777);
	chmod("/tmp", 01777);
	mount_one("cgroup2", "/sys/fs/cgroup", "cgroup2", common, NULL);
	if (access("/dev/ptmx", F_OK) != 0)
		symlink("pts/ptmx", "/dev/ptmx");
	symlink("/proc/self/fd", "/dev/fd");
}

static void loopback_up(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	struct ifreq ifr = { 0 };
	strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		if (ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
			say(LOG_ERR, "bring lo up: %s", strerror(errno));
	}
	close(fd);
}

/* Without ip= (no network), the host name comes from cove.hostname=. */
static void set_hostname_from_cmdline(void)
{
	char buf[4096];
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = '\0';
	char *p = strstr(buf, "cove.hostname=");
	if (!p)
		return;
	p += strlen("cove.hostname=");
	size_t len = strcspn(p, " \n");
	if (len > 0 && len < 64)
		sethostname(p, len);
}

/* The agent is reaped by the main loop's waitpid(-1) like every orphan,
 * so its pidfd is not kept. */
static pid_t start_agent(void)
{
	/* In a guest the host's /init may set the clock, mount volumes, and
	 * write the resolvers and the trust store. */
	char *argv[] = { AGENT_PATH, "--set-clock", "--mount-volumes", "--resolv-conf", "/etc/resolv.conf",
			 "--ca-root", "/", NULL };
	char *envp[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", NULL };
	struct spawn_options o = { .path = AGENT_PATH, .argv = argv, .envp = envp, .setsid = true };
	struct spawn_child c;
	struct spawn_failure f;
	if (spawn_start(&o, &c, &f) < 0) {
		if (f.step == SPAWN_STEP_FORK)
			say(LOG_ERR, "fork agent: %s", strerror(f.err));
		else if (f.step == SPAWN_STEP_EXEC)
			say(LOG_ERR, "exec %s: %s", AGENT_PATH, strerror(f.err));
		else
			say(LOG_ERR, "start agent: %s", strerror(f.err));
		return -1;
	}
	spawn_child_close(&c);
	say(LOG_INFO, "agent started (pid %d)", (int)c.pid);
	return c.pid;
}

static int open_power_buttons(int *fds)
{
	int n = 0;
	DIR *d = opendir("/dev/input");
	if (!d)
		return 0;
	struct dirent *de;
	while ((de = readdir(d)) && n < MAX_INPUTS) {
		if (strncmp(de->d_name, "event", 5) != 0)
			continue;
		char path[300];
		snprintf(path, sizeof(path), "/dev/input/%s", de->d_name);
		int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0)
			fds[n++] = fd;
	}
	closedir(d);
	return n;
}

static int power_key_pressed(int fd)
{
	struct input_event ev[16];
	ssize_t n = read(fd, ev, sizeof(ev));
	for (ssize_t i = 0; n > 0 && i < n / (ssize_t)sizeof(ev[0]); i++)
		if (ev[i].type == EV_KEY && ev[i].code == KEY_POWER && ev[i].value == 1)
			return 1;
	return 0;
}

static void reap_all(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static void __attribute__((noreturn)) power_off(void)
{
	say(LOG_INFO, "powering off");
	kill(-1, SIGTERM);
	int64_t deadline = now_ms() + 1000;
	while (now_ms() < deadline) {
		pid_t p = waitpid(-1, NULL, WNOHANG);
		if (p < 0 && errno == ECHILD)
			break;
		if (p == 0)
			usleep(10000);
	}
	kill(-1, SIGKILL);
	reap_all();
	sync();
	mount(NULL, "/", NULL, MS_REMOUNT | MS_RDONLY, NULL);
	reboot(RB_POWER_OFF);
	_exit(0);
}

int main(void)
{
	if (getpid() != 1) {
		fprintf(stderr, "cove-init: must run as PID 1 (init= on the kernel command line)\n");
		return 1;
	}
	/* Ctrl-Alt-Del (Firecracker's power-off request, on its i8042
	 * keyboard) becomes SIGINT to PID 1, a power-off below, instead of
	 * the kernel's immediate reboot. */
	reboot(RB_DISABLE_CAD);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGUSR2);
	sigaddset(&mask, SIGPWR);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC);

	mount_filesystems();
	loopback_up();
	set_hostname_from_cmdline();
	pid_t agent = start_agent();
	int64_t agent_started = now_ms();

	struct pollfd pfds[1 + MAX_INPUTS];
	int inputs[MAX_INPUTS];
	int ninputs = open_power_buttons(inputs);
	pfds[0] = (struct pollfd){ .fd = sfd, .events = POLLIN };
	for (int i = 0; i < ninputs; i++)
		pfds[1 + i] = (struct pollfd){ .fd = inputs[i], .events = POLLIN };

	for (;;) {
		int timeout = agent > 0 ? -1 : AGENT_RESTART_MIN_MS;
		int r = poll(pfds, (nfds_t)(1 + ninputs), timeout);
		if (r < 0 && errno != EINTR)
			say(LOG_ERR, "poll: %s", strerror(errno));
		for (int i = 0; i < ninputs; i++)
			if ((pfds[1 + i].revents & POLLIN) && power_key_pressed(inputs[i]))
				power_off();
		if (pfds[0].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof(si)) == sizeof(si)) {
				if (si.ssi_signo != SIGCHLD)
					power_off();
				break;
			}
		}
		int status;
		pid_t p;
		while ((p = waitpid(-1, &status, WNOHANG)) > 0) {
			if (p == agent) {
				say(LOG_ERR, "agent exited (status %d)", status);
				agent = -1;
			}
		}
		if (agent < 0 && now_ms() - agent_started >= AGENT_RESTART_MIN_MS) {
			agent = start_agent();
			agent_started = now_ms();
		}
	}
}
