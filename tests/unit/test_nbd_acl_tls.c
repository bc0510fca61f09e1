/* SPDX-License-Identifier: MIT */
/*
 * NBD export access lists (addresses, networks, TLS identities) and the
 * TLS server context: a PSK handshake over a socket pair with an OpenSSL
 * client, the identity it yields, data both ways, and the one-line errors
 * for bad key files.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/ssl.h>

#include "fabrics/nbd/nbd_acl.h"
#include "fabrics/nbd/nbd_tls.h"
#include "vstor/miniport.h"

static struct sockaddr_storage v4(const char *a)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *s = (struct sockaddr_in *)&ss;

	s->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, a, &s->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *a)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

	s->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, a, &s->sin6_addr), 1);
	return ss;
}

static void test_acl_parse(void **state)
{
	struct nbd_acl_entry e;
	char why[128];
	(void)state;

	assert_true(vs_nbd_acl_parse("127.0.0.1", &e, why, sizeof(why)));
	assert_int_equal(e.kind, NBD_ACL_V4);
	assert_int_equal(e.prefix, 32);
	assert_true(vs_nbd_acl_parse("10.0.0.0/8", &e, why, sizeof(why)));
	assert_int_equal(e.prefix, 8);
	assert_true(vs_nbd_acl_parse("fe80::/10", &e, why, sizeof(why)));
	assert_int_equal(e.kind, NBD_ACL_V6);
	assert_true(vs_nbd_acl_parse("tls:client1", &e, why, sizeof(why)));
	assert_int_equal(e.kind, NBD_ACL_TLS);
	assert_string_equal(e.identity, "client1");
	assert_false(vs_nbd_acl_parse("10.0.0.0/33", &e, why, sizeof(why)));
	assert_string_equal(why, "prefix must be 0-32");
	assert_false(vs_nbd_acl_parse("::1/129", &e, why, sizeof(why)));
	assert_false(vs_nbd_acl_parse("10.0.0.0/", &e, why, sizeof(why)));
	assert_false(vs_nbd_acl_parse("host.example", &e, why, sizeof(why)));
	assert_string_equal(why, "not an IP address, network or tls:IDENTITY");
	assert_false(vs_nbd_acl_parse("tls:", &e, why, sizeof(why)));
	assert_false(vs_nbd_acl_parse("", &e, why, sizeof(why)));
	assert_true(vs_nbd_acl_entry_valid("192.168.1.0/24", NULL, 0));
	assert_false(vs_nbd_acl_entry_valid("300.1.1.1", NULL, 0));
}

static void test_acl_match(void **state)
{
	struct nbd_acl_entry e[3];
	char why[64];
	(void)state;

	assert_true(vs_nbd_acl_parse("10.1.0.0/16", &e[0], why, sizeof(why)));
	assert_true(vs_nbd_acl_parse("2001:db8::/32", &e[1], why, sizeof(why)));
	assert_true(vs_nbd_acl_parse("tls:alice", &e[2], why, sizeof(why)));
	struct sockaddr_storage in = v4("10.1.200.3"), out = v4("10.2.0.1");
	struct sockaddr_storage in6 = v6("2001:db8:1::5"), out6 = v6("2001:db9::1");
	struct sockaddr_storage mapped = v6("::ffff:10.1.0.9");

	assert_true(vs_nbd_acl_allows(e, 0, &out, NULL));          /* empty: everyone */
	assert_true(vs_nbd_acl_allows(e, 3, &in, NULL));
	assert_false(vs_nbd_acl_allows(e, 3, &out, NULL));
	assert_true(vs_nbd_acl_allows(e, 3, &in6, NULL));
	assert_false(vs_nbd_acl_allows(e, 3, &out6, ""));
	assert_true(vs_nbd_acl_allows(e, 3, &mapped, NULL));       /* IPv4 on an IPv6 socket */
	assert_true(vs_nbd_acl_allows(e, 3, &out, "alice"));       /* by TLS identity */
	assert_false(vs_nbd_acl_allows(e, 3, &out, "bob"));
	assert_false(vs_nbd_acl_tls_only(e, 3));
	assert_true(vs_nbd_acl_tls_only(&e[2], 1));
	assert_false(vs_nbd_acl_tls_only(e, 0));
	/* a /0 network matches its whole family only */
	assert_true(vs_nbd_acl_parse("0.0.0.0/0", &e[0], why, sizeof(why)));
	assert_true(vs_nbd_acl_allows(e, 1, &out, NULL));
	assert_false(vs_nbd_acl_allows(e, 1, &out6, NULL));
}

/* ---- TLS ---- */

static char psk_path[64];

