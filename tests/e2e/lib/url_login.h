/* SPDX-License-Identifier: MIT */
/*
 * Log in to one LUN given as iscsi://HOST[:PORT]/IQN/LUN, for the writer
 * programs of the crash tests (ack_writer.c, power_writer.c).  Header-only:
 * each tests/e2e C file is its own program.  A lost target ends the run:
 * no reconnect, a 10 s command timeout.  NULL (with a line on stderr
 * naming `who`) on failure.
 */
#ifndef VSTOR_E2E_URL_LOGIN_H
#define VSTOR_E2E_URL_LOGIN_H

#include <stdio.h>

#include <iscsi/iscsi.h>

static inline struct iscsi_context *url_login(const char *who, const char *initiator,
                                              const char *url, bool header_digest, int *lun)
{
	struct iscsi_context *is = iscsi_create_context(initiator);
	struct iscsi_url *u;

	if (!is)
		return NULL;
	u = iscsi_parse_full_url(is, url);
	if (!u) {
		fprintf(stderr, "%s: bad URL %s: %s\n", who, url, iscsi_get_error(is));
		iscsi_destroy_context(is);
		return NULL;
	}
	iscsi_set_targetname(is, u->target);
	iscsi_set_session_type(is, ISCSI_SESSION_NORMAL);
	if (header_digest)
		iscsi_set_header_digest(is, ISCSI_HEADER_DIGEST_NONE_CRC32C);
	iscsi_set_noautoreconnect(is, 1);
	iscsi_set_timeout(is, 10);
	if (iscsi_full_connect_sync(is, u->portal, u->lun) != 0) {
		fprintf(stderr, "%s: login to %s failed: %s\n", who, url, iscsi_get_error(is));
		iscsi_destroy_url(u);
		iscsi_destroy_context(is);
		return NULL;
	}
	*lun = u->lun;
	iscsi_destroy_url(u);
	return is;
}

#endif
