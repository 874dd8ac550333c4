// SPDX-License-Identifier: GPL-2.0
/*
 * rk_debugfs_noowner - rkmod test fixture for modaudit's ownerless-fops
 * (debugfs, lower severity): the debugfs file /sys/kernel/debug/KBUILD_MODNAME
 * with a file_operations without .owner. debugfs' full proxy pins only the
 * owner, so rmmod succeeds while the file is open and close() then reads the
 * freed table (full_proxy_release). Built with RK_SAFE (rk_debugfs_owner.c)
 * it sets the owner: the safe twin.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/debugfs.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>

static const char rk_debugfs_msg[] = KBUILD_MODNAME "\n";
static struct dentry *rk_debugfs_file;

static ssize_t rk_debugfs_read(struct file *file, char __user *buf,
			       size_t count, loff_t *ppos)
{
	return simple_read_from_buffer(buf, count, ppos, rk_debugfs_msg,
				       sizeof(rk_debugfs_msg) - 1);
}

static const struct file_operations rk_debugfs_fops = {
#ifdef RK_SAFE
	.owner	= THIS_MODULE,
#endif
	.read	= rk_debugfs_read,
	.llseek	= default_llseek,
};

static int __init rk_debugfs_init(void)
{
	rk_debugfs_file = debugfs_create_file(KBUILD_MODNAME, 0444, NULL, NULL,
					      &rk_debugfs_fops);
	return 0;
}

static void __exit rk_debugfs_exit(void)
{
	debugfs_remove(rk_debugfs_file);
}

module_init(rk_debugfs_init);
module_exit(rk_debugfs_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: a debugfs file with or without a file_operations owner");
