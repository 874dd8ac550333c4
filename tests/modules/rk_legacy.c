// SPDX-License-Identifier: GPL-2.0
/*
 * rk_legacy - rkmod test fixture for the 2002 "module_fini()" proposal
 * (Rusty Russell, "[PATCH] Module rewrite 17/20: module_fini()").
 *
 * Under that design, module_exit(fn) emitted
 *	void __force_exitfn(void) __attribute__((alias(#fn)));
 * (a deprecated hook only usable by "rmmod -F"), and only module_fini(fn),
 * which emitted __exitfn, made a module normally removable.
 *
 * This module uses the modern module_init/module_exit macros (so today's
 * kernel sees init_module + cleanup_module and ignores the rest) and in
 * addition defines a GLOBAL __force_exitfn alias, with NO __exitfn.
 * A modaudit that applies the 2002 rules should report "removable only by
 * forced unload (legacy module_exit without module_fini)".
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>

static int __init rk_legacy_init(void)
{
	pr_info("loaded\n");
	return 0;
}

static void __exit rk_legacy_exit(void)
{
	pr_info("unloaded\n");
}

module_init(rk_legacy_init);
module_exit(rk_legacy_exit);

/* 2002-era deprecated module_exit(): forced-unload-only exit hook. */
void __force_exitfn(void) __copy(rk_legacy_exit)
	__attribute__((alias("rk_legacy_exit")));

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: legacy __force_exitfn alias, no __exitfn");
