// SPDX-License-Identifier: GPL-2.0
/*
 * rk_symget_plain - rkmod test fixture for modaudit's symbol-get-non-gpl:
 * symbol_get(rk_provider_plain_value), which rk_provider_plain exports
 * without _GPL. The kernel refuses it ("failing symbol_get of non-GPLONLY
 * symbol"), so the call returns NULL and the provider is never pinned.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>

#include "rk_provider_plain.h"

static int __init rk_symget_plain_init(void)
{
	int (*fn)(void) = symbol_get(rk_provider_plain_value);

	if (fn) {
		pr_info("symbol_get(rk_provider_plain_value)()=%d\n", fn());
		symbol_put(rk_provider_plain_value);
	} else {
		pr_info("symbol_get(rk_provider_plain_value) returned NULL\n");
	}
	return 0;
}

static void __exit rk_symget_plain_exit(void)
{
}

module_init(rk_symget_plain_init);
module_exit(rk_symget_plain_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: symbol_get of a plain export, always NULL");
