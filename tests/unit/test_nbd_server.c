/* SPDX-License-Identifier: MIT */
/*
 * The NBD server end to end in one process: a vdisk RAM LUN behind a real
 * port, the fabric on its own loop, and a raw protocol client.  Every
 * command and flag gets the data and errors proto.md asks for; hostile
 * input closes the connection and nothing else; sessions are listed with
 * their I_T nexus; exports come and go while clients are connected.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fabrics/nbd/nbd_proto.h"
#include "nbd_client.h"
#include "vstor/bdev.h"
#include "vstor/nbd.h"
#include "vstor/port.h"
#include "vstor/vdisk.h"

#define DISK_SIZE (16u << 20)

struct srv {
	struct vs_port *port;
	struct vs_nbd *nbd;
	int tcp;
};

static int test_port(void)
{
	const char *off = getenv("VSTOR_PORT_OFFSET");

	return 10810 + (off ? atoi(off) : 0);
}

static void add_lun(struct vs_port *port, uint64_t lun, bool readonly)
{
	struct vs_kv kv[] = { { "size", "16M" } };
	struct vs_vdisk_lun_config cfg = { .block_size = 512, .readonly = readonly };
	char id[32];

	snprintf(id, sizeof(id), "nbd-test-%llu", (unsigned long long)lun);
	cfg.device_id = id;
	cfg.bdev = vs_bdev_open("ram", kv, 1);
	assert_non_null(cfg.bdev);
	assert_int_equal(vs_port_lun_add(port, lun, &cfg), 0);
}

static void start(struct srv *s, const char *const *acl, size_t nacl)
{
	static const struct vs_vdisk_adapter_config acfg = { .target_name = "nbd-test" };
	struct vs_port_config pc = { .name = "nbd-test" };
	struct vs_nbd_config nc = { .threads = 1, .queue_depth = 16, .max_payload = 1u << 20 };
	char portal[32];

	s->port = vs_port_create(&vs_vdisk_miniport, &pc, &acfg);
	assert_non_null(s->port);
	add_lun(s->port, 0, false);
	add_lun(s->port, 1, true);
	s->nbd = vs_nbd_create(&nc);
	assert_non_null(s->nbd);
	s->tcp = test_port();
	snprintf(portal, sizeof(portal), "127.0.0.1:%d", s->tcp);
	assert_int_equal(vs_nbd_add_portal(s->nbd, portal), 0);
	struct vs_nbd_export_config e = { .name = "disk", .description = "a RAM disk",
	                                  .port = s->port, .lun = 0, .acl = acl, .nacl = nacl };
	assert_int_equal(vs_nbd_add_export(s->nbd, &e), 0);
	e = (struct vs_nbd_export_config){ .name = "ro", .port = s->port, .lun = 1 };
	assert_int_equal(vs_nbd_add_export(s->nbd, &e), 0);
	assert_int_equal(vs_nbd_start(s->nbd), 0);
}

static void stop(struct srv *s)
{
	vs_nbd_stop(s->nbd, 2000);
	vs_nbd_destroy(s->nbd);
	vs_port_destroy(s->port);
}

static void open_client(struct srv *s, struct nc *c, const char *name, bool structured)
{
	assert_int_equal(nc_connect(c, s->tcp), 0);
	assert_int_equal(nc_flags(c, NBD_FLAG_C_FIXED_NEWSTYLE | NBD_FLAG_C_NO_ZEROES), 0);
	assert_int_equal(nc_go(c, name, structured, structured), 0);
}

static void test_every_command_structured(void **state)
{
	struct srv s;
	struct nc c;
	uint32_t err, desc[128], nd = 0;
	uint8_t *out = malloc(65536), *in = malloc(65536);
	uint64_t h;
	(void)state;

	start(&s, NULL, 0);
	open_client(&s, &c, "disk", true);
	assert_int_equal(c.size, DISK_SIZE);
	assert_int_equal(c.min_block, 512);
	assert_int_equal(c.pref_block, 4096);
	assert_int_equal(c.max_payload, 1u << 20);
	uint16_t want = NBD_FLAG_HAS_FLAGS | NBD_FLAG_SEND_FLUSH | NBD_FLAG_SEND_FUA |
	                NBD_FLAG_SEND_TRIM | NBD_FLAG_SEND_WRITE_ZEROES | NBD_FLAG_SEND_DF |
	                NBD_FLAG_CAN_MULTI_CONN | NBD_FLAG_SEND_CACHE | NBD_FLAG_SEND_FAST_ZERO;
	assert_int_equal(c.tflags, want);

	for (int i = 0; i < 65536; i++)
		out[i] = (uint8_t)(i * 7 + 3);
	assert_int_equal(nc_cmd(&c, NBD_CMD_WRITE, 0, 4096, 65536, out, &err), 0);
	assert_int_equal(err, 0);
	assert_int_equal(nc_cmd(&c, NBD_CMD_WRITE, NBD_CMD_FLAG_FUA, 0, 512, out, &err), 0);
	assert_int_equal(err, 0);
	memset(in, 0, 65536);
	assert_int_equal(nc_cmd(&c, NBD_CMD_READ, NBD_CMD_FLAG_DF, 4096, 65536, in, &err), 0);
	assert_int_equal(err, 0);
	assert_memory_equal(in, out, 65536);
	assert_int_equal(nc_cmd(&c, NBD_CMD_FLUSH, 0, 0, 0, NULL, &err), 0);
	assert_int_equal(err, 0);
	assert_int_equal(nc_cmd(&c, NBD_CMD_CACHE, 0, 0, 4096, NULL, &err), 0);
	assert_int_equal(err, 0);

	/* trim [8 KiB, 16 KiB): a hole that reads as zeroes */
	assert_int_equal(nc_cmd(&c, NBD_CMD_TRIM, NBD_CMD_FLAG_FUA, 8192, 8192, NULL, &err), 0);
	assert_int_equal(err, 0);
	assert_int_equal(nc_request(&c, NBD_CMD_BLOCK_STATUS, 0, 77, 4096, 16384, NULL), 0);
	assert_int_equal(nc_reply(&c, &h, &err, NULL, 0, desc, &nd), 0);
	assert_int_equal(h, 77);
	assert_int_equal(err, 0);
	assert_int_equal(nd, 3);
	assert_int_equal(desc[0], 4096);
	assert_int_equal(desc[1], 0);
	assert_int_equal(desc[2], 8192);
	assert_int_equal(desc[3], NBD_STATE_HOLE | NBD_STATE_ZERO);
	assert_int_equal(desc[4], 4096);
	/* REQ_ONE: one descriptor */
	assert_int_equal(nc_request(&c, NBD_CMD_BLOCK_STATUS, NBD_CMD_FLAG_REQ_ONE, 78, 4096, 16384,
	                            NULL), 0);
	assert_int_equal(nc_reply(&c, &h, &err, NULL, 0, desc, &nd), 0);
	assert_int_equal(nd, 1);

	/* write zeroes, kept allocated (NO_HOLE), with FUA */
	assert_int_equal(nc_cmd(&c, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_NO_HOLE | NBD_CMD_FLAG_FUA,
	                        4096, 4096, NULL, &err), 0);
	assert_int_equal(err, 0);
	assert_int_equal(nc_cmd(&c, NBD_CMD_READ, 0, 4096, 4096, in, &err), 0);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(in[i], 0);
	/* a fast zero the RAM disk can do by deallocation (LBPRZ): fine */
	assert_int_equal(nc_cmd(&c, NBD_CMD_WRITE_ZEROES, NBD_CMD_FLAG_FAST_ZERO, 0, 1 << 20,
	                        NULL, &err), 0);
	assert_int_equal(err, 0);
	/* ... but not while asking to keep the blocks: NBD_ENOTSUP, nothing changed */
	assert_int_equal(nc_cmd(&c, NBD_CMD_WRITE, 0, 0, 512, out, &err), 0);
	assert_int_equal(nc_cmd(&c, NBD_CMD_WRITE_ZEROES,
	                        NBD_CMD_FLAG_FAST_ZERO | NBD_CMD_FLAG_NO_HOLE, 0, 512, NULL, &err), 0);
	assert_int_equal(err, NBD_ENOTSUP);
	assert_int_equal(nc_cmd(&c, NBD_CMD_READ, 0, 0, 512, in, &err), 0);
	assert_memory_equal(in, out, 512);

	/* errors keep the connection: misaligned, past the end, unknown */
	assert_int_equal(nc_cmd(&c, NBD_CMD_READ, 0, 100, 512, in, &err), 0);
	assert_int_equal(err, NBD_EINVAL);
	assert_int_equal(nc_cmd(&c, NBD_CMD_WRITE, 0, DISK_SIZE, 512, out, &err), 0);
	assert_int_equal(err, NBD_ENOSPC);
	assert_int_equal(nc_cmd(&c, 42, 0, 0, 512, NULL, &err), 0);
	assert_int_equal(err, NBD_EINVAL);
	assert_int_equal(nc_cmd(&c, NBD_CMD_READ, 0, 0, 512, in, &err), 0);
	assert_int_equal(err, 0);
	/* DISC: no reply, the server closes */
	assert_int_equal(nc_request(&c, NBD_CMD_DISC, 0, 9, 0, 0, NULL), 0);
	assert_true(nc_closed(&c, 3000));
	nc_close(&c);
	stop(&s);
	free(out);
	free(in);
}

