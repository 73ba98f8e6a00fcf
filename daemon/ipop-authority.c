/* SPDX-License-Identifier: MIT */
/*
 * ipop-authority: the authority of a GroupVPN.  Creates the authority's
 * key, signs member certificates, revokes them and writes the signed
 * revocation list (lib/authority.c holds the formats; doc/protocol.md,
 * "Group authority", describes them; ipop-authority(1) the use).
 *
 *   ipop-authority [--dir DIR] init
 *   ipop-authority [--dir DIR] sign --node-id ID --name NAME [--address A]... [--route R]...
 *                  [--expires DAYS] [--output FILE]
 *   ipop-authority [--dir DIR] revoke SERIAL|NODEID
 *   ipop-authority [--dir DIR] crl [--output FILE]
 *   ipop-authority [--dir DIR | --authority KEY] show FILE
 *
 * The directory holds authority.key (the private key, 0600), authority.pub,
 * issued (every certificate signed, one per line), revoked (one serial or
 * node id per line), serial and crl-serial (the last numbers used).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <glib.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "authority.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2
#define DAYS_MAX 36500
#define DEFAULT_DAYS 365

static const char *dir = ".";

static void usage(FILE *f)
{
    fprintf(f, "usage: ipop-authority [--dir DIR] init\n"
               "       ipop-authority [--dir DIR] sign --node-id ID --name NAME [--address A/P]... [--route R/P]...\n"
               "                      [--expires DAYS] [--output FILE]\n"
               "       ipop-authority [--dir DIR] revoke SERIAL|NODEID\n"
               "       ipop-authority [--dir DIR] crl [--output FILE]\n"
               "       ipop-authority [--dir DIR | --authority KEY] show FILE\n"
               "DIR (default: the current directory) holds the authority's key and what it signed.\n");
}

static char *path(const char *name)
{
    return g_build_filename(dir, name, NULL);
}

static int fail(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
static int fail(const char *fmt, ...)
{
    va_list ap;

    fputs("ipop-authority: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_FAIL;
}

/* Writes a whole file through a temporary one, with the given mode. */
static int write_file(const char *file, const char *text, size_t len, int mode)
{
    char *tmp = g_strdup_printf("%s.XXXXXX", file);
    int fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, mode), r = 0;

    if (fd < 0 || fchmod(fd, (mode_t)mode) < 0 || write(fd, text, len) != (ssize_t)len || fsync(fd) < 0)
        r = errno ? -errno : -EIO;
    if (fd >= 0)
        close(fd);
    if (r == 0 && rename(tmp, file) < 0)
        r = -errno;
    if (r < 0)
        unlink(tmp);
    g_free(tmp);
    return r;
}

static int append_line(const char *name, const char *line)
{
    char *file = path(name);
    FILE *f = fopen(file, "a");
    int r = 0;

    if (!f || fprintf(f, "%s\n", line) < 0 || fflush(f) != 0 || fsync(fileno(f)) < 0)
        r = errno ? -errno : -EIO;
    if (f)
        fclose(f);
    g_free(file);
    return r;
}

static int load_secret(ipop__authority_secret *s)
{
    char *file = path("authority.key"), *text = NULL;
    gsize len = 0;
    struct stat st;
    int r = 0;

    if (stat(file, &st) == 0 && (st.st_mode & 077))
        fprintf(stderr, "ipop-authority: warning: %s can be read by others (mode %04o): chmod 600 it\n", file,
                (unsigned)(st.st_mode & 07777));
    if (!g_file_get_contents(file, &text, &len, NULL))
        r = fail("cannot read %s: is %s an authority directory (ipop-authority init)?", file, dir);
    else if (ipop__authority_secret_parse(text, len, s) < 0)
        r = fail("%s is not an authority key", file);
    if (text)
        memset(text, 0, len);
    g_free(text);
    g_free(file);
    return r;
}

