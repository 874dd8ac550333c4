// SPDX-License-Identifier: GPL-2.0
/*
 * rk_legacy_safe - companion of rk_legacy for the 2002 "module_fini()"
 * proposal: defines a GLOBAL __exitfn alias (what module_fini(fn) emitted,
 * the audited safe unload hook) in addition to the modern
 * module_init/module_exit macros. No __force_exitfn.
 * Under the 2002 rules this module is normally removable.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>

static int __init rk_legacy_safe_init(void)
{
	pr_info("loaded\n");
	return 0;
}

static void __exit rk_legacy_safe_exit(void)
{
	pr_info("unloaded\n");
}

module_init(rk_legacy_safe_init);
module_exit(rk_legacy_safe_exit);

/* 2002-era module_fini(): the safe unload hook. */
void __exitfn(void) __copy(rk_legacy_safe_exit)
	__attribute__((alias("rk_legacy_safe_exit")));

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: legacy __exitfn (module_fini) alias");
