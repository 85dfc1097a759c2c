/* fuzz_qs.c: libFuzzer target for the query-string splitter. The first byte
 * picks a separator and limits; the rest is fed whole and again in chunks of
 * varying size, and both runs must produce the same events. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qs.h"

typedef struct {
    uint64_t hash, bytes, fields;
} acc_t;

/* Each byte is hashed with its kind, so the hash does not depend on how the
 * bytes were cut into spans. */
static void mix(acc_t *a, const char *at, size_t n, uint64_t tag)
{
    for (size_t i = 0; i < n; i++)
        a->hash = (a->hash ^ ((unsigned char)at[i] | tag << 8)) * 1099511628211u;
    if (n == 0)
        a->hash = (a->hash ^ (tag << 8)) * 1099511628211u;
    a->bytes += n;
}

static int on_name(cgih_qs_parser *p, const char *at, size_t n)
{
    mix(p->data, at, n, 1);
    return 0;
}

static int on_value(cgih_qs_parser *p, const char *at, size_t n)
{
    mix(p->data, at, n, 2);
    return 0;
}

static int on_end(cgih_qs_parser *p)
{
    acc_t *a = p->data;
    a->fields++;
    mix(a, "", 0, 3 + (uint64_t)p->field_has_eq);
    return 0;
}

static const char *const seps[] = {"&", ";", "&&", "aab", "=", "&amp;"};

static int run(const uint8_t *d, size_t n, unsigned sel, size_t chunk, acc_t *a, int *status)
{
    cgih_qs_settings s = {on_name, on_value, on_end, (sel & 8) ? 5 : 0, (sel & 16) ? 7 : 0};
    cgih_qs_parser p;
    const char *sep = seps[sel % (sizeof seps / sizeof seps[0])];
    memset(a, 0, sizeof *a);
    if (cgih_qs_init(&p, &s, sep, strlen(sep)) != 0)
        abort();
    p.data = a;
    size_t off = 0;
    *status = CGIH_QS_OK;
    while (off < n && *status == CGIH_QS_OK) {
        size_t k = chunk && chunk < n - off ? chunk : n - off;
        *status = cgih_qs_execute(&p, (const char *)d + off, k);
        off += k;
    }
    if (*status == CGIH_QS_OK)
        *status = cgih_qs_finish(&p);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned sel = data[0];
    acc_t whole, split;
    int s1, s2;
    run(data + 1, size - 1, sel, 0, &whole, &s1);
    run(data + 1, size - 1, sel, 1 + (sel >> 5), &split, &s2);
    if (s1 != s2 || (s1 == CGIH_QS_OK && (whole.hash != split.hash || whole.fields != split.fields)))
        abort();
    /* unquote never grows its input */
    char *copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    if (cgih_qs_unquote(copy, size) > size)
        abort();
    free(copy);
    return 0;
}
