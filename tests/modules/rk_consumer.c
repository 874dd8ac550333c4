// SPDX-License-Identifier: GPL-2.0
/*
 * rk_consumer - rkmod test fixture: calls rk_provider_value() directly, so
 * it has an undefined symbol resolved against rk_provider at load time
 * ("depends=rk_provider" in .modinfo), and loading it puts rk_consumer in
 * /sys/module/rk_provider/holders/.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>

#include "rk_provider.h"

static int __init rk_consumer_init(void)
{
	pr_info("loaded: rk_provider_value()=%d\n", rk_provider_value());
	return 0;
}

static void __exit rk_consumer_exit(void)
{
	pr_info("unloaded\n");
}

module_init(rk_consumer_init);
module_exit(rk_consumer_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: uses rk_provider_value from rk_provider");