/* The number in DIR/name (0 when there is none), plus one, written back. */
static int next_number(const char *name, uint64_t *out)
{
    char *file = path(name), *text = NULL, num[32];
    uint64_t v = 0;
    int r = 0;

    if (g_file_get_contents(file, &text, NULL, NULL))
        v = g_ascii_strtoull(text, NULL, 10);
    if (v == UINT64_MAX)
        r = fail("%s: no number left", file);
    if (r == 0) {
        *out = v + 1;
        snprintf(num, sizeof(num), "%" PRIu64 "\n", *out);
        if (write_file(file, num, strlen(num), 0644) < 0)
            r = fail("cannot write %s: %s", file, g_strerror(errno));
    }
    g_free(text);
    g_free(file);
    return r;
}

static int output(const char *file, const char *line)
{
    char *text;
    int r;

    if (!file) {
        printf("%s\n", line);
        return 0;
    }
    text = g_strconcat(line, "\n", NULL);
    r = write_file(file, text, strlen(text), 0644);
    g_free(text);
    return r < 0 ? fail("cannot write %s: %s", file, g_strerror(-r)) : 0;
}

/* ---- init ---- */

static int cmd_init(void)
{
    ipop__authority_secret s;
    char line[256], pub[IPOP__AUTHORITY_PUB_TEXT_LEN + 2], *key_file = path("authority.key"),
                                                        *pub_file = path("authority.pub");
    int n, r = 0;

    if (g_mkdir_with_parents(dir, 0700) < 0)
        r = fail("cannot create %s: %s", dir, g_strerror(errno));
    else if (g_file_test(key_file, G_FILE_TEST_EXISTS))
        r = fail("%s exists: an authority is there already", key_file);
    else if (ipop__authority_generate(&s) < 0)
        r = fail("cannot generate a key");
    if (r == 0) {
        n = ipop__authority_secret_format(&s, line, sizeof(line));
        ipop__authority_key_format(&s.pub, pub, sizeof(pub));
        if (write_file(key_file, line, (size_t)n, 0600) < 0)
            r = fail("cannot write %s: %s", key_file, g_strerror(errno));
        strcat(pub, "\n");
        if (r == 0 && write_file(pub_file, pub, strlen(pub), 0644) < 0)
            r = fail("cannot write %s: %s", pub_file, g_strerror(errno));
        if (r == 0)
            printf("%s", pub);
        memset(line, 0, sizeof(line));
        ipop__authority_secret_clear(&s);
    }
    g_free(key_file);
    g_free(pub_file);
    return r;
}

/* ---- sign ---- */

static int add_addr(ipop__addr *list, unsigned *n, unsigned max, const char *text, const char *what)
{
    if (*n >= max)
        return fail("at most %u %ss", max, what);
    if (!strchr(text, '/') || ipop__addr_parse(text, &list[*n]) < 0)
        return fail("%s %s: give ADDRESS/PREFIX, e.g. 10.9.0.2/24", what, text);
    (*n)++;
    return 0;
}