static void test_simple_replies_and_read_only(void **state)
{
	struct srv s;
	struct nc c;
	uint32_t err;
	uint8_t buf[4096];
	(void)state;

	start(&s, NULL, 0);
	open_client(&s, &c, "disk", false);
	assert_false(c.tflags & NBD_FLAG_SEND_DF);
	memset(buf, 0x3c, sizeof(buf));
	assert_int_equal(nc_cmd(&c, NBD_CMD_WRITE, 0, 0, 4096, buf, &err), 0);
	memset(buf, 0, sizeof(buf));
	assert_int_equal(nc_cmd(&c, NBD_CMD_READ, 0, 0, 4096, buf, &err), 0);
	assert_int_equal(err, 0);
	assert_int_equal(buf[4095], 0x3c);
	/* an error on a simple READ carries no data */
	assert_int_equal(nc_cmd(&c, NBD_CMD_READ, 0, DISK_SIZE - 512, 1024, buf, &err), 0);
	assert_int_equal(err, NBD_EINVAL);
	/* no metadata context: BLOCK_STATUS is EINVAL */
	assert_int_equal(nc_cmd(&c, NBD_CMD_BLOCK_STATUS, 0, 0, 512, NULL, &err), 0);
	assert_int_equal(err, NBD_EINVAL);
	assert_int_equal(nc_cmd(&c, NBD_CMD_READ, 0, 0, 512, buf, &err), 0);
	assert_int_equal(err, 0);
	nc_close(&c);

	open_client(&s, &c, "ro", true);
	assert_true(c.tflags & NBD_FLAG_READ_ONLY);
	assert_int_equal(nc_cmd(&c, NBD_CMD_WRITE, 0, 0, 512, buf, &err), 0);
	assert_int_equal(err, NBD_EPERM);
	assert_int_equal(nc_cmd(&c, NBD_CMD_WRITE_ZEROES, 0, 0, 512, NULL, &err), 0);
	assert_int_equal(err, NBD_EPERM);
	assert_int_equal(nc_cmd(&c, NBD_CMD_READ, 0, 0, 512, buf, &err), 0);
	assert_int_equal(err, 0);
	nc_close(&c);
	stop(&s);
}

