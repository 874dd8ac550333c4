/* SPDX-License-Identifier: GPL-2.0 */
#ifndef RK_PROVIDER_PLAIN_H
#define RK_PROVIDER_PLAIN_H

int rk_provider_plain_value(void);

#endif
