// SPDX-License-Identifier: GPL-2.0
/*
 * rk_provider_plain - rkmod test fixture: exports rk_provider_plain_value with
 * plain EXPORT_SYMBOL (not _GPL). Since 2023 the kernel refuses symbol_get()
 * of such a symbol (rk_symget_plain shows it).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>

#include "rk_provider_plain.h"

int rk_provider_plain_value(void)
{
	return 42;
}
EXPORT_SYMBOL(rk_provider_plain_value);

static int __init rk_provider_plain_init(void)
{
	return 0;
}

static void __exit rk_provider_plain_exit(void)
{
}

module_init(rk_provider_plain_init);
module_exit(rk_provider_plain_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: a plain (non-GPL) export");
