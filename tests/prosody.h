/* SPDX-License-Identifier: MIT */
/* A private prosody for a test (tests/servers/prosody.sh): its own port,
 * directory, certificate and accounts on 127.0.0.1; domain ipop.test, rooms
 * at rooms.ipop.test.  Exits the test with 77 when prosody or openssl is
 * missing.  IPOP_TEST_XMPP_SERVER=ejabberd in the environment: an ejabberd
 * instead (tests/servers/ejabberd.sh), same domain, rooms and accounts;
 * IPOP_PROSODY_VARIANT=stock: prosody's own room settings (prosody.sh). */
#pragma once

#include <ipop/ipop.h>

typedef struct test_prosody {
    char *dir;          /* its data, config and certificate */
    char *fingerprint;  /* SHA-256 of its certificate, hex */
    int port;
    char *script;
    char **users;       /* "user:password", NULL-terminated */
} test_prosody;

/* Starts a new server with these accounts.  Call it from main() before
 * any thread starts: it empties the CA store the clients load
 * (SSL_CERT_FILE, SSL_CERT_DIR), which they do not need since they pin. */
void test_prosody_start(test_prosody *p, const char *const *users);
/* Starts it again after test_prosody_stop(): same port, certificate, data. */
void test_prosody_restart(test_prosody *p);
/* Stops it and waits until it is gone. */
void test_prosody_stop(test_prosody *p);
/* Sets net's XMPP login to account USER@ipop.test with pass on this
 * server (xmpp.jid, .password, .server, .port, .server-fingerprint);
 * asserts each is taken. */
void test_prosody_login(const test_prosody *p, ipop_network_t *net, const char *user, const char *pass);
/* Stops it and removes its directory. */
void test_prosody_free(test_prosody *p);
