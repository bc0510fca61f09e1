/* SPDX-License-Identifier: MIT */
/*
 * vstord's command line.  The --help text and doc/vstord.8 describe the
 * same options; change both together.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "layers.h"
#include "options.h"
#include "vstor/service_host.h"
#include "vstor/service_proto.h"

static const char usage[] =
	"Usage: vstord [OPTION]...\n"
	"Serve virtual SCSI disks over iSCSI.\n"
	"\n"
	"Without -c, serves iqn.2026-11.org.vstor:default with LUN 0 = a 1 GiB RAM\n"
	"disk (512-byte blocks) on 127.0.0.1:3260.\n"
	"\n"
	"  -c, --config FILE          load targets, LUNs and portals from a JSON file\n"
	"  -l, --listen ADDR:PORT     listen here instead of the configured portals;\n"
	"                             repeat for several ([v6]:PORT for IPv6)\n"
	"  -t, --threads N            event-loop threads, shared by every fabric\n"
	"                             (0 = one per CPU)\n"
	"  -g, --shutdown-grace MS    on SIGTERM/SIGINT, refuse new commands and let\n"
	"                             those started finish for up to MS milliseconds\n"
	"                             (default 5000)\n"
	"  -s, --ctl-socket PATH      control socket for vstorctl (default\n"
	"                             " VS_CTL_DEFAULT_SOCKET "; \"none\" disables it)\n"
	"  -P, --plugin-dir DIR       load every *.so in DIR as a backend or filter\n"
	"                             plugin before the configuration (default\n"
	"                             " VSTOR_PLUGIN_DIR "; \"none\" loads none)\n"
	"      --ctl-idle-timeout MS  close a control client that sent no request and\n"
	"                             read no reply for MS milliseconds (default 60000)\n"
	"  -S, --service-socket PATH  socket for services, miniports in other processes\n"
	"                             (default " VS_SVC_DEFAULT_SOCKET ";\n"
	"                             \"none\" disables it)\n"
	"      --service-timeout MS   a service with commands outstanding and no\n"
	"                             completion for MS milliseconds is disconnected\n"
	"                             (100-3600000, default 15000)\n"
	"      --service-poll-us US   after a service's completions, look for more\n"
	"                             without sleeping for US microseconds, so it\n"
	"                             rings no doorbell (0-1000, default 50; 0: off)\n"
	"  -n, --check                validate the configuration, print it, and exit\n"
	"  -p, --print-config         print the effective configuration as JSON and exit\n"
	"  -v, --verbose              log more (repeat for more detail)\n"
	"  -h, --help                 show this help and exit\n"
	"  -V, --version              show the version and exit\n"
	"\n"
	"Exit status: 0 after a clean shutdown, 1 if the configuration or start-up\n"
	"fails, 2 for a bad command line.  See vstord(8).\n";

/* Long options without a short letter. */
enum { OPT_CTL_IDLE = 0x100, OPT_SVC_TIMEOUT, OPT_SVC_POLL };

