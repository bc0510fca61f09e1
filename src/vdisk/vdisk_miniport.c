/* SPDX-License-Identifier: MIT */
/*
 * The vdisk miniport table and its lifecycle callbacks: adapter discovery,
 * LUN attach/detach, lun_control, resets and adapter control.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pr.h"
#include "vdisk_int.h"

/* ---- identity ---- */

/* FNV-1a, 64 bit: stable, dependency-free; not a security hash (it only
 * has to turn a name into a well-spread, reproducible identifier). */
static uint64_t fnv1a64(const char *s, uint64_t h)
{
	for (; *s; s++) {
		h ^= (uint8_t)*s;
		h *= 0x100000001b3ull;
	}
	return h;
}

/*
 * NAA IEEE Registered Extended designator (SPC-4 7.8.6.6.5): NAA=6h, a
 * 24-bit company ID, a 36-bit VENDOR SPECIFIC IDENTIFIER and a 64-bit
 * extension, the last two from two FNV hashes of the seed.
 */
static void make_naa(uint8_t naa[16], const char *seed)
{
	uint64_t h1 = fnv1a64(seed, 0xcbf29ce484222325ull);
	uint64_t h2 = fnv1a64(seed, 0x84222325cbf29ce4ull);
	uint64_t vsid = h1 & 0xfffffffffull;

	naa[0] = (uint8_t)(0x60 | ((VDISK_NAA_OUI >> 20) & 0x0f));
	naa[1] = (uint8_t)(VDISK_NAA_OUI >> 12);
	naa[2] = (uint8_t)(VDISK_NAA_OUI >> 4);
	naa[3] = (uint8_t)(((VDISK_NAA_OUI & 0x0f) << 4) | (vsid >> 32));
	vd_put32(&naa[4], (uint32_t)vsid);
	vd_put64(&naa[8], h2);
}

/* SPC-4 4.4.1: ASCII data fields hold 20h..7Eh only. */
static int copy_ascii(char *dst, size_t cap, const char *src, const char *dflt, const char *what)
{
	const char *s = src ? src : dflt;
	size_t n = strlen(s);

	if (n == 0 || n >= cap) {
		vs_set_error("%s: must be 1..%zu characters", what, cap - 1);
		return -EINVAL;
	}
	for (size_t i = 0; i < n; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) {
			vs_set_error("%s: only printable ASCII is allowed", what);
			return -EINVAL;
		}
	}
	memcpy(dst, s, n + 1);
	return 0;
}

/* ---- adapter ---- */

static int vdisk_find_adapter(void *adapter_ext, struct vs_port *port, const void *adapter_config,
                              struct vs_adapter_caps *caps)
{
	struct vdisk_adapter *ad = adapter_ext;
	const struct vs_vdisk_adapter_config *cfg = adapter_config;

	memset(ad, 0, sizeof(*ad));
	ad->port = port;
	if (cfg) {
		if (cfg->target_name && strlen(cfg->target_name) >= sizeof(ad->target_name)) {
			vs_set_error("target_name: longer than %zu bytes", sizeof(ad->target_name) - 1);
			return -EINVAL;
		}
		if (cfg->target_name)
			strcpy(ad->target_name, cfg->target_name);
		ad->rel_target_port_id = cfg->rel_target_port_id;
		ad->detach_timeout_ms = cfg->detach_timeout_ms;
		ad->transport_version = cfg->transport_version;
	}
	pthread_mutex_init(&ad->luns_lock, NULL);
	if (ad->detach_timeout_ms == 0)
		ad->detach_timeout_ms = VDISK_DETACH_TIMEOUT_MS;
	if (ad->rel_target_port_id == 0)
		ad->rel_target_port_id = 1;     /* SPC-4: 0 is reserved */
	caps->max_transfer_length = VDISK_MAX_XFER_BYTES;
	caps->max_luns = VDISK_MAX_LUNS;
	caps->default_queue_depth = VDISK_QUEUE_DEPTH;
	caps->max_sg_elements = 0;
	return 0;
}

static int vdisk_initialize(void *adapter_ext)
{
	(void)adapter_ext;
	return 0;
}

/* ---- LUNs ---- */

