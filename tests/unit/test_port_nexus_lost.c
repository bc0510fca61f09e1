/* SPDX-License-Identifier: MIT */
/*
 * The miniport's nexus_lost callback (miniport.h): the port calls it once
 * per closed I_T nexus, after the nexus left the nexus table and before its
 * memory is freed; a miniport built before the callback existed (smaller
 * struct_size) is never called through it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "test_fabric.h"
#include "vstor/miniport.h"
#include "vstor/scsi.h"

#define MAX_LOST 8

struct lost_adapter {
	struct vs_port *port;
	int lost;
	const struct vs_nexus *ptr[MAX_LOST];
	char name[MAX_LOST][sizeof(((struct vs_nexus *)0)->name)];
	bool still_in_table[MAX_LOST];
	int completed_at_loss;          /* SRBs completed when the last loss came */
	int completed;
	bool open_in_loss;              /* nexus_lost logs a new nexus in */
	struct vs_nexus *opened_in_loss;
};

static int la_find_adapter(void *ext, struct vs_port *port, const void *cfg,
                           struct vs_adapter_caps *caps)
{
	struct lost_adapter *a = ext;

	(void)cfg;
	memset(a, 0, sizeof(*a));
	a->port = port;
	caps->max_luns = 4;
	caps->default_queue_depth = 8;
	return 0;
}

static int la_lun_attach(void *ext, struct vs_port_lun *lun, void *lext, const void *cfg)
{
	(void)ext; (void)lun; (void)lext; (void)cfg;
	return 0;
}

static void la_lun_detach(void *ext, void *lext)
{
	(void)ext; (void)lext;
}

static void la_start_io(void *ext, void *lext, struct vs_srb *srb)
{
	struct lost_adapter *a = ext;

	(void)lext;
	a->completed++;
	vs_srb_set_good(srb);
	vs_port_complete(srb);
}

static int total_lost;   /* survives the adapter (freed by vs_port_destroy) */

static void la_nexus_lost(void *ext, const struct vs_nexus *nexus)
{
	struct lost_adapter *a = ext;
	int i = a->lost++;

	total_lost++;
	if (i >= MAX_LOST)
		return;
	a->ptr[i] = nexus;
	snprintf(a->name[i], sizeof(a->name[i]), "%s", nexus->name);
	a->still_in_table[i] = vs_port_nexus_by_id(a->port, nexus->id) == nexus;
	a->completed_at_loss = a->completed;
	if (a->open_in_loss) {
		a->open_in_loss = false;
		a->opened_in_loss = vs_port_nexus_open(a->port, "iqn.test:new,i,0x9", NULL, NULL, 0);
	}
}

static const struct vs_miniport lost_mp = {
	.name = "lost",
	.api_version = VS_MINIPORT_API_VERSION,
	.struct_size = sizeof(struct vs_miniport),
	.adapter_extension_size = sizeof(struct lost_adapter),
	.lun_extension_size = 8,
	.find_adapter = la_find_adapter,
	.lun_attach = la_lun_attach,
	.lun_detach = la_lun_detach,
	.start_io = la_start_io,
	.nexus_lost = la_nexus_lost,
};

