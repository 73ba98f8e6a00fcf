/* SPDX-License-Identifier: MIT */
/* Runs a libFuzzer harness without libFuzzer (gcc builds): every file of
 * the corpus directories (or files) given as arguments, then a fixed
 * number of pseudo-random mutations of them.  The generator is seeded
 * with a constant, so a failure reproduces on every run. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define FUZZ_MAX_LEN 9000 /* as -max_len for libFuzzer */
#define DEFAULT_MUTATIONS 5000

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct input {
    uint8_t *data;
    size_t len;
} input;

static input *inputs;
static size_t n_inputs;
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t bound)
{
    /* xorshift64*: good enough to pick bytes and positions */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return bound ? (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32) % bound : 0;
}

static int add_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = malloc(FUZZ_MAX_LEN);
    size_t len;

    if (!f || !data) {
        fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
        free(data);
        if (f)
            fclose(f);
        return -1;
    }
    len = fread(data, 1, FUZZ_MAX_LEN, f);
    fclose(f);
    inputs = realloc(inputs, (n_inputs + 1) * sizeof(*inputs));
    if (!inputs)
        abort();
    inputs[n_inputs++] = (input){ data, len };
    return 0;
}

static int add_path(const char *path)
{
    struct dirent **names;
    struct stat st;
    int n, r = 0;

    if (stat(path, &st) < 0) {
        fprintf(stderr, "%s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return add_file(path);
    n = scandir(path, &names, NULL, alphasort); /* sorted: the same order every run */
    if (n < 0)
        return -1;
    for (int i = 0; i < n; i++) {
        char full[4096];
        if (names[i]->d_name[0] != '.') {
            snprintf(full, sizeof(full), "%s/%s", path, names[i]->d_name);
            if (r == 0)
                r = add_path(full);
        }
        free(names[i]);
    }
    free(names);
    return r;
}

/* Calls the harness on an exact-size heap copy, so that a read past the
 * end shows up under AddressSanitizer. */
static void run(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);

    if (!copy)
        abort();
    memcpy(copy, data, len);
    LLVMFuzzerTestOneInput(copy, len);
    free(copy);
}

static size_t insert(uint8_t *buf, size_t len, size_t at, const uint8_t *src, size_t n)
{
    if (len + n > FUZZ_MAX_LEN)
        n = FUZZ_MAX_LEN - len;
    memmove(buf + at + n, buf + at, len - at);
    memcpy(buf + at, src, n);
    return len + n;
}

static size_t mutate_once(uint8_t *buf, size_t len)
{
    static const uint8_t special[] = { 0, 0x01, '\n', '\r', ' ', '%', '=', '/', ':', '.', '0', '9',
                                       'f', 'F', 0x7f, 0x80, 0xff };
    const input *other = &inputs[rnd((uint32_t)n_inputs)];
    size_t at = rnd((uint32_t)len + 1), n;
    uint8_t b;

    switch (rnd(8)) {
    case 0: /* flip a bit */
        if (len)
            buf[at % len] ^= (uint8_t)(1u << rnd(8));
        return len;
    case 1: /* a random byte */
        if (len)
            buf[at % len] = (uint8_t)rnd(256);
        return len;
    case 2: /* a byte parsers care about */
        b = special[rnd(sizeof(special))];
        if (len && rnd(2))
            buf[at % len] = b;
        else
            len = insert(buf, len, at, &b, 1);
        return len;
    case 3: /* delete a range */
        n = rnd((uint32_t)(len - at) + 1);
        memmove(buf + at, buf + at + n, len - at - n);
        return len - n;
    case 4: /* truncate */
        return at;
    case 5: /* duplicate a range */
        n = rnd((uint32_t)(len - at) + 1);
        {
            uint8_t tmp[FUZZ_MAX_LEN];
            memcpy(tmp, buf + at, n);
            return insert(buf, len, rnd((uint32_t)len + 1), tmp, n);
        }
    case 6: /* a piece of another input */
        if (!other->len)
            return len;
        n = rnd((uint32_t)other->len) + 1;
        return insert(buf, len, at, other->data + rnd((uint32_t)(other->len - n) + 1), n);
    default: /* splice: our head, another's tail */
        n = rnd((uint32_t)other->len + 1);
        if (at + (other->len - n) > FUZZ_MAX_LEN)
            return len;
        memcpy(buf + at, other->data + n, other->len - n);
        return at + (other->len - n);
    }
}

int main(int argc, char **argv)
{
    static uint8_t buf[FUZZ_MAX_LEN];
    unsigned long mutations = DEFAULT_MUTATIONS;

    for (int i = 1; i < argc; i++) {
        if (strncmp(argv[i], "-runs=", 6) == 0)
            mutations = strtoul(argv[i] + 6, NULL, 10);
        else if (add_path(argv[i]) < 0)
            return 1;
    }
    if (n_inputs == 0) {
        fprintf(stderr, "usage: %s [-runs=N] CORPUS_DIR_OR_FILE...: no inputs found\n", argv[0]);
        return 1;
    }
    for (size_t i = 0; i < n_inputs; i++)
        run(inputs[i].data, inputs[i].len);
    for (unsigned long i = 0; i < mutations; i++) {
        const input *base = &inputs[rnd((uint32_t)n_inputs)];
        size_t len = base->len;
        unsigned steps = 1 + rnd(4);
        memcpy(buf, base->data, len);
        while (steps--)
            len = mutate_once(buf, len);
        run(buf, len);
    }
    printf("%zu corpus inputs and %lu mutations ran\n", n_inputs, mutations);
    for (size_t i = 0; i < n_inputs; i++)
        free(inputs[i].data);
    free(inputs);
    return 0;
}
