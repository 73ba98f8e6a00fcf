/* SPDX-License-Identifier: MIT */
/* Logging through the host's callback, and the texts of codes. */
#include <errno.h>
#include <glib.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ipop/ipop.h"
#include "log.h"

static GMutex log_lock;
static ipop_log_cb log_cb;
static void *log_ud;
static gint log_max = IPOP_LOG_INFO;

IPOP_EXPORT void ipop_set_log_cb(ipop_log_cb cb, ipop_log_level_t max_level, void *user_data)
{
    g_mutex_lock(&log_lock);
    log_cb = cb;
    log_ud = user_data;
    g_atomic_int_set(&log_max, max_level);
    g_mutex_unlock(&log_lock);
}

void ipop__log(ipop_log_level_t level, ipop_network_t *net, const char *fmt, ...)
{
    char line[1024];
    ipop_log_cb cb;
    void *ud;
    va_list ap;

    if ((int)level > g_atomic_int_get(&log_max))
        return;
    /* Read the pair together, but call without the lock: a callback may log. */
    g_mutex_lock(&log_lock);
    cb = log_cb;
    ud = log_ud;
    g_mutex_unlock(&log_lock);
    if (!cb)
        return;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    cb(level, net, line, ud);
}

IPOP_EXPORT const char *ipop_strerror(int err)
{
    static const struct { int err; const char *text; } own[] = {
        { -EINVAL, "invalid argument" },
        { -EMSGSIZE, "packet or message too large" },
        { -EHOSTUNREACH, "no link to the destination" },
        { -ENOTCONN, "not started or not connected" },
        { -EPERM, "not permitted (peer not allowed, or no right to create a device)" },
        { -EPROTONOSUPPORT, "unsupported protocol version" },
        { -EBUSY, "not possible while started" },
        { -EALREADY, "already in that state" },
        { -ENOBUFS, "send buffer full, try again" },
        { -ENOMEM, "out of memory" },
        { -EBADMSG, "not authenticated (not signed by its sender, or signed for another node or scope)" },
        { -ESTALE, "replayed, or too far from this host's clock" },
    };

    if (err == 0)
        return "success";
    for (size_t i = 0; i < G_N_ELEMENTS(own); i++)
        if (own[i].err == err)
            return own[i].text;
    if (err < 0 && err > -4096)
        return g_strerror(-err); /* GLib keeps these strings for the process lifetime */
    return "unknown error";
}

IPOP_EXPORT const char *ipop_reason_str(ipop_reason_t reason)
{
    switch (reason) {
    case IPOP_REASON_NONE: return "none";
    case IPOP_REASON_ICE_FAILED: return "ice-failed";
    case IPOP_REASON_CONSENT_LOST: return "consent-lost";
    case IPOP_REASON_DTLS_FAILED: return "dtls-failed";
    case IPOP_REASON_FINGERPRINT_MISMATCH: return "fingerprint-mismatch";
    case IPOP_REASON_PEER_NOT_ALLOWED: return "peer-not-allowed";
    case IPOP_REASON_PEER_CLOSED: return "peer-closed";
    case IPOP_REASON_LOCAL_CLOSED: return "local-closed";
    case IPOP_REASON_TIMEOUT: return "timeout";
    case IPOP_REASON_BAD_MESSAGE: return "bad-message";
    case IPOP_REASON_DEVICE_ERROR: return "device-error";
    case IPOP_REASON_SUPERSEDED: return "superseded";
    case IPOP_REASON_NOT_AUTHENTICATED: return "not-authenticated";
    case IPOP_REASON_IDENTITY_CHANGED: return "identity-changed";
    case IPOP_REASON_PATH_LOST: return "path-lost";
    case IPOP_REASON_ADDRESS_IN_USE: return "address-in-use";
    case IPOP_REASON_NETWORK_CHANGED: return "network-changed";
    case IPOP_REASON_NOT_CERTIFIED: return "not-certified";
    case IPOP_REASON_REKEY_FAILED: return "rekey-failed";
    case IPOP_REASON_AUTH_FAILED: return "auth-failed";
    case IPOP_REASON_NAME_NOT_RESOLVED: return "name-not-resolved";
    case IPOP_REASON_UNREACHABLE: return "unreachable";
    case IPOP_REASON_TLS_REFUSED: return "tls-refused";
    case IPOP_REASON_SERVER_CLOSED: return "server-closed";
    case IPOP_REASON_SERVER_SILENT: return "server-silent";
    case IPOP_REASON_NAME_IN_USE: return "name-in-use";
    }
    return "unknown";
}

IPOP_EXPORT const char *ipop_signal_state_str(ipop_signal_state_t state)
{
    switch (state) {
    case IPOP_SIGNAL_NONE: return "none";
    case IPOP_SIGNAL_CONNECTING: return "connecting";
    case IPOP_SIGNAL_UP: return "up";
    case IPOP_SIGNAL_AUTH_FAILED: return "auth-failed";
    case IPOP_SIGNAL_UNREACHABLE: return "unreachable";
    case IPOP_SIGNAL_TLS_REFUSED: return "tls-refused";
    case IPOP_SIGNAL_SERVER_CLOSED: return "server-closed";
    }
    return "unknown";
}

IPOP_EXPORT const char *ipop_link_state_str(ipop_link_state_t state)
{
    switch (state) {
    case IPOP_LINK_NEW: return "new";
    case IPOP_LINK_CONNECTING: return "connecting";
    case IPOP_LINK_CONNECTED: return "connected";
    case IPOP_LINK_FAILED: return "failed";
    case IPOP_LINK_CLOSED: return "closed";
    }
    return "unknown";
}

IPOP_EXPORT const char *ipop_path_type_str(ipop_path_type_t type)
{
    switch (type) {
    case IPOP_PATH_UNKNOWN: return "unknown";
    case IPOP_PATH_HOST: return "host";
    case IPOP_PATH_SRFLX: return "srflx";
    case IPOP_PATH_PRFLX: return "prflx";
    case IPOP_PATH_RELAY: return "relay";
    case IPOP_PATH_MEMBER: return "member";
    }
    return "unknown";
}

IPOP_EXPORT const char *ipop_version(void)
{
    return IPOP_VERSION;
}
