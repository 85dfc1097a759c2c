/* fuzz_proto.c: libFuzzer target for what a resident server's child decodes
 * from any process that connects: the request header (cgih_hdr_check) and
 * body (cgih_req_decode). The input's first 16 bytes are a header, the rest
 * a body, decoded from a buffer of exactly its size (ASan sees any read
 * past it). A body that decodes must hold what the server relies on
 * (argc >= 1, NULL-terminated arrays, strings inside the body, '=' in every
 * environment entry, at most CGIH_MAX_RLIM limits), and encode back to the
 * same bytes. A rejected one gives a reason and an offset inside it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void within(const char *s, const char *body, size_t len)
{
    if (s < body || s >= body + len || strlen(s) >= (size_t)(body + len - s))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cgih_hdr h;
    const char *reason = NULL;
    if (size >= sizeof h) {
        memcpy(&h, data, sizeof h);
        if (cgih_hdr_check(&h, &reason) != CGIH_OK && reason == NULL)
            abort();
        data += sizeof h;
        size -= sizeof h;
    }
    char *body = malloc(size ? size : 1);
    if (body == NULL)
        abort();
    memcpy(body, data, size);
    struct cgih_req r;
    size_t pos = (size_t)-1;
    reason = NULL;
    if (cgih_req_decode(body, size, &r, &reason, &pos) != CGIH_OK) {
        if (reason == NULL || pos > size || r.argv != NULL || r.envp != NULL)
            abort();
        free(body);
        return 0;
    }
    if (r.argc < 1 || r.argv[r.argc] != NULL || r.envp[r.envc] != NULL || r.nrlim > CGIH_MAX_RLIM)
        abort();
    for (uint32_t i = 0; i < r.argc; i++)
        within(r.argv[i], body, size);
    for (uint32_t i = 0; i < r.envc; i++) {
        within(r.envp[i], body, size);
        if (strchr(r.envp[i], '=') == NULL)
            abort();
    }
    size_t len = 0;
    char *again = cgih_req_encode(&r, &len);
    if (again == NULL || len != size || memcmp(again, body, size) != 0)
        abort();
    free(again);
    cgih_req_free(&r);
    free(body);
    return 0;
}
