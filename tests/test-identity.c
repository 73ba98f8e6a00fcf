/* SPDX-License-Identifier: MIT */
/* The node identity: generated, saved with mode 0600, loaded back the same. */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

#include <gnutls/x509.h>

#include "identity.h"
#include "message.h"
#include "testutil.h"

static void test_memory(void)
{
    ipop__identity *a = NULL, *b = NULL;

    g_assert_cmpint(ipop__identity_load(&a, NULL), ==, 0);
    g_assert_cmpint(ipop__identity_load(&b, NULL), ==, 0);
    g_assert_cmpuint(strlen(ipop__identity_node_id(a)), ==, IPOP__NODE_ID_LEN);
    g_assert_true(ipop__node_id_valid(ipop__identity_node_id(a)));
    g_assert_cmpstr(ipop__identity_node_id(a), !=, ipop__identity_node_id(b));
    g_assert_true(memcmp(ipop__identity_fingerprint(a), ipop__identity_fingerprint(b), 32) != 0);
    g_assert_nonnull(ipop__identity_credentials(a));
    ipop__identity_free(a);
    ipop__identity_free(b);
    ipop__identity_free(NULL);
}

static void test_file(void)
{
    char *dir = g_dir_make_tmp("ipop-id-XXXXXX", NULL);
    char *path = g_build_filename(dir, "node.pem", NULL);
    ipop__identity *a = NULL, *b = NULL;
    struct stat st;

    g_assert_cmpint(ipop__identity_load(&a, path), ==, 0);
    g_assert_cmpint(stat(path, &st), ==, 0);
    g_assert_cmpint(st.st_mode & 0777, ==, 0600);
    g_assert_cmpint(ipop__identity_load(&b, path), ==, 0);
    g_assert_cmpstr(ipop__identity_node_id(a), ==, ipop__identity_node_id(b));
    g_assert_true(memcmp(ipop__identity_fingerprint(a), ipop__identity_fingerprint(b), 32) == 0);
    /* What a peer checks: the certificate's key hashes to the node id, and
     * the fingerprint is the certificate's. */
    {
        gchar *pem = NULL;
        gsize len = 0;
        gnutls_x509_crt_t crt;
        gnutls_datum_t d, der = { 0 };
        char id[IPOP__NODE_ID_LEN + 1];
        uint8_t fp[32];
        g_assert_true(g_file_get_contents(path, &pem, &len, NULL));
        d.data = (unsigned char *)pem;
        d.size = (unsigned)len;
        g_assert_cmpint(gnutls_x509_crt_init(&crt), ==, 0);
        g_assert_cmpint(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), ==, 0);
        g_assert_cmpint(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der), ==, 0);
        g_assert_cmpint(ipop__cert_node_id(&der, id), ==, 0);
        g_assert_cmpstr(id, ==, ipop__identity_node_id(a));
        g_assert_cmpint(ipop__cert_fingerprint(&der, fp), ==, 0);
        g_assert_true(memcmp(fp, ipop__identity_fingerprint(a), 32) == 0);
        der.data[der.size / 2] ^= 0xff; /* a damaged certificate names nobody */
        g_assert_true(ipop__cert_node_id(&der, id) < 0 || strcmp(id, ipop__identity_node_id(a)) != 0);
        d.size = 10;
        g_assert_cmpint(ipop__cert_node_id(&d, id), ==, -EINVAL);
        g_assert_cmpint(ipop__cert_node_id(NULL, id), ==, -EINVAL);
        gnutls_free(der.data);
        gnutls_x509_crt_deinit(crt);
        g_free(pem);
    }
    ipop__identity_free(a);
    ipop__identity_free(b);

    /* a file that is not an identity */
    g_assert_true(g_file_set_contents(path, "not a key\n", -1, NULL));
    b = NULL;
    g_assert_cmpint(ipop__identity_load(&b, path), ==, -EINVAL);
    g_assert_null(b);
    /* a truncated one */
    g_assert_true(g_file_set_contents(path, "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqG\n", -1, NULL));
    g_assert_cmpint(ipop__identity_load(&b, path), ==, -EINVAL);
    g_assert_cmpint(ipop__identity_load(&b, ""), ==, -EINVAL);
    g_assert_cmpint(ipop__identity_load(NULL, NULL), ==, -EINVAL);
    /* a directory that does not exist */
    g_assert_cmpint(ipop__identity_load(&b, "/nonexistent-dir/x.pem"), <, 0);
    g_unlink(path);
    g_rmdir(dir);
    g_free(path);
    g_free(dir);
}

/* The public view: the node id is known before start when the file exists,
 * and it is the same after a restart with the same file. */
static void test_network_identity(void)
{
    char *dir = g_dir_make_tmp("ipop-id-XXXXXX", NULL);
    char *path = g_build_filename(dir, "node.pem", NULL);
    ipop_network_t *net = NULL;
    char *first;

    g_assert_cmpint(ipop_network_new(&net, "id"), ==, 0);
    g_assert_null(ipop_network_get_node_id(net));
    g_assert_cmpint(ipop_network_set_option(net, "identity.file", path), ==, 0);
    g_assert_null(ipop_network_get_node_id(net)); /* not created yet */
    g_assert_cmpint(ipop_network_start(net), ==, 0);
    first = g_strdup(ipop_network_get_node_id(net));
    g_assert_cmpuint(strlen(first), ==, 52);
    g_assert_cmpint(ipop_network_stop(net), ==, 0);
    net = ipop_network_free(net);

    g_assert_cmpint(ipop_network_new(&net, "id"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "identity.file", path), ==, 0);
    g_assert_cmpstr(ipop_network_get_node_id(net), ==, first);
    net = ipop_network_free(net);
    g_unlink(path);
    g_rmdir(dir);
    g_free(first);
    g_free(path);
    g_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    test_log_to_stderr(IPOP_LOG_INFO);
    g_test_add_func("/identity/memory", test_memory);
    g_test_add_func("/identity/file", test_file);
    g_test_add_func("/identity/network", test_network_identity);
    return g_test_run();
}
