/* SPDX-License-Identifier: MIT */
/* TLS for NBD with OpenSSL: see nbd_tls.h. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "nbd_tls.h"
#include "vstor/miniport.h"

#define PSK_MAX_KEY 64          /* bytes; psktool makes 32 */
#define PSK_MAX_ENTRIES 1024

struct nbd_psk {
	char identity[NBD_TLS_IDENTITY_MAX];
	uint8_t key[PSK_MAX_KEY];
	unsigned keylen;
};

struct nbd_tls {
	SSL_CTX *ctx;
	struct nbd_psk *psk;
	size_t npsk;
};

struct nbd_tls_session {
	SSL *ssl;
	char identity[NBD_TLS_IDENTITY_MAX];
	char why[128];          /* the last failure, for the log */
};

static int ssl_index = -1;      /* SSL ex_data slot: the session */
static int ctx_index = -1;      /* SSL_CTX ex_data slot: the nbd_tls */

static int hexval(int c)
{
	return isdigit(c) ? c - '0' : tolower(c) - 'a' + 10;
}

/* "identity:hexkey" lines; '#' comments and blank lines skipped. */
static int load_psk(struct nbd_tls *t, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[512];
	unsigned lineno = 0;

	if (!f) {
		vs_set_error("tls.psk_file: %s: %s", path, strerror(errno));
		return -EINVAL;
	}
	t->psk = calloc(PSK_MAX_ENTRIES, sizeof(*t->psk));
	if (!t->psk) {
		fclose(f);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		char *colon, *hex;
		size_t hl;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0] || line[0] == '#')
			continue;
		colon = strchr(line, ':');
		hex = colon ? colon + 1 : NULL;
		hl = hex ? strlen(hex) : 0;
		if (!colon || colon == line || (size_t)(colon - line) >= NBD_TLS_IDENTITY_MAX ||
		    hl == 0 || hl % 2 || hl / 2 > PSK_MAX_KEY || t->npsk == PSK_MAX_ENTRIES ||
		    strspn(hex, "0123456789abcdefABCDEF") != hl) {
			vs_set_error("tls.psk_file: %s:%u: not \"identity:hexkey\"", path, lineno);
			fclose(f);
			return -EINVAL;
		}
		struct nbd_psk *p = &t->psk[t->npsk++];
		memcpy(p->identity, line, (size_t)(colon - line));
		p->keylen = (unsigned)(hl / 2);
		for (size_t i = 0; i < p->keylen; i++)
			p->key[i] = (uint8_t)(hexval(hex[2 * i]) << 4 | hexval(hex[2 * i + 1]));
	}
	fclose(f);
	if (!t->npsk) {
		vs_set_error("tls.psk_file: %s: no keys", path);
		return -EINVAL;
	}
	return 0;
}

/* OpenSSL's server PSK callback (TLS 1.2, and TLS 1.3 through its
 * compatibility path): find the identity, hand over its key. */
static unsigned int psk_cb(SSL *ssl, const char *identity, unsigned char *psk,
                           unsigned int max_len)
{
	struct nbd_tls *t = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_index);
	struct nbd_tls_session *s = SSL_get_ex_data(ssl, ssl_index);

	if (!t || !identity)
		return 0;
	for (size_t i = 0; i < t->npsk; i++) {
		if (strcmp(t->psk[i].identity, identity) || t->psk[i].keylen > max_len)
			continue;
		memcpy(psk, t->psk[i].key, t->psk[i].keylen);
		if (s)
			snprintf(s->identity, sizeof(s->identity), "%s", identity);
		return t->psk[i].keylen;
	}
	return 0;
}

/* TLS 1.3 external PSK (RFC 8446 4.2.11): a session whose master key is
 * the PSK, with a SHA-256 suite as RFC 8446 says an external PSK without
 * a hash of its own uses.  (OpenSSL's TLS 1.2 callback above covers 1.3
 * too, but not once a certificate is configured as well.) */