static void test_called_once_per_close(void **state)
{
	struct tf *tf = tf_create(&lost_mp, NULL, NULL);
	struct lost_adapter *a;
	struct vs_nexus *n1, *n2;
	struct tf_result r;
	uint8_t tur[6] = { TEST_UNIT_READY };
	(void)state;

	assert_non_null(tf);
	a = vs_port_adapter_ext(tf_port(tf));
	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, NULL), 0);
	n1 = tf_nexus(tf, "iqn.test:one,i,0x1");
	n2 = tf_nexus(tf, "iqn.test:two,i,0x2");
	assert_non_null(n1);
	assert_non_null(n2);
	assert_int_equal(tf_clear_ua(tf, n1, 0), 0);
	assert_int_equal(tf_exec(tf, n1, 0, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(a->lost, 0);

	vs_port_nexus_close(tf_port(tf), n1);
	assert_int_equal(a->lost, 1);
	assert_ptr_equal(a->ptr[0], n1);                /* the same object, still readable */
	assert_string_equal(a->name[0], "iqn.test:one,i,0x1");
	assert_false(a->still_in_table[0]);             /* already out of the table */
	assert_int_equal(a->completed_at_loss, a->completed);

	/* the port's destroy closes the remaining nexus: lost once more */
	total_lost = 0;
	tf_destroy(tf);
	assert_int_equal(total_lost, 1);
}

static void test_destroy_reports_open_nexuses(void **state)
{
	static struct lost_adapter *seen;
	struct tf *tf = tf_create(&lost_mp, NULL, NULL);
	struct vs_nexus *n2;
	(void)state;

	assert_non_null(tf);
	seen = vs_port_adapter_ext(tf_port(tf));
	assert_non_null(tf_nexus(tf, "iqn.test:one,i,0x1"));
	n2 = tf_nexus(tf, "iqn.test:two,i,0x2");
	assert_non_null(n2);
	vs_port_nexus_close(tf_port(tf), n2);
	assert_int_equal(seen->lost, 1);
	assert_string_equal(seen->name[0], "iqn.test:two,i,0x2");
	total_lost = 0;
	tf_destroy(tf);         /* the nexus still open is lost at destroy */
	assert_int_equal(total_lost, 1);
}

/*
 * A login that comes while the miniport is still handling the loss of a
 * nexus does not get that nexus's id (miniport.h: state kept by id and
 * dropped in nexus_lost is never seen by the id's next nexus); once
 * nexus_lost has returned, the id is free again (lowest free first).
 */
static void test_id_not_reused_before_nexus_lost_returns(void **state)
{
	struct tf *tf = tf_create(&lost_mp, NULL, NULL);
	struct lost_adapter *a;
	struct vs_nexus *n1, *n2, *n3;
	uint32_t id1;
	(void)state;

	assert_non_null(tf);
	a = vs_port_adapter_ext(tf_port(tf));
	n1 = tf_nexus(tf, "iqn.test:one,i,0x1");
	n2 = tf_nexus(tf, "iqn.test:two,i,0x2");
	assert_non_null(n1);
	assert_non_null(n2);
	id1 = n1->id;
	a->open_in_loss = true;
	vs_port_nexus_close(tf_port(tf), n1);
	assert_int_equal(a->lost, 1);
	assert_non_null(a->opened_in_loss);
	assert_int_not_equal(a->opened_in_loss->id, id1);
	assert_int_not_equal(a->opened_in_loss->id, n2->id);
	n3 = tf_nexus(tf, "iqn.test:three,i,0x3");
	assert_non_null(n3);
	assert_int_equal(n3->id, id1);
	vs_port_nexus_close(tf_port(tf), a->opened_in_loss);
	tf_destroy(tf);
}

/* A miniport compiled against API version 1 (struct without nexus_lost):
 * the port must not read past its struct_size. */
static int v1_called;

static void v1_nexus_lost(void *ext, const struct vs_nexus *nexus)
{
	(void)ext; (void)nexus;
	v1_called++;
}

static void test_old_struct_size_not_called(void **state)
{
	struct vs_miniport mp = lost_mp;
	struct tf *tf;
	struct vs_nexus *n;
	(void)state;

	mp.struct_size = (uint32_t)offsetof(struct vs_miniport, nexus_lost);
	mp.nexus_lost = v1_nexus_lost;  /* beyond struct_size: must be ignored */
	tf = tf_create(&mp, NULL, NULL);
	assert_non_null(tf);
	n = tf_nexus(tf, "iqn.test:old,i,0x1");
	assert_non_null(n);
	vs_port_nexus_close(tf_port(tf), n);
	assert_int_equal(v1_called, 0);
	tf_destroy(tf);
	assert_int_equal(v1_called, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_called_once_per_close),
		cmocka_unit_test(test_destroy_reports_open_nexuses),
		cmocka_unit_test(test_id_not_reused_before_nexus_lost_returns),
		cmocka_unit_test(test_old_struct_size_not_called),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
