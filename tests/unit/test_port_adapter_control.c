/* SPDX-License-Identifier: MIT */
/*
 * HwAdapterControl through the port: the supported-types query, stop
 * (quiesce first: no SRB is outstanding when the miniport hears STOP; new
 * SRBs wait) and restart (the waiting SRBs go), and vdisk's STOP flushing
 * every LUN's write cache.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "spy_bdev.h"
#include "test_fabric.h"
#include "test_port_mock.h"
#include "vstor/vdisk.h"

static const uint8_t tur[6] = { TEST_UNIT_READY };

static struct tf *mk(struct mock **m)
{
	*m = mock_new(MOCK_INLINE);
	struct tf *tf = tf_create(&mock_miniport, NULL, *m);
	assert_non_null(tf);
	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, NULL), 0);
	return tf;
}

static void test_query_and_unsupported(void **state)
{
	struct mock *m = mock_new(MOCK_INLINE);
	bool sup[VS_ADAPTER_CONTROL_MAX] = { false };
	(void)state;

	m->no_restart = true;
	struct tf *tf = tf_create(&mock_miniport, NULL, m);
	assert_non_null(tf);
	assert_int_equal(vs_port_adapter_control(tf_port(tf), VS_ADAPTER_QUERY_SUPPORTED, sup), 0);
	assert_true(sup[VS_ADAPTER_QUERY_SUPPORTED]);
	assert_true(sup[VS_ADAPTER_STOP]);
	assert_false(sup[VS_ADAPTER_RESTART]);
	assert_int_equal(vs_port_adapter_control(tf_port(tf), VS_ADAPTER_RESTART, NULL), -EOPNOTSUPP);
	assert_string_equal(vs_last_error(), "adapter_control: restart is not supported by miniport mock");
	assert_int_equal(vs_port_adapter_control(tf_port(tf), VS_ADAPTER_CONTROL_MAX, NULL), -EINVAL);
	assert_string_equal(vs_last_error(), "adapter_control: unknown request 3");
	assert_int_equal(vs_port_adapter_control(tf_port(tf), VS_ADAPTER_QUERY_SUPPORTED, NULL),
	                 -EINVAL);
	assert_int_equal(vs_port_adapter_control(NULL, VS_ADAPTER_STOP, NULL), -EINVAL);
	assert_string_equal(vs_last_error(), "adapter_control: port is NULL");
	assert_int_equal(vs_port_stop(NULL), -EINVAL);
	assert_string_equal(vs_last_error(), "stop: port is NULL");
	assert_int_equal(vs_port_restart(NULL), -EINVAL);
	assert_string_equal(vs_last_error(), "restart: port is NULL");
	/* without RESTART support restart still releases the port */
	assert_int_equal(vs_port_stop(tf_port(tf)), 0);
	assert_int_equal(vs_port_restart(tf_port(tf)), 0);
	assert_int_equal(m->stops, 1);
	assert_int_equal(m->restarts, 0);
	tf_destroy(tf);
	mock_free(m);
}

static void *complete_later(void *arg)
{
	struct mock *m = arg;

	usleep(100000);
	mock_complete_all(m);
	return NULL;
}

static void test_stop_quiesces_restart_releases(void **state)
{
	struct mock *m;
	struct tf *tf = mk(&m);
	struct vs_nexus *n = tf_nexus(tf, "iqn.a");
	struct tf_result r;
	pthread_t th;
	(void)state;

	assert_int_equal(tf_clear_ua(tf, n, 0), 0);
	m->mode = MOCK_MANUAL;
	struct tf_task *busy = tf_submit(tf, n, 0, tur, 6, VS_DIR_NONE, NULL, 0);
	assert_non_null(busy);
	assert_int_equal(mock_npending(m), 1);
	/* STOP comes only once the outstanding SRB is back */
	pthread_create(&th, NULL, complete_later, m);
	assert_int_equal(vs_port_stop(tf_port(tf)), 0);
	pthread_join(th, NULL);
	assert_int_equal(mock_read(m, &m->stops), 1);
	assert_int_equal(mock_read(m, &m->pending_at_stop), 0);
	assert_int_equal(tf_wait(busy, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);

	/* stopped: a new SRB (HEAD OF QUEUE too) waits in the port */
	struct tf_task *held = tf_submit_ex(tf, n, 0, tur, 6, VS_DIR_NONE, NULL, 0,
	                                    VS_TASK_HEAD_OF_QUEUE, 0, 0);
	usleep(50000);
	assert_false(tf_task_done(held));
	assert_int_equal(mock_npending(m), 0);
	struct vs_lun_stats st;
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st), 0);
	assert_int_equal(st.held, 1);

	m->mode = MOCK_INLINE;
	assert_int_equal(vs_port_restart(tf_port(tf)), 0);
	assert_int_equal(mock_read(m, &m->restarts), 1);
	assert_int_equal(tf_wait(held, &r), 0);
	assert_int_equal(r.status, SAM_STAT_GOOD);
	assert_int_equal(tf_double_completions(tf), 0);
	tf_destroy(tf);
	mock_free(m);
}

/* vdisk: STOP flushes the cache of every LUN, read-only ones excepted. */
static void test_vdisk_stop_flushes(void **state)
{
	static const struct vs_vdisk_adapter_config ac = { .target_name = "iqn.2026-01.test:ac" };
	struct tf *tf = tf_create(&vs_vdisk_miniport, NULL, &ac);
	struct spy *s[3];
	struct vs_backend_caps caps;
	bool sup[VS_ADAPTER_CONTROL_MAX];
	(void)state;

	assert_non_null(tf);
	for (int i = 0; i < 3; i++) {
		s[i] = spy_new("1M");
		assert_non_null(s[i]);
		vs_bdev_get_caps(spy_bdev(s[i]), &caps);
		caps.can_flush = caps.has_write_cache = true;
		spy_set_caps(s[i], &caps);
		struct vs_vdisk_lun_config lc = { .bdev = spy_bdev(s[i]), .block_size = 512,
		                                  .readonly = i == 2 };
		assert_int_equal(vs_port_lun_add(tf_port(tf), (uint64_t)i, &lc), 0);
	}
	assert_int_equal(vs_port_adapter_control(tf_port(tf), VS_ADAPTER_QUERY_SUPPORTED, sup), 0);
	assert_true(sup[VS_ADAPTER_STOP] && sup[VS_ADAPTER_RESTART]);
	assert_int_equal(vs_port_stop(tf_port(tf)), 0);
	assert_int_equal(spy_count(s[0], VS_BIO_FLUSH, 0), 1);
	assert_int_equal(spy_count(s[1], VS_BIO_FLUSH, 0), 1);
	assert_int_equal(spy_count(s[2], VS_BIO_FLUSH, 0), 0);
	/* a failing flush is the stop's error, naming the LUN */
	spy_fail_op(s[1], VS_BIO_FLUSH, -EIO);
	assert_int_equal(vs_port_stop(tf_port(tf)), -EIO);
	assert_string_equal(vs_last_error(), "stop: LUN 1: flush failed: backend spy/ram: Input/output "
	                                     "error");
	spy_fail_op(s[1], VS_BIO_FLUSH, 0);
	assert_int_equal(vs_port_restart(tf_port(tf)), 0);
	tf_destroy(tf);
	for (int i = 0; i < 3; i++)
		spy_free(s[i]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_query_and_unsupported),
		cmocka_unit_test(test_stop_quiesces_restart_releases),
		cmocka_unit_test(test_vdisk_stop_flushes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
