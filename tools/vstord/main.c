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
 *
 * Under systemd (Type=notify, notify.h): READY=1 once every portal
 * listens and every LUN is open, STATUS= with what is served, STOPPING=1
 * on SIGTERM, and with WatchdogSec= a thread that pings only while every
 * event loop is alive (watchdog.h).
 */
#include <errno.h>
#include <jansson.h>
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
#include "notify.h"
#include "options.h"
#include "plugins.h"
#include "serve.h"
#include "watchdog.h"
#include "vstor/iscsi.h"
#include "vstor/nbd.h"
#include "vstor/service_host.h"

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

/* SIGHUP: config.reload of the -c file, as `vstorctl config reload` (the
 * unit's ExecReload) does it; one log line with the outcome. */
static void reload(struct vsd_server *srv, const char *config_path)
{
	static const char req[] = "{\"method\":\"config.reload\"}";
	char *reply;
	json_t *r;

	if (!config_path) {
		vsd_warn("SIGHUP: started without -c, so there is no file to reload");
		return;
	}
	vsd_notify("RELOADING=1");
	reply = vs_ctl_handle(vsd_serve_state(srv), req, sizeof(req) - 1);
	r = reply ? json_loads(reply, 0, NULL) : NULL;
	json_t *changes = json_object_get(json_object_get(r, "result"), "changes");
	json_t *error = json_object_get(json_object_get(r, "error"), "message");
	if (changes) {
		size_t i, n = json_array_size(changes);
		char list[768] = "";
		json_t *v;

		json_array_foreach(changes, i, v) {
			size_t used = strlen(list);
			snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
			         json_string_value(v));
		}
		vsd_info("SIGHUP: reloaded %s: %s%s", config_path, n ? "" : "no changes", list);
	} else {
		vsd_error("SIGHUP: reload refused: %s", error ? json_string_value(error) : "out of memory");
	}
	json_decref(r);
	free(reply);
	char status[512];
	vsd_serve_status(srv, status, sizeof(status), true);
	vsd_notify("READY=1\nSTATUS=%s", status);
}

/* Wait for SIGTERM or SIGINT (SIGHUP reloads); returns the signal number. */
static int wait_for_stop(int sfd, struct vsd_server *srv, const char *config_path)
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
			reload(srv, config_path);
			continue;
		}
		return (int)si.ssi_signo;
	}
}

static void log_service_line(int level, const char *line)
{
	vsd_log(level, "%s", line);
}

/* ---- systemd: STATUS each period, watchdog pings while the loops live */

static void status_tick(void *srv)
{
	static char last[512];
	char now[512];

	/* never wait behind a change in progress: the pings come first */
	if (vsd_serve_status(srv, now, sizeof(now), false) < 0)
		return;
	if (strcmp(now, last) != 0) {
		vsd_notify("STATUS=%s", now);
		memcpy(last, now, sizeof(last));
	}
}

static void watchdog_alive(void *srv)
{
	(void)srv;
	vsd_notify("WATCHDOG=1");
}

static void watchdog_stalled(void *srv, unsigned loop, uint64_t ms)
{
	(void)srv;
	vsd_warn("event loop %u has not run for %llu ms: no watchdog ping until it does", loop,
	         (unsigned long long)ms);
}

/* Without a service manager: no thread at all. */
static struct vsd_watchdog *start_watchdog(struct vsd_server *srv)
{
	uint64_t usec = vsd_watchdog_usec();
	struct vsd_watchdog_ops ops = {
		.passes = vsd_serve_loop_passes,
		.alive = usec ? watchdog_alive : NULL,
		.stalled = watchdog_stalled,
		.tick = status_tick,
		.ctx = srv,
	};
	struct vsd_watchdog *w;

	if (!vsd_notify_enabled())
		return NULL;
	/* Four pings per WatchdogSec (systemd advises at least two); STATUS
	 * every 2 s when there is no watchdog. */
	w = vsd_watchdog_start(usec ? (uint32_t)(usec / 4000) : 2000, &ops);
	if (!w)
		vsd_warn("watchdog thread: %s", strerror(errno));
	else if (usec)
		vsd_debug("watchdog: pinging every %llu ms while every event loop runs",
		          (unsigned long long)(usec / 4000 < VSD_WATCHDOG_MIN_PERIOD_MS
		                               ? VSD_WATCHDOG_MIN_PERIOD_MS : usec / 4000));
	return w;
}

