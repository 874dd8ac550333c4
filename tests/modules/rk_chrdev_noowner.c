// SPDX-License-Identifier: GPL-2.0
/*
 * rk_chrdev_noowner - rkmod test fixture for modaudit's ownerless-fops:
 * register_chrdev() with a file_operations that has no .owner (the dynamic
 * major is printed; the test makes the node with mknod). Built with
 * RK_SAFE (rk_chrdev_owner.c) it sets .owner = THIS_MODULE: the safe twin.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>

static const char rk_chrdev_msg[] = KBUILD_MODNAME "\n";
static int rk_chrdev_major;

static ssize_t rk_chrdev_read(struct file *file, char __user *buf, size_t count,
			      loff_t *ppos)
{
	return simple_read_from_buffer(buf, count, ppos, rk_chrdev_msg,
				       sizeof(rk_chrdev_msg) - 1);
}

static const struct file_operations rk_chrdev_fops = {
#ifdef RK_SAFE
	.owner	= THIS_MODULE,
#endif
	.read	= rk_chrdev_read,
	.llseek	= default_llseek,
};

static int __init rk_chrdev_init(void)
{
	rk_chrdev_major = register_chrdev(0, KBUILD_MODNAME, &rk_chrdev_fops);
	if (rk_chrdev_major < 0)
		return rk_chrdev_major;
	pr_info("major %d\n", rk_chrdev_major);
	return 0;
}

static void __exit rk_chrdev_exit(void)
{
	unregister_chrdev(rk_chrdev_major, KBUILD_MODNAME);
}

module_init(rk_chrdev_init);
module_exit(rk_chrdev_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: register_chrdev with or without a file_operations owner");
