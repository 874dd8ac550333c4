// SPDX-License-Identifier: GPL-2.0
/*
 * rk_cdev_owner - rkmod test fixture: a cdev whose file_operations has no
 * .owner, but whose code sets cdev.owner = THIS_MODULE. chrdev_open() pins
 * the cdev's owner for the life of the file, so this is safe, and modaudit
 * must not flag it (the safe twin for cdev_init). The test makes the node
 * with mknod from the printed major.
 */
#define pr_fmt(fmt) KBUILD_MODNAME ": " fmt

#include <linux/cdev.h>
#include <linux/fs.h>
#include <linux/init.h>
#include <linux/kernel.h>
#include <linux/module.h>

static const char rk_cdev_msg[] = "rk_cdev_owner\n";
static dev_t rk_cdev_dev;
static struct cdev rk_cdev;

static ssize_t rk_cdev_read(struct file *file, char __user *buf, size_t count,
			    loff_t *ppos)
{
	return simple_read_from_buffer(buf, count, ppos, rk_cdev_msg,
				       sizeof(rk_cdev_msg) - 1);
}

static const struct file_operations rk_cdev_fops = {
	/* no .owner: the cdev's owner protects instead */
	.read	= rk_cdev_read,
	.llseek	= default_llseek,
};

static int __init rk_cdev_init(void)
{
	int ret = alloc_chrdev_region(&rk_cdev_dev, 0, 1, KBUILD_MODNAME);

	if (ret)
		return ret;
	cdev_init(&rk_cdev, &rk_cdev_fops);
	rk_cdev.owner = THIS_MODULE;
	ret = cdev_add(&rk_cdev, rk_cdev_dev, 1);
	if (ret) {
		unregister_chrdev_region(rk_cdev_dev, 1);
		return ret;
	}
	pr_info("major %d\n", MAJOR(rk_cdev_dev));
	return 0;
}

static void __exit rk_cdev_exit(void)
{
	cdev_del(&rk_cdev);
	unregister_chrdev_region(rk_cdev_dev, 1);
}

module_init(rk_cdev_init);
module_exit(rk_cdev_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("rkmod tests");
MODULE_DESCRIPTION("rkmod test module: a cdev protected by cdev.owner, not by fops.owner");
