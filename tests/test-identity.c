/* SPDX-License-Identifier: MIT */
/* The node identity: generated, saved with mode 0600, loaded back the same;
 * a file that others can reach, that is not ours, or that is a symbolic
 * link is refused. */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* Writes a file as an editor or a copy by hand would, then gives it `mode`. */
static void write_file(const char *path, const char *text, mode_t mode)
{
    g_assert_true(g_file_set_contents(path, text, -1, NULL));
    g_assert_cmpint(chmod(path, mode), ==, 0);
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
    write_file(path, "not a key\n", 0600);
    b = NULL;
    g_assert_cmpint(ipop__identity_load(&b, path), ==, -EINVAL);
    g_assert_null(b);
    /* a truncated one */
    write_file(path, "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqG\n", 0600);
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

/* A new file is 0600 whatever the umask. */
static void test_new_file_mode(void)
{
    char *dir = g_dir_make_tmp("ipop-id-XXXXXX", NULL);
    mode_t umasks[] = { 0, 022, 077, 0277 };

    for (size_t i = 0; i < G_N_ELEMENTS(umasks); i++) {
        char *path = g_strdup_printf("%s/node%zu.pem", dir, i);
        ipop__identity *a = NULL, *b = NULL;
        mode_t old = umask(umasks[i]);
        struct stat st;

        g_assert_cmpint(ipop__identity_load(&a, path), ==, 0);
        umask(old);
        g_assert_cmpint(lstat(path, &st), ==, 0);
        g_assert_true(S_ISREG(st.st_mode));
        g_assert_cmpint(st.st_mode & 07777, ==, 0600);
        g_assert_cmpint(st.st_uid, ==, geteuid());
        g_assert_cmpint(ipop__identity_load(&b, path), ==, 0); /* and it loads */
        g_assert_cmpstr(ipop__identity_node_id(a), ==, ipop__identity_node_id(b));
        ipop__identity_free(a);
        ipop__identity_free(b);
        g_unlink(path);
        g_free(path);
    }
    /* nothing else was left in the directory (no temporary file) */
    g_assert_cmpint(g_rmdir(dir), ==, 0);
    g_free(dir);
}

/* A key that group or others can read (or write) is refused, with the file
 * left as it was; 0600 and 0400 are accepted. */
static void test_mode(void)
{
    char *dir = g_dir_make_tmp("ipop-id-XXXXXX", NULL);
    char *path = g_build_filename(dir, "node.pem", NULL);
    ipop__identity *a = NULL, *b = NULL;
    char *first;
    static const mode_t refused[] = { 0644, 0640, 0604, 0660, 0620, 0602, 0610, 0601 };

    g_assert_cmpint(ipop__identity_load(&a, path), ==, 0);
    first = g_strdup(ipop__identity_node_id(a));
    ipop__identity_free(a);
    for (size_t i = 0; i < G_N_ELEMENTS(refused); i++) {
        struct stat st;
        g_assert_cmpint(chmod(path, refused[i]), ==, 0);
        b = NULL;
        g_assert_cmpint(ipop__identity_load(&b, path), ==, -EACCES);
        g_assert_null(b);
        g_assert_cmpint(stat(path, &st), ==, 0);
        g_assert_cmpint(st.st_mode & 0777, ==, refused[i]); /* not "fixed" behind the user's back */
    }
    g_assert_cmpint(chmod(path, 0600), ==, 0);
    g_assert_cmpint(ipop__identity_load(&b, path), ==, 0);
    g_assert_cmpstr(ipop__identity_node_id(b), ==, first);
    ipop__identity_free(b);
    g_assert_cmpint(chmod(path, 0400), ==, 0);
    g_assert_cmpint(ipop__identity_load(&b, path), ==, 0);
    g_assert_cmpstr(ipop__identity_node_id(b), ==, first);
    ipop__identity_free(b);

    /* through the public API: the option is refused, and start too */
    {
        ipop_network_t *net = NULL;
        g_assert_cmpint(chmod(path, 0644), ==, 0);
        g_assert_cmpint(ipop_network_new(&net, "id"), ==, 0);
        g_assert_cmpint(ipop_network_set_option(net, "identity.file", path), <, 0);
        g_assert_null(ipop_network_get_node_id(net));
        net = ipop_network_free(net);
    }
    g_unlink(path);
    g_rmdir(dir);
    g_free(first);
    g_free(path);
    g_free(dir);
}

/* A symbolic link is not followed: not to a good key, not to a missing
 * file (which would be created where the link points). */
static void test_symlink(void)
{
    char *dir = g_dir_make_tmp("ipop-id-XXXXXX", NULL);
    char *real = g_build_filename(dir, "real.pem", NULL), *link_path = g_build_filename(dir, "link.pem", NULL);
    char *target = g_build_filename(dir, "target.pem", NULL);
    ipop__identity *a = NULL, *b = NULL;
    struct stat st;

    g_assert_cmpint(ipop__identity_load(&a, real), ==, 0);
    g_assert_cmpint(symlink(real, link_path), ==, 0);
    g_assert_cmpint(ipop__identity_load(&b, link_path), ==, -ELOOP);
    g_assert_null(b);
    g_unlink(link_path);
    /* dangling: refused, and nothing is created at the target */
    g_assert_cmpint(symlink(target, link_path), ==, 0);
    g_assert_cmpint(ipop__identity_load(&b, link_path), ==, -ELOOP);
    g_assert_null(b);
    g_assert_cmpint(stat(target, &st), ==, -1);
    g_assert_cmpint(lstat(link_path, &st), ==, 0);
    g_assert_true(S_ISLNK(st.st_mode));
    /* nor a directory or other non-file */
    g_unlink(link_path);
    g_assert_cmpint(g_mkdir(link_path, 0700), ==, 0);
    g_assert_cmpint(ipop__identity_load(&b, link_path), ==, -EINVAL);
    g_rmdir(link_path);
    ipop__identity_free(a);
    g_unlink(real);
    g_rmdir(dir);
    g_free(real);
    g_free(link_path);
    g_free(target);
    g_free(dir);
}

/* A key owned by another user is refused even by root (who could read it):
 * that user can read and replace it. */
static void test_owner(void)
{
    char *dir = g_dir_make_tmp("ipop-id-XXXXXX", NULL);
    char *path = g_build_filename(dir, "node.pem", NULL);
    ipop__identity *a = NULL, *b = NULL;

    if (geteuid() != 0) {
        g_test_skip("chown to another user needs root");
        goto out;
    }
    g_assert_cmpint(ipop__identity_load(&a, path), ==, 0);
    g_assert_cmpint(chown(path, 65534, (gid_t)-1), ==, 0);
    g_assert_cmpint(chmod(path, 0600), ==, 0);
    g_assert_cmpint(ipop__identity_load(&b, path), ==, -EPERM);
    g_assert_null(b);
    g_assert_cmpint(chown(path, 0, (gid_t)-1), ==, 0);
    g_assert_cmpint(ipop__identity_load(&b, path), ==, 0);
    g_assert_cmpstr(ipop__identity_node_id(a), ==, ipop__identity_node_id(b));
    ipop__identity_free(a);
    ipop__identity_free(b);
out:
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
    g_test_add_func("/identity/new-file-mode", test_new_file_mode);
    g_test_add_func("/identity/mode", test_mode);
    g_test_add_func("/identity/symlink", test_symlink);
    g_test_add_func("/identity/owner", test_owner);
    return g_test_run();
}
