/* cgienv.c: choosing the script and its environment when run as a CGI
 * program. The contract and the two modes are described in cgienv.h.
 *
 * Only libc: no Python here, so the pure functions are unit-tested alone
 * (tests/c/test_cgienv.c), and the rest end to end in tests/test_apache.py,
 * through a real Apache and from the command line.
 */
#include "cgienv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

/* ---- pure parts ----------------------------------------------------------- */

size_t cgih_cgi_query_words(const char *qs)
{
    if (qs == NULL || *qs == '\0' || strchr(qs, '=') != NULL)
        return 0;
    size_t n = 1;
    for (; *qs; qs++)
        n += *qs == '+';
    return n;
}

/* True when entry is "name=...". */
static int has_name(const char *entry, const char *name)
{
    size_t n = strlen(name);
    return strncmp(entry, name, n) == 0 && entry[n] == '=';
}

static const char *const replaced[] = {
    "SCRIPT_NAME",     "SCRIPT_FILENAME", "PATH_INFO",
    "PATH_TRANSLATED", "CONTEXT_PREFIX",  "CONTEXT_DOCUMENT_ROOT",
};

static int is_replaced(const char *entry)
{
    for (size_t i = 0; i < sizeof replaced / sizeof replaced[0]; i++)
        if (has_name(entry, replaced[i]))
            return 1;
    return 0;
}

enum cgih_env_fate cgih_cgi_env_fate(const char *entry)
{
    static const char redirect[] = "REDIRECT_";
    if (strncmp(entry, redirect, sizeof redirect - 1) == 0) {
        const char *rest = entry + sizeof redirect - 1;
        /* Made by the Action's internal redirect itself (http_request.c,
         * util_script.c) or by mod_actions for it (HANDLER). */
        if (*rest == '=' || *rest == '\0' || has_name(rest, "STATUS") || has_name(rest, "URL") ||
            has_name(rest, "QUERY_STRING") || has_name(rest, "HANDLER") ||
            has_name(rest, "CGIHOST_FILE")) /* the snippet's, for cgihost alone */
            return CGIH_ENV_DROP;
        return CGIH_ENV_UNWRAP;
    }
    return is_replaced(entry) ? CGIH_ENV_REPLACE : CGIH_ENV_KEEP;
}

size_t cgih_cgi_script_name_len(const char *path_info, const char *extra)
{
    size_t lp = strlen(path_info), le = strlen(extra);
    if (le > lp || memcmp(path_info + (lp - le), extra, le) != 0)
        return (size_t)-1;
    if (le > 0 && extra[0] != '/')
        return (size_t)-1;
    size_t u = lp - le;
    if (u < 2 || path_info[0] != '/' || path_info[u - 1] == '/')
        return (size_t)-1;
    return u;
}