static bool parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	unsigned long v = strtoul(s, &end, 10);
	if (*end || v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

void vsd_print_help(FILE *f)
{
	fputs(usage, f);
	vsd_print_layers(f);
}

enum vsd_parse_result vsd_parse_options(int argc, char **argv, struct vsd_options *o)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "listen", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 't' },
		{ "shutdown-grace", required_argument, NULL, 'g' },
		{ "ctl-socket", required_argument, NULL, 's' },
		{ "plugin-dir", required_argument, NULL, 'P' },
		{ "ctl-idle-timeout", required_argument, NULL, OPT_CTL_IDLE },
		{ "service-socket", required_argument, NULL, 'S' },
		{ "service-timeout", required_argument, NULL, OPT_SVC_TIMEOUT },
		{ "service-poll-us", required_argument, NULL, OPT_SVC_POLL },
		{ "check", no_argument, NULL, 'n' },
		{ "print-config", no_argument, NULL, 'p' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->grace_ms = 5000;
	o->ctl_socket = VS_CTL_DEFAULT_SOCKET;
	o->plugin_dir = VSTOR_PLUGIN_DIR;
	o->ctl_idle_ms = VS_CTL_IDLE_TIMEOUT_MS;
	o->svc_socket = VS_SVC_DEFAULT_SOCKET;
	o->svc_timeout_ms = 15000;
	o->svc_poll_us = VS_SVC_POLL_US_DEFAULT;
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":c:l:t:g:s:S:P:npvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config_path = optarg;
			break;
		case 'l':
			if (o->nlisten == VSD_MAX_LISTEN) {
				fprintf(stderr, "vstord: --listen: at most %d portals\n", VSD_MAX_LISTEN);
				return VSD_EXIT_USAGE;
			}
			o->listen[o->nlisten++] = optarg;
			break;
		case 't':
			if (!parse_u32(optarg, 256, &o->threads)) {
				fprintf(stderr, "vstord: --threads: must be 0-256, got '%s'\n", optarg);
				return VSD_EXIT_USAGE;
			}
			o->has_threads = true;
			break;
		case 'g':
			if (!parse_u32(optarg, 3600000, &o->grace_ms)) {
				fprintf(stderr, "vstord: --shutdown-grace: must be 0-3600000 ms, got '%s'\n",
				        optarg);
				return VSD_EXIT_USAGE;
			}
			break;
		case 's':
			if (!*optarg) {
				fprintf(stderr, "vstord: --ctl-socket: needs a path or \"none\"\n");
				return VSD_EXIT_USAGE;
			}
			o->ctl_socket = strcmp(optarg, "none") == 0 ? NULL : optarg;
			o->ctl_socket_given = true;
			break;
		case 'S':
			if (!*optarg) {
				fprintf(stderr, "vstord: --service-socket: needs a path or \"none\"\n");
				return VSD_EXIT_USAGE;
			}
			o->svc_socket = strcmp(optarg, "none") == 0 ? NULL : optarg;
			o->svc_socket_given = true;
			break;
		case OPT_SVC_TIMEOUT:
			if (!parse_u32(optarg, 3600000, &o->svc_timeout_ms) || o->svc_timeout_ms < 100) {
				fprintf(stderr, "vstord: --service-timeout: must be 100-3600000 ms, got '%s'\n",
				        optarg);
				return VSD_EXIT_USAGE;
			}
			break;
		case OPT_SVC_POLL:
			if (!parse_u32(optarg, VS_SVC_POLL_US_MAX, &o->svc_poll_us)) {
				fprintf(stderr, "vstord: --service-poll-us: must be 0-%u us, got '%s'\n",
				        VS_SVC_POLL_US_MAX, optarg);
				return VSD_EXIT_USAGE;
			}
			break;
		case 'P':
			if (!*optarg) {
				fprintf(stderr, "vstord: --plugin-dir: needs a directory or \"none\"\n");
				return VSD_EXIT_USAGE;
			}
			o->plugin_dir = strcmp(optarg, "none") == 0 ? NULL : optarg;
			o->plugin_dir_given = true;
			break;
		case OPT_CTL_IDLE:
			if (!parse_u32(optarg, 3600000, &o->ctl_idle_ms) || o->ctl_idle_ms < 100) {
				fprintf(stderr, "vstord: --ctl-idle-timeout: must be 100-3600000 ms, got '%s'\n",
				        optarg);
				return VSD_EXIT_USAGE;
			}
			break;
		case 'n':
			o->check_only = true;
			break;
		case 'p':
			o->print_config = true;
			break;
		case 'v':
			o->verbosity++;
			break;
		case 'h':
			/* printed once plugins are loaded: they add layers */
			o->help = true;
			break;
		case 'V':
			printf("vstord %s\n", VSTORD_VERSION);
			return VSD_EXIT_OK;
		case ':':
			fprintf(stderr, "vstord: %s: needs an argument (see vstord --help)\n",
			        argv[optind - 1]);
			return VSD_EXIT_USAGE;
		default:
			if (optopt)
				fprintf(stderr, "vstord: -%c: unknown option (see vstord --help)\n", optopt);
			else
				fprintf(stderr, "vstord: %s: unknown option (see vstord --help)\n",
				        argv[optind - 1]);
			return VSD_EXIT_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "vstord: %s: unexpected argument (see vstord --help)\n", argv[optind]);
		return VSD_EXIT_USAGE;
	}
	return VSD_RUN;
}