static int psk_find_cb(SSL *ssl, const unsigned char *identity, size_t len, SSL_SESSION **sess)
{
	static const unsigned char aes128gcm_sha256[2] = { 0x13, 0x01 };
	struct nbd_tls *t = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), ctx_index);
	struct nbd_tls_session *s = SSL_get_ex_data(ssl, ssl_index);
	const SSL_CIPHER *cipher = SSL_CIPHER_find(ssl, aes128gcm_sha256);

	*sess = NULL;
	if (!t || !cipher)
		return 1;       /* no such PSK: go on without one */
	for (size_t i = 0; i < t->npsk; i++) {
		SSL_SESSION *x;

		if (strlen(t->psk[i].identity) != len || memcmp(t->psk[i].identity, identity, len))
			continue;
		x = SSL_SESSION_new();
		if (!x || !SSL_SESSION_set1_master_key(x, t->psk[i].key, t->psk[i].keylen) ||
		    !SSL_SESSION_set_cipher(x, cipher) ||
		    !SSL_SESSION_set_protocol_version(x, TLS1_3_VERSION)) {
			SSL_SESSION_free(x);
			return 0;
		}
		if (s)
			snprintf(s->identity, sizeof(s->identity), "%s", t->psk[i].identity);
		*sess = x;
		return 1;
	}
	return 1;
}

static const char *ssl_reason(void)
{
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;

	ERR_clear_error();
	return r ? r : "unknown error";
}

