// SPDX-License-Identifier: GPL-2.0
/*
 * rk_symget - rkmod test fixture: init calls symbol_get(rk_provider_value)
 * and deliberately never calls symbol_put(). __symbol_get() takes a module
 * reference on rk_provider, so while rk_symget is loaded (and even after it
 * is removed) rk_provider's refcnt stays > 0 and rmmod rk_provider fails
 * with EBUSY. There is no link-time dependency: symbol_get() resolves the
 * name at run time, so .modinfo has no "depends=rk_provider" and there is
 * no undefined rk_provider_value symbol (only a reference to __symbol_get).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>

#include "rk_provider.h"

static int __init rk_symget_init(void)
{
	int (*fn)(void) = symbol_get(rk_provider_value);

	if (fn)
		pr_info("loaded: symbol_get(rk_provider_value)()=%d (reference kept)\n",
			fn());
	else
		pr_info("loaded: rk_provider_value not available\n");
	/* no symbol_put(rk_provider_value): rk_provider stays pinned */
	return 0;
}

static void __exit rk_symget_exit(void)
{
	pr_info("unloaded (rk_provider reference intentionally leaked)\n");
}

module_init(rk_symget_init);
module_exit(rk_symget_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: symbol_get(rk_provider_value) without symbol_put");