static void test_hostile_input_closes(void **state)
{
	struct srv s;
	struct nc c;
	uint8_t junk[NBD_REQUEST_LEN] = "this is not an NBD request!";
	(void)state;

	start(&s, NULL, 0);
	/* unknown client flags */
	assert_int_equal(nc_connect(&c, s.tcp), 0);
	assert_int_equal(nc_flags(&c, 0xff), 0);
	assert_true(nc_closed(&c, 3000));
	nc_close(&c);
	/* an option with a hostile length */
	assert_int_equal(nc_connect(&c, s.tcp), 0);
	assert_int_equal(nc_flags(&c, NBD_FLAG_C_FIXED_NEWSTYLE), 0);
	uint8_t h[NBD_OPT_HDR_LEN];
	vs_put64(h, NBD_MAGIC_OPT);
	vs_put32(h + 8, NBD_OPT_GO);
	vs_put32(h + 12, 0x7fffffff);
	assert_int_equal(nc_send(&c, h, sizeof(h)), 0);
	assert_true(nc_closed(&c, 3000));
	nc_close(&c);
	/* a bad request magic */
	open_client(&s, &c, "disk", true);
	assert_int_equal(nc_send(&c, junk, sizeof(junk)), 0);
	assert_true(nc_closed(&c, 3000));
	nc_close(&c);
	/* a write payload over the maximum */
	open_client(&s, &c, "disk", true);
	assert_int_equal(nc_request(&c, NBD_CMD_WRITE, 0, 1, 0, (1u << 20) + 512, NULL), 0);
	assert_true(nc_closed(&c, 3000));
	nc_close(&c);
	/* the server is fine afterwards */
	open_client(&s, &c, "disk", true);
	uint32_t err;
	uint8_t b[512];
	assert_int_equal(nc_cmd(&c, NBD_CMD_READ, 0, 0, 512, b, &err), 0);
	assert_int_equal(err, 0);
	nc_close(&c);
	stop(&s);
}