static int setup_certs(struct nbd_tls *t, const struct vs_nbd_tls_config *cfg)
{
	if (!cfg->cert_file != !cfg->key_file) {
		vs_set_error("tls: cert and key go together");
		return -EINVAL;
	}
	if (cfg->cert_file) {
		if (SSL_CTX_use_certificate_chain_file(t->ctx, cfg->cert_file) != 1) {
			vs_set_error("tls.cert: %s: %s", cfg->cert_file, ssl_reason());
			return -EINVAL;
		}
		if (SSL_CTX_use_PrivateKey_file(t->ctx, cfg->key_file, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_check_private_key(t->ctx) != 1) {
			vs_set_error("tls.key: %s: %s", cfg->key_file, ssl_reason());
			return -EINVAL;
		}
	}
	if (cfg->ca_file) {
		if (SSL_CTX_load_verify_locations(t->ctx, cfg->ca_file, NULL) != 1) {
			vs_set_error("tls.ca: %s: %s", cfg->ca_file, ssl_reason());
			return -EINVAL;
		}
		/* a certificate client must present one that chains to the CA;
		 * PSK handshakes carry no certificate and are not asked */
		SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
	}
	return 0;
}

struct nbd_tls *vs_nbd_tls_create(const struct vs_nbd_tls_config *cfg)
{
	struct nbd_tls *t;

	if (!cfg->cert_file && !cfg->psk_file) {
		vs_set_error("tls: needs a cert and key, or a psk_file");
		return NULL;
	}
	if (ssl_index < 0)
		ssl_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	if (ctx_index < 0)
		ctx_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL, NULL);
	t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->ctx = SSL_CTX_new(TLS_server_method());
	if (!t->ctx) {
		vs_set_error("tls: %s", ssl_reason());
		free(t);
		return NULL;
	}
	SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
	SSL_CTX_set_mode(t->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_ex_data(t->ctx, ctx_index, t);
	/* a PSK handshake is a resumption to OpenSSL, which wants a context
	 * for it once client certificates are verified */
	SSL_CTX_set_session_id_context(t->ctx, (const unsigned char *)"vstor-nbd", 9);
	if (setup_certs(t, cfg) < 0)
		goto fail;
	if (cfg->psk_file) {
		if (load_psk(t, cfg->psk_file) < 0)
			goto fail;
		SSL_CTX_set_psk_server_callback(t->ctx, psk_cb);
		SSL_CTX_set_psk_find_session_callback(t->ctx, psk_find_cb);
		/* A PSK is bound to SHA-256 (RFC 8446 4.2.11): pick a SHA-256
		 * suite ourselves, or a client that lists AES-256-GCM-SHA384
		 * first would talk us out of its PSK and into certificates. */
		SSL_CTX_set_options(t->ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
		if (SSL_CTX_set_ciphersuites(t->ctx, "TLS_AES_128_GCM_SHA256:"
		                             "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_256_GCM_SHA384") != 1) {
			vs_set_error("tls: %s", ssl_reason());
			goto fail;
		}
		/* TLS 1.2 needs PSK cipher suites offered; with a certificate
		 * the usual ones stay too */
		if (SSL_CTX_set_cipher_list(t->ctx, cfg->cert_file ? "DEFAULT:PSK" : "PSK") != 1) {
			vs_set_error("tls: %s", ssl_reason());
			goto fail;
		}
	}
	return t;
fail:
	vs_nbd_tls_destroy(t);
	return NULL;
}

void vs_nbd_tls_destroy(struct nbd_tls *t)
{
	if (!t)
		return;
	SSL_CTX_free(t->ctx);
	if (t->psk)
		memset(t->psk, 0, PSK_MAX_ENTRIES * sizeof(*t->psk));
	free(t->psk);
	free(t);
}

struct nbd_tls_session *vs_nbd_tls_session_new(struct nbd_tls *t, int fd)
{
	struct nbd_tls_session *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->ssl = SSL_new(t->ctx);
	if (!s->ssl || SSL_set_fd(s->ssl, fd) != 1) {
		SSL_free(s->ssl);
		free(s);
		return NULL;
	}
	SSL_set_ex_data(s->ssl, ssl_index, s);
	SSL_set_accept_state(s->ssl);
	return s;
}

void vs_nbd_tls_session_free(struct nbd_tls_session *s)
{
	if (!s)
		return;
	SSL_free(s->ssl);
	free(s);
}

/* Map an OpenSSL result to ours. */
static int result(struct nbd_tls_session *s, int rc, uint32_t *want)
{
	switch (SSL_get_error(s->ssl, rc)) {
	case SSL_ERROR_WANT_READ:
		*want = NBD_TLS_WANT_READ;
		return -EAGAIN;
	case SSL_ERROR_WANT_WRITE:
		*want = NBD_TLS_WANT_WRITE;
		return -EAGAIN;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default: {
		unsigned long e = ERR_peek_last_error();
		const char *r = e ? ERR_reason_error_string(e) : NULL;

		snprintf(s->why, sizeof(s->why), "%s", r ? r : "connection closed");
		ERR_clear_error();
		return -EPROTO;
	}
	}
}

const char *vs_nbd_tls_why(const struct nbd_tls_session *s)
{
	return s && s->why[0] ? s->why : "unknown";
}

static void cert_identity(struct nbd_tls_session *s)
{
	X509 *peer;

	if (s->identity[0])
		return;         /* PSK */
	peer = SSL_get1_peer_certificate(s->ssl);
	if (!peer)
		return;
	if (SSL_get_verify_result(s->ssl) == X509_V_OK)
		X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, s->identity,
		                          sizeof(s->identity));
	X509_free(peer);
}

int vs_nbd_tls_handshake(struct nbd_tls_session *s, uint32_t *want)
{
	int rc = SSL_do_handshake(s->ssl);

	if (rc == 1) {
		cert_identity(s);
		return 1;
	}
	rc = result(s, rc, want);
	return rc == 0 ? -EPROTO : rc;
}

ssize_t vs_nbd_tls_read(struct nbd_tls_session *s, void *buf, size_t len, uint32_t *want)
{
	size_t got = 0;
	int rc = SSL_read_ex(s->ssl, buf, len, &got);

	return rc == 1 ? (ssize_t)got : result(s, 0, want);
}

ssize_t vs_nbd_tls_writev(struct nbd_tls_session *s, const struct iovec *iov, int n, uint32_t *want)
{
	size_t total = 0;

	for (int i = 0; i < n; i++) {
		size_t done = 0;

		if (!iov[i].iov_len)
			continue;
		if (SSL_write_ex(s->ssl, iov[i].iov_base, iov[i].iov_len, &done) != 1) {
			int rc = result(s, 0, want);

			if (total)
				return (ssize_t)total;
			return rc == 0 ? -EPIPE : rc;
		}
		total += done;
		if (done < iov[i].iov_len)
			break;
	}
	return (ssize_t)total;
}

bool vs_nbd_tls_pending(const struct nbd_tls_session *s)
{
	return s && SSL_pending(s->ssl) > 0;
}

void vs_nbd_tls_shutdown(struct nbd_tls_session *s)
{
	if (s && SSL_is_init_finished(s->ssl))
		(void)SSL_shutdown(s->ssl);
	ERR_clear_error();
}

const char *vs_nbd_tls_identity(const struct nbd_tls_session *s)
{
	return s ? s->identity : "";
}