/* What the command line changes in a configuration (--listen, --threads):
 * at start, and again for every reload of the file. */
static int apply_overrides(void *opts, struct vs_config *cfg, char *err, size_t errlen)
{
	const struct vsd_options *o = opts;
	char why[VS_CONFIG_ERR_MAX];

	if (o->nlisten) {
		for (size_t i = 0; i < o->nlisten; i++) {
			if (vs_config_set_portals(cfg, &o->listen[i], 1, why, sizeof(why)) < 0) {
				snprintf(err, errlen, "--listen %s: %s", o->listen[i], why);
				return -1;
			}
		}
		if (vs_config_set_portals(cfg, o->listen, o->nlisten, why, sizeof(why)) < 0) {
			snprintf(err, errlen, "--listen: %s", why);
			return -1;
		}
	}
	if (o->has_threads)
		cfg->threads = o->threads;
	return 0;
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
	if (apply_overrides((void *)o, cfg, err, sizeof(err)) < 0) {
		vsd_error("%s", err);
		vs_config_free(cfg);
		return NULL;
	}
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
	if (vsd_stderr_is_journal()) {
		vsd_log_set_journal(true);
		vs_iscsi_set_log_journal(true);
	}
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
	/* The service socket, the same way: explicit and failing is fatal. */
	struct vs_svc_host *svc = NULL;
	char svc_err[512] = "";
	if (o.svc_socket) {
		struct vs_svc_host_config hc = {
			.socket_path = o.svc_socket,
			.hang_timeout_ms = o.svc_timeout_ms,
			.poll_us = o.svc_poll_us ? o.svc_poll_us : VS_SVC_POLL_OFF,
			.rel_target_port_id = 1,
			.transport_version = VS_ISCSI_VERSION_DESCRIPTOR,
			.log = log_service_line,
		};
		svc = vs_svc_host_create(&hc, svc_err, sizeof(svc_err));
		if (!svc && o.svc_socket_given) {
			vsd_error("--service-socket: %s", svc_err);
			vs_ctl_server_destroy(ctl);
			close(sfd);
			vs_config_free(cfg);
			return 1;
		}
	}
	/* vsd_serve_start owns cfg, ctl and svc from here on. */
	bool have_ctl = ctl != NULL, have_svc = svc != NULL;
	struct vsd_server *srv = vsd_serve_start(cfg, cfg_name, o.config_path, ctl, svc);
	if (!srv) {
		close(sfd);
		return 1;
	}
	/* Said only once serving: a failed start stays one error line. */
	if (have_ctl)
		vsd_info("control socket %s", o.ctl_socket);
	else if (o.ctl_socket)
		vsd_warn("control socket disabled: %s (use --ctl-socket PATH)", ctl_err);
	if (have_svc)
		vsd_info("service socket %s", o.svc_socket);
	else if (o.svc_socket)
		vsd_warn("service socket disabled: %s (use --service-socket PATH)", svc_err);
	if (have_ctl && geteuid() != 0)
		vsd_warn("running as uid %u, not root: only uid %u and root can use the control "
		         "socket %s", (unsigned)geteuid(), (unsigned)geteuid(), o.ctl_socket);

	/* Every portal listens, every LUN is open, the control socket serves. */
	char status[512];
	vsd_serve_status(srv, status, sizeof(status), true);
	vsd_notify("READY=1\nSTATUS=%s", status);
	struct vsd_watchdog *wd = start_watchdog(srv);

	vs_ctl_state_set_reload_adjust(vsd_serve_state(srv), apply_overrides, &o);
	int sig = wait_for_stop(sfd, srv, o.config_path);
	vsd_notify("STOPPING=1\nSTATUS=shutting down (grace %u ms)", o.grace_ms);
	vsd_info("%s received: shutting down (grace %u ms)", sig == SIGINT ? "SIGINT" : "SIGTERM",
	         o.grace_ms);
	/* Before the loops go: they stop passing on purpose now. */
	vsd_watchdog_stop(wd);
	int rc = vsd_serve_stop(srv, o.grace_ms);
	close(sfd);
	if (rc < 0) {
		vsd_error("shutdown finished with errors (see above)");
		return 1;
	}
	vsd_info("stopped");
	return 0;
}