static void test_list_info_and_access_lists(void **state)
{
	static const char *const acl[] = { "10.0.0.0/8", "tls:nobody" };
	struct srv s;
	struct nc c;
	uint32_t opt, type, len;
	uint8_t d[600];
	(void)state;

	start(&s, acl, 2);
	assert_int_equal(nc_connect(&c, s.tcp), 0);
	assert_int_equal(nc_flags(&c, NBD_FLAG_C_FIXED_NEWSTYLE), 0);
	/* LIST shows only what this client may use: "ro", not "disk" */
	assert_int_equal(nc_option(&c, NBD_OPT_LIST, NULL, 0), 0);
	assert_int_equal(nc_opt_reply(&c, &opt, &type, d, sizeof(d), &len), 0);
	assert_int_equal(type, NBD_REP_SERVER);
	assert_int_equal(vs_get32(d), 2);
	assert_memory_equal(d + 4, "ro", 2);
	assert_int_equal(nc_opt_reply(&c, &opt, &type, d, sizeof(d), &len), 0);
	assert_int_equal(type, NBD_REP_ACK);
	/* GO on it: refused by policy, and the session goes on */
	assert_int_equal(nc_go(&c, "disk", false, false), (int)(NBD_REP_ERR_POLICY & 0x7fffffff));
	assert_int_equal(nc_go(&c, "nope", false, false), (int)(NBD_REP_ERR_UNKNOWN & 0x7fffffff));
	assert_int_equal(nc_go(&c, "ro", false, false), 0);
	nc_close(&c);
	stop(&s);
}

