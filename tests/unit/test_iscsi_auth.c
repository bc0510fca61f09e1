/* SPDX-License-Identifier: MIT */
/*
 * CHAP through a real connection (RFC 7143 §12.1.3): a target that requires
 * CHAP lets in the right credentials, refuses wrong or missing ones with
 * status 0x0201 (authentication failure), proves itself for mutual CHAP;
 * and credentials the control plane rewrites meanwhile (vs_iscsi_set_chap)
 * never tear a login in progress.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "vstor/iscsi.h"
#include "iscsi_harness.h"

static const struct vs_iscsi_chap creds = {
	.user = "unit-user", .secret = "unit-secret-0123",
	.mutual_user = "unit-target", .mutual_secret = "target-secret-987",
};

static int setup_chap(void **state)
{
	int rc = fx_setup(state);
	struct fx *f = *state;

	assert_int_equal(vs_iscsi_set_chap(f->is, TGT, &creds), 0);
	return rc;
}

static int chap_login(struct fx *f, const struct login_opts *o)
{
	struct cl cl = { .fd = connect_fx(f) };
	int rc = do_login(&cl, o);

	if (rc == 0)
		ping(&cl, 0x42);
	close(cl.fd);
	return rc;
}

static void test_one_way(void **state)
{
	struct fx *f = *state;

	assert_int_equal(chap_login(f, &(struct login_opts){ .user = "unit-user",
	                                                      .secret = "unit-secret-0123" }), 0);
	/* Wrong secret, wrong name: authentication failure (§11.13.5). */
	assert_int_equal(chap_login(f, &(struct login_opts){ .user = "unit-user", .secret = "nope-nope-nope",
	                                                      .expect_fail = true }),
	                 ISCSI_LOGIN_STATUS_AUTH_FAILED);
	assert_int_equal(chap_login(f, &(struct login_opts){ .user = "someone", .secret = "unit-secret-0123",
	                                                      .expect_fail = true }),
	                 ISCSI_LOGIN_STATUS_AUTH_FAILED);
	/* No security stage at all although CHAP is required. */
	assert_int_equal(chap_login(f, &(struct login_opts){ .expect_fail = true }),
	                 ISCSI_LOGIN_STATUS_AUTH_FAILED);
}

static void test_mutual(void **state)
{
	struct fx *f = *state;

	/* do_login checks the target's CHAP_N / CHAP_R against the mutual secret. */
	assert_int_equal(chap_login(f, &(struct login_opts){
		.user = "unit-user", .secret = "unit-secret-0123",
		.mutual_user = "unit-target", .mutual_secret = "target-secret-987" }), 0);
}

static atomic_bool stop_writer;

static void *rewrite_creds(void *arg)
{
	struct fx *f = arg;

	/* The same credentials over and over: a login that reads them while
	 * they are rewritten sees an empty or half-copied secret. */
	while (!atomic_load(&stop_writer))
		assert_int_equal(vs_iscsi_set_chap(f->is, TGT, &creds), 0);
	return NULL;
}

static void test_set_chap_during_logins(void **state)
{
	struct fx *f = *state;
	pthread_t th;
	int failed = 0;

	atomic_store(&stop_writer, false);
	assert_int_equal(pthread_create(&th, NULL, rewrite_creds, f), 0);
	for (int i = 0; i < 200; i++)
		if (chap_login(f, &(struct login_opts){ .user = "unit-user", .secret = "unit-secret-0123",
		                                         .mutual_user = "unit-target",
		                                         .mutual_secret = "target-secret-987",
		                                         .expect_fail = true }) != 0)
			failed++;
	atomic_store(&stop_writer, true);
	pthread_join(th, NULL);
	assert_int_equal(failed, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_one_way, setup_chap, fx_teardown),
		cmocka_unit_test_setup_teardown(test_mutual, setup_chap, fx_teardown),
		cmocka_unit_test_setup_teardown(test_set_chap_during_logins, setup_chap, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
