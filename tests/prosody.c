/* SPDX-License-Identifier: MIT */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prosody.h"
#include "testutil.h"

static bool have_program(const char *name)
{
    char *path = g_find_program_in_path(name);
    bool found = path != NULL;

    g_free(path);
    return found;
}

static void run_script(test_prosody *p, const char *cmd)
{
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
    char *out = NULL, *err = NULL;
    int status = 0;
    GError *error = NULL;

    g_ptr_array_add(argv, g_strdup("bash"));
    g_ptr_array_add(argv, g_strdup(p->script));
    g_ptr_array_add(argv, g_strdup(cmd));
    g_ptr_array_add(argv, g_strdup(p->dir));
    g_ptr_array_add(argv, g_strdup("127.0.0.1"));
    g_ptr_array_add(argv, g_strdup_printf("%d", p->port));
    for (char **u = p->users; *u; u++)
        g_ptr_array_add(argv, g_strdup(*u));
    g_ptr_array_add(argv, NULL);
    if (!g_spawn_sync(NULL, (char **)argv->pdata, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, &error))
        g_error("cannot run %s: %s", p->script, error->message);
    if (!g_spawn_check_wait_status(status, NULL))
        g_error("prosody %s failed: %s%s", cmd, out, err);
    g_free(out);
    g_free(err);
    g_ptr_array_unref(argv);
}

void test_prosody_start(test_prosody *p, const char *const *users)
{
    const char *srcdir = getenv("IPOP_TEST_SRCDIR");
    char *fp_path;

    /* IPOP_TEST_XMPP_SERVER=ejabberd: the same, served by an ejabberd */
    const char *server = g_strcmp0(getenv("IPOP_TEST_XMPP_SERVER"), "ejabberd") ? "prosody" : "ejabberd";
    char *script = g_strdup_printf("%s.sh", server);

    if (!have_program(!strcmp(server, "ejabberd") ? "ejabberdctl" : "prosody") || !have_program("openssl")) {
        printf("SKIP: %s and openssl are needed (Debian packages %s, openssl)\n", server, server);
        exit(TEST_SKIP);
    }
    /* Every client of this server pins its self-signed certificate, which no
     * CA in the system store can vouch for; yet libstrophe loads that whole
     * store (SSL_CTX_set_default_verify_paths(), some 140 certificates)
     * for each TLS connection.  Under ASan with fast_unwind_on_malloc=0
     * OpenSSL's many allocations there made one login take 50 to 100 s.
     * An empty store leaves the outcome as it is: the certificate fails
     * the CA check all the same and the pin decides.  Set here, in main()
     * before any thread, so that every client in the test and its child
     * processes see it, whatever store the environment names. */
    setenv("SSL_CERT_FILE", "/nonexistent/ipop-test-no-ca-store", 1);
    setenv("SSL_CERT_DIR", "/nonexistent/ipop-test-no-ca-store", 1);
    p->script = g_build_filename(srcdir ? srcdir : "tests", "servers", script, NULL);
    g_free(script);
    p->dir = g_dir_make_tmp("ipop-xmpp-XXXXXX", NULL);
    p->port = test_free_port();
    p->users = g_strdupv((char **)users);
    run_script(p, "start");
    fp_path = g_build_filename(p->dir, "fingerprint", NULL);
    if (!g_file_get_contents(fp_path, &p->fingerprint, NULL, NULL))
        g_error("prosody wrote no fingerprint in %s", p->dir);
    g_strstrip(p->fingerprint);
    g_free(fp_path);
}

void test_prosody_restart(test_prosody *p)
{
    run_script(p, "start");
}

void test_prosody_stop(test_prosody *p)
{
    /* the script's stop: TERM, then KILL after 10 s.  A TERM alone let an
     * ejabberd that was still shutting down outlive its test (and its
     * spool, removed under it) on a loaded CI machine. */
    run_script(p, "stop");
}

void test_prosody_free(test_prosody *p)
{
    char *cmd;

    test_prosody_stop(p);
    cmd = g_strdup_printf("rm -rf '%s'", p->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", p->dir);
    g_free(cmd);
    g_free(p->dir);
    g_free(p->fingerprint);
    g_free(p->script);
    g_strfreev(p->users);
}

void test_prosody_login(const test_prosody *p, ipop_network_t *net, const char *user, const char *pass)
{
    char *jid = g_strdup_printf("%s@ipop.test", user), *port_s = g_strdup_printf("%d", p->port);

    g_assert_cmpint(ipop_network_set_option(net, "xmpp.jid", jid), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "xmpp.password", pass), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "xmpp.server", "127.0.0.1"), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "xmpp.port", port_s), ==, 0);
    g_assert_cmpint(ipop_network_set_option(net, "xmpp.server-fingerprint", p->fingerprint), ==, 0);
    g_free(jid);
    g_free(port_s);
}
