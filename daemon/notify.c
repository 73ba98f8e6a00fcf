/* SPDX-License-Identifier: MIT */
/* systemd: readiness over $NOTIFY_SOCKET (sd_notify(3)'s protocol, which
 * systemd documents as stable: one datagram of "KEY=VALUE" lines to the
 * AF_UNIX socket named there, '@' for the abstract namespace), and
 * whether stderr is the journal ($JOURNAL_STREAM, sd-daemon(3) priority
 * prefixes).  Written here rather than linking libsystemd: two system
 * calls, and ipopd runs the same without systemd. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ipopd.h"

int notify_systemd(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t len, state_len = strlen(state);
    socklen_t salen;
    ssize_t sent;
    int fd, r = 0;

    if (!path || !path[0])
        return 0; /* not run by systemd as Type=notify: nothing to tell */
    len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa.sun_path))
        return -EINVAL;
    memcpy(sa.sun_path, path, len);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract namespace */
    salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + (path[0] == '/'));
    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    sent = sendto(fd, state, state_len, MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
    if (sent < 0)
        r = -errno;
    else if ((size_t)sent != state_len)
        r = -EMSGSIZE;
    close(fd);
    return r;
}

bool stderr_is_journal(void)
{
    const char *env = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;

    /* "DEVICE:INODE" of the stream systemd connected; stderr is still it
     * unless it was redirected since. */
    if (!env || sscanf(env, "%llu:%llu", &dev, &ino) != 2)
        return false;
    if (fstat(STDERR_FILENO, &st) < 0)
        return false;
    return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}
