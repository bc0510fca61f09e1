/* SPDX-License-Identifier: MIT */
/*
 * The subcommand table: each entry maps command-line options to the
 * request's params.  doc/vstorctl.8 describes the same commands; change
 * both together.
 */
#include "commands.h"
#include "ctl/config.h"

#define TARGET_OPT(req) { "target", "target", VSC_STR, req, "IQN", "the target's iSCSI name" }
#define LUN_OPT(req)    { "lun", "lun", VSC_NUM, req, "N", "LUN number (0-" VS_CONFIG_MAX_LUN_STR ")" }
#define FORCE_OPT(what) { "force", "force", VSC_FLAG, false, NULL, what }

const struct vsc_cmd vsc_commands[] = {
	{ "target", "add", "target.add", "add a target (served on its own portals or the daemon's)",
	  { { "iqn", "iqn", VSC_STR, false, "IQN", "the new target's iSCSI name (or give it as IQN)" },
	    { "alias", "alias", VSC_STR, false, "TEXT", "TargetAlias shown to initiators" },
	    { "portal", "portals", VSC_LIST, false, "ADDR:PORT",
	      "serve it here only, [V6ADDR]:PORT for IPv6; repeatable (default: the daemon's portals)" } },
	  "iqn", "IQN", vsc_print_fields },
	{ "target", "remove", "target.remove", "remove a target and all its LUNs",
	  { { "iqn", "iqn", VSC_STR, false, "IQN", "the target (or give it as IQN)" },
	    FORCE_OPT("also when sessions are logged in (they are dropped)") },
	  "iqn", "IQN", vsc_print_fields },
	{ "target", "list", "target.list", "list targets", { { 0 } }, NULL, NULL, vsc_print_targets },

	{ "lun", "add", "lun.add", "add a LUN; logged-in initiators see it at once",
	  { TARGET_OPT(true), LUN_OPT(true),
	    { "backend", "backend", VSC_STR, false, "NAME",
	      "what stores the data: ram, file, ... (see layer list); or --volume" },
	    { "size", "size", VSC_STR, false, "SIZE", "backend option size: bytes or 512M, 10G" },
	    { "path", "path", VSC_PATH, false, "PATH",
	      "backend option path (relative: to the current directory)" },
	    { "block-size", "block_size", VSC_NUM, false, "512|4096", "logical block size (default 512)" },
	    { "readonly", "readonly", VSC_FLAG, false, NULL, "write-protected LUN" },
	    { "serial", "serial", VSC_STR, false, "TEXT", "VPD unit serial number" },
	    { "create", "create", VSC_FLAG, false, NULL, "backend option create=1 (file: needs --size)" },
	    { "direct", "direct", VSC_FLAG, false, NULL, "backend option direct=1 (file: O_DIRECT)" },
	    { "removable", "removable", VSC_FLAG, false, NULL,
	      "removable medium (PREVENT ALLOW MEDIUM REMOVAL, eject/load)" },
	    { "physical-block-size", "physical_block_size", VSC_NUM, false, "N",
	      "physical block in bytes, a power-of-two multiple of the block size (e.g. 4096: 512e)" },
	    { "option", "options", VSC_KV, false, "KEY=VALUE",
	      "further backend option, e.g. dsync=1; repeatable" },
	    { "filter", "filters", VSC_FILTER, false, "NAME[,KEY=VALUE]...",
	      "a filter over the backend, e.g. throttle,iops=5000; repeatable, the first is "
	      "closest to the initiator" },
	    { "volume", "volume", VSC_VOLUME, false, "TYPE[,KEY=VALUE]...",
	      "a volume over the --leg stacks instead of --backend, e.g. "
	      "mirror,meta=/var/lib/vstor/m0.map" },
	    { "leg", "legs", VSC_LEG, false, "BACKEND[,KEY=VALUE]...",
	      "a leg of --volume, e.g. file,path=/a.img (path: relative to the current "
	      "directory); repeatable, in order" } },
	  NULL, NULL, vsc_print_luns },
	{ "lun", "replace-leg", "lun.replace_leg",
	  "put a new disk in place of a leg of a LUN's volume while it is used (a mirror copies "
	  "it in full)",
	  { TARGET_OPT(true), LUN_OPT(true),
	    { "leg", "leg", VSC_NUM, true, "N", "which leg of the volume (0: the first)" },
	    { "stack", "stack", VSC_STACK, true, "BACKEND[,KEY=VALUE]...",
	      "the new leg, e.g. file,path=/new.img,create=1,size=10G" } },
	  NULL, NULL, vsc_print_luns },
	{ "lun", "set-filter", "lun.set_options",
	  "change run-time options of a filter (or the backend) of a LUN while it is used",
	  { TARGET_OPT(true), LUN_OPT(true),
	    { "filter", "layer", VSC_LAYER, true, "NAME,KEY=VALUE[,KEY=VALUE]...",
	      "the filter (or \"backend\", or a layer's field such as volume.legs[1].filters[0]) "
	      "and its new values, e.g. throttle,iops=2000" } },
	  NULL, NULL, vsc_print_fields },
	{ "lun", "remove", "lun.remove", "remove a LUN",
	  { TARGET_OPT(true), LUN_OPT(true),
	    FORCE_OPT("even while initiators use it: their commands end with LOGICAL UNIT NOT "
	              "SUPPORTED") },
	  NULL, NULL, vsc_print_fields },
	{ "lun", "resize", "lun.resize", "change a LUN's capacity",
	  { TARGET_OPT(true), LUN_OPT(true),
	    { "size", "size", VSC_STR, true, "SIZE", "new size: bytes or 512M, 10G; a multiple of the block size" },
	    FORCE_OPT("allow shrinking (data beyond the new end is lost)") },
	  NULL, NULL, vsc_print_fields },
	{ "lun", "list", "lun.list", "list LUNs", { TARGET_OPT(false) }, NULL, NULL, vsc_print_luns },

	{ "acl", "add", "acl.add", "allow an initiator (a non-empty ACL admits only its members)",
	  { TARGET_OPT(true),
	    { "initiator", "initiator", VSC_STR, true, "IQN", "the initiator's iSCSI name" } },
	  NULL, NULL, vsc_print_acl },
	{ "acl", "remove", "acl.remove", "disallow an initiator (an empty ACL admits everyone)",
	  { TARGET_OPT(true),
	    { "initiator", "initiator", VSC_STR, true, "IQN", "the initiator's iSCSI name" } },
	  NULL, NULL, vsc_print_acl },
	{ "acl", "list", "acl.list", "show a target's ACL", { TARGET_OPT(true) }, NULL, NULL,
	  vsc_print_acl },

	{ "chap", "set", "chap.set", "require CHAP at login (RFC 7143 12.1.3)",
	  { TARGET_OPT(true),
	    { "user", "user", VSC_STR, true, "NAME", "the initiator's CHAP name" },
	    { "secret", "secret", VSC_STR, true, "SECRET", "the initiator's CHAP secret" },
	    { "mutual-user", "mutual_user", VSC_STR, false, "NAME", "mutual CHAP: the target's name" },
	    { "mutual-secret", "mutual_secret", VSC_STR, false, "SECRET",
	      "mutual CHAP: the target's secret (must differ)" } },
	  NULL, NULL, vsc_print_fields },
	{ "chap", "clear", "chap.clear", "stop requiring CHAP", { TARGET_OPT(true) }, NULL, NULL,
	  vsc_print_fields },

	{ "layer", "list", "layer.list", "backends and filters this vstord has, with their options",
	  { { 0 } }, NULL, NULL, vsc_print_layers },

	{ "session", "list", "session.list", "list logged-in sessions (iSCSI, then NBD)",
	  { TARGET_OPT(false) }, NULL, NULL, vsc_print_sessions },

	{ "export", "add", "export.add", "serve a LUN over NBD under an export name",
	  { { "name", "name", VSC_STR, false, "NAME", "the export name (or give it as NAME)" },
	    TARGET_OPT(true), LUN_OPT(true),
	    { "description", "description", VSC_STR, false, "TEXT", "what NBD clients are told" },
	    { "allow", "acl", VSC_LIST, false, "ADDR[/PREFIX]|tls:ID",
	      "a client address, network or TLS identity that may use it; repeatable "
	      "(default: everyone)" } },
	  "name", "NAME", vsc_print_fields },
	{ "export", "remove", "export.remove", "stop serving an NBD export",
	  { { "name", "name", VSC_STR, false, "NAME", "the export (or give it as NAME)" },
	    FORCE_OPT("also while clients use it (they are disconnected after their commands)") },
	  "name", "NAME", vsc_print_fields },
	{ "export", "list", "export.list", "list NBD exports", { { 0 } }, NULL, NULL,
	  vsc_print_exports },
	{ "stats", NULL, "stats", "I/O statistics per LUN", { TARGET_OPT(false), LUN_OPT(false) }, NULL,
	  NULL, vsc_print_stats },
	{ "top", NULL, NULL,
	  "live per-LUN table: IOPS, MB/s, latency percentiles, queue depth (top --help)",
	  { { 0 } }, NULL, NULL, NULL },
	{ "config", "save", "config.save",
	  "write the running configuration (default: the file vstord was started with)", { { 0 } },
	  "path", "FILE", vsc_print_fields },
	{ "config", "reload", "config.reload",
	  "make the daemon what its configuration file (or FILE) says; a bad file changes nothing",
	  { { 0 } },
	  "path", "FILE", vsc_print_reload },
	{ 0 },
};
