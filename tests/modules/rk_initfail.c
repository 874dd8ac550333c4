// SPDX-License-Identifier: GPL-2.0
/*
 * rk_initfail - rkmod test fixture: init returns -EIO, so init_module(2)
 * fails with EIO and the module is never live.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/errno.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>

static int __init rk_initfail_init(void)
{
	pr_info("init failing on purpose with -EIO\n");
	return -EIO;
}

static void __exit rk_initfail_exit(void)
{
	pr_info("unloaded (never reached)\n");
}

module_init(rk_initfail_init);
module_exit(rk_initfail_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: init fails with -EIO");