/* Everything lun_attach set up; only when nothing outstanding points here. */
static void lun_free(struct vdisk_lun *lun)
{
	vs_vdisk_pr_destroy(lun->pr);
	vs_bdev_close(lun->bdev);
	free(lun->buf);
	pthread_mutex_destroy(&lun->lock);
	pthread_mutex_destroy(&lun->mode_lock);
	free(lun);
}

/* Nothing of the LUN is in anyone's hands: no bio in the backend, no work
 * item queued, no copy job of another LUN using it, no job of its own. */
static bool lun_quiet(struct vdisk_lun *lun)
{
	bool quiet;

	if (atomic_load_explicit(&lun->outstanding, memory_order_acquire))
		return false;
	pthread_mutex_lock(&lun->lock);
	quiet = !lun->san.running && lun->xc_jobs == 0;
	pthread_mutex_unlock(&lun->lock);
	pthread_mutex_lock(&lun->ad->luns_lock);
	quiet = quiet && lun->xc_refs == 0;
	pthread_mutex_unlock(&lun->ad->luns_lock);
	return quiet;
}

static void vdisk_free_adapter(void *adapter_ext)
{
	struct vdisk_adapter *ad = adapter_ext;
	struct vdisk_lun *lun, *next, *keep = NULL;

	/* Orphans whose backend has given everything back can go now; one
	 * that still holds requests is left allocated (a late completion must
	 * find live memory, SAM-5 "every command completes exactly once"
	 * includes the backend's view of it). */
	for (lun = ad->orphans; lun; lun = next) {
		next = lun->next;
		if (lun_quiet(lun)) {
			lun_free(lun);
		} else {
			lun->next = keep;
			keep = lun;
		}
	}
	ad->orphans = keep;
	if (!keep)
		pthread_mutex_destroy(&ad->luns_lock);
}

static int lun_setup(struct vdisk_adapter *ad, struct vs_port_lun *plun, struct vdisk_lun *lun,
                     const struct vs_vdisk_lun_config *cfg)
{
	uint64_t size, lun_no = plun ? vs_port_lun_number(plun) : 0;
	char seed[512];
	int rc;

	/* SBC-3 logical block sizes this disk emulation implements; 0 is not a
	 * block size (the config layer supplies its default, 512, itself) */
	lun->block_size = cfg->block_size;
	if (lun->block_size != 512 && lun->block_size != 4096) {
		vs_set_error("block_size: %u is not supported (512 or 4096)", cfg->block_size);
		return -EINVAL;
	}
	lun->block_shift = lun->block_size == 512 ? 9 : 12;
	if (cfg->physical_block_size) {
		uint32_t pbs = cfg->physical_block_size;

		if (pbs < lun->block_size || (pbs & (pbs - 1)) || pbs > (lun->block_size << 15)) {
			vs_set_error("physical_block_size: %u is not a power-of-two multiple of "
			             "block_size %u", pbs, lun->block_size);
			return -EINVAL;
		}
		while ((lun->block_size << lun->phys_shift) < pbs)
			lun->phys_shift++;
	}
	lun->removable = cfg->removable;
	lun->ad = ad;
	lun->plun = plun;
	lun->bdev = cfg->bdev;
	memset(&lun->caps, 0, sizeof(lun->caps));      /* fields an older backend does not know */
	vs_bdev_get_caps(cfg->bdev, &lun->caps);
	/* Every bio is whole logical blocks at block-aligned offsets, so a
	 * backend that needs bigger units (O_DIRECT on a 4Kn device) would
	 * fail every I/O with EINVAL: refuse now, saying why. */
	if (lun->caps.logical_block_size > lun->block_size) {
		vs_set_error("block_size: %u is smaller than backend %s can do I/O in (%u bytes, e.g. "
		             "O_DIRECT on a %u-byte-sector device); use block_size %u",
		             lun->block_size, vs_bdev_name(cfg->bdev), lun->caps.logical_block_size,
		             lun->caps.logical_block_size,
		             lun->caps.logical_block_size <= 4096 ? 4096 : lun->caps.logical_block_size);
		return -EINVAL;
	}
	size = vs_bdev_get_size(cfg->bdev);
	if (size < lun->block_size) {
		vs_set_error("size: %" PRIu64 " bytes is less than one %u-byte block", size,
		             lun->block_size);
		return -EINVAL;
	}
	atomic_store(&lun->nblocks, size >> lun->block_shift);
	lun->readonly = cfg->readonly || !lun->caps.can_write;
	lun->on_event = cfg->on_event;
	lun->event_ctx = cfg->event_ctx;

	if ((rc = copy_ascii(lun->vendor, sizeof(lun->vendor), cfg->vendor, "VSTOR", "vendor")) ||
	    (rc = copy_ascii(lun->product, sizeof(lun->product), cfg->product, "VDISK", "product")))
		return rc;
	strcpy(lun->revision, "0001");
	if (cfg->serial) {
		if ((rc = copy_ascii(lun->serial, sizeof(lun->serial), cfg->serial, NULL, "serial")))
			return rc;
	} else {
		/* derived from target + LUN: stable across restarts */
		snprintf(seed, sizeof(seed), "%s:%" PRIu64, ad->target_name, lun_no);
		snprintf(lun->serial, sizeof(lun->serial), "%016" PRIx64,
		         fnv1a64(seed, 0xcbf29ce484222325ull));
	}
	if (cfg->device_id)
		snprintf(seed, sizeof(seed), "%s", cfg->device_id);
	else
		snprintf(seed, sizeof(seed), "%s:%" PRIu64 ":%s", ad->target_name, lun_no, lun->serial);
	make_naa(lun->naa, seed);

	lun->buf = aligned_alloc(4096, VDISK_ENGINE_BUF_BYTES);
	if (!lun->buf) {
		vs_set_error("vdisk: out of memory for the LUN buffer");
		return -ENOMEM;
	}
	lun->pr = vs_vdisk_pr_create(plun, cfg->pr_state_path);
	if (!lun->pr) {
		free(lun->buf);
		return -EINVAL;         /* pr set the error message */
	}
	pthread_mutex_init(&lun->lock, NULL);
	pthread_mutex_init(&lun->mode_lock, NULL);
	vs_vdisk_mode_init(lun);
	vs_vdisk_sanitize_init(lun);
	vs_vdisk_xcopy_init(lun);
	return 0;
}

