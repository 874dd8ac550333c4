// SPDX-License-Identifier: GPL-2.0
/* rk_chrdev_owner - the safe twin of rk_chrdev_noowner: .owner = THIS_MODULE. */
#define RK_SAFE
#include "rk_chrdev_noowner.c"
