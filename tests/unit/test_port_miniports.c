/* SPDX-License-Identifier: MIT */
/*
 * Several miniports on one adapter (vs_port_miniport_add), the per-LUN
 * buffer provider (buffer_get, vs_port_srb_buffer) and the inner port
 * (VS_PORT_INNER): what the out-of-process service proxy relies on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_fabric.h"
#include "test_port_mock.h"

/* ---- a second miniport: answers every command GOOD, lends buffers ---- */

#define ARENA_BUFS 4
#define ARENA_BUF  8192

struct second {
	int started, resets[4], nexus_lost, freed, attached, detached;
	uint64_t last_lun;
	uint8_t arena[ARENA_BUFS][ARENA_BUF];
	bool lent[ARENA_BUFS];
	int released;
	bool refuse_buffers;
	uint32_t max_xfer;
};

static int second_find_adapter(void *aext, struct vs_port *port, const void *cfg,
                               struct vs_adapter_caps *caps)
{
	(void)port;
	*(struct second **)aext = (struct second *)cfg;
	caps->max_transfer_length = ((struct second *)cfg)->max_xfer;
	return 0;
}

static struct second *S(void *aext)
{
	return *(struct second **)aext;
}

static int second_lun_attach(void *aext, struct vs_port_lun *lun, void *lext, const void *cfg)
{
	(void)lun;
	(void)cfg;
	*(struct second **)lext = S(aext);
	S(aext)->attached++;
	return 0;
}

static void second_lun_detach(void *aext, void *lext)
{
	(void)lext;
	S(aext)->detached++;
}

static void second_start_io(void *aext, void *lext, struct vs_srb *srb)
{
	(void)lext;
	S(aext)->started++;
	S(aext)->last_lun = srb->lun;
	srb->xfer_len = srb->data_dir == VS_DIR_FROM_DEVICE ? srb->data_length : 0;
	vs_srb_set_good(srb);
	vs_port_complete(srb);
}

static int second_reset(void *aext, void *lext, enum vs_reset_kind kind)
{
	(void)lext;
	S(aext)->resets[kind]++;
	return 0;
}

static void second_free_adapter(void *aext)
{
	S(aext)->freed++;
}

static void second_nexus_lost(void *aext, const struct vs_nexus *n)
{
	(void)n;
	S(aext)->nexus_lost++;
}

static void arena_release(void *cookie, void *buf)
{
	struct second *s = cookie;
	size_t i = (size_t)((uint8_t *)buf - &s->arena[0][0]) / ARENA_BUF;

	assert_true(s->lent[i]);        /* released once only */
	s->lent[i] = false;
	s->released++;
}

static void *second_buffer_get(void *aext, void *lext, const struct vs_srb *srb, size_t len,
                               void (**release)(void *cookie, void *buf), void **cookie)
{
	struct second *s = S(aext);

	(void)lext;
	(void)srb;
	if (s->refuse_buffers || len > ARENA_BUF)
		return NULL;
	for (int i = 0; i < ARENA_BUFS; i++) {
		if (!s->lent[i]) {
			s->lent[i] = true;
			*release = arena_release;
			*cookie = s;
			return s->arena[i];
		}
	}
	return NULL;
}

static const struct vs_miniport second_miniport = {
	.name = "second",
	.api_version = VS_MINIPORT_API_VERSION,
	.struct_size = sizeof(struct vs_miniport),
	.adapter_extension_size = sizeof(struct second *),
	.lun_extension_size = sizeof(struct second *),
	.find_adapter = second_find_adapter,
	.lun_attach = second_lun_attach,
	.lun_detach = second_lun_detach,
	.start_io = second_start_io,
	.reset = second_reset,
	.free_adapter = second_free_adapter,
	.nexus_lost = second_nexus_lost,
	.buffer_get = second_buffer_get,
};

struct fix {
	struct mock *m;
	struct second *s;
	struct tf *tf;
};

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));

	f->m = mock_new(MOCK_INLINE);
	f->s = calloc(1, sizeof(*f->s));
	f->tf = tf_create(&mock_miniport, NULL, f->m);
	assert_non_null(f->tf);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	if (f->tf)
		tf_destroy(f->tf);
	mock_free(f->m);
	free(f->s);
	free(f);
	return 0;
}

