/* SPDX-License-Identifier: MIT */
/**
 * @file ipop-glib.h
 * @brief Running a libipop network on a GLib main context of the host's.
 */
#ifndef IPOP_IPOP_GLIB_H
#define IPOP_IPOP_GLIB_H

#include <glib.h>
#include <ipop/ipop.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Runs the network on `context` instead of a thread of its own: every
 * callback is then called from whatever thread iterates `context`.  Call
 * before ipop_network_start(); the network keeps a reference to the
 * context until it is freed.  NULL goes back to the library's own thread.
 * Returns 0, -EINVAL for a NULL network, or -EBUSY once started. */
IPOP_EXPORT int ipop_network_set_glib_context(ipop_network_t *net, GMainContext *context);

#ifdef __cplusplus
}
#endif

#endif