static int cmd_sign(int argc, char **argv)
{
    static const struct option opts[] = {
        { "node-id", required_argument, NULL, 'n' }, { "name", required_argument, NULL, 'N' },
        { "address", required_argument, NULL, 'a' }, { "route", required_argument, NULL, 'r' },
        { "expires", required_argument, NULL, 'e' }, { "output", required_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 },
    };
    ipop__cert c = { 0 };
    ipop__authority_secret s;
    char line[IPOP__CERT_MAX + 1];
    const char *out_file = NULL;
    long days = DEFAULT_DAYS;
    char *end;
    int opt, r;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        switch (opt) {
        case 'n':
            if (!ipop__node_id_valid(optarg))
                return fail("--node-id %s is not a node id (52 chars of a-z and 2-7, as ipopctl status shows)", optarg);
            g_strlcpy(c.node_id, optarg, sizeof(c.node_id));
            break;
        case 'N':
            if (strlen(optarg) > IPOP__CERT_NAME_MAX || strspn(optarg, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != strlen(optarg) || !*optarg)
                return fail("--name: 1 to %d of A-Z a-z 0-9 . _ -", IPOP__CERT_NAME_MAX);
            g_strlcpy(c.name, optarg, sizeof(c.name));
            break;
        case 'a':
            if ((r = add_addr(c.addrs, &c.n_addrs, IPOP__CERT_ADDRS_MAX, optarg, "address")) != 0)
                return r;
            break;
        case 'r':
            if ((r = add_addr(c.routes, &c.n_routes, IPOP__CERT_ROUTES_MAX, optarg, "route")) != 0)
                return r;
            break;
        case 'e':
            days = strtol(optarg, &end, 10);
            if (*end || days < 1 || days > DAYS_MAX)
                return fail("--expires: days from 1 to %d", DAYS_MAX);
            break;
        case 'o':
            out_file = optarg;
            break;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (!c.node_id[0] || !c.name[0] || optind != argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if ((r = load_secret(&s)) != 0)
        return r;
    c.issued = (int64_t)time(NULL);
    c.expires = c.issued + (int64_t)days * 86400;
    r = next_number("serial", &c.serial);
    if (r == 0 && ipop__cert_sign(&c, &s, line, sizeof(line)) < 0)
        r = fail("cannot sign");
    ipop__authority_secret_clear(&s);
    if (r == 0 && append_line("issued", line) < 0)
        r = fail("cannot record the certificate in %s/issued: %s", dir, g_strerror(errno));
    if (r == 0)
        r = output(out_file, line);
    if (r == 0)
        fprintf(stderr, "ipop-authority: certificate %" PRIu64 " for %s (%s), expires in %ld days\n", c.serial,
                c.name, c.node_id, days);
    return r;
}

/* ---- revoke and crl ---- */

/* Every line of DIR/name, or an empty list. */
static char **read_lines(const char *name)
{
    char *file = path(name), *text = NULL, **lines;

    if (!g_file_get_contents(file, &text, NULL, NULL))
        text = g_strdup("");
    lines = g_strsplit(text, "\n", -1);
    g_free(text);
    g_free(file);
    return lines;
}

/* The issued certificate of a serial, decoded, or false. */
static bool find_issued(uint64_t serial, ipop__cert *out)
{
    char **lines = read_lines("issued");
    bool found = false;

    for (char **l = lines; *l && !found; l++)
        found = **l && ipop__cert_decode(out, *l, strlen(*l)) == 0 && out->serial == serial;
    g_strfreev(lines);
    return found;
}

static int parse_serial(const char *text, uint64_t *out)
{
    char *end;

    if (!*text || !g_ascii_isdigit(*text))
        return -EINVAL;
    errno = 0;
    *out = g_ascii_strtoull(text, &end, 10);
    return *end || errno || *out == 0 ? -EINVAL : 0;
}

static int cmd_revoke(const char *what)
{
    char **lines = read_lines("revoked");
    ipop__cert c;
    uint64_t serial;
    int r = 0;

    if (parse_serial(what, &serial) == 0) {
        if (!find_issued(serial, &c))
            r = fail("no certificate %s was issued here (see %s/issued)", what, dir);
        else
            fprintf(stderr, "ipop-authority: revoking certificate %s of %s (%s)\n", what, c.name, c.node_id);
    } else if (!ipop__node_id_valid(what)) {
        r = fail("%s is neither a serial nor a node id", what);
    } else {
        fprintf(stderr, "ipop-authority: revoking node %s: every certificate for it, now and later\n", what);
    }
    for (char **l = lines; r == 0 && *l; l++)
        if (!strcmp(*l, what))
            r = fail("%s is revoked already", what);
    if (r == 0 && append_line("revoked", what) < 0)
        r = fail("cannot write %s/revoked: %s", dir, g_strerror(errno));
    if (r == 0)
        fprintf(stderr, "ipop-authority: now publish the list: ipop-authority crl --output FILE\n");
    g_strfreev(lines);
    return r;
}

static int cmd_crl(int argc, char **argv)
{
    static const struct option opts[] = { { "output", required_argument, NULL, 'o' }, { NULL, 0, NULL, 0 } };
    ipop__crl *l = g_new0(ipop__crl, 1);
    ipop__authority_secret s;
    char **lines = NULL, *line = g_malloc(IPOP__CRL_MAX + 1);
    const char *out_file = NULL;
    int64_t now = (int64_t)time(NULL);
    unsigned dropped = 0;
    int opt, r;

    optind = 1;
    while ((opt = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        if (opt != 'o') {
            usage(stderr);
            r = EXIT_USAGE;
            goto out;
        }
        out_file = optarg;
    }
    if ((r = load_secret(&s)) != 0)
        goto out;
    lines = read_lines("revoked");
    for (char **e = lines; r == 0 && *e; e++) {
        ipop__cert c;
        uint64_t serial;
        if (!**e)
            continue;
        if (l->n_serials + l->n_nodes >= IPOP__CRL_ENTRIES_MAX) {
            r = fail("more than %d revocations in force: a list holds no more; start a new authority",
                     IPOP__CRL_ENTRIES_MAX);
        } else if (ipop__node_id_valid(*e)) {
            g_strlcpy(l->nodes[l->n_nodes++], *e, sizeof(l->nodes[0]));
        } else if (parse_serial(*e, &serial) == 0) {
            /* A certificate past its expiry is refused anyway: no need to list it. */
            if (find_issued(serial, &c) && now > c.expires + IPOP__AUTHORITY_SKEW_S)
                dropped++;
            else
                l->serials[l->n_serials++] = serial;
        }
    }
    if (r == 0)
        r = next_number("crl-serial", &l->serial);
    l->issued = now;
    if (r == 0 && ipop__crl_sign(l, &s, line, IPOP__CRL_MAX + 1) < 0)
        r = fail("cannot sign the list");
    ipop__authority_secret_clear(&s);
    if (r == 0)
        r = output(out_file, line);
    if (r == 0)
        fprintf(stderr, "ipop-authority: revocation list %" PRIu64 ": %u serials, %u nodes (%u expired left out)\n",
                l->serial, l->n_serials, l->n_nodes, dropped);
out:
    g_strfreev(lines);
    g_free(line);
    g_free(l);
    return r;
}

/* ---- show ---- */

static void show_addrs(const char *what, const ipop__addr *a, unsigned n)
{
    char text[64];

    printf("%s:", what);
    if (n == 0)
        printf(" -");
    for (unsigned i = 0; i < n; i++) {
        ipop__addr_format(&a[i], text, sizeof(text));
        printf(" %s", text);
    }
    printf("\n");
}

static void show_time(const char *what, int64_t t)
{
    char text[64];
    time_t tt = (time_t)t;
    struct tm tm;

    strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&tt, &tm));
    printf("%s: %s (%" PRId64 ")\n", what, text, t);
}

static const char *verdict(int r)
{
    return r == 0 ? "valid" : r == -EXDEV ? "INVALID: issued by another authority" : "INVALID: bad signature";
}

static int show_cert(const char *text, size_t len, const ipop__authority_key *k)
{
    ipop__cert c;
    int64_t now = (int64_t)time(NULL);
    int r = ipop__cert_decode(&c, text, len);

    if (r < 0)
        return r;
    printf("certificate\nserial: %" PRIu64 "\nnode id: %s\nname: %s\n", c.serial, c.node_id, c.name);
    show_addrs("addresses", c.addrs, c.n_addrs);
    show_addrs("routes", c.routes, c.n_routes);
    show_time("issued", c.issued);
    show_time("expires", c.expires);
    printf("authority: %s\n", c.authority);
    r = ipop__cert_check(&c, c.node_id, now);
    printf("now: %s\n", r == -ESTALE ? "EXPIRED" : r == -EAGAIN ? "NOT YET VALID" : "in its validity period");
    if (!k)
        return r < 0 ? 1 : 0;
    r = ipop__cert_verify(&c, text, len, k);
    printf("signature: %s\n", verdict(r));
    return r < 0 || ipop__cert_check(&c, c.node_id, now) < 0 ? 1 : 0;
}

static int show_crl(const char *text, size_t len, const ipop__authority_key *k)
{
    ipop__crl *l = g_new0(ipop__crl, 1);
    int r = ipop__crl_decode(l, text, len);

    if (r < 0)
        goto out;
    printf("revocation list\nserial: %" PRIu64 "\n", l->serial);
    show_time("issued", l->issued);
    printf("authority: %s\nrevoked serials:", l->authority);
    for (unsigned i = 0; i < l->n_serials; i++)
        printf(" %" PRIu64, l->serials[i]);
    printf("\nrevoked nodes:");
    for (unsigned i = 0; i < l->n_nodes; i++)
        printf(" %s", l->nodes[i]);
    printf("\n");
    r = 0;
    if (k) {
        r = ipop__crl_verify(l, text, len, k);
        printf("signature: %s\n", verdict(r));
        r = r < 0 ? 1 : 0;
    }
out:
    g_free(l);
    return r;
}

static int cmd_show(const char *file, const char *key_text)
{
    ipop__authority_key k, *kp = NULL;
    char *text = NULL, *pub_file = path("authority.pub"), *pub = NULL;
    gsize len = 0;
    int r;

    if (key_text) {
        if (ipop__authority_key_parse(key_text, &k) < 0) {
            r = fail("--authority %s is not an authority key (ed25519:...)", key_text);
            goto out;
        }
        kp = &k;
    } else if (g_file_get_contents(pub_file, &pub, NULL, NULL)) {
        g_strstrip(pub);
        if (ipop__authority_key_parse(pub, &k) == 0)
            kp = &k;
    }
    if (!g_file_get_contents(file, &text, &len, NULL)) {
        r = fail("cannot read %s", file);
        goto out;
    }
    r = g_str_has_prefix(text, "ipop-crl1 ") ? show_crl(text, len, kp) : show_cert(text, len, kp);
    if (r < 0)
        r = fail("%s is neither a certificate nor a revocation list (%s)", file, g_strerror(-r));
    else if (!kp)
        printf("signature: not checked (no --authority, and no authority.pub in %s)\n", dir);
out:
    g_free(text);
    g_free(pub);
    g_free(pub_file);
    return r;
}

int main(int argc, char **argv)
{
    const char *key_text = NULL, *cmd;
    int i = 1;

    /* Global options come before the command. */
    for (; i < argc && argv[i][0] == '-'; i++) {
        if ((!strcmp(argv[i], "--dir") || !strcmp(argv[i], "-d")) && i + 1 < argc) {
            dir = argv[++i];
        } else if (!strcmp(argv[i], "--authority") && i + 1 < argc) {
            key_text = argv[++i];
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (i >= argc) {
        usage(stderr);
        return EXIT_USAGE;
    }
    cmd = argv[i];
    argc -= i;
    argv += i;
    if (!strcmp(cmd, "init") && argc == 1)
        return cmd_init();
    if (!strcmp(cmd, "sign"))
        return cmd_sign(argc, argv);
    if (!strcmp(cmd, "revoke") && argc == 2)
        return cmd_revoke(argv[1]);
    if (!strcmp(cmd, "crl"))
        return cmd_crl(argc, argv);
    if (!strcmp(cmd, "show") && argc == 2)
        return cmd_show(argv[1], key_text);
    usage(stderr);
    return EXIT_USAGE;
}
