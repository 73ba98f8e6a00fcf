/* SPDX-License-Identifier: MIT */
/* ipopd --gen-secret: a strong GroupVPN secret. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "ipopd.h"

/* 32 random bytes from the kernel, base64url without padding (43
 * characters, 256 bits): nothing to guess, and safe in a config file. */
int print_new_secret(void)
{
    unsigned char rnd[32];
    char *text;

    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
        fprintf(stderr, "ipopd: no random bytes: %s\n", strerror(errno));
        return 1;
    }
    text = g_base64_encode(rnd, sizeof(rnd));
    memset(rnd, 0, sizeof(rnd));
    g_strdelimit(text, "+", '-');
    g_strdelimit(text, "/", '_');
    text[strcspn(text, "=")] = '\0';
    printf("%s\n", text);
    memset(text, 0, strlen(text));
    g_free(text);
    return 0;
}