static int vdisk_lun_attach(void *adapter_ext, struct vs_port_lun *plun, void *lun_ext,
                            const void *lun_config)
{
	struct vdisk_adapter *ad = adapter_ext;
	struct vdisk_lun *lun;
	const struct vs_vdisk_lun_config *cfg = lun_config;
	int rc;

	if (!cfg || !cfg->bdev) {
		vs_set_error("bdev: a LUN needs a block device");
		return -EINVAL;
	}
	lun = calloc(1, sizeof(*lun));
	if (!lun) {
		vs_set_error("vdisk: out of memory for the LUN");
		return -ENOMEM;
	}
	rc = lun_setup(ad, plun, lun, cfg);
	if (rc) {
		free(lun);
		return rc;
	}
	pthread_mutex_lock(&ad->luns_lock);
	/* SPC-4 7.8.6.6: an NAA designator names one logical unit; two LUNs
	 * of this target with the same one (the same device_id seed) would
	 * look like one LU on two paths to a multipath initiator. */
	for (struct vdisk_lun *o = ad->luns; o; o = o->next) {
		if (memcmp(o->naa, lun->naa, sizeof(lun->naa)) != 0)
			continue;
		pthread_mutex_unlock(&ad->luns_lock);
		vs_set_error("device_id: LUN %" PRIu64 " would have the same NAA identifier as LUN %"
		             PRIu64 " (device_id \"%s\"); logical unit names must be unique",
		             plun ? vs_port_lun_number(plun) : 0,
		             o->plun ? vs_port_lun_number(o->plun) : 0,
		             cfg->device_id ? cfg->device_id : "(default)");
		lun->bdev = NULL;               /* still the caller's */
		lun_free(lun);
		return -EEXIST;
	}
	*(struct vdisk_lun **)lun_ext = lun;
	lun->next = ad->luns;
	ad->luns = lun;
	pthread_mutex_unlock(&ad->luns_lock);
	vs_vdisk_resource_attach(lun);
	return 0;
}

