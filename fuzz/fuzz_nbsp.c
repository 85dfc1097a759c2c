/* fuzz_nbsp.c: libFuzzer target for the source checks of nbsp.h. The input
 * is a script's source. The rewrite must keep its length, change bytes only
 * into whitespace, only where no-break spaces were or in a line's leading
 * whitespace, and leave nothing to rewrite a second time; the UTF-8 check
 * and the coding spec must point inside the source and agree with each
 * other. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nbsp.h"

static size_t count_nbsp(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i + 1 < n; i++)
        if ((unsigned char)s[i] == 0xC2 && (unsigned char)s[i + 1] == 0xA0)
            k++;
    return k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *src = malloc(size ? size : 1), *orig = malloc(size ? size : 1);
    if (!src || !orig)
        abort();
    memcpy(src, data, size);
    memcpy(orig, data, size);

    size_t line = 0, bad = cgih_source_bad_utf8(src, size, &line);
    if (bad != (size_t)-1) {
        size_t lines = 1;
        for (size_t i = 0; i < bad; i++)
            lines += src[i] == '\n';
        if (bad >= size || line != lines || (unsigned char)src[bad] < 0x80)
            abort();
    }
    const char *name = NULL;
    size_t n = cgih_source_coding(src, size, &name);
    if (n) {
        /* compared as integers: a static name is another object */
        int inside = (uintptr_t)name >= (uintptr_t)src && (uintptr_t)name + n <= (uintptr_t)src + size;
        if (!inside && strcmp(name, "utf-8") != 0 && strcmp(name, "iso-8859-1") != 0)
            abort();
        for (size_t i = 0; i < n; i++) {
            char c = name[i];
            if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                  c == '-' || c == '_' || c == '.'))
                abort();
        }
        /* a source that declares an encoding is checked only in line 1,
         * read before the spec on line 2 */
        if (bad != (size_t)-1 && (line != 1 || (inside && (size_t)(name - src) < bad)))
            abort();
    }

    size_t before = count_nbsp(src, size), fixed = cgih_nbsp_fix(src, size);
    if (fixed > before || count_nbsp(src, size) != before - fixed)
        abort();
    for (size_t i = 0; i < size; i++) {
        if (src[i] == orig[i])
            continue;
        int was_nbsp = ((unsigned char)orig[i] == 0xC2 && i + 1 < size && (unsigned char)orig[i + 1] == 0xA0) ||
                       ((unsigned char)orig[i] == 0xA0 && i > 0 && (unsigned char)orig[i - 1] == 0xC2);
        int in_indent = 1; /* form feeds go only into a line's leading whitespace */
        for (size_t j = i; j > 0 && orig[j - 1] != '\n' && orig[j - 1] != '\r'; j--) {
            unsigned char c = (unsigned char)orig[j - 1];
            if (c != ' ' && c != '\t' && c != '\f' && c != 0xC2 && c != 0xA0)
                in_indent = 0;
        }
        /* a line's leading whitespace is rewritten as a whole: form feeds
         * first, then what was there, no-break spaces made spaces */
        if (src[i] == ' ' ? !(was_nbsp || in_indent) : !((src[i] == '\f' || src[i] == '\t') && in_indent))
            abort();
    }
    if (cgih_nbsp_fix(src, size) != 0) /* nothing left to do */
        abort();
    free(src);
    free(orig);
    return 0;
}
