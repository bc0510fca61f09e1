/*
 * CRC32C data digests for iscsi-load (--data-digest; RFC 7143 §13.1).
 *
 * libiscsi 1.19 offers DataDigest=None and nothing else, so the load
 * generator does the data digests itself, under libiscsi, on the bytes of
 * the session sockets (the interposed calls of sockbuf.c come here for their
 * real reads and writes):
 *  - the Login Request that says DataDigest=None is sent saying
 *    DataDigest=CRC32C (its data segment length and padding fixed up);
 *  - the received byte stream is followed PDU by PDU (basic header
 *    segment, AHS and header digest, data segment and padding); once the
 *    login is over and the target agreed (DataDigest=CRC32C in its final
 *    Login Response), the 4-byte digest after each data segment is checked
 *    against the CRC32C of the segment and taken out before libiscsi sees
 *    the bytes (a mismatch is counted: ddigest_errors()).
 * Only reads: the initiator would have to add digests to the data it
 * sends, so options.c refuses --data-digest with writes and --fill.
 */
#ifndef ISCSI_LOAD_DDIGEST_H
#define ISCSI_LOAD_DDIGEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Turn the digests on for every connection made from now on (before the
 * first login); header_digest: HeaderDigest=CRC32C was asked for too. */
void ddigest_enable(bool header_digest);
bool ddigest_enabled(void);
/* The kernel's readv / sendmsg for fd, with the digests put in or taken
 * out as above (plain calls while ddigest is not enabled). */
ssize_t ddigest_recv(int fd, const struct iovec *iov, int n);
ssize_t ddigest_send(int fd, const struct iovec *iov, int n);
/* Data digests that did not match what was received, over all sessions. */
uint64_t ddigest_errors(void);
/* Data segments whose digest was checked. */
uint64_t ddigest_checked(void);

#endif
