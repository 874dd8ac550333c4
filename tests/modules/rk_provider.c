// SPDX-License-Identifier: GPL-2.0
/*
 * rk_provider - rkmod test fixture: exports rk_provider_value() (GPL).
 * rk_consumer links against it (holders/ gets rk_consumer), rk_symget
 * pins it at runtime with symbol_get().
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>

#include "rk_provider.h"

int rk_provider_value(void)
{
	return 0x2a;
}
EXPORT_SYMBOL_GPL(rk_provider_value);

static int __init rk_provider_init(void)
{
	pr_info("loaded\n");
	return 0;
}

static void __exit rk_provider_exit(void)
{
	pr_info("unloaded\n");
}

module_init(rk_provider_init);
module_exit(rk_provider_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: exports rk_provider_value");
