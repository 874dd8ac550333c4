// SPDX-License-Identifier: GPL-2.0
/*
 * rk_legacy_force - the "interesting" case of the 2002 "module_fini()"
 * proposal: module_init() plus a GLOBAL __force_exitfn alias (what the
 * deprecated module_exit(fn) emitted under that proposal), and neither
 * cleanup_module nor __exitfn.
 *
 * Today's kernel: init_module without cleanup_module => [permanent] once
 * loaded (the __force_exitfn symbol is ignored).
 * 2002 rules: init && !exit && force_exit => "removable only by forced
 * unload (legacy module_exit without module_fini)".
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>

static int __init rk_legacy_force_init(void)
{
	pr_info("loaded\n");
	return 0;
}

static void rk_legacy_force_exit(void)
{
	pr_info("force exit\n");
}

module_init(rk_legacy_force_init);

/* 2002-era deprecated module_exit(): forced-unload-only exit hook. */
void __force_exitfn(void) __copy(rk_legacy_force_exit)
	__attribute__((alias("rk_legacy_force_exit")));

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: init + legacy __force_exitfn only (no cleanup_module, no __exitfn)");
