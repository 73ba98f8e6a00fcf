/* SPDX-License-Identifier: MIT */
/* ipopd --gen-secret: a strong GroupVPN secret. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ipopd.h"

/* ipop_generate_secret(): 32 random bytes from the kernel with a check,
 * 56 characters, safe in a config file; nothing to guess, so members key
 * the group at once (no Argon2id). */
int print_new_secret(void)
{
    char text[IPOP_GENERATED_SECRET_LEN + 1];
    int r = ipop_generate_secret(text, sizeof(text));

    if (r < 0) {
        fprintf(stderr, "ipopd: cannot make a secret: %s\n", ipop_strerror(r));
        return 1;
    }
    printf("%s\n", text);
    memset(text, 0, sizeof(text));
    return 0;
}
