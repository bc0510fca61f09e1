/* SPDX-License-Identifier: MIT */
/* vstord's command line. */
#ifndef VSTORD_OPTIONS_H
#define VSTORD_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

/* Keep in step with project(VERSION) in the top-level CMakeLists.txt. */
#define VSTORD_VERSION "0.1.0"

#define VSD_MAX_LISTEN 16

/* Where plugins are looked for without --plugin-dir (the build may say
 * otherwise: -DVSTOR_PLUGIN_DIR=...). */
#ifndef VSTOR_PLUGIN_DIR
#define VSTOR_PLUGIN_DIR "/usr/lib/vstor/plugins"
#endif

struct vsd_options {
	const char *config_path;            /* -c; NULL = built-in default */
	const char *listen[VSD_MAX_LISTEN]; /* --listen, repeatable */
	size_t nlisten;
	int verbosity;                      /* number of -v */
	bool has_threads;
	uint32_t threads;
	bool check_only;                    /* --check */
	bool print_config;                  /* --print-config */
	uint32_t grace_ms;                  /* --shutdown-grace */
	const char *ctl_socket;             /* --ctl-socket; NULL = none */
	bool ctl_socket_given;              /* explicitly, so failing to open it is fatal */
	const char *plugin_dir;             /* --plugin-dir; NULL = none */
	bool plugin_dir_given;              /* explicitly, so a missing one is an error */
	bool help;                          /* --help: print it after loading plugins */
	uint32_t ctl_idle_ms;               /* --ctl-idle-timeout */
	const char *svc_socket;             /* --service-socket; NULL = none */
	bool svc_socket_given;              /* explicitly, so failing to open it is fatal */
	uint32_t svc_timeout_ms;            /* --service-timeout */
	uint32_t svc_poll_us;               /* --service-poll-us (0: off) */
};

enum vsd_parse_result {
	VSD_RUN = 0,
	VSD_EXIT_OK,      /* --help / --version printed */
	VSD_EXIT_USAGE,   /* bad command line; message printed */
};

enum vsd_parse_result vsd_parse_options(int argc, char **argv, struct vsd_options *o);
/* The usage text and every backend and filter registered, with its options. */
void vsd_print_help(FILE *f);

#endif