static void test_sessions_and_export_removal(void **state)
{
	struct srv s;
	struct nc c, c2;
	struct vs_nbd_session_info si[4];
	struct vs_nbd_export_info ei[4];
	uint32_t err;
	uint8_t b[512];
	(void)state;

	start(&s, NULL, 0);
	open_client(&s, &c, "disk", true);
	open_client(&s, &c2, "ro", false);
	assert_int_equal(nc_cmd(&c, NBD_CMD_READ, 0, 0, 512, b, &err), 0);
	assert_int_equal(nc_cmd(&c, NBD_CMD_WRITE, 0, 0, 512, b, &err), 0);
	assert_int_equal(vs_nbd_sessions(s.nbd, si, 4), 2);
	int di = strcmp(si[0].export_name, "disk") == 0 ? 0 : 1;
	assert_string_equal(si[di].export_name, "disk");
	assert_true(strstr(si[di].nexus, "nbd:127.0.0.1:") == si[di].nexus);
	assert_true(si[di].structured);
	assert_true(si[di].block_status);
	assert_int_equal(si[di].reads, 1);
	assert_int_equal(si[di].writes, 1);
	assert_int_equal(si[di].write_bytes, 512);
	assert_int_equal(vs_nbd_exports(s.nbd, ei, 4), 2);

	/* in use: only with force, which closes its clients */
	assert_int_equal(vs_nbd_remove_export(s.nbd, "disk", false), -EBUSY);
	assert_int_equal(vs_nbd_remove_export(s.nbd, "disk", true), 0);
	assert_true(nc_closed(&c, 3000));
	assert_int_equal(vs_nbd_remove_export(s.nbd, "disk", false), -ENOENT);
	/* the other client is untouched */
	assert_int_equal(nc_cmd(&c2, NBD_CMD_READ, 0, 0, 512, b, &err), 0);
	assert_int_equal(err, 0);
	assert_int_equal(vs_nbd_exports(s.nbd, ei, 4), 1);
	nc_close(&c);
	nc_close(&c2);
	stop(&s);
}

static void test_pipelined_beyond_queue_depth(void **state)
{
	struct srv s;
	struct nc c;
	enum { N = 40 };        /* queue depth 16: most wait in the receive buffer */
	uint8_t reqs[N * NBD_REQUEST_LEN], buf[512];
	bool seen[N] = { false };
	(void)state;

	start(&s, NULL, 0);
	open_client(&s, &c, "disk", false);
	/* one send: once the socket is drained, only the server's own buffer
	 * holds the rest, and epoll will not say so again */
	for (int i = 0; i < N; i++) {
		uint8_t *h = reqs + i * NBD_REQUEST_LEN;

		vs_put32(h, NBD_MAGIC_REQUEST);
		vs_put16(h + 4, 0);
		vs_put16(h + 6, NBD_CMD_READ);
		vs_put64(h + 8, (uint64_t)i);
		vs_put64(h + 16, (uint64_t)i * 512);
		vs_put32(h + 24, 512);
	}
	assert_int_equal(nc_send(&c, reqs, sizeof(reqs)), 0);
	for (int i = 0; i < N; i++) {
		uint64_t h;
		uint32_t err;

		assert_int_equal(nc_reply(&c, &h, &err, buf, 512, NULL, NULL), 0);
		assert_int_equal(err, 0);
		assert_true(h < N && !seen[h]);
		seen[h] = true;
	}
	nc_close(&c);
	stop(&s);
}

static void test_stop_with_clients_connected(void **state)
{
	struct srv s;
	struct nc c[4];
	uint32_t err;
	uint8_t b[512];
	(void)state;

	/* the fabric is destroyed right after vs_nbd_stop returns: nothing of
	 * a connection may touch it afterwards (ASan checks) */
	for (int round = 0; round < 5; round++) {
		start(&s, NULL, 0);
		for (int i = 0; i < 4; i++) {
			open_client(&s, &c[i], i % 2 ? "ro" : "disk", i % 2);
			assert_int_equal(nc_cmd(&c[i], NBD_CMD_READ, 0, 0, 512, b, &err), 0);
		}
		stop(&s);
		for (int i = 0; i < 4; i++) {
			assert_true(nc_closed(&c[i], 3000));
			nc_close(&c[i]);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_command_structured),
		cmocka_unit_test(test_simple_replies_and_read_only),
		cmocka_unit_test(test_hostile_input_closes),
		cmocka_unit_test(test_list_info_and_access_lists),
		cmocka_unit_test(test_sessions_and_export_removal),
		cmocka_unit_test(test_pipelined_beyond_queue_depth),
		cmocka_unit_test(test_stop_with_clients_connected),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
