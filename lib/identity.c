/* SPDX-License-Identifier: MIT */
/* The node identity: an ECDSA P-256 key and a self-signed certificate, kept
 * in one PEM file (key first) or only in memory. */
#include <errno.h>
#include <fcntl.h>
#include <glib.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "identity.h"
#include "log.h"
#include "proof.h" /* generated secrets */

#define FILE_MAX (64 * 1024) /* a key and a certificate in PEM take about 1 KiB */

struct ipop__identity {
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
    gnutls_certificate_credentials_t cred;
    uint8_t fingerprint[32];
    char node_id[IPOP__NODE_ID_LEN + 1];
};

static void base32(const uint8_t *in, size_t len, char *out)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
    unsigned bits = 0, acc = 0;
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | in[i];
        bits += 8;
        while (bits >= 5) {
            out[o++] = alphabet[(acc >> (bits - 5)) & 31];
            bits -= 5;
        }
    }
    if (bits > 0)
        out[o++] = alphabet[(acc << (5 - bits)) & 31];
    out[o] = '\0';
}

int ipop__cert_fingerprint(const gnutls_datum_t *der, uint8_t out[32])
{
    if (!der || !der->data || der->size == 0)
        return -EINVAL;
    return gnutls_hash_fast(GNUTLS_DIG_SHA256, der->data, der->size, out) < 0 ? -EINVAL : 0;
}

static int generate(ipop__identity *id)
{
    uint8_t serial[16];
    time_t now = time(NULL);

    if (gnutls_x509_privkey_generate(id->key, GNUTLS_PK_ECDSA,
                                     GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0) < 0)
        return -EIO;
    if (gnutls_rnd(GNUTLS_RND_NONCE, serial, sizeof(serial)) < 0)
        return -EIO;
    serial[0] &= 0x7f; /* a positive serial number */
    if (gnutls_x509_crt_set_version(id->crt, 3) < 0 ||
        gnutls_x509_crt_set_serial(id->crt, serial, sizeof(serial)) < 0 ||
        gnutls_x509_crt_set_activation_time(id->crt, now - 24 * 3600) < 0 ||
        /* Peers pin the certificate itself; its validity period is not used. */
        gnutls_x509_crt_set_expiration_time(id->crt, GNUTLS_X509_NO_WELL_DEFINED_EXPIRATION) < 0 ||
        gnutls_x509_crt_set_dn_by_oid(id->crt, GNUTLS_OID_X520_COMMON_NAME, 0, "ipop", 4) < 0 ||
        gnutls_x509_crt_set_key(id->crt, id->key) < 0 ||
        gnutls_x509_crt_sign2(id->crt, id->crt, id->key, GNUTLS_DIG_SHA256, 0) < 0)
        return -EIO;
    return 0;
}

static int save(ipop__identity *id, const char *path)
{
    gnutls_datum_t k = { 0 }, c = { 0 };
    char *tmp = NULL;
    int fd = -1, r = -EIO;

    if (gnutls_x509_privkey_export2(id->key, GNUTLS_X509_FMT_PEM, &k) < 0 ||
        gnutls_x509_crt_export2(id->crt, GNUTLS_X509_FMT_PEM, &c) < 0)
        goto out;
    /* A new file of a random name (O_EXCL: nothing someone put there is
     * followed), 0600 whatever the umask, then linked to its name. */
    tmp = g_strdup_printf("%s.XXXXXX", path);
    fd = g_mkstemp_full(tmp, O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0) {
        r = -errno;
        g_clear_pointer(&tmp, g_free);
        goto out;
    }
    if (fchmod(fd, 0600) < 0 || write(fd, k.data, k.size) != (ssize_t)k.size ||
        write(fd, c.data, c.size) != (ssize_t)c.size || fsync(fd) < 0) {
        r = -EIO;
        goto out;
    }
    close(fd);
    fd = -1;
    /* link() fails if another process created the file meanwhile: theirs wins. */
    if (link(tmp, path) < 0) {
        r = -errno;
        goto out;
    }
    r = 0;
out:
    if (fd >= 0)
        close(fd);
    if (r < 0 && r != -EEXIST)
        ipop__err(NULL, "cannot write the identity file %s: %s", path, g_strerror(-r));
    if (tmp)
        unlink(tmp);
    g_free(tmp);
    if (k.data)
        gnutls_memset(k.data, 0, k.size);
    gnutls_free(k.data);
    gnutls_free(c.data);
    return r;
}

