/* SPDX-License-Identifier: MIT */
/*
 * vstord: the vstor daemon.  Loads a config (or the built-in one), builds
 * the stack, serves until SIGTERM/SIGINT, then shuts down cleanly: stop
 * accepting, let in-flight commands finish (or abort them after a grace
 * period), flush every LUN, exit 0.
 *
 * Signals are read from a signalfd on the main thread, never handled in a
 * signal handler; they are blocked before any thread starts so every
 * thread inherits the mask and only the signalfd sees them.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "ctl/config.h"
#include "ctl/ctl.h"
#include "log.h"
#include "options.h"
#include "plugins.h"
#include "serve.h"
#include "vstor/iscsi.h"
#include "vstor/nbd.h"

static int block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, set, NULL) != 0)
		return -1;
	/* A peer that vanishes mid-write must not kill the daemon. */
	signal(SIGPIPE, SIG_IGN);
	return signalfd(-1, set, SFD_CLOEXEC);
}

/* Wait for SIGTERM or SIGINT; returns the signal number. */
static int wait_for_stop(int sfd)
{
	for (;;) {
		struct signalfd_siginfo si;
		ssize_t n = read(sfd, &si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si)) {
			vsd_error("signalfd: %s", n < 0 ? strerror(errno) : "short read");
			return SIGTERM;
		}
		if (si.ssi_signo == SIGHUP) {
			vsd_warn("SIGHUP ignored: configuration reload is not supported; restart vstord");
			continue;
		}
		return (int)si.ssi_signo;
	}
}

static struct vs_config *load_config(const struct vsd_options *o, const char **name)
{
	struct vs_config *cfg;
	char err[VS_CONFIG_ERR_MAX];

	if (o->config_path) {
		*name = o->config_path;
		if (vs_config_load_file(o->config_path, &cfg, err, sizeof(err)) < 0) {
			vsd_error("%s", err);
			return NULL;
		}
	} else {
		*name = "built-in config";
		/* the default disk: 1 GiB of RAM */
		cfg = vs_config_default("ram");
		if (!cfg) {
			vsd_error("out of memory");
			return NULL;
		}
	}
	if (o->nlisten) {
		for (size_t i = 0; i < o->nlisten; i++) {
			if (vs_config_set_portals(cfg, &o->listen[i], 1, err, sizeof(err)) < 0) {
				vsd_error("--listen %s: %s", o->listen[i], err);
				vs_config_free(cfg);
				return NULL;
			}
		}
		if (vs_config_set_portals(cfg, o->listen, o->nlisten, err, sizeof(err)) < 0) {
			vsd_error("--listen: %s", err);
			vs_config_free(cfg);
			return NULL;
		}
	}
	if (o->has_threads)
		cfg->threads = o->threads;
	return cfg;
}

int main(int argc, char **argv)
{
	struct vsd_options o;
	switch (vsd_parse_options(argc, argv, &o)) {
	case VSD_RUN:
		break;
	case VSD_EXIT_OK:
		return 0;
	default:
		return 2;
	}
	vsd_log_set_level(VSD_LOG_INFO + o.verbosity);
	/* The fabric logs logins, logouts and dropped connections itself. */
	vs_iscsi_set_log_level(VSD_LOG_INFO + o.verbosity > 3 ? 3 : VSD_LOG_INFO + o.verbosity);
	vs_nbd_set_log_level(VSD_LOG_INFO + o.verbosity > 3 ? 3 : VSD_LOG_INFO + o.verbosity);

	/* before the configuration, which may name the plugins' types, and
	 * before --help, which lists them */
	if (o.plugin_dir && vsd_load_plugins(o.plugin_dir, o.plugin_dir_given) < 0 && !o.help)
		return 1;
	if (o.help) {
		vsd_print_help(stdout);
		return 0;
	}

	const char *cfg_name;
	struct vs_config *cfg = load_config(&o, &cfg_name);
	if (!cfg)
		return 1;
	if (o.check_only || o.print_config) {
		if (o.check_only)
			fprintf(stderr, "vstord: %s: OK\n", cfg_name);
		int rc = vs_config_save(stdout, cfg);
		vs_config_free(cfg);
		return rc < 0 ? 1 : 0;
	}

	sigset_t set;
	int sfd = block_signals(&set);
	if (sfd < 0) {
		vsd_error("signalfd: %s", strerror(errno));
		vs_config_free(cfg);
		return 1;
	}

	vsd_debug("version %s starting (%s)", VSTORD_VERSION, cfg_name);
	/* The control socket before any portal: an explicit --ctl-socket that
	 * cannot be served is a start-up error.  The default one is a
	 * convenience: without it (another vstord has it, or we may not write
	 * /run) the daemon still serves, and says so. */
	struct vs_ctl_server *ctl = NULL;
	char ctl_err[512] = "";
	if (o.ctl_socket) {
		ctl = vs_ctl_server_create(o.ctl_socket, ctl_err, sizeof(ctl_err));
		vs_ctl_server_set_idle_timeout(ctl, o.ctl_idle_ms);
		if (!ctl && o.ctl_socket_given) {
			vsd_error("--ctl-socket: %s", ctl_err);
			close(sfd);
			vs_config_free(cfg);
			return 1;
		}
	}
	/* vsd_serve_start owns cfg and ctl from here on. */
	bool have_ctl = ctl != NULL;
	struct vsd_server *srv = vsd_serve_start(cfg, cfg_name, o.config_path, ctl);
	if (!srv) {
		close(sfd);
		return 1;
	}
	/* Said only once serving: a failed start stays one error line. */
	if (have_ctl)
		vsd_info("control socket %s", o.ctl_socket);
	else if (o.ctl_socket)
		vsd_warn("control socket disabled: %s (use --ctl-socket PATH)", ctl_err);
	if (have_ctl && geteuid() != 0)
		vsd_warn("running as uid %u, not root: only uid %u and root can use the control "
		         "socket %s", (unsigned)geteuid(), (unsigned)geteuid(), o.ctl_socket);

	int sig = wait_for_stop(sfd);
	vsd_info("%s received: shutting down (grace %u ms)", sig == SIGINT ? "SIGINT" : "SIGTERM",
	         o.grace_ms);
	int rc = vsd_serve_stop(srv, o.grace_ms);
	close(sfd);
	if (rc < 0) {
		vsd_error("shutdown finished with errors (see above)");
		return 1;
	}
	vsd_info("stopped");
	return 0;
}
