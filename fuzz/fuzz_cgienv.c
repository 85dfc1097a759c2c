/* fuzz_cgienv.c: libFuzzer target for the environment a script run through
 * the handler gets (cgih_cgi_direct_env), and the URL recovered from
 * REQUEST_URI (cgih_cgi_first_url). The input is an environment, one entry a
 * line; a script file is found at the first ".py" of a PATH_TRANSLATED. Every
 * entry made must have a name and '=', and nothing may be read or written out
 * of bounds (ASan) or overflow (UBSan). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgienv.h"

static size_t find(const char *translated, size_t level, void *arg)
{
    (void)level;
    (void)arg;
    const char *p = strstr(translated, ".py");
    return p ? (size_t)(p + 3 - translated) : (size_t)-1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    char **env = calloc(size + 2, sizeof *env);
    if (text == NULL || env == NULL)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    size_t n = 0;
    for (char *line = text, *end; line < text + size; line = end + 1) {
        end = memchr(line, '\n', (size_t)(text + size - line));
        if (end == NULL)
            end = text + size;
        *end = '\0';
        if (strchr(line, '=') != NULL) /* as environ's entries always are */
            env[n++] = line;
    }
    env[n] = NULL;

    char **out = cgih_cgi_direct_env(env, find, NULL);
    if (out == NULL)
        abort();
    for (char **e = out; *e; e++)
        if (strchr(*e, '=') == NULL)
            abort();
    cgih_cgi_env_free(out);

    for (size_t i = 0; i < n; i++) {
        char url[64];
        const char *query;
        size_t len = cgih_cgi_first_url(env[i], url, sizeof url, &query);
        if (len != (size_t)-1 && (len >= sizeof url || url[len] != '\0' || url[0] != '/'))
            abort();
    }
    free(env);
    free(text);
    return 0;
}