void cgih_cgi_context(const char *document_root, const char *script_name, const char *filename,
                      size_t *prefix_len, size_t *root_len)
{
    if (document_root && *document_root) {
        size_t ld = strlen(document_root);
        while (ld > 1 && document_root[ld - 1] == '/')
            ld--;
        if (strncmp(filename, document_root, ld) == 0 && strcmp(filename + ld, script_name) == 0) {
            *prefix_len = 0;
            *root_len = (size_t)-1;
            return;
        }
    }
    /* The longest common tail, then forward to where it starts with '/'. */
    size_t i = strlen(script_name), j = strlen(filename);
    while (i > 0 && j > 0 && script_name[i - 1] == filename[j - 1]) {
        i--;
        j--;
    }
    /* Not under DOCUMENT_ROOT, so an Alias claimed at least the first
     * component: "/py/x.py" at "/srv/py/x.py" is Alias /py /srv/py. */
    if (i == 0 && script_name[0] == '/') {
        i++;
        j++;
    }
    while (script_name[i] != '\0' && script_name[i] != '/') {
        i++;
        j++;
    }
    if (script_name[i] == '\0') { /* nothing in common: an AliasMatch renaming */
        j = strlen(filename);
        while (j > 0 && filename[j - 1] != '/')
            j--;
        if (j > 1)
            j--;
    }
    *prefix_len = i;
    *root_len = j;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

size_t cgih_cgi_first_url(const char *request_uri, char *out, size_t outlen, const char **query)
{
    const char *p = request_uri;
    *query = NULL;
    size_t scheme = strncmp(p, "http://", 7) == 0 ? 7 : strncmp(p, "https://", 8) == 0 ? 8 : 0;
    if (scheme) {
        p = strchr(p + scheme, '/');
        if (p == NULL)
            return (size_t)-1;
        const char *q = strchr(request_uri, '?');
        if (q && q < p)
            return (size_t)-1;
    }
    if (*p != '/')
        return (size_t)-1;
    size_t n = 0;
    for (; *p && *p != '?' && *p != '#'; p++) {
        char c = *p;
        if (c == '%') {
            int hi = hexval(p[1]), lo = hi < 0 ? -1 : hexval(p[2]);
            if (lo < 0)
                return (size_t)-1;
            c = (char)(hi * 16 + lo);
            if (c == '/' || c == '\0')
                return (size_t)-1;
            p += 2;
        }
        if (n + 1 >= outlen)
            return (size_t)-1;
        out[n++] = c;
    }
    out[n] = '\0';
    /* Apache would have merged "//" and resolved "." and "..". */
    for (size_t i = 0; i < n; i++) {
        if (out[i] != '/')
            continue;
        size_t len = strcspn(out + i + 1, "/");
        if ((len == 0 && i + 1 < n) || (len == 1 && out[i + 1] == '.') ||
            (len == 2 && out[i + 1] == '.' && out[i + 2] == '.'))
            return (size_t)-1;
    }
    if (*p == '?')
        *query = p + 1;
    return n;
}

/* ---- responses ------------------------------------------------------------ */

static int write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A complete CGI error response on stdout, and one line for the error log.
 * The log line names the request as Apache gave it, control bytes shown as '?'. */
static int respond(int status, const char *why)
{
    const char *text = status == 403   ? "Forbidden"
                       : status == 404 ? "Not Found"
                                       : "Internal Server Error";
    char buf[512];
    int n = snprintf(buf, sizeof buf,
                     "Status: %d %s\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\n"
                     "\r\n"
                     "%d %s\n",
                     status, text, status, text);
    if (n < 0 || (size_t)n >= sizeof buf || write_all(STDOUT_FILENO, buf, (size_t)n) < 0)
        return 1;

    char uri[200];
    const char *req = getenv("REQUEST_URI");
    size_t k = 0;
    for (; req && req[k] && k < sizeof uri - 1; k++)
        uri[k] = (req[k] < 0x20 || req[k] == 0x7f) ? '?' : req[k];
    uri[k] = '\0';
    n = snprintf(buf, sizeof buf, "cgihost: %d %s for %s: %s\n", status, text, uri, why);
    if (n > 0)
        (void)write_all(STDERR_FILENO, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
    return 0;
}

/* ---- the file Apache resolved ------------------------------------------------ */

/* The regular file at the start of PATH_TRANSLATED, found as Apache's
 * directory walk found it: the first component that is not a directory.
 * Returns 0 with *file_len, or the HTTP status to answer. */
static int find_script(const char *translated, size_t *file_len, struct stat *st)
{
    size_t n = strlen(translated);
    if (n < 2 || translated[0] != '/')
        return 404;
    char *buf = malloc(n + 1);
    if (buf == NULL)
        return 500;
    int status = 403; /* it ends at a directory */
    size_t i = 1;
    while (i < n) {
        size_t j = i;
        while (j < n && translated[j] != '/')
            j++;
        size_t len = j - i;
        if (len == 0) { /* "//" */
            i = j + 1;
            continue;
        }
        if ((len == 1 && translated[i] == '.') ||
            (len == 2 && translated[i] == '.' && translated[i + 1] == '.')) {
            status = 403; /* Apache never sends these; someone else did */
            break;
        }
        memcpy(buf, translated, j);
        buf[j] = '\0';
        if (stat(buf, st) != 0) {
            status = (errno == ENOENT || errno == ENOTDIR || errno == ENAMETOOLONG) ? 404 : 403;
            break;
        }
        if (!S_ISDIR(st->st_mode)) {
            status = S_ISREG(st->st_mode) ? 0 : 403;
            *file_len = j;
            break;
        }
        i = j + 1;
    }
    free(buf);
    return status;
}

/* True when path is a program, not a script: this very program, or any ELF
 * file (cgihost, cgihost-py beside it), which a request must never get
 * cgihost to read as its script. */
static int is_program(const char *path, const struct stat *st)
{
    struct stat self;
    if (stat("/proc/self/exe", &self) == 0 && self.st_dev == st->st_dev &&
        self.st_ino == st->st_ino)
        return 1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return 0; /* unreadable: the run reports it */
    char magic[4];
    ssize_t n;
    do
        n = read(fd, magic, sizeof magic);
    while (n < 0 && errno == EINTR);
    (void)close(fd);
    return n == 4 && memcmp(magic,
                            "\x7f"
                            "ELF",
                            4) == 0;
}

static char *concat(const char *a, size_t la, const char *b, size_t lb, const char *c, size_t lc)
{
    char *s = malloc(la + lb + lc + 1);
    if (s == NULL)
        return NULL;
    memcpy(s, a, la);
    memcpy(s + la, b, lb);
    memcpy(s + la + lb, c, lc);
    s[la + lb + lc] = '\0';
    return s;
}

static char *entry(const char *name, const char *value, size_t len)
{
    return concat(name, strlen(name), "=", 1, value, len);
}

/* Builds the script's environment and installs it as environ. The strings and
 * the array live until exit, as environ's always do. Returns 0 or -1 (ENOMEM). */
static int rewrite_env(const char *script_name, size_t sn_len, const char *filename, size_t fn_len,
                       const char *extra)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **out = calloc(n + 9, sizeof *out);
    if (out == NULL)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *e = environ[i];
        switch (cgih_cgi_env_fate(e)) {
        case CGIH_ENV_KEEP: {
            /* The first request's value of the same name wins. */
            size_t len = strcspn(e, "=");
            int shadowed = 0;
            for (size_t m = 0; m < n && !shadowed; m++)
                shadowed = cgih_cgi_env_fate(environ[m]) == CGIH_ENV_UNWRAP &&
                           strncmp(environ[m] + 9, e, len + 1) == 0;
            if (!shadowed)
                out[k++] = environ[i];
            break;
        }
        case CGIH_ENV_UNWRAP:
            if (!is_replaced(e + 9))
                out[k++] = environ[i] + 9;
            break;
        case CGIH_ENV_DROP:
        case CGIH_ENV_REPLACE:
            break;
        }
    }

    const char *docroot = getenv("DOCUMENT_ROOT");
    char *sn = concat(script_name, sn_len, "", 0, "", 0);
    char *fn = concat(filename, fn_len, "", 0, "", 0);
    if (sn == NULL || fn == NULL) {
        free(sn);
        free(fn);
        return -1;
    }
    size_t prefix_len, root_len;
    cgih_cgi_context(docroot, sn, fn, &prefix_len, &root_len);

    size_t le = strlen(extra);
    int failed = (out[k++] = entry("SCRIPT_NAME", sn, sn_len)) == NULL ||
                 (out[k++] = entry("SCRIPT_FILENAME", fn, fn_len)) == NULL ||
                 (out[k++] = entry("CONTEXT_PREFIX", sn, prefix_len)) == NULL ||
                 (out[k++] = root_len == (size_t)-1
                                 ? entry("CONTEXT_DOCUMENT_ROOT", docroot, strlen(docroot))
                                 : entry("CONTEXT_DOCUMENT_ROOT", fn, root_len)) == NULL;
    free(sn);
    free(fn);
    if (failed)
        return -1;
    if (le > 0) {
        if ((out[k++] = entry("PATH_INFO", extra, le)) == NULL)
            return -1;
        /* mod_cgi translates PATH_INFO as a URL; for a path that no Alias
         * claims that is DOCUMENT_ROOT followed by it. */
        if (docroot && *docroot &&
            (out[k++] = concat("PATH_TRANSLATED=", 16, docroot, strlen(docroot), extra, le)) ==
                NULL)
            return -1;
    }
    /* Sent here by an ErrorDocument (REDIRECT_REDIRECT_STATUS, now
     * REDIRECT_STATUS): a directly run script would see the failed request's
     * URL and query string, which Apache gives the Action only as REQUEST_URI. */
    const char *first = getenv("REQUEST_URI");
    if (getenv("REDIRECT_REDIRECT_STATUS") && !getenv("REDIRECT_REDIRECT_REDIRECT_STATUS") &&
        first) {
        size_t cap = strlen(first) + 1;
        char *url = malloc(cap);
        const char *query;
        size_t lu = url ? cgih_cgi_first_url(first, url, cap, &query) : (size_t)-1;
        if (lu != (size_t)-1) {
            if ((out[k++] = entry("REDIRECT_URL", url, lu)) == NULL)
                return -1;
            if (query && (out[k++] = entry("REDIRECT_QUERY_STRING", query, strlen(query))) == NULL)
                return -1;
        }
        free(url);
    }
    out[k] = NULL;
    environ = out;
    return 0;
}

