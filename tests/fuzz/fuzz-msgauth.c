/* SPDX-License-Identifier: MIT */
/* Fuzzes the signed envelope (lib/msgauth.c): the decoder never reads past
 * the input and refuses with one of its documented errors; what decodes
 * encodes back to exactly the input (one encoding per envelope, so a
 * signature covers one line), and its sign input builds.  The message
 * inside then goes to the message decoder, as the receiver does.  The
 * replay window, fed with the decoded time and nonce, keeps its bounds. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "message.h"
#include "msgauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ipop__auth a;
static const ipop__auth zero;
static ipop__msg m;
static ipop__replay w;
static char line[IPOP__SIGNAL_MAX + 1];
static uint8_t input[IPOP__AUTH_INPUT_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    size_t body_len = 0;
    int r = ipop__auth_decode(&a, text, size, &body_len);
    int n;

    if (r != 0) {
        if (r != -EINVAL && r != -EMSGSIZE && r != -EPROTONOSUPPORT && r != -EBADMSG)
            abort();
        if (body_len != 0 || memcmp(&a, &zero, sizeof(a)) != 0)
            abort();
        return 0;
    }
    if (body_len == 0 || body_len >= size)
        abort();
    n = ipop__auth_encode(&a, text, body_len, line, sizeof(line));
    if (n < 0 || (size_t)n != size || memcmp(line, text, size) != 0)
        abort();
    n = ipop__auth_sign_input(input, sizeof(input), "host:fuzz", a.to, &a, text, body_len);
    if (n <= 0)
        abort();
    (void)ipop__msg_decode(&m, text, body_len);
    (void)ipop__auth_check(&a, a.to, a.ts_ms);
    if (ipop__replay_check(&w, a.ts_ms, a.nonce) == 0)
        ipop__replay_add(&w, a.ts_ms, a.ts_ms, a.nonce);
    if (w.n > IPOP__REPLAY_SLOTS || ipop__replay_check(&w, a.ts_ms, a.nonce) == 0)
        abort();
    return 0;
}
