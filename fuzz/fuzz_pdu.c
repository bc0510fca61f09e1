/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the iSCSI PDU helpers (BHS validation, LUN encoding,
 * AHS parsing, CRC32C) and the text key parser / value decoders.  Besides
 * "no crash, no leak", it checks properties: the SSE4.2 and table CRC paths
 * agree, an iovec CRC with padding equals the contiguous CRC, and a LUN that
 * decodes re-encodes to the same BHS field.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fabrics/iscsi/keys.h"
#include "fabrics/iscsi/pdu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct iscsi_bhs h;
	struct iscsi_ahs_info ai;
	struct iscsi_kvlist kv;
	const uint8_t *rest;
	size_t rlen;
	uint64_t lun;

	memset(&h, 0, sizeof(h));
	memcpy(h.b, data, size < ISCSI_BHS_LEN ? size : ISCSI_BHS_LEN);
	rest = size > ISCSI_BHS_LEN ? data + ISCSI_BHS_LEN : NULL;
	rlen = size > ISCSI_BHS_LEN ? size - ISCSI_BHS_LEN : 0;

	(void)vs_iscsi_bhs_validate(&h, 8192, false);
	(void)vs_iscsi_bhs_validate(&h, 8192, true);
	(void)vs_iscsi_bhs_validate(&h, iscsi_get_be32(h.b + 40) & 0xffffff, true);

	lun = vs_iscsi_lun_to_scsi(bhs_lun(&h));
	if (lun != ISCSI_LUN_INVALID && vs_iscsi_lun_to_scsi(vs_iscsi_scsi_to_lun(lun)) != lun)
		abort();

	if (rlen) {
		(void)vs_iscsi_ahs_parse(rest, rlen, &ai);
		if (vs_iscsi_ahs_parse(rest, rlen & ~(size_t)3, &ai) == 0 && ai.ext_cdb &&
		    (ai.ext_cdb < rest || ai.ext_cdb + ai.ext_cdb_len > rest + rlen))
			abort();
	}

	/* CRC: both paths, and split into an iovec plus padding. */
	{
		uint32_t pad = h.b[0] & 3;
		size_t cut = rlen ? h.b[1] % (rlen + 1) : 0;
		struct iovec iov[2] = { { (void *)rest, cut }, { (void *)(rest ? rest + cut : NULL), rlen - cut } };
		uint8_t *padded = malloc(rlen + 4);
		uint32_t a = vs_crc32c(0, rest, rlen);

		if (!padded)
			return 0;
		if (a != vs_crc32c_sw(0, rest, rlen))
			abort();
		if (rlen)
			memcpy(padded, rest, rlen);
		memset(padded + rlen, 0, 4);
		if (vs_crc32c_iov(iov, 2, rlen, pad) != vs_crc32c(0, padded, rlen + pad))
			abort();
		free(padded);
	}

	/* Text parsing and value decoding. */
	if (vs_iscsi_kv_parse(rest, rlen, &kv, NULL) == 0) {
		for (size_t i = 0; i < kv.n; i++) {
			uint8_t bin[ISCSI_LARGE_VALUE_MAX];
			size_t blen;
			uint64_t v;
			bool b;

			if (!kv.kv[i].key[0] || strlen(kv.kv[i].key) > ISCSI_KEY_NAME_MAX)
				abort();
			(void)vs_iscsi_parse_number(kv.kv[i].value, &v);
			(void)vs_iscsi_parse_bool(kv.kv[i].value, &b);
			(void)vs_iscsi_list_contains(kv.kv[i].value, kv.kv[i].key);
			if (vs_iscsi_decode_binary(kv.kv[i].value, bin, sizeof(bin), &blen) == 0 && blen > sizeof(bin))
				abort();
		}
		vs_iscsi_kv_free(&kv);
	}
	return 0;
}
