/* SPDX-License-Identifier: MIT */
/*
 * iscsi_test_server: a minimal target for trying the iSCSI fabric with real
 * initiators (libiscsi's iscsi-ls / iscsi-inq / iscsi-test-cu): one port
 * with the vdisk miniport, RAM-backed LUNs, one vs_iscsi portal.  Runs
 * until SIGINT/SIGTERM.  Not a CTest test; vstord is the real daemon.
 *
 *   iscsi_test_server [-l 127.0.0.1:3270] [-t IQN] [-s 64M] [-b 512]
 *                     [-n LUNS] [-T THREADS] [-v LEVEL]
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vstor/backend.h"
#include "vstor/iscsi.h"
#include "vstor/port.h"
#include "vstor/vdisk.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	const char *listen_addr = "127.0.0.1:3270";
	const char *iqn = "iqn.2026-11.org.vstor:test";
	const char *size = "64M";
	unsigned block = 512, nluns = 1, threads = 2;
	int level = 2, opt;
	struct vs_vdisk_adapter_config acfg = { .transport_version = VS_ISCSI_VERSION_DESCRIPTOR };
	struct vs_port_config pcfg = { .name = "test" };
	struct vs_iscsi_config icfg = { 0 };
	struct vs_iscsi_target_config tcfg = { 0 };
	struct vs_port *port;
	struct vs_iscsi *is;

	while ((opt = getopt(argc, argv, "l:t:s:b:n:T:v:")) != -1) {
		switch (opt) {
		case 'l': listen_addr = optarg; break;
		case 't': iqn = optarg; break;
		case 's': size = optarg; break;
		case 'b': block = (unsigned)atoi(optarg); break;
		case 'n': nluns = (unsigned)atoi(optarg); break;
		case 'T': threads = (unsigned)atoi(optarg); break;
		case 'v': level = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: %s [-l addr:port] [-t iqn] [-s size] [-b 512|4096] "
			        "[-n luns] [-T threads] [-v level]\n", argv[0]);
			return 2;
		}
	}
	vs_iscsi_set_log_level(level);
	acfg.target_name = iqn;
	acfg.rel_target_port_id = 1;
	port = vs_port_create(&vs_vdisk_miniport, &pcfg, &acfg);
	if (!port) {
		fprintf(stderr, "port: %s\n", vs_last_error());
		return 1;
	}
	for (unsigned i = 0; i < nluns; i++) {
		struct vs_kv kv[] = { { "size", size } };
		struct vs_vdisk_lun_config lcfg = { .block_size = block };

		lcfg.bdev = vs_bdev_open("ram", kv, 1);
		if (!lcfg.bdev || vs_port_lun_add(port, i, &lcfg) < 0) {
			fprintf(stderr, "lun %u: %s\n", i, vs_last_error());
			return 1;
		}
	}
	icfg.threads = threads;
	is = vs_iscsi_create(&icfg);
	if (!is) {
		fprintf(stderr, "iscsi: %s\n", vs_last_error());
		return 1;
	}
	tcfg.iqn = iqn;
	tcfg.port = port;
	if (vs_iscsi_add_target(is, &tcfg) < 0 || vs_iscsi_add_portal(is, listen_addr) < 0 ||
	    vs_iscsi_start(is) < 0) {
		fprintf(stderr, "iscsi: %s\n", vs_last_error());
		return 1;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	fprintf(stderr, "iscsi_test_server: %s on %s, %u LUN(s) of %s\n", iqn, listen_addr, nluns, size);
	while (!stop)
		pause();
	vs_iscsi_stop(is, 2000);
	vs_iscsi_destroy(is);
	vs_port_destroy(port);
	return 0;
}