/* ---- the two modes ----------------------------------------------------------- */

static int refuse(char *filename, int status, const char *why)
{
    free(filename);
    return respond(status, why);
}

int cgih_cgi_resolve(int *argc, char ***argv)
{
    size_t words = cgih_cgi_query_words(getenv("QUERY_STRING"));
    struct stat st;

    const char *script_filename = getenv("SCRIPT_FILENAME");
    if ((size_t)(*argc - 1) > words ||
        (*argc >= 2 && script_filename && strcmp((*argv)[1], script_filename) == 0)) {
        /* shebang (or a command line): argv[1] came from the kernel. */
        const char *script = (*argv)[1];
        if (stat(script, &st) == 0 && S_ISREG(st.st_mode) && is_program(script, &st))
            return respond(403, "a program is not a script");
        return -1;
    }

    /* handler: every argv word is the query string's. */
    const char *redirect_status = getenv("REDIRECT_STATUS");
    if (redirect_status == NULL || *redirect_status == '\0')
        return respond(403, "not reached through the cgihost-script Action (no REDIRECT_STATUS)");
    const char *path_info = getenv("PATH_INFO");
    const char *redirect_url = getenv("REDIRECT_URL");
    if (path_info == NULL || *path_info == '\0')
        return respond(404, "no script in PATH_INFO");
    if (redirect_url == NULL || strcmp(redirect_url, path_info) != 0)
        return respond(403, "PATH_INFO is not the redirected URL");
    const char *translated = getenv("PATH_TRANSLATED");
    if (translated == NULL)
        return respond(404, "no PATH_TRANSLATED");

    size_t fn_len = 0;
    int status = find_script(translated, &fn_len, &st);
    if (status != 0)
        return respond(status, status == 404 ? "no such script" : "not a regular file");
    char *filename = concat(translated, fn_len, "", 0, "", 0);
    if (filename == NULL)
        return respond(500, "out of memory");
    if (is_program(filename, &st))
        return refuse(filename, 403, "a program is not a script");
    /* The snippet names the file the request itself resolved to. Apache
     * maps PATH_INFO to PATH_TRANSLATED again, in a sub-request that skips
     * rewrite rules marked [NS] or conditioned on REDIRECT_STATUS, and may
     * find another file: run only the one it routed here. */
    const char *routed = getenv("REDIRECT_CGIHOST_FILE");
    if (routed && strcmp(routed, filename) != 0)
        return refuse(filename, 403, "PATH_TRANSLATED is not the file routed to cgihost (CGIHOST_FILE)");
    const char *extra = translated + fn_len;
    size_t sn_len = cgih_cgi_script_name_len(path_info, extra);
    if (sn_len == (size_t)-1)
        return refuse(filename, 403, "PATH_INFO does not end as PATH_TRANSLATED does");

    if (access(filename, R_OK) != 0)
        return refuse(filename, 403, "script not readable");

    /* The script's directory, as mod_cgi's chdir before exec. */
    char *slash = strrchr(filename, '/');
    *slash = '\0';
    int rc = chdir(filename[0] ? filename : "/");
    *slash = '/';
    if (rc != 0)
        return refuse(filename, 500, "cannot enter the script's directory");

    /* sys.argv = [script, words...], as python3 started by mod_cgi has it. */
    char **nargv = calloc((size_t)*argc + 2, sizeof *nargv);
    if (nargv == NULL)
        return refuse(filename, 500, "out of memory");
    nargv[0] = (*argv)[0];
    nargv[1] = filename;
    for (int i = 1; i < *argc; i++)
        nargv[i + 1] = (*argv)[i];

    if (rewrite_env(path_info, sn_len, filename, fn_len, extra) != 0)
        return respond(500, "out of memory");
    *argc += 1;
    *argv = nargv;
    return -1;
}

void cgih_cgi_drain_stdin(void)
{
    const char *gw = getenv("GATEWAY_INTERFACE"), *cl = getenv("CONTENT_LENGTH");
    struct stat st;
    if (!gw || !*gw || !cl || fstat(0, &st) != 0 || !S_ISSOCK(st.st_mode))
        return;
    char *end;
    errno = 0;
    long long left = strtoll(cl, &end, 10);
    if (errno || end == cl || *end || left <= 0)
        return;
    char buf[65536];
    int waited = 0; /* nothing waits until some body was found unread */
    while (left > 0) {
        ssize_t n = recv(0, buf, left < (long long)sizeof buf ? (size_t)left : sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            left -= n;
            waited = 1;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) || !waited)
            return;
        struct pollfd p = {0, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            return;
    }
}
