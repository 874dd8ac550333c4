// SPDX-License-Identifier: GPL-2.0
/*
 * rk_exitonly - rkmod test fixture: module_exit only, no module_init.
 * Loadable and unloadable (not permanent).
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>

static void __exit rk_exitonly_exit(void)
{
	pr_info("unloaded (module had no init function)\n");
}

module_exit(rk_exitonly_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: exit only");
