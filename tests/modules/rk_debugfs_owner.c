// SPDX-License-Identifier: GPL-2.0
/* rk_debugfs_owner - the safe twin of rk_debugfs_noowner: .owner = THIS_MODULE. */
#define RK_SAFE
#include "rk_debugfs_noowner.c"
