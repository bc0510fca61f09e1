/* SPDX-License-Identifier: MIT */
/*
 * vs_port_set_event_handler: the port tells a fabric, after raising the
 * unit attention on every nexus, that the LUN inventory (REPORTED LUNS DATA
 * HAS CHANGED) or a LUN's capacity (CAPACITY DATA HAS CHANGED) changed, so
 * it can send an asynchronous event (iSCSI Asynchronous Message).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_port_mock.h"
#include "lib/test_fabric.h"

#define MAX_EV 16

struct rec {
	int n;
	uint64_t lun[MAX_EV];
	uint16_t asc[MAX_EV];
};

static void on_event(void *ctx, uint64_t lun, uint16_t asc_ascq)
{
	struct rec *r = ctx;

	assert_true(r->n < MAX_EV);
	r->lun[r->n] = lun;
	r->asc[r->n] = asc_ascq;
	r->n++;
}

static void test_bus_and_capacity_events(void **state)
{
	struct mock *m = mock_new(MOCK_INLINE);
	struct tf *tf = tf_create(&mock_miniport, NULL, m);
	struct vs_port *port;
	struct rec r = { 0 };
	struct tf_result res;
	struct vs_nexus *n;
	uint8_t tur[6] = { TEST_UNIT_READY };
	(void)state;

	assert_non_null(tf);
	port = tf_port(tf);
	assert_int_equal(vs_port_lun_add(port, 0, NULL), 0);
	n = tf_nexus(tf, "iqn.a");
	tf_clear_ua(tf, n, 0);
	vs_port_set_event_handler(port, on_event, &r);

	/* LUN 5 arrives: one event, named after the lowest LUN present. */
	assert_int_equal(vs_port_lun_add(port, 5, NULL), 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.lun[0], 0);
	assert_int_equal(r.asc[0], ASC_REPORTED_LUNS_DATA_HAS_CHANGED);
	/* ... and the unit attention it announces is pending already. */
	assert_int_equal(tf_exec(tf, n, 0, tur, 6, VS_DIR_NONE, NULL, 0, &res), 0);
	assert_int_equal(res.sense_key, SENSE_UNIT_ATTENTION);
	assert_int_equal(res.asc, 0x3f);
	assert_int_equal(res.ascq, 0x0e);

	/* LUN 0 leaves: the lowest present is now 5. */
	assert_int_equal(vs_port_lun_remove(port, 0, true), 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.lun[1], 5);
	assert_int_equal(r.asc[1], ASC_REPORTED_LUNS_DATA_HAS_CHANGED);

	/* Capacity on LUN 5 for every nexus: an event; a UA that spares one
	 * nexus or means something else: none. */
	vs_port_lun_unit_attention(m->luns[5], ASC_CAPACITY_DATA_HAS_CHANGED, NULL);
	assert_int_equal(r.n, 3);
	assert_int_equal(r.lun[2], 5);
	assert_int_equal(r.asc[2], ASC_CAPACITY_DATA_HAS_CHANGED);
	vs_port_lun_unit_attention(m->luns[5], ASC_MODE_PARAMETERS_CHANGED, NULL);
	vs_port_lun_unit_attention(m->luns[5], ASC_CAPACITY_DATA_HAS_CHANGED, n);
	assert_int_equal(r.n, 3);

	/* Removed: never called again; the last LUN going reports LUN 0. */
	vs_port_set_event_handler(port, NULL, &r);
	assert_int_equal(vs_port_lun_remove(port, 5, true), 0);
	assert_int_equal(r.n, 3);
	vs_port_set_event_handler(port, on_event, &r);
	assert_int_equal(vs_port_lun_add(port, 7, NULL), 0);
	assert_int_equal(r.n, 4);
	assert_int_equal(r.lun[3], 7);
	vs_port_set_event_handler(NULL, on_event, &r);     /* no port: ignored */
	vs_port_set_event_handler(port, NULL, NULL);
	tf_destroy(tf);
	mock_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bus_and_capacity_events),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
