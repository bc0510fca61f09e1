/* SPDX-License-Identifier: MIT */
/* Port services: worker pool, statistics and latency percentiles, error lines. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "test_fabric.h"
#include "test_port_mock.h"

struct my_work {
	struct vs_work w;
	pthread_mutex_t *mu;
	pthread_cond_t *cv;
	int *count;
	pthread_t *who;
};

static void work_fn(struct vs_work *w)
{
	struct my_work *mw = (struct my_work *)w;

	pthread_mutex_lock(mw->mu);
	*mw->who = pthread_self();
	(*mw->count)++;
	pthread_cond_broadcast(mw->cv);
	pthread_mutex_unlock(mw->mu);
}

static void test_worker_pool(void **state)
{
	struct mock *m = mock_new(MOCK_INLINE);
	struct vs_port_config cfg = { .worker_threads = 3 };
	struct vs_port *p = vs_port_create(&mock_miniport, &cfg, m);
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	struct my_work w[20];
	pthread_t who[20];
	int count = 0;
	(void)state;

	assert_non_null(p);
	for (int i = 0; i < 20; i++) {
		w[i] = (struct my_work){ { work_fn, NULL }, &mu, &cv, &count, &who[i] };
		assert_int_equal(vs_port_queue_work(p, &w[i].w), 0);
	}
	pthread_mutex_lock(&mu);
	while (count < 20)
		pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	for (int i = 0; i < 20; i++)
		assert_false(pthread_equal(who[i], pthread_self()));
	struct vs_work bad = { NULL, NULL };
	assert_int_equal(vs_port_queue_work(p, &bad), -EINVAL);
	assert_non_null(strstr(vs_last_error(), "work"));

	/* the queue is bounded: with every worker busy, item 3 + 4096 is
	 * refused (-ENOMEM, the caller keeps it) and nothing is lost */
	struct tf_workq_fill *fill = tf_workq_fill(p, 3);
	assert_non_null(fill);
	assert_int_equal(tf_workq_queued(fill), 3 + 4096);
	struct vs_work more = { work_fn, NULL };
	assert_int_equal(vs_port_queue_work(p, &more), -ENOMEM);
	assert_string_equal(vs_last_error(), "work: queue full (4096 items)");
	tf_workq_release(fill);
	vs_port_destroy(p);
	assert_int_equal(m->freed, 1);
	mock_free(m);
}

