/* SPDX-License-Identifier: MIT */
/* An out-of-tree program built against an installed libipop with nothing
 * but `pkg-config --cflags --libs ipop`: the public header alone must be
 * enough to start a network. */
#include <ipop/ipop.h>

#include <stdio.h>
#include <string.h>

#define CHECK(call)                                                            \
    do {                                                                       \
        int r_ = (call);                                                       \
        if (r_ < 0) {                                                          \
            fprintf(stderr, "%s: %s\n", #call, ipop_strerror(r_));             \
            goto out;                                                          \
        }                                                                      \
    } while (0)

int main(void)
{
    ipop_network_t *net = NULL;
    const char *id;
    int ret = 1;

    printf("libipop %s (headers %s)\n", ipop_version(), IPOP_VERSION);
    if (strcmp(ipop_version(), IPOP_VERSION) != 0) {
        fprintf(stderr, "run-time version differs from the headers'\n");
        return 1;
    }
    CHECK(ipop_network_new(&net, "install-test"));
    CHECK(ipop_network_set_option(net, "mode", "none"));
    CHECK(ipop_network_start(net));
    id = ipop_network_get_node_id(net);
    if (!id || strlen(id) != 52) {
        fprintf(stderr, "bad node id: %s\n", id ? id : "(null)");
        goto out;
    }
    printf("node id %s\n", id);
    CHECK(ipop_network_stop(net));
    ret = 0;
out:
    net = ipop_network_free(net);
    if (net)
        ret = 1;
    return ret;
}