static void test_luns_of_two_miniports(void **state)
{
	struct fix *f = *state;
	struct vs_port *port = tf_port(f->tf);
	uint8_t tur[6] = { TEST_UNIT_READY };
	uint8_t rl[12] = { REPORT_LUNS, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	uint8_t data[256];
	struct tf_result r;

	assert_int_equal(vs_port_miniport_add(port, &second_miniport, f->s), 0);
	assert_int_equal(vs_port_lun_add(port, 0, NULL), 0);
	assert_int_equal(vs_port_lun_add_to(port, &second_miniport, 1, NULL), 0);
	assert_int_equal(f->s->attached, 1);
	assert_int_equal(f->m->attached, 1);

	struct vs_nexus *n = tf_nexus(f->tf, "iqn.test:a");
	tf_clear_ua(f->tf, n, 0);
	tf_clear_ua(f->tf, n, 1);
	int before = f->s->started;
	assert_int_equal(tf_exec(f->tf, n, 1, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(f->s->started, before + 1);
	assert_int_equal(f->s->last_lun, 1);
	int mock_before = f->m->nstarted;
	assert_int_equal(tf_exec(f->tf, n, 0, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(f->m->nstarted, mock_before + 1);
	assert_int_equal(f->s->started, before + 1);

	/* REPORT LUNS is the port's: both LUNs */
	assert_int_equal(tf_exec(f->tf, n, 0, rl, 12, VS_DIR_FROM_DEVICE, data, sizeof(data), &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(data[3], 16);          /* LUN LIST LENGTH: two entries */

	assert_int_equal(vs_port_lun_remove(port, 1, false), 0);
	assert_int_equal(f->s->detached, 1);
	/* nexus loss and the adapter's end reach every miniport */
	vs_port_nexus_close(port, n);
	assert_int_equal(f->s->nexus_lost, 1);
	tf_destroy(f->tf);
	f->tf = NULL;
	assert_int_equal(f->s->freed, 1);
	assert_int_equal(f->m->freed, 1);
}

static void test_resets_reach_the_right_miniport(void **state)
{
	struct fix *f = *state;
	struct vs_port *port = tf_port(f->tf);

	assert_int_equal(vs_port_miniport_add(port, &second_miniport, f->s), 0);
	assert_int_equal(vs_port_lun_add(port, 0, NULL), 0);
	assert_int_equal(vs_port_lun_add_to(port, &second_miniport, 5, NULL), 0);
	struct vs_nexus *n = tf_nexus(f->tf, "iqn.test:a");

	assert_int_equal(tf_tmf(f->tf, n, VS_TMF_LOGICAL_UNIT_RESET, 5, 0), VS_TMF_COMPLETE);
	assert_int_equal(f->s->resets[VS_RESET_LUN], 1);
	assert_int_equal(f->m->resets[VS_RESET_LUN], 0);
	assert_int_equal(tf_tmf(f->tf, n, VS_TMF_TARGET_WARM_RESET, 0, 0), VS_TMF_COMPLETE);
	assert_int_equal(f->s->resets[VS_RESET_TARGET], 1);
	assert_int_equal(f->m->resets[VS_RESET_TARGET], 1);
}

static void test_refusals(void **state)
{
	struct fix *f = *state;
	struct vs_port *port = tf_port(f->tf);
	static const struct vs_miniport big_ext = {
		.name = "big", .api_version = VS_MINIPORT_API_VERSION,
		.struct_size = sizeof(struct vs_miniport), .srb_extension_size = 1 << 20,
		.find_adapter = second_find_adapter, .lun_attach = second_lun_attach,
		.lun_detach = second_lun_detach, .start_io = second_start_io,
	};

	/* not registered yet */
	assert_int_equal(vs_port_lun_add_to(port, &second_miniport, 1, NULL), -ENOENT);
	assert_string_equal(vs_last_error(), "lun_add: miniport second is not registered with mock");
	/* an SRB extension the pools were not sized for */
	assert_int_equal(vs_port_miniport_add(port, &big_ext, f->s), -EINVAL);
	assert_non_null(strstr(vs_last_error(), "SRB extension"));
	/* a transfer limit below the adapter's (unlimited here) */
	f->s->max_xfer = 4096;
	assert_int_equal(vs_port_miniport_add(port, &second_miniport, f->s), -EINVAL);
	assert_non_null(strstr(vs_last_error(), "less than the adapter's"));
	assert_int_equal(f->s->freed, 1);       /* found, then let go */
	f->s->max_xfer = 0;
	assert_int_equal(vs_port_miniport_add(port, &second_miniport, f->s), 0);
	assert_int_equal(vs_port_miniport_add(port, &second_miniport, f->s), -EEXIST);
	/* a LUN number is one LUN, whatever its miniport */
	assert_int_equal(vs_port_lun_add(port, 2, NULL), 0);
	assert_int_equal(vs_port_lun_add_to(port, &second_miniport, 2, NULL), -EEXIST);
}

static void done_nop(struct vs_srb *srb)
{
	(void)srb;
}

static void test_buffer_provider(void **state)
{
	struct fix *f = *state;
	struct vs_port *port = tf_port(f->tf);
	struct vs_srb_pool *pool;
	struct vs_srb *a, *b;
	size_t cap;

	assert_int_equal(vs_port_miniport_add(port, &second_miniport, f->s), 0);
	assert_int_equal(vs_port_lun_add(port, 0, NULL), 0);
	assert_int_equal(vs_port_lun_add_to(port, &second_miniport, 1, NULL), 0);
	struct vs_nexus *n = tf_nexus(f->tf, "iqn.test:a");
	tf_clear_ua(f->tf, n, 1);
	pool = vs_srb_pool_create(port, 4, 65536);
	assert_non_null(pool);

	/* LUN 1 lends its own memory; LUN 0 (no provider) gets the pool's */
	a = vs_srb_get(pool);
	a->lun = 1;
	a->nexus = n;
	void *buf = vs_port_srb_buffer(port, a, 4096);
	assert_ptr_equal(buf, f->s->arena[0]);
	assert_ptr_equal(vs_port_srb_buffer(port, a, 4096), buf);       /* same SRB, same buffer */
	b = vs_srb_get(pool);
	b->lun = 0;
	b->nexus = n;
	assert_ptr_equal(vs_port_srb_buffer(port, b, 4096), vs_srb_buffer(b, &cap));
	/* more than the pool's buffer holds: none */
	assert_null(vs_port_srb_buffer(port, b, 65537));
	vs_srb_put(b);

	/* the buffer goes back only when the SRB does: after done() and
	 * after the fabric's put */
	struct iovec iov = { buf, 4096 };
	a->cdb[0] = READ_10;
	a->cdb_len = 10;
	a->data_dir = VS_DIR_FROM_DEVICE;
	a->iov = &iov;
	a->iovcnt = 1;
	a->data_length = 4096;
	a->done = done_nop;
	vs_port_submit(port, a);
	assert_int_equal(f->s->released, 0);
	vs_srb_put(a);
	assert_int_equal(f->s->released, 1);
	assert_false(f->s->lent[0]);

	/* a provider that has nothing left: the pool's buffer */
	f->s->refuse_buffers = true;
	a = vs_srb_get(pool);
	a->lun = 1;
	a->nexus = n;
	assert_ptr_equal(vs_port_srb_buffer(port, a, 4096), vs_srb_buffer(a, &cap));
	vs_srb_put(a);
	assert_int_equal(f->s->released, 1);
	vs_srb_pool_destroy(pool);
}

/* An inner port raises no unit attention of its own; its miniport's do. */
static void test_inner_port_quiet(void **state)
{
	(void)state;
	struct mock *m = mock_new(MOCK_INLINE);
	struct vs_port_config pc = { .flags = VS_PORT_INNER };
	struct tf *tf = tf_create(&mock_miniport, &pc, m);
	uint8_t tur[6] = { TEST_UNIT_READY };
	struct tf_result r;

	struct vs_nexus *n = tf_nexus(tf, "iqn.test:a");
	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, NULL), 0);
	assert_int_equal(tf_exec(tf, n, 0, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);      /* no POWER ON, no 3F/0E */
	struct vs_nexus *n2 = tf_nexus(tf, "iqn.test:b");
	assert_int_equal(tf_exec(tf, n2, 0, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	vs_port_lun_unit_attention(m->luns[0], ASC_CAPACITY_DATA_HAS_CHANGED, NULL);
	assert_int_equal(tf_exec(tf, n, 0, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_CHECK_CONDITION);
	assert_int_equal(r.sense_key, SENSE_UNIT_ATTENTION);
	assert_int_equal(r.asc, 0x2a);
	tf_destroy(tf);
	mock_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_luns_of_two_miniports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_resets_reach_the_right_miniport, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_buffer_provider, setup, teardown),
		cmocka_unit_test(test_inner_port_quiet),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
