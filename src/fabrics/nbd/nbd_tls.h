/* SPDX-License-Identifier: MIT */
/*
 * TLS for NBD (proto.md "TLS support") with OpenSSL: a server context with
 * an X.509 certificate and/or pre-shared keys, and non-blocking sessions
 * on a connection's socket.  TLS 1.2 at least, as the document requires.
 */
#ifndef VSTOR_NBD_TLS_H
#define VSTOR_NBD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "vstor/nbd.h"

struct nbd_tls;
struct nbd_tls_session;

#define NBD_TLS_IDENTITY_MAX 128
/* what a session waits for (epoll's values, as vstor/loop.h's VS_LOOP_IN/OUT) */
#define NBD_TLS_WANT_READ  0x001u
#define NBD_TLS_WANT_WRITE 0x004u

/* NULL with vs_set_error() naming the file or setting that is wrong. */
struct nbd_tls *vs_nbd_tls_create(const struct vs_nbd_tls_config *cfg);
void vs_nbd_tls_destroy(struct nbd_tls *t);

struct nbd_tls_session *vs_nbd_tls_session_new(struct nbd_tls *t, int fd);
void vs_nbd_tls_session_free(struct nbd_tls_session *s);

/*
 * The results below: > 0 bytes moved; 0 end of stream (read); -EAGAIN with
 * *want the event (NBD_TLS_WANT_READ / _WRITE) to wait for; -EIO / -EPROTO
 * on failure.
 */
int vs_nbd_tls_handshake(struct nbd_tls_session *s, uint32_t *want);
ssize_t vs_nbd_tls_read(struct nbd_tls_session *s, void *buf, size_t len, uint32_t *want);
ssize_t vs_nbd_tls_writev(struct nbd_tls_session *s, const struct iovec *iov, int n, uint32_t *want);
/* Why the last call failed (OpenSSL's reason), for the log. */
const char *vs_nbd_tls_why(const struct nbd_tls_session *s);
/* Decrypted bytes wait inside the session (epoll will not say so). */
bool vs_nbd_tls_pending(const struct nbd_tls_session *s);
/* Send close_notify (best effort, never blocks). */
void vs_nbd_tls_shutdown(struct nbd_tls_session *s);
/* After the handshake: the PSK identity, or the verified client
 * certificate's subject CN; "" if neither. */
const char *vs_nbd_tls_identity(const struct nbd_tls_session *s);

#endif
