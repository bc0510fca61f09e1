/* SPDX-License-Identifier: MIT */
/* Real NBD servers for the nbd backend's tests: see ext_nbd_server.h. */
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ext_nbd_server.h"

extern char **environ;

bool nbd_srv_have(const char *program)
{
	const char *path = getenv("PATH");
	char buf[512];

	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t n = strcspn(path, ":");

		snprintf(buf, sizeof(buf), "%.*s/%s", (int)n, path, program);
		if (access(buf, X_OK) == 0)
			return true;
		path += n;
		if (*path == ':')
			path++;
	}
	return false;
}

void nbd_srv_init(struct nbd_srv *s)
{
	memset(s, 0, sizeof(*s));
	s->pid = -1;
	snprintf(s->dir, sizeof(s->dir), "/tmp/vstor-nbd.XXXXXX");
	if (!mkdtemp(s->dir))
		abort();
	snprintf(s->sock, sizeof(s->sock), "%s/nbd.sock", s->dir);
	snprintf(s->pidfile, sizeof(s->pidfile), "%s/server.pid", s->dir);
	snprintf(s->uri, sizeof(s->uri), "nbd+unix:///?socket=%s", s->sock);
}

const char *nbd_srv_path(struct nbd_srv *s, const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", s->dir, name);
	return buf;
}

/* The pid its pid file names, once written; 0 until then. */
static pid_t read_pidfile(const char *path)
{
	FILE *f = fopen(path, "r");
	long pid = 0;

	if (!f)
		return 0;
	if (fscanf(f, "%ld", &pid) != 1)
		pid = 0;
	fclose(f);
	return (pid_t)pid;
}

bool nbd_srv_restart(struct nbd_srv *s)
{
	struct timespec ts = { 0, 20 * 1000 * 1000 };
	pid_t launcher;

	unlink(s->sock);        /* a killed server leaves it behind */
	unlink(s->pidfile);
	if (posix_spawnp(&launcher, s->argv[0], NULL, NULL, s->argv, environ) != 0) {
		s->pid = -1;
		return false;
	}
	s->pid = s->daemon ? -1 : launcher;
	if (s->daemon)
		waitpid(launcher, NULL, 0);     /* it forked away */
	for (int i = 0; i < 250; i++) {
		pid_t p = read_pidfile(s->pidfile);
		int st;

		if (p > 0 && access(s->sock, F_OK) == 0) {
			s->pid = p;
			return true;
		}
		if (!s->daemon && waitpid(launcher, &st, WNOHANG) == launcher) {
			s->pid = -1;
			return false;
		}
		nanosleep(&ts, NULL);
	}
	return false;
}

static void add(struct nbd_srv *s, const char *arg)
{
	if (s->argc < NBD_SRV_MAX_ARGS)
		s->argv[s->argc++] = strdup(arg);
	s->argv[s->argc] = NULL;
}

static void add_list(struct nbd_srv *s, va_list ap)
{
	const char *a;

	while ((a = va_arg(ap, const char *)))
		add(s, a);
}

/* head... then the caller's arguments. */
static bool start_cmd(struct nbd_srv *s, const char *const *head, va_list ap)
{
	for (; *head; head++)
		add(s, *head);
	add_list(s, ap);
	return nbd_srv_restart(s);
}

bool nbd_srv_nbdkit(struct nbd_srv *s, ...)
{
	const char *head[] = { "nbdkit", "-U", s->sock, "-f", "--exit-with-parent", "-P",
	                       s->pidfile, NULL };
	va_list ap;
	bool ok;

	va_start(ap, s);
	ok = start_cmd(s, head, ap);
	va_end(ap);
	return ok;
}

bool nbd_srv_qemu(struct nbd_srv *s, ...)
{
	const char *head[] = { "qemu-nbd", "-k", s->sock, "-t", "--shared=8", "--pid-file",
	                       s->pidfile, NULL };
	va_list ap;
	bool ok;

	va_start(ap, s);
	ok = start_cmd(s, head, ap);
	va_end(ap);
	return ok;
}

bool nbd_srv_nbd_server(struct nbd_srv *s, const char *file)
{
	char conf[160];
	FILE *f;

	nbd_srv_path(s, "nbd-server.conf", conf, sizeof(conf));
	f = fopen(conf, "w");
	if (!f)
		return false;
	fprintf(f, "[generic]\nunixsock = %s\n[disk]\nexportname = %s\n", s->sock, file);
	fclose(f);
	snprintf(s->uri, sizeof(s->uri), "nbd+unix:///disk?socket=%s", s->sock);
	s->daemon = true;
	add(s, "nbd-server");
	add(s, "-C");
	add(s, conf);
	add(s, "-p");
	add(s, s->pidfile);
	return nbd_srv_restart(s);
}

/* The process state letter of /proc/PID/stat ('T': stopped), or 0. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' ? p[2] : 0;
}

void nbd_srv_signal(struct nbd_srv *s, int sig)
{
	if (s->pid <= 0)
		return;
	kill(s->pid, sig);
	/* a stop takes effect when each thread next enters the kernel: wait
	 * for it, so nothing sent after this is answered */
	for (int i = 0; sig == SIGSTOP && i < 200 && proc_state(s->pid) != 'T'; i++)
		usleep(5000);
}

void nbd_srv_kill(struct nbd_srv *s, int sig)
{
	if (s->pid <= 0)
		return;
	if (s->daemon) {
		/* and the children that serve its connections */
		kill(-s->pid, SIGCONT);
		kill(-s->pid, sig);
		kill(s->pid, SIGCONT);
		kill(s->pid, sig);
		for (int i = 0; i < 500 && kill(s->pid, 0) == 0; i++)
			usleep(10000);
	} else {
		kill(s->pid, SIGCONT);
		kill(s->pid, sig);
		waitpid(s->pid, NULL, 0);
	}
	s->pid = -1;
	unlink(s->sock);
}

void nbd_srv_clear(struct nbd_srv *s)
{
	nbd_srv_kill(s, SIGKILL);
	for (int i = 0; i < s->argc; i++)
		free(s->argv[i]);
	s->argc = 0;
	s->argv[0] = NULL;
	s->daemon = false;
}

void nbd_srv_fini(struct nbd_srv *s)
{
	char cmd[128];

	nbd_srv_clear(s);
	if (getenv("NBD_SRV_KEEP")) {
		fprintf(stderr, "nbd_server: kept %s\n", s->dir);
		return;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "nbd_server: could not remove %s\n", s->dir);
}