/*
 * A LUN leaves.  The port has given every SRB of it back to its submitter,
 * but a backend that stopped answering may still hold bios pointing into
 * the LUN (SRB extensions, the engine buffer), and a background job may
 * still be waiting for one.  Everything here is bounded by one deadline
 * (detach_timeout_ms): stop the jobs, flush the cache (what was acknowledged
 * must reach stable storage, SBC-3 5.22), wait until nothing is
 * outstanding.  If the backend has not given everything back by then the
 * LUN is kept as an orphan rather than freed under the backend's feet.
 */
static int vdisk_lun_detach_checked(void *adapter_ext, void *lun_ext)
{
	struct vdisk_adapter *ad = adapter_ext;
	struct vdisk_lun *lun = vdisk_lun_of(lun_ext), **pp;
	uint64_t deadline = vs_vdisk_now_ms() + ad->detach_timeout_ms;
	int rc = 0;
	bool stopped;

	pthread_mutex_lock(&ad->luns_lock);
	for (pp = &ad->luns; *pp; pp = &(*pp)->next) {
		if (*pp == lun) {
			*pp = lun->next;
			break;
		}
	}
	pthread_mutex_unlock(&ad->luns_lock);

	/* no more events; worker jobs waiting for a bio of this LUN give up */
	vs_vdisk_resource_detach(lun);
	atomic_store(&lun->draining, true);
	stopped = vs_vdisk_sanitize_stop(lun, deadline);   /* no SRB is left, but the job may be */
	stopped = vs_vdisk_xcopy_stop(lun, deadline) && stopped; /* and copy jobs using it */
	/* what is left of the detach bound (at least a moment: a flush that
	 * answers at once still counts) */
	if (!lun->readonly)
		rc = vs_vdisk_flush_until(lun, deadline > vs_vdisk_now_ms() ? deadline : vs_vdisk_now_ms() + 1,
		                       ad->detach_timeout_ms);
	if (stopped && vs_vdisk_poll_until(lun, lun_quiet, deadline)) {
		lun_free(lun);
		return rc;
	}
	/* Keep it: the backend may still complete into it. */
	if (rc == 0) {
		vs_set_error("backend %s still holds %u request%s after %u ms; the LUN's memory is "
		             "kept until they return", vs_bdev_name(lun->bdev),
		             atomic_load(&lun->outstanding),
		             atomic_load(&lun->outstanding) == 1 ? "" : "s", ad->detach_timeout_ms);
		rc = -EBUSY;
	}
	pthread_mutex_lock(&ad->luns_lock);
	lun->next = ad->orphans;
	ad->orphans = lun;
	pthread_mutex_unlock(&ad->luns_lock);
	return rc;
}

static void vdisk_lun_detach(void *adapter_ext, void *lun_ext)
{
	(void)vdisk_lun_detach_checked(adapter_ext, lun_ext);
}

static int vdisk_resize(struct vdisk_lun *lun, uint64_t new_size)
{
	int rc;

	if (!lun->caps.can_resize) {
		vs_set_error("resize: backend %s cannot change size", vs_bdev_name(lun->bdev));
		return -EOPNOTSUPP;
	}
	if (new_size < lun->block_size) {
		vs_set_error("size: %" PRIu64 " bytes is less than one block", new_size);
		return -EINVAL;
	}
	rc = vs_bdev_resize(lun->bdev, new_size);
	if (rc < 0) {
		const char *e = vs_last_error();

		if (!e || !*e)
			vs_set_error("resize: backend failed (%d)", rc);
		return rc;
	}
	atomic_store_explicit(&lun->nblocks, vs_bdev_get_size(lun->bdev) >> lun->block_shift,
	                      memory_order_release);
	/* SBC-3 4.6: CAPACITY DATA HAS CHANGED for every I_T nexus */
	if (lun->plun)
		vs_port_lun_unit_attention(lun->plun, ASC_CAPACITY_DATA_HAS_CHANGED, NULL);
	return 0;
}

/* VS_LUN_FIRST_MAPPED: walk the backend's block status (ram: its page
 * bitmap, file: SEEK_DATA/SEEK_HOLE) from q->from_lba to the end. */
