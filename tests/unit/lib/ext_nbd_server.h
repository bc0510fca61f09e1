/* SPDX-License-Identifier: MIT */
/*
 * Real NBD servers for tests of the nbd backend: nbdkit (with whatever
 * plugin and filters the test names), qemu-nbd and nbd-server, each on a
 * Unix socket in its own temporary directory (no port to collide on),
 * started with posix_spawn, killed by pid.
 *
 *   struct nbd_srv s;
 *   nbd_srv_init(&s);                                 // temp dir, socket path, URI
 *   nbd_srv_nbdkit(&s, "--filter=cache", "file", path, "cache=writeback", NULL);
 *   ... s.uri is "nbd+unix:///?socket=..." ...
 *   nbd_srv_kill(&s, SIGKILL);                        // and reaped; socket removed
 *   nbd_srv_restart(&s);                              // the same command again
 *   nbd_srv_fini(&s);                                 // kill if running, remove the dir
 *
 * nbd_srv_have("nbdkit") says whether the program is installed, so a test
 * can skip when it is not.
 */
#ifndef VSTOR_TEST_EXT_NBD_SERVER_H
#define VSTOR_TEST_EXT_NBD_SERVER_H

#include <stdbool.h>
#include <sys/types.h>

#define NBD_SRV_MAX_ARGS 32

struct nbd_srv {
	pid_t pid;
	bool daemon;            /* it forks away: pid from the pid file, kill its group */
	char dir[64];
	char sock[128];
	char pidfile[128];
	char uri[256];
	char *argv[NBD_SRV_MAX_ARGS + 1];
	int argc;
};

bool nbd_srv_have(const char *program);
void nbd_srv_init(struct nbd_srv *s);
/* Start nbdkit -U SOCK -f --exit-with-parent -P PIDFILE ARGS...
 * (NULL-terminated) and wait until it is ready (its pid file is written);
 * false if it was not within 5 s. */
bool nbd_srv_nbdkit(struct nbd_srv *s, ...) __attribute__((sentinel));
/* qemu-nbd -k SOCK -t (persistent) --shared=8 --pid-file=PIDFILE ARGS... */
bool nbd_srv_qemu(struct nbd_srv *s, ...) __attribute__((sentinel));
/* nbd-server -C CONFIG -p PIDFILE (it daemonizes: -d serves one client
 * only) with one export "disk" of FILE on SOCK. */
bool nbd_srv_nbd_server(struct nbd_srv *s, const char *file);
/* The same command again (after nbd_srv_kill). */
bool nbd_srv_restart(struct nbd_srv *s);
void nbd_srv_kill(struct nbd_srv *s, int sig);
/* Kill it and forget its command: the next nbd_srv_* starts another
 * server on the same socket, in the same directory. */
void nbd_srv_clear(struct nbd_srv *s);
/* SIGSTOP / SIGCONT the server (it stops answering but stays connected). */
void nbd_srv_signal(struct nbd_srv *s, int sig);
void nbd_srv_fini(struct nbd_srv *s);
/* A file in the server's directory: dir/name. */
const char *nbd_srv_path(struct nbd_srv *s, const char *name, char *buf, size_t len);

#endif