static void test_stats(void **state)
{
	struct mock *m = mock_new(MOCK_INLINE);
	struct tf *tf = tf_create(&mock_miniport, NULL, m);
	struct vs_lun_stats st;
	struct tf_result r;
	uint8_t buf[4096];
	(void)state;

	assert_non_null(tf);
	assert_int_equal(vs_port_lun_add(tf_port(tf), 0, NULL), 0);
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 9, &st), -ENOENT);
	struct vs_nexus *n = tf_nexus(tf, "iqn.a");
	/* the UA answer is not an error */
	uint8_t tur[6] = { TEST_UNIT_READY };
	assert_int_equal(tf_exec(tf, n, 0, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.sense_key, SENSE_UNIT_ATTENTION);

	uint8_t rd[10] = { READ_10, 0, 0, 0, 0, 0, 0, 0, 8, 0 };
	uint8_t wr[10] = { WRITE_10, 0, 0, 0, 0, 0, 0, 0, 1, 0 };
	uint8_t bad[6] = { 0xc7 };
	for (int i = 0; i < 3; i++)
		assert_int_equal(tf_exec(tf, n, 0, rd, 10, VS_DIR_FROM_DEVICE, buf, 4096, &r), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(tf_exec(tf, n, 0, wr, 10, VS_DIR_TO_DEVICE, buf, 512, &r), 0);
	assert_int_equal(tf_exec(tf, n, 0, bad, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(r.asc, 0x20);
	assert_int_equal(vs_port_lun_stats(tf_port(tf), 0, &st), 0);
	assert_int_equal(st.read_ops, 3);
	assert_int_equal(st.read_bytes, 3 * 4096);
	assert_int_equal(st.write_ops, 2);
	assert_int_equal(st.write_bytes, 2 * 512);
	assert_int_equal(st.other_ops, 2);
	assert_int_equal(st.errors, 1);
	assert_int_equal(st.in_flight, 0);
	uint64_t total = 0;
	for (int i = 0; i < VS_LAT_BUCKETS; i++)
		total += st.latency_us_hist[i];
	assert_int_equal(total, 7);
	tf_destroy(tf);
	mock_free(m);
}

static void test_percentile(void **state)
{
	struct vs_lun_stats s;
	(void)state;

	memset(&s, 0, sizeof(s));
	assert_int_equal(vs_lun_stats_percentile_us(&s, 50), 0);
	s.latency_us_hist[3] = 90;      /* < 8 us */
	s.latency_us_hist[10] = 10;     /* < 1024 us */
	assert_int_equal(vs_lun_stats_percentile_us(&s, 0), 8);
	assert_int_equal(vs_lun_stats_percentile_us(&s, 50), 8);
	assert_int_equal(vs_lun_stats_percentile_us(&s, 90), 8);
	assert_int_equal(vs_lun_stats_percentile_us(&s, 90.5), 1024);
	assert_int_equal(vs_lun_stats_percentile_us(&s, 100), 1024);
	assert_int_equal(vs_lun_stats_percentile_us(&s, 250), 1024);
}

static void test_error_line(void **state)
{
	(void)state;
	vs_set_error("field: %s %d", "bad", 7);
	assert_string_equal(vs_last_error(), "field: bad 7");
}

/* vs_port_lun_users: open I_T nexuses that have sent the LUN a command. */
static void test_lun_users(void **state)
{
	struct mock *m = mock_new(MOCK_INLINE);
	struct tf *tf = tf_create(&mock_miniport, NULL, m);
	struct vs_port *p = tf_port(tf);
	struct tf_result r;
	static const uint8_t tur[6] = { TEST_UNIT_READY };
	uint8_t rl[12] = { REPORT_LUNS, 0, 0, 0, 0, 0, 0, 0, 0, 64 }, buf[64];
	(void)state;

	assert_non_null(tf);
	assert_int_equal(vs_port_lun_add(p, 0, NULL), 0);
	assert_int_equal(vs_port_lun_add(p, 1, NULL), 0);
	struct vs_nexus *a = tf_nexus(tf, "iqn.a"), *b = tf_nexus(tf, "iqn.b");
	assert_int_equal(vs_port_lun_users(p, 0), 0);        /* logged in, silent */
	assert_int_equal(tf_exec(tf, a, 0, tur, 6, VS_DIR_NONE, NULL, 0, &r), 0);
	assert_int_equal(vs_port_lun_users(p, 0), 1);        /* even answered with a UA */
	assert_int_equal(vs_port_lun_users(p, 1), 0);
	/* REPORT LUNS is the port's, whichever LUN it names */
	assert_int_equal(tf_exec(tf, b, 1, rl, 12, VS_DIR_FROM_DEVICE, buf, 64, &r), 0);
	assert_int_equal(vs_port_lun_users(p, 1), 0);
	assert_int_equal(tf_clear_ua(tf, b, 0), 0);
	assert_int_equal(vs_port_lun_users(p, 0), 2);
	/* a closed nexus no longer counts, nor does a new one on its id */
	vs_port_nexus_close(p, a);
	assert_int_equal(vs_port_lun_users(p, 0), 1);
	struct vs_nexus *c = tf_nexus(tf, "iqn.c");
	assert_int_equal(c->id, 0);
	assert_int_equal(vs_port_lun_users(p, 0), 1);
	/* a LUN that comes back starts with no users */
	assert_int_equal(vs_port_lun_remove(p, 0, true), 0);
	assert_int_equal(vs_port_lun_users(p, 0), -ENOENT);
	assert_string_equal(vs_last_error(), "lun: 0 does not exist");
	assert_int_equal(vs_port_lun_add(p, 0, NULL), 0);
	assert_int_equal(vs_port_lun_users(p, 0), 0);
	assert_int_equal(vs_port_lun_users(NULL, 0), -EINVAL);
	tf_destroy(tf);
	mock_free(m);
}

/* vs_port_data_out_length: the miniport decodes; the port answers for a
 * LUN that is not there (it refuses the command itself: no data needed)
 * and says when the miniport cannot tell. */
static void test_data_out_length(void **state)
{
	struct mock *m = mock_new(MOCK_INLINE);
	struct tf *tf = tf_create(&mock_miniport, NULL, m);
	struct vs_port *p = tf_port(tf);
	struct vs_srb srb;
	uint64_t bytes = 99;
	(void)state;

	assert_non_null(tf);
	assert_int_equal(vs_port_lun_add(p, 0, NULL), 0);
	memset(&srb, 0, sizeof(srb));
	srb.nexus = tf_nexus(tf, "iqn.a");
	srb.cdb[0] = WRITE_10;
	srb.cdb[8] = 1;
	srb.cdb_len = 10;
	/* the mock has no data_out_length callback */
	assert_int_equal(vs_port_data_out_length(p, &srb, &bytes), -ENOTSUP);
	assert_int_equal(bytes, 0);
	srb.lun = 3;                     /* no such LUN */
	bytes = 99;
	assert_int_equal(vs_port_data_out_length(p, &srb, &bytes), 0);
	assert_int_equal(bytes, 0);
	srb.lun = 0;
	assert_int_equal(vs_port_lun_remove(p, 0, true), 0);
	assert_int_equal(vs_port_data_out_length(p, &srb, &bytes), 0);
	assert_int_equal(bytes, 0);
	assert_int_equal(vs_port_data_out_length(NULL, &srb, &bytes), -EINVAL);
	assert_string_equal(vs_last_error(), "data_out_length: port is NULL");
	assert_int_equal(vs_port_data_out_length(p, &srb, NULL), -EINVAL);
	tf_destroy(tf);
	mock_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_data_out_length),
		cmocka_unit_test(test_worker_pool),
		cmocka_unit_test(test_stats),
		cmocka_unit_test(test_percentile),
		cmocka_unit_test(test_error_line),
		cmocka_unit_test(test_lun_users),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
