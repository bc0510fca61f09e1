/* SPDX-License-Identifier: MIT */
/*
 * A libiscsi client for the CHAP / ACL e2e test: what the Debian tools
 * cannot do (mutual CHAP: iscsi_set_target_username_pwd) and what they do
 * not print (the login status).
 *
 *   chap_client login PORTAL TARGET INITIATOR [USER SECRET [TUSER TSECRET]]
 *       normal session to TARGET LUN 0, TEST UNIT READY, logout
 *   chap_client discover PORTAL INITIATOR [USER SECRET]
 *       discovery session, SendTargets=All: one target name per line
 *
 * With USER/SECRET the initiator answers the target's CHAP challenge; with
 * TUSER/TSECRET it also challenges the target (mutual CHAP) and libiscsi
 * refuses a target that does not prove it knows TSECRET.
 * Prints "ok" (login) and exits 0; prints "status 0xCCDD" with the Login
 * Response's Status-Class/Detail (RFC 7143 §11.13.5) and exits 1 when the
 * target refused; prints "error: ..." and exits 2 for anything else.
 */
#include <iscsi/iscsi.h>
#include <iscsi/scsi-lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int report_failure(struct iscsi_context *is, const char *what)
{
	const char *err = iscsi_get_error(is);
	const char *num = err ? strrchr(err, '(') : NULL;

	/* libiscsi: "Failed to log in to target. Status: <text>(<decimal>)" */
	if (err && strstr(err, "Failed to log in to target. Status:") && num) {
		printf("status 0x%04lx\n", strtol(num + 1, NULL, 10));
		return 1;
	}
	printf("error: %s: %s\n", what, err ? err : "?");
	return 2;
}

static struct iscsi_context *context(const char *initiator, char **argv, int nauth)
{
	struct iscsi_context *is = iscsi_create_context(initiator);

	if (!is)
		return NULL;
	iscsi_set_noautoreconnect(is, 1);
	iscsi_set_timeout(is, 10);
	if (nauth >= 2)
		iscsi_set_initiator_username_pwd(is, argv[0], argv[1]);
	if (nauth >= 4)
		iscsi_set_target_username_pwd(is, argv[2], argv[3]);
	return is;
}

static int do_login(const char *portal, const char *target, const char *initiator, char **auth,
                    int nauth)
{
	struct iscsi_context *is = context(initiator, auth, nauth);
	struct scsi_task *t;
	int rc;

	if (!is)
		return 2;
	iscsi_set_targetname(is, target);
	iscsi_set_session_type(is, ISCSI_SESSION_NORMAL);
	if (iscsi_full_connect_sync(is, portal, 0) != 0) {
		rc = report_failure(is, "login");
		iscsi_destroy_context(is);
		return rc;
	}
	t = iscsi_testunitready_sync(is, 0);    /* UNIT ATTENTION is an answer too */
	if (!t || (t->status != SCSI_STATUS_GOOD && t->status != SCSI_STATUS_CHECK_CONDITION)) {
		printf("error: TEST UNIT READY: %s\n", iscsi_get_error(is));
		rc = 2;
	} else {
		printf("ok\n");
		rc = 0;
	}
	if (t)
		scsi_free_scsi_task(t);
	iscsi_logout_sync(is);
	iscsi_destroy_context(is);
	return rc;
}

static int do_discover(const char *portal, const char *initiator, char **auth, int nauth)
{
	struct iscsi_context *is = context(initiator, auth, nauth);
	struct iscsi_discovery_address *da, *d;
	int rc = 0;

	if (!is)
		return 2;
	iscsi_set_session_type(is, ISCSI_SESSION_DISCOVERY);
	if (iscsi_connect_sync(is, portal) != 0) {
		printf("error: connect %s: %s\n", portal, iscsi_get_error(is));
		iscsi_destroy_context(is);
		return 2;
	}
	if (iscsi_login_sync(is) != 0) {
		rc = report_failure(is, "discovery login");
		iscsi_destroy_context(is);
		return rc;
	}
	da = iscsi_discovery_sync(is);
	if (!da && iscsi_get_error(is) && *iscsi_get_error(is)) {
		printf("error: SendTargets: %s\n", iscsi_get_error(is));
		rc = 2;
	}
	for (d = da; d; d = d->next)
		printf("%s\n", d->target_name);
	if (da)
		iscsi_free_discovery_data(is, da);
	iscsi_logout_sync(is);
	iscsi_destroy_context(is);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc >= 5 && !strcmp(argv[1], "login") && (argc == 5 || argc == 7 || argc == 9))
		return do_login(argv[2], argv[3], argv[4], argv + 5, argc - 5);
	if (argc >= 4 && !strcmp(argv[1], "discover") && (argc == 4 || argc == 6))
		return do_discover(argv[2], argv[3], argv + 4, argc - 4);
	fprintf(stderr, "usage: chap_client login PORTAL TARGET INITIATOR [USER SECRET [TUSER TSECRET]]\n"
	                "       chap_client discover PORTAL INITIATOR [USER SECRET]\n");
	return 2;
}