/* The file holds our private key: it must be ours and private, and be the
 * file itself (a symbolic link could point it anywhere, or be swapped).
 * Returns 0, or -errno after saying what is wrong and how to fix it. */
static int check_file(int fd, const char *path)
{
    struct stat st;

    if (fstat(fd, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode)) {
        ipop__err(NULL, "identity file %s is not a regular file", path);
        return -EINVAL;
    }
    if (st.st_uid != geteuid()) {
        ipop__err(NULL, "identity file %s is owned by uid %u, not by this user (uid %u): refused, as another "
                  "user could read or replace the key; fix: chown %u %s", path, (unsigned)st.st_uid,
                  (unsigned)geteuid(), (unsigned)geteuid(), path);
        return -EPERM;
    }
    if (st.st_mode & 077) {
        ipop__err(NULL, "identity file %s has mode %04o: refused, as group or others can reach the private key; "
                  "fix: chmod 600 %s (and make a new identity if others could read it)", path,
                  (unsigned)(st.st_mode & 07777), path);
        return -EACCES;
    }
    if (st.st_size > FILE_MAX) {
        ipop__err(NULL, "identity file %s is too large to be an identity", path);
        return -EINVAL;
    }
    return 0;
}

/* Opens the file without following a symbolic link.  -ENOENT when there
 * is none. */
static int open_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

    if (fd >= 0)
        return fd;
    if (errno == ELOOP)
        ipop__err(NULL, "identity file %s is a symbolic link: refused; name the file itself", path);
    else if (errno != ENOENT)
        ipop__err(NULL, "cannot open the identity file %s: %s", path, g_strerror(errno));
    return -errno;
}

static int load(ipop__identity *id, int fd, const char *path)
{
    char *text = g_malloc(FILE_MAX + 1);
    size_t len = 0;
    ssize_t n;
    gnutls_datum_t d;
    int r = check_file(fd, path);

    while (r == 0 && len < FILE_MAX && (n = read(fd, text + len, FILE_MAX - len)) != 0) {
        if (n < 0 && errno != EINTR)
            r = -EIO;
        else if (n > 0)
            len += (size_t)n;
    }
    if (r < 0)
        goto out;
    r = -EINVAL;
    d.data = (unsigned char *)text;
    d.size = (unsigned)len;
    if (gnutls_x509_privkey_import(id->key, &d, GNUTLS_X509_FMT_PEM) < 0 ||
        gnutls_x509_privkey_get_pk_algorithm(id->key) != GNUTLS_PK_ECDSA ||
        gnutls_x509_crt_import(id->crt, &d, GNUTLS_X509_FMT_PEM) < 0) {
        ipop__err(NULL, "identity file %s holds no ECDSA key and certificate", path);
        goto out;
    }
    r = 0;
out:
    memset(text, 0, len);
    g_free(text);
    return r;
}

/* Loads the file, or creates it when there is none. */
static int load_or_create(ipop__identity *id, const char *path)
{
    int fd = open_file(path), r;

    if (fd == -ENOENT) {
        r = generate(id);
        if (r < 0)
            return r;
        r = save(id, path);
        if (r != -EEXIST)
            return r;
        fd = open_file(path); /* created by someone else meanwhile: theirs, if it passes */
    }
    if (fd < 0)
        return fd;
    r = load(id, fd, path);
    close(fd);
    return r;
}

static int spki_node_id(gnutls_x509_crt_t crt, char out[IPOP__NODE_ID_LEN + 1])
{
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t spki = { 0 };
    uint8_t hash[32];
    int r = -EINVAL;

    if (gnutls_pubkey_init(&pub) < 0)
        return -ENOMEM;
    if (gnutls_pubkey_import_x509(pub, crt, 0) < 0 || gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki) < 0 ||
        gnutls_hash_fast(GNUTLS_DIG_SHA256, spki.data, spki.size, hash) < 0)
        goto out;
    base32(hash, sizeof(hash), out);
    r = 0;
