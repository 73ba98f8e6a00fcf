/* SPDX-License-Identifier: MIT */
/* Prints the layout of ipop.h's public structs and the values of its
 * constants, as the C compiler sees them, one "kind name value" a line.
 * test_layout.py compares them with the ctypes mirror. */
#include <stddef.h>
#include <stdio.h>

#include <ipop/ipop.h>

#define SIZE(t) printf("sizeof %s %zu\n", #t, sizeof(t))
#define FIELD(t, f) printf("offsetof %s.%s %zu %zu\n", #t, #f, offsetof(t, f), sizeof(((t *)0)->f))
#define CONST(c) printf("const %s %lld\n", #c, (long long)(c))

int main(void)
{
    SIZE(ipop_event_t);
    FIELD(ipop_event_t, size);
    FIELD(ipop_event_t, type);
    FIELD(ipop_event_t, peer_id);
    FIELD(ipop_event_t, link);
    FIELD(ipop_event_t, state);
    FIELD(ipop_event_t, reason);
    FIELD(ipop_event_t, error);
    FIELD(ipop_event_t, detail);
    FIELD(ipop_event_t, signal_state);

    SIZE(ipop_signal_status_t);
    FIELD(ipop_signal_status_t, size);
    FIELD(ipop_signal_status_t, state);
    FIELD(ipop_signal_status_t, reason);
    FIELD(ipop_signal_status_t, since_ms);
    FIELD(ipop_signal_status_t, retry_ms);
    FIELD(ipop_signal_status_t, failures);
    FIELD(ipop_signal_status_t, detail);
    FIELD(ipop_signal_status_t, condition);
    FIELD(ipop_signal_status_t, fingerprint);

    SIZE(ipop_link_stats_t);
    FIELD(ipop_link_stats_t, size);
    FIELD(ipop_link_stats_t, state);
    FIELD(ipop_link_stats_t, reason);
    FIELD(ipop_link_stats_t, tx_packets);
    FIELD(ipop_link_stats_t, tx_bytes);
    FIELD(ipop_link_stats_t, rx_packets);
    FIELD(ipop_link_stats_t, rx_bytes);
    FIELD(ipop_link_stats_t, tx_drops);
    FIELD(ipop_link_stats_t, rx_drops);
    FIELD(ipop_link_stats_t, rtt_us);
    FIELD(ipop_link_stats_t, local_path);
    FIELD(ipop_link_stats_t, remote_path);
    FIELD(ipop_link_stats_t, peer_id);
    FIELD(ipop_link_stats_t, address);
    FIELD(ipop_link_stats_t, name);
    FIELD(ipop_link_stats_t, relay_id);
    FIELD(ipop_link_stats_t, relayed_packets);
    FIELD(ipop_link_stats_t, relay_drops);
    FIELD(ipop_link_stats_t, port_mapping);
    FIELD(ipop_link_stats_t, remote_port_mapping);
    FIELD(ipop_link_stats_t, peer_name);
    FIELD(ipop_link_stats_t, routes);
    FIELD(ipop_link_stats_t, route_list);

    SIZE(ipop_network_stats_t);
    FIELD(ipop_network_stats_t, size);
    FIELD(ipop_network_stats_t, signal_refused);
    FIELD(ipop_network_stats_t, no_route);
    FIELD(ipop_network_stats_t, links);
    FIELD(ipop_network_stats_t, links_connected);
    FIELD(ipop_network_stats_t, relayed_packets);
    FIELD(ipop_network_stats_t, relay_drops);
    FIELD(ipop_network_stats_t, relay_refused);
    FIELD(ipop_network_stats_t, tap_refused_type);
    FIELD(ipop_network_stats_t, tap_refused_source);
    FIELD(ipop_network_stats_t, tap_refused_mac);
    FIELD(ipop_network_stats_t, candidates_dropped);
    FIELD(ipop_network_stats_t, broadcast_packets);
    FIELD(ipop_network_stats_t, broadcast_dropped);
    FIELD(ipop_network_stats_t, too_big);
    FIELD(ipop_network_stats_t, too_big_answered);
    FIELD(ipop_network_stats_t, routes_refused);
    FIELD(ipop_network_stats_t, routes);

    SIZE(ipop_friend_t);
    FIELD(ipop_friend_t, size);
    FIELD(ipop_friend_t, jid);
    FIELD(ipop_friend_t, subscription);
    FIELD(ipop_friend_t, asked);
    FIELD(ipop_friend_t, request);
    FIELD(ipop_friend_t, online);
    FIELD(ipop_friend_t, peer_id);
    FIELD(ipop_friend_t, address);

    /* the enums are passed as int through ctypes */
    SIZE(ipop_link_state_t);
    SIZE(ipop_reason_t);
    SIZE(ipop_path_type_t);
    SIZE(ipop_event_type_t);
    SIZE(ipop_log_level_t);
    SIZE(ipop_signal_state_t);

    CONST(IPOP_MAX_PACKET);
    CONST(IPOP_DEFAULT_MTU);
    CONST(IPOP_MAX_MTU);
    CONST(IPOP_NODE_ID_MAX);

    CONST(IPOP_LINK_NEW);
    CONST(IPOP_LINK_CONNECTING);
    CONST(IPOP_LINK_CONNECTED);
    CONST(IPOP_LINK_FAILED);
    CONST(IPOP_LINK_CLOSED);

    CONST(IPOP_REASON_NONE);
    CONST(IPOP_REASON_ICE_FAILED);
    CONST(IPOP_REASON_CONSENT_LOST);
    CONST(IPOP_REASON_DTLS_FAILED);
    CONST(IPOP_REASON_FINGERPRINT_MISMATCH);
    CONST(IPOP_REASON_PEER_NOT_ALLOWED);
    CONST(IPOP_REASON_PEER_CLOSED);
    CONST(IPOP_REASON_LOCAL_CLOSED);
    CONST(IPOP_REASON_TIMEOUT);
    CONST(IPOP_REASON_BAD_MESSAGE);
    CONST(IPOP_REASON_DEVICE_ERROR);
    CONST(IPOP_REASON_SUPERSEDED);
    CONST(IPOP_REASON_NOT_AUTHENTICATED);
    CONST(IPOP_REASON_IDENTITY_CHANGED);
    CONST(IPOP_REASON_PATH_LOST);
    CONST(IPOP_REASON_NETWORK_CHANGED);
    CONST(IPOP_REASON_NOT_CERTIFIED);
    CONST(IPOP_REASON_ADDRESS_IN_USE);
    CONST(IPOP_REASON_REKEY_FAILED);
    CONST(IPOP_REASON_AUTH_FAILED);
    CONST(IPOP_REASON_NAME_NOT_RESOLVED);
    CONST(IPOP_REASON_UNREACHABLE);
    CONST(IPOP_REASON_TLS_REFUSED);
    CONST(IPOP_REASON_SERVER_CLOSED);
    CONST(IPOP_REASON_SERVER_SILENT);
    CONST(IPOP_REASON_NAME_IN_USE);

    CONST(IPOP_PATH_UNKNOWN);
    CONST(IPOP_PATH_HOST);
    CONST(IPOP_PATH_SRFLX);
    CONST(IPOP_PATH_PRFLX);
    CONST(IPOP_PATH_RELAY);
    CONST(IPOP_PATH_MEMBER);
    CONST(IPOP_PORT_MAPPING_NONE);
    CONST(IPOP_PORT_MAPPING_UPNP);
    CONST(IPOP_PORT_MAPPING_NATPMP);
    CONST(IPOP_PORT_MAPPING_PCP);

    CONST(IPOP_EVENT_LINK_STATE);
    CONST(IPOP_EVENT_PEER_REFUSED);
    CONST(IPOP_EVENT_DEVICE_ERROR);
    CONST(IPOP_EVENT_BAD_MESSAGE);
    CONST(IPOP_EVENT_SIGNAL_STATE);

    CONST(IPOP_SIGNAL_NONE);
    CONST(IPOP_SIGNAL_CONNECTING);
    CONST(IPOP_SIGNAL_UP);
    CONST(IPOP_SIGNAL_AUTH_FAILED);
    CONST(IPOP_SIGNAL_UNREACHABLE);
    CONST(IPOP_SIGNAL_TLS_REFUSED);
    CONST(IPOP_SIGNAL_SERVER_CLOSED);

    CONST(IPOP_LOG_ERR);
    CONST(IPOP_LOG_WARNING);
    CONST(IPOP_LOG_NOTICE);
    CONST(IPOP_LOG_INFO);
    CONST(IPOP_LOG_DEBUG);
    return 0;
}
