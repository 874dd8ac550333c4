// SPDX-License-Identifier: GPL-2.0
/*
 * rk_permanent - rkmod test fixture: module_init only, no module_exit.
 * Once loaded the kernel marks it [permanent] and delete_module() fails
 * with EBUSY (unless forced).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>

static int __init rk_permanent_init(void)
{
	pr_info("loaded (no exit function: permanent)\n");
	return 0;
}

module_init(rk_permanent_init);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: init only, permanent once loaded");