static int first_mapped(struct vdisk_lun *lun, struct vs_lun_mapped *q)
{
	uint64_t size = vdisk_capacity(lun) << lun->block_shift;
	uint64_t off = q->from_lba << lun->block_shift;

	q->found = false;
	if (q->from_lba >= vdisk_capacity(lun))
		return 0;
	if (!vs_bdev_has_block_status(lun->bdev)) {
		/* cannot tell: assume data is there */
		q->found = true;
		q->lba = q->from_lba;
		return 0;
	}
	while (off < size) {
		bool mapped = true;
		uint64_t ext = 0;
		int rc = vs_bdev_block_status(lun->bdev, off, size - off, &mapped, &ext);

		if (rc < 0)
			return rc;
		if (mapped || ext == 0) {
			q->found = true;
			q->lba = off >> lun->block_shift;
			return 0;
		}
		off += ext;
	}
	return 0;
}

static int vdisk_lun_control(void *adapter_ext, void *lun_ext, enum vs_lun_control_type type,
                             void *arg)
{
	struct vdisk_lun *lun = vdisk_lun_of(lun_ext);
	struct vdisk_adapter *ad = adapter_ext;

	switch (type) {
	case VS_LUN_RESIZE:
		if (!arg) {
			vs_set_error("resize: missing size");
			return -EINVAL;
		}
		return vdisk_resize(lun, *(const uint64_t *)arg);
	case VS_LUN_FLUSH:
		return vs_vdisk_flush_wait(lun, ad->detach_timeout_ms);
	case VS_LUN_QUERY: {
		struct vs_lun_info *info = arg;

		if (!info) {
			vs_set_error("query: missing info");
			return -EINVAL;
		}
		memset(info, 0, sizeof(*info));
		info->size_bytes = vdisk_capacity(lun) << lun->block_shift;
		info->block_size = lun->block_size;
		info->readonly = lun->readonly;
		memcpy(info->backend, vs_bdev_backend_name(lun->bdev),
		       strnlen(vs_bdev_backend_name(lun->bdev), sizeof(info->backend) - 1));
		memcpy(info->serial, lun->serial, strnlen(lun->serial, sizeof(info->serial) - 1));
		return 0;
	}
	case VS_LUN_IN_USE:
		if (!arg) {
			vs_set_error("in_use: missing result");
			return -EINVAL;
		}
		*(bool *)arg = lun->pr && vs_vdisk_pr_in_use(lun->pr);
		return 0;
	case VS_LUN_FIRST_MAPPED:
		if (!arg) {
			vs_set_error("first_mapped: missing query");
			return -EINVAL;
		}
		return first_mapped(lun, arg);
	}
	vs_set_error("lun_control: unknown request %d", (int)type);
	return -EINVAL;
}

/*
 * ABORT TASK, or a timeout: give the SRB back promptly if anyone can.  A
 * command waiting for a sanitize is detached from it; one whose bio a
 * layer of the block stack still holds (queued by a throttle, waiting
 * for a remote server to come back) is asked back from the stack, and
 * completes through its normal path with -ECANCELED.  A bio already on
 * its way (in the kernel, on the wire) cannot be stopped: false.
 */
static bool vdisk_abort_srb(void *adapter_ext, void *lun_ext, struct vs_srb *srb)
{
	struct vdisk_lun *lun = vdisk_lun_of(lun_ext);

	(void)adapter_ext;
	if (!lun)
		return false;
	if (vs_vdisk_sanitize_abort(lun, srb))
		return true;
	return vs_bdev_cancel(lun->bdev, &vdisk_cmd_of(srb)->bio);
}

/* SPC-4 7.5.4 / SPC-2 5.5.3: a LU or target reset releases RESERVE(6/10)
 * reservations; persistent reservations survive.  Every layer of the block
 * stack gives back what it holds and has not sent on (SAM-5 5.6: a reset
 * aborts every task in scope). */