static void write_psk(const char *content)
{
	snprintf(psk_path, sizeof(psk_path), "/tmp/vstor-psk-XXXXXX");
	int fd = mkstemp(psk_path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

static const uint8_t alice_key[4] = { 0x01, 0x23, 0xab, 0xcd };

static unsigned int client_psk(SSL *ssl, const char *hint, char *identity,
                               unsigned int max_id, unsigned char *psk, unsigned int max_psk)
{
	(void)ssl;
	(void)hint;
	(void)max_psk;
	snprintf(identity, max_id, "%s", (const char *)SSL_get_app_data(ssl));
	memcpy(psk, alice_key, sizeof(alice_key));
	return sizeof(alice_key);
}

struct client {
	int fd;
	const char *identity;
	bool tls13;
	int handshake;
	char got[16];
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;

	if (c->tls13) {
		SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	} else {
		SSL_CTX_set_max_proto_version(ctx, TLS1_2_VERSION);
		SSL_CTX_set_cipher_list(ctx, "PSK");
	}
	SSL_CTX_set_psk_client_callback(ctx, client_psk);
	ssl = SSL_new(ctx);
	SSL_set_app_data(ssl, (void *)c->identity);
	SSL_set_fd(ssl, c->fd);
	c->handshake = SSL_connect(ssl);
	if (c->handshake == 1) {
		int have = 0, n;

		SSL_write(ssl, "ping", 4);
		/* one record per iovec entry: read until all four bytes are in */
		while (have < 4 && (n = SSL_read(ssl, c->got + have, 4 - have)) > 0)
			have += n;
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return NULL;
}

/* Drive the server side non-blocking, as a connection would. */
static int server_side(struct nbd_tls *t, int fd, char *identity, size_t idlen)
{
	struct nbd_tls_session *s = vs_nbd_tls_session_new(t, fd);
	uint32_t want;
	char buf[16];
	ssize_t n;
	int rc;

	assert_non_null(s);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	for (int i = 0; i < 5000 && (rc = vs_nbd_tls_handshake(s, &want)) == -EAGAIN; i++)
		usleep(1000);
	if (rc != 1) {
		vs_nbd_tls_session_free(s);
		return rc;
	}
	snprintf(identity, idlen, "%s", vs_nbd_tls_identity(s));
	for (int i = 0; i < 5000 && (n = vs_nbd_tls_read(s, buf, sizeof(buf), &want)) == -EAGAIN; i++)
		usleep(1000);
	assert_int_equal(n, 4);
	assert_memory_equal(buf, "ping", 4);
	struct iovec iov[2] = { { "po", 2 }, { "ng", 2 } };
	assert_int_equal(vs_nbd_tls_writev(s, iov, 2, &want), 4);
	vs_nbd_tls_shutdown(s);
	vs_nbd_tls_session_free(s);
	return 1;
}

static void handshake_case(const char *identity, bool tls13, int want_rc, const char *want_id)
{
	struct vs_nbd_tls_config cfg = { .mode = VS_NBD_TLS_REQUIRE, .psk_file = psk_path };
	struct nbd_tls *t = vs_nbd_tls_create(&cfg);
	int sv[2];
	pthread_t th;
	char id[NBD_TLS_IDENTITY_MAX] = "";

	assert_non_null(t);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	struct client c = { .fd = sv[1], .identity = identity, .tls13 = tls13 };
	pthread_create(&th, NULL, client_main, &c);
	int rc = server_side(t, sv[0], id, sizeof(id));
	close(sv[0]);           /* a failed client must not wait for us */
	pthread_join(th, NULL);
	close(sv[1]);
	assert_int_equal(rc, want_rc);
	if (want_rc == 1) {
		assert_string_equal(id, want_id);
		assert_int_equal(c.handshake, 1);
		assert_string_equal(c.got, "pong");
	}
	vs_nbd_tls_destroy(t);
}

static void test_tls_psk_handshake(void **state)
{
	(void)state;
	write_psk("# comment\n\nbob:00112233\nalice:0123ABcd\n");
	handshake_case("alice", true, 1, "alice");      /* TLS 1.3 */
	handshake_case("alice", false, 1, "alice");     /* TLS 1.2 PSK suites */
	handshake_case("mallory", true, -EPROTO, "");   /* unknown identity */
	unlink(psk_path);
}

static void test_tls_config_errors(void **state)
{
	struct vs_nbd_tls_config cfg = { .mode = VS_NBD_TLS_ON };
	(void)state;

	assert_null(vs_nbd_tls_create(&cfg));
	assert_non_null(strstr(vs_last_error(), "needs a cert and key, or a psk_file"));
	cfg.psk_file = "/nonexistent/psk";
	assert_null(vs_nbd_tls_create(&cfg));
	assert_non_null(strstr(vs_last_error(), "tls.psk_file: /nonexistent/psk"));
	write_psk("alice:0123abc\n");                   /* odd hex */
	cfg.psk_file = psk_path;
	assert_null(vs_nbd_tls_create(&cfg));
	assert_non_null(strstr(vs_last_error(), ":1: not \"identity:hexkey\""));
	unlink(psk_path);
	write_psk("# nothing\n");
	assert_null(vs_nbd_tls_create(&cfg));
	assert_non_null(strstr(vs_last_error(), "no keys"));
	unlink(psk_path);
	cfg.psk_file = NULL;
	cfg.cert_file = "/nonexistent/cert.pem";
	assert_null(vs_nbd_tls_create(&cfg));
	assert_non_null(strstr(vs_last_error(), "cert and key go together"));
	cfg.key_file = "/nonexistent/key.pem";
	assert_null(vs_nbd_tls_create(&cfg));
	assert_non_null(strstr(vs_last_error(), "tls.cert: /nonexistent/cert.pem"));
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);       /* as vstord: a TLS peer may close first */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_acl_parse),
		cmocka_unit_test(test_acl_match),
		cmocka_unit_test(test_tls_psk_handshake),
		cmocka_unit_test(test_tls_config_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
