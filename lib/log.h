/* SPDX-License-Identifier: MIT */
#pragma once

#include "ipop/ipop.h"

void ipop__log(ipop_log_level_t level, ipop_network_t *net, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define ipop__err(net, ...) ipop__log(IPOP_LOG_ERR, net, __VA_ARGS__)
#define ipop__warn(net, ...) ipop__log(IPOP_LOG_WARNING, net, __VA_ARGS__)
#define ipop__info(net, ...) ipop__log(IPOP_LOG_INFO, net, __VA_ARGS__)
#define ipop__dbg(net, ...) ipop__log(IPOP_LOG_DEBUG, net, __VA_ARGS__)