out:
    gnutls_free(spki.data);
    gnutls_pubkey_deinit(pub);
    return r;
}

int ipop__cert_node_id(const gnutls_datum_t *der, char out[IPOP__NODE_ID_LEN + 1])
{
    gnutls_x509_crt_t crt;
    int r;

    if (!der || !der->data || gnutls_x509_crt_init(&crt) < 0)
        return -EINVAL;
    r = gnutls_x509_crt_import(crt, der, GNUTLS_X509_FMT_DER) < 0 ? -EINVAL : spki_node_id(crt, out);
    gnutls_x509_crt_deinit(crt);
    return r;
}

/* Node id and fingerprint, and a check that the certificate holds our key. */
static int derive(ipop__identity *id)
{
    gnutls_datum_t der = { 0 };
    uint8_t key_id[32], crt_id[32];
    size_t key_id_len = sizeof(key_id), crt_id_len = sizeof(crt_id);
    int r = -EINVAL;

    if (gnutls_x509_privkey_get_key_id(id->key, GNUTLS_KEYID_USE_SHA256, key_id, &key_id_len) < 0 ||
        gnutls_x509_crt_get_key_id(id->crt, GNUTLS_KEYID_USE_SHA256, crt_id, &crt_id_len) < 0 ||
        key_id_len != crt_id_len || memcmp(key_id, crt_id, key_id_len) != 0)
        goto out;
    if (spki_node_id(id->crt, id->node_id) < 0)
        goto out;
    if (gnutls_x509_crt_export2(id->crt, GNUTLS_X509_FMT_DER, &der) < 0 ||
        ipop__cert_fingerprint(&der, id->fingerprint) < 0)
        goto out;
    r = 0;
out:
    gnutls_free(der.data);
    return r;
}

int ipop__identity_load(ipop__identity **ret, const char *path)
{
    ipop__identity *id;
    int r;

    if (!ret || (path && !*path))
        return -EINVAL;
    id = g_new0(ipop__identity, 1);
    if (gnutls_x509_privkey_init(&id->key) < 0 || gnutls_x509_crt_init(&id->crt) < 0 ||
        gnutls_certificate_allocate_credentials(&id->cred) < 0) {
        r = -ENOMEM;
        goto fail;
    }
    r = path ? load_or_create(id, path) : generate(id);
    if (r < 0)
        goto fail;
    r = derive(id);
    if (r < 0)
        goto fail;
    if (gnutls_certificate_set_x509_key(id->cred, &id->crt, 1, id->key) < 0) {
        r = -EINVAL;
        goto fail;
    }
    *ret = id;
    return 0;
fail:
    ipop__identity_free(id);
    return r;
}

void ipop__identity_free(ipop__identity *id)
{
    if (!id)
        return;
    if (id->cred)
        gnutls_certificate_free_credentials(id->cred);
    if (id->crt)
        gnutls_x509_crt_deinit(id->crt);
    if (id->key)
        gnutls_x509_privkey_deinit(id->key);
    g_free(id);
}

const char *ipop__identity_node_id(const ipop__identity *id)
{
    return id->node_id;
}

const uint8_t *ipop__identity_fingerprint(const ipop__identity *id)
{
    return id->fingerprint;
}

gnutls_certificate_credentials_t ipop__identity_credentials(const ipop__identity *id)
{
    return id->cred;
}

/* ---- signed signalling: the key operations ---- */

int ipop__identity_public_key(const ipop__identity *id, uint8_t *out, size_t *len)
{
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t spki = { 0 };
    int r = -EIO;

    if (!id || !out || !len)
        return -EINVAL;
    if (gnutls_pubkey_init(&pub) < 0)
        return -ENOMEM;
    if (gnutls_pubkey_import_x509(pub, id->crt, 0) < 0 || gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &spki) < 0)
        goto out;
    r = -EMSGSIZE;
    if (spki.size > *len)
        goto out;
    memcpy(out, spki.data, spki.size);
    *len = spki.size;
    r = 0;
out:
    gnutls_free(spki.data);
    gnutls_pubkey_deinit(pub);
    return r;
}