static int vdisk_reset(void *adapter_ext, void *lun_ext, enum vs_reset_kind kind)
{
	struct vdisk_adapter *ad = adapter_ext;
	struct vdisk_lun *lun = vdisk_lun_of(lun_ext);

	/* SBC-3 5.12: a reset also ends every PREVENT MEDIUM REMOVAL; a
	 * sanitize in progress goes on (SBC-4 4.11.2) */
	if (kind == VS_RESET_LUN && lun) {
		vs_vdisk_pr_reset(lun->pr);
		vs_vdisk_prevent_clear(lun);
		vs_bdev_reset(lun->bdev);
		return 0;
	}
	pthread_mutex_lock(&ad->luns_lock);
	for (lun = ad->luns; lun; lun = lun->next) {
		vs_vdisk_pr_reset(lun->pr);
		vs_vdisk_prevent_clear(lun);
		vs_bdev_reset(lun->bdev);
	}
	pthread_mutex_unlock(&ad->luns_lock);
	return 0;
}

/* I_T nexus loss (SAM-5): state the standard ties to the nexus goes. */
static void vdisk_nexus_lost(void *adapter_ext, const struct vs_nexus *nexus)
{
	struct vdisk_adapter *ad = adapter_ext;

	pthread_mutex_lock(&ad->luns_lock);
	for (struct vdisk_lun *lun = ad->luns; lun; lun = lun->next) {
		vs_vdisk_pr_nexus_loss(lun->pr, nexus);    /* RESERVE(6/10), SPC-4 5.13.3 */
		vs_vdisk_prevent_nexus_loss(lun, nexus);   /* PREVENT, SBC-3 5.12 */
		vs_vdisk_xcopy_nexus_loss(lun, nexus);     /* held copy status, SPC-4 6.18 */
	}
	pthread_mutex_unlock(&ad->luns_lock);
}

static int vdisk_adapter_control(void *adapter_ext, enum vs_adapter_control_type type, void *arg)
{
	struct vdisk_adapter *ad = adapter_ext;
	struct vdisk_lun *lun;
	int rc = 0;

	switch (type) {
	case VS_ADAPTER_QUERY_SUPPORTED: {
		bool *sup = arg;

		if (sup) {
			sup[VS_ADAPTER_QUERY_SUPPORTED] = true;
			sup[VS_ADAPTER_STOP] = true;
			sup[VS_ADAPTER_RESTART] = true;
		}
		return 0;
	}
	case VS_ADAPTER_STOP:
		/* quiesce: everything acknowledged reaches stable storage */
		pthread_mutex_lock(&ad->luns_lock);
		for (lun = ad->luns; lun; lun = lun->next) {
			int r = lun->readonly ? 0 : vs_vdisk_flush_wait(lun, ad->detach_timeout_ms);

			if (r < 0 && rc == 0) {
				char why[200];

				snprintf(why, sizeof(why), "%s", vs_last_error());
				vs_set_error("stop: LUN %" PRIu64 ": %s",
				             lun->plun ? vs_port_lun_number(lun->plun) : 0, why);
				rc = r;
			}
		}
		pthread_mutex_unlock(&ad->luns_lock);
		return rc;
	case VS_ADAPTER_RESTART:
		return 0;
	case VS_ADAPTER_CONTROL_MAX:
		break;
	}
	vs_set_error("adapter_control: unknown request %d", (int)type);
	return -EINVAL;
}

const struct vs_miniport vs_vdisk_miniport = {
	.name = "vdisk",
	.api_version = VS_MINIPORT_API_VERSION,
	.struct_size = sizeof(struct vs_miniport),
	.adapter_extension_size = sizeof(struct vdisk_adapter),
	.lun_extension_size = sizeof(struct vdisk_lun *),
	.srb_extension_size = sizeof(struct vdisk_cmd),
	.find_adapter = vdisk_find_adapter,
	.initialize = vdisk_initialize,
	.lun_attach = vdisk_lun_attach,
	.lun_detach = vdisk_lun_detach,
	.lun_control = vdisk_lun_control,
	.start_io = vs_vdisk_start_io,
	.abort_srb = vdisk_abort_srb,
	.reset = vdisk_reset,
	.adapter_control = vdisk_adapter_control,
	.free_adapter = vdisk_free_adapter,
	.nexus_lost = vdisk_nexus_lost,
	.lun_detach_checked = vdisk_lun_detach_checked,
	.data_out_length = vs_vdisk_data_out_length,
};