/* An unsigned big-endian integer of at most 32 bytes into exactly 32. */
static int fixed32(const gnutls_datum_t *v, uint8_t out[32])
{
    size_t n = v->size, skip = 0;

    while (skip < n && v->data[skip] == 0)
        skip++; /* DER's sign byte, and any other leading zero */
    if (n - skip > 32)
        return -EIO;
    memset(out, 0, 32 - (n - skip));
    memcpy(out + 32 - (n - skip), v->data + skip, n - skip);
    return 0;
}

int ipop__identity_sign(const ipop__identity *id, const void *data, size_t len, uint8_t sig[64])
{
    gnutls_privkey_t priv = NULL;
    gnutls_datum_t d = { (unsigned char *)data, (unsigned)len }, der = { 0 }, r = { 0 }, s = { 0 };
    int ret = -EIO;

    if (!id || (!data && len) || !sig)
        return -EINVAL;
    if (gnutls_privkey_init(&priv) < 0)
        return -ENOMEM;
    if (gnutls_privkey_import_x509(priv, id->key, 0) < 0 ||
        gnutls_privkey_sign_data(priv, GNUTLS_DIG_SHA256, 0, &d, &der) < 0 ||
        gnutls_decode_rs_value(&der, &r, &s) < 0 || fixed32(&r, sig) < 0 || fixed32(&s, sig + 32) < 0)
        goto out;
    ret = 0;
out:
    gnutls_free(der.data);
    gnutls_free(r.data);
    gnutls_free(s.data);
    gnutls_privkey_deinit(priv);
    return ret;
}

/* The shortest unsigned form of a 32-byte integer (at least one byte). */
static gnutls_datum_t trimmed(const uint8_t v[32])
{
    unsigned skip = 0;

    while (skip < 31 && v[skip] == 0)
        skip++;
    return (gnutls_datum_t){ (unsigned char *)v + skip, 32 - skip };
}

int ipop__identity_verify(const char *node_id, const uint8_t *spki, size_t spki_len, const void *data, size_t len,
                          const uint8_t sig[64])
{
    gnutls_pubkey_t pub = NULL;
    gnutls_datum_t k = { (unsigned char *)spki, (unsigned)spki_len }, d = { (unsigned char *)data, (unsigned)len };
    gnutls_datum_t r, s, der = { 0 };
    uint8_t hash[32];
    char id[IPOP__NODE_ID_LEN + 1];
    unsigned bits = 0;
    int ret = -EBADMSG;

    if (!node_id || !spki || !spki_len || spki_len > 4096 || (!data && len) || !sig)
        return -EBADMSG;
    /* The key must be the sender's: cheap, and before the costly check. */
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, spki, spki_len, hash) < 0)
        return -EBADMSG;
    base32(hash, sizeof(hash), id);
    if (strcmp(id, node_id) != 0)
        return -EBADMSG;
    r = trimmed(sig);
    s = trimmed(sig + 32);
    if (gnutls_pubkey_init(&pub) < 0)
        return -ENOMEM;
    if (gnutls_pubkey_import(pub, &k, GNUTLS_X509_FMT_DER) < 0 ||
        gnutls_pubkey_get_pk_algorithm(pub, &bits) != GNUTLS_PK_ECDSA || bits != 256 ||
        gnutls_encode_rs_value(&der, &r, &s) < 0 ||
        gnutls_pubkey_verify_data2(pub, GNUTLS_SIGN_ECDSA_SHA256, 0, &d, &der) < 0)
        goto out;
    ret = 0;
out:
    gnutls_free(der.data);
    gnutls_pubkey_deinit(pub);
    return ret;
}

/* ---- generated group secrets ---- */

IPOP_EXPORT int ipop_generate_secret(char *buf, size_t size)
{
    uint8_t raw[IPOP__PROOF_GEN_RAW];

    G_STATIC_ASSERT(IPOP_GENERATED_SECRET_LEN == IPOP__PROOF_GEN_LEN);
    if (!buf)
        return -EINVAL;
    if (size < IPOP_GENERATED_SECRET_LEN + 1)
        return -ENOSPC;
    if (gnutls_rnd(GNUTLS_RND_KEY, raw, sizeof(raw)) < 0)
        return -EIO;
    ipop__proof_secret_format(raw, buf);
    gnutls_memset(raw, 0, sizeof(raw));
    return IPOP_GENERATED_SECRET_LEN;
}
