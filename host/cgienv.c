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

static const char *const replaced[] = {
    "SCRIPT_NAME",     "SCRIPT_FILENAME", "PATH_INFO",
    "PATH_TRANSLATED", "CONTEXT_PREFIX",  "CONTEXT_DOCUMENT_ROOT",
};
#define NREPLACED (sizeof replaced / sizeof replaced[0])

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

int cgih_cgi_same_url(const char *a, const char *b)
{
    while (*a && *a == *b) {
        if (*a == '/') {
            while (a[1] == '/')
                a++;
            while (b[1] == '/')
                b++;
        }
        a++;
        b++;
    }
    return *a == *b;
}

size_t cgih_cgi_url_script_len(const char *url, const char *extra)
{
    size_t i = strlen(url), j = strlen(extra);
    if (j > 0 && extra[0] != '/')
        return (size_t)-1;
    while (j > 0) {
        if (i == 0 || url[i - 1] != extra[j - 1])
            return (size_t)-1;
        int slash = extra[j - 1] == '/';
        i--;
        j--;
        while (slash && j > 0 && extra[j - 1] == '/')
            j--;
        while (slash && i > 0 && url[i - 1] == '/')
            i--;
    }
    if (i < 2 || url[0] != '/' || url[i - 1] == '/')
        return (size_t)-1;
    return i;
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

int cgih_cgi_routed_here(const char *routed, const char *filename)
{
    size_t lr = strlen(routed);
    if (strcmp(routed, filename) == 0)
        return 1;
    if (lr > 0 && routed[lr - 1] == '/') {
        /* A directory: DirectoryIndex chose a file directly in it. Not one
         * below it ("DirectoryIndex sub/index.py"): the directory routed
         * may be the document root, and a rewrite that the handler's
         * look-up skips (mapping /app/ to /) would run any file under it. */
        while (lr > 0 && routed[lr - 1] == '/')
            lr--;
        return strncmp(filename, routed, lr) == 0 && filename[lr] == '/' &&
               filename[lr + 1] != '\0' && strchr(filename + lr + 1, '/') == NULL;
    }
    return 0;
}

/* ---- the levels of a chain of redirects (cgih_cgi_direct_env) --------------- */

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

#define REDIR "REDIRECT_"
#define REDIR_LEN (sizeof REDIR - 1)

/* One variable: NAME at its level, REDIRECT_ prefixes counted off. */
struct var {
    const char *name, *value;
    size_t len, level;
};

struct vars {
    struct var *v;
    size_t n;
};

static const char *get(const struct vars *vs, size_t level, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < vs->n; i++)
        if (vs->v[i].level == level && vs->v[i].len == len && memcmp(vs->v[i].name, name, len) == 0)
            return vs->v[i].value;
    return NULL;
}

static int named(const struct var *v, const char *const *names, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (v->len == strlen(names[i]) && memcmp(v->name, names[i], v->len) == 0)
            return 1;
    return 0;
}

/* The result being built. A later entry of a name replaces an earlier one
 * (dedupe(), once, at the end). */
struct out {
    char **v;
    size_t n, cap;
};

static int put(struct out *o, size_t level, const char *name, size_t len, const char *value,
               size_t vlen)
{
    size_t head = level * REDIR_LEN + len + 1;
    char *s = malloc(head + vlen + 1);
    if (s == NULL)
        return -1;
    for (size_t i = 0; i < level; i++)
        memcpy(s + i * REDIR_LEN, REDIR, REDIR_LEN);
    memcpy(s + level * REDIR_LEN, name, len);
    s[head - 1] = '=';
    memcpy(s + head, value, vlen);
    s[head + vlen] = '\0';
    if (o->n + 1 >= o->cap) {
        size_t cap = o->cap * 2 + 16;
        char **v = realloc(o->v, cap * sizeof *v);
        if (v == NULL) {
            free(s);
            return -1;
        }
        o->v = v;
        o->cap = cap;
    }
    o->v[o->n++] = s;
    o->v[o->n] = NULL;
    return 0;
}

/* Compares the names of two "NAME=value" entries (names never hold '='). */
static int name_cmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    while (*x == *y && *x != '=') {
        x++;
        y++;
    }
    int cx = *x == '=' ? 0 : *x, cy = *y == '=' ? 0 : *y;
    return (cx > cy) - (cx < cy);
}

/* By name, then by when it was put. */
static int by_name(const void *pa, const void *pb)
{
    char *const *a = *(char *const *const *)pa, *const *b = *(char *const *const *)pb;
    int c = name_cmp(*a, *b);
    return c != 0 ? c : (a > b) - (a < b);
}

/* Keeps the last entry of each name, in the order they were put: sorted, not
 * compared pairwise, as a request's headers are many. Returns 0 or -1. */
static int dedupe(struct out *o)
{
    char ***idx = malloc((o->n ? o->n : 1) * sizeof *idx);
    if (idx == NULL)
        return -1;
    for (size_t i = 0; i < o->n; i++)
        idx[i] = &o->v[i];
    qsort(idx, o->n, sizeof *idx, by_name);
    for (size_t i = 0; i + 1 < o->n; i++)
        if (name_cmp(*idx[i], *idx[i + 1]) == 0) {
            free(*idx[i]);
            *idx[i] = NULL;
        }
    free(idx);
    size_t k = 0;
    for (size_t i = 0; i < o->n; i++)
        if (o->v[i])
            o->v[k++] = o->v[i];
    o->n = k;
    o->v[k] = NULL;
    return 0;
}

static int put_str(struct out *o, size_t level, const char *name, const char *value, size_t vlen)
{
    return put(o, level, name, strlen(name), value, vlen);
}

/* What a level is. An Action's request (the handler's) is followed by the
 * request it was made from, with the HANDLER variable mod_actions gives that
 * one: two levels of the environment for one request a directly run script
 * would have had. */
enum kind {
    RAN_CGIHOST, /* an Action's request that ran cgihost: an earlier script */
    RAN_NOTHING, /* an Action's request that failed before running anything */
    OTHER        /* any other request: one level, as it is */
};

static int ran_a_cgi(const struct vars *vs, size_t r)
{
    return get(vs, r, "GATEWAY_INTERFACE") != NULL || get(vs, r, "SCRIPT_NAME") != NULL;
}

static enum kind kind_of(const struct vars *vs, size_t r, const char *self)
{
    if (get(vs, r + 1, "HANDLER") == NULL)
        return OTHER;
    if (!ran_a_cgi(vs, r))
        return RAN_NOTHING;
    const char *sf = get(vs, r, "SCRIPT_FILENAME"), *pi = get(vs, r, "PATH_INFO");
    const char *url = get(vs, r + 1, "URL");
    if (self && sf && strcmp(sf, self) == 0 && pi && *pi && url && cgih_cgi_same_url(url, pi) &&
        get(vs, r, "PATH_TRANSLATED") && get(vs, r + 1, "STATUS"))
        return RAN_CGIHOST;
    return OTHER; /* another program's Action: what it gave its program */
}

static size_t width(enum kind k)
{
    return k == OTHER ? 1 : 2;
}

/* The six variables naming the script of the handler level r, at level. */
static int put_script(struct out *o, const struct vars *vs, size_t r, size_t level,
                      cgih_cgi_find_fn find, void *arg)
{
    const char *pi = get(vs, r, "PATH_INFO"), *pt = get(vs, r, "PATH_TRANSLATED");
    const char *docroot = get(vs, r, "DOCUMENT_ROOT");
    if (pi == NULL || pt == NULL)
        return 0;
    size_t fn_len = find(pt, r, arg);
    if (fn_len == (size_t)-1 || fn_len > strlen(pt))
        return 0;
    const char *extra = pt + fn_len;
    size_t sn_len = cgih_cgi_script_name_len(pi, extra);
    if (sn_len == (size_t)-1)
        return 0;
    char *sn = concat(pi, sn_len, "", 0, "", 0), *fn = concat(pt, fn_len, "", 0, "", 0);
    int rc = -1;
    if (sn == NULL || fn == NULL)
        goto done;
    /* The script's request's own context, where the snippet passed it
     * (Apache gives the Action none of it); else cgih_cgi_context's guess. */
    const char *prefix = get(vs, r + 1, "CGIHOST_CONTEXT_PREFIX");
    const char *root = get(vs, r + 1, "CGIHOST_CONTEXT_ROOT");
    size_t prefix_len, root_len;
    if (prefix && root) {
        prefix_len = strlen(prefix);
        root_len = strlen(root);
    } else {
        cgih_cgi_context(docroot, sn, fn, &prefix_len, &root_len);
        prefix = sn;
        root = fn;
        if (root_len == (size_t)-1) {
            root = docroot;
            root_len = strlen(docroot);
        }
    }
    size_t le = strlen(extra);
    /* With MergeSlashes Off, the script's URL may keep a run of '/' that the
     * Action's PATH_INFO merged: mod_cgi's SCRIPT_NAME keeps it. */
    const char *url = get(vs, r + 1, "URL");
    size_t url_len =
        url && cgih_cgi_same_url(url, pi) ? cgih_cgi_url_script_len(url, extra) : (size_t)-1;
    if (put_str(o, level, "SCRIPT_NAME", url_len != (size_t)-1 ? url : sn,
                url_len != (size_t)-1 ? url_len : sn_len) < 0 ||
        put_str(o, level, "SCRIPT_FILENAME", fn, fn_len) < 0 ||
        put_str(o, level, "CONTEXT_PREFIX", prefix, prefix_len) < 0 ||
        put_str(o, level, "CONTEXT_DOCUMENT_ROOT", root, root_len) < 0)
        goto done;
    if (le > 0) {
        if (put_str(o, level, "PATH_INFO", extra, le) < 0)
            goto done;
        /* mod_cgi translates PATH_INFO as a URL; for a path that no Alias
         * claims that is DOCUMENT_ROOT followed by it. */
        if (docroot && *docroot) {
            size_t ld = strlen(docroot);
            char *t = concat(docroot, ld, extra, le, "", 0);
            int failed = t == NULL || put_str(o, level, "PATH_TRANSLATED", t, ld + le) < 0;
            free(t);
            if (failed)
                goto done;
        }
    }
    rc = 0;
done:
    free(sn);
    free(fn);
    return rc;
}

/* REDIRECT_URL (and a lost REDIRECT_QUERY_STRING) at level, of the request
 * at raw level r, of kind k, when it came by a redirect from one that did
 * not run cgihost (whose level has it: see cgih_cgi_direct_env). */
static int put_previous(struct out *o, const struct vars *vs, size_t r, enum kind k, size_t level)
{
    if (get(vs, r, "STATUS") == NULL || k == RAN_CGIHOST) /* the first, or its level has it */
        return 0;
    const char *sn = get(vs, r, "SCRIPT_NAME");
    if (k == OTHER && sn) { /* a CGI program run directly: its URL is its two halves */
        const char *pi = get(vs, r, "PATH_INFO");
        size_t ls = strlen(sn), lp = pi ? strlen(pi) : 0;
        char *url = concat(sn, ls, pi ? pi : "", lp, "", 0);
        int rc = url == NULL ? -1 : put_str(o, level, "URL", url, ls + lp);
        free(url);
        return rc;
    }
    /* A request that ran nothing, such as one that failed before an
     * ErrorDocument: known only if it was the first (REQUEST_URI's). */
    const char *first = get(vs, 0, "REQUEST_URI");
    if (first == NULL || ran_a_cgi(vs, r) || get(vs, r + width(k), "STATUS") != NULL)
        return 0;
    size_t cap = strlen(first) + 1;
    char *url = malloc(cap);
    if (url == NULL)
        return -1;
    const char *query;
    size_t lu = cgih_cgi_first_url(first, url, cap, &query);
    int rc = 0;
    if (lu != (size_t)-1)
        rc = (put_str(o, level, "URL", url, lu) < 0 ||
              (query && put_str(o, level, "QUERY_STRING", query, strlen(query)) < 0))
                 ? -1
                 : 0;
    free(url);
    return rc;
}

void cgih_cgi_env_free(char **env)
{
    if (env == NULL)
        return;
    for (char **e = env; *e; e++)
        free(*e);
    free(env);
}

char **cgih_cgi_direct_env(char *const *env, cgih_cgi_find_fn find, void *arg)
{
    /* What the Action adds to the script's request, and the snippet. */
    static const char *const action[] = {
        "STATUS",       "QUERY_STRING",           "HANDLER",
        "CGIHOST_FILE", "CGIHOST_CONTEXT_PREFIX", "CGIHOST_CONTEXT_ROOT"};
    static const char *const snippet[] = {"CGIHOST_FILE", "CGIHOST_CONTEXT_PREFIX",
                                          "CGIHOST_CONTEXT_ROOT"};
    size_t n = 0;
    while (env[n])
        n++;
    struct vars vs = {calloc(n + 1, sizeof *vs.v), n};
    struct out o = {calloc(n + 16, sizeof *o.v), 0, n + 16};
    if (vs.v == NULL || o.v == NULL) {
        free(vs.v);
        free(o.v);
        return NULL;
    }
    size_t deepest = 0;
    for (size_t i = 0; i < n; i++) {
        struct var *v = &vs.v[i];
        const char *e = env[i];
        while (strncmp(e, REDIR, REDIR_LEN) == 0 && e[REDIR_LEN] != '=' && e[REDIR_LEN] != '\0') {
            e += REDIR_LEN;
            v->level++;
        }
        v->name = e;
        v->len = strcspn(e, "=");
        v->value = e[v->len] ? e + v->len + 1 : "";
        if (v->level > deepest)
            deepest = v->level;
    }
    const char *self = get(&vs, 0, "SCRIPT_FILENAME");
    int rc = 0;
    size_t r = 0, level = 0;
    int after_cgi = 0; /* the request one level up ran a CGI program */
    while (rc == 0 && r <= deepest) {
        /* Level 0 is cgih_cgi_resolve's: an Action's request for cgihost. */
        enum kind k = r == 0 ? RAN_CGIHOST : kind_of(&vs, r, self);
        if (level > 0 && after_cgi)
            rc = put_previous(&o, &vs, r, k, level);
        if (k == OTHER) {
            /* (CGIHOST_FILE and CGIHOST_CONTEXT_* are the snippet's, for
             * cgihost: of a request that failed before it, an
             * ErrorDocument's script's too) */
            for (size_t i = 0; i < n && rc == 0; i++)
                if (vs.v[i].level == r &&
                    !named(&vs.v[i], snippet, sizeof snippet / sizeof snippet[0]))
                    rc = put(&o, level, vs.v[i].name, vs.v[i].len, vs.v[i].value,
                             strlen(vs.v[i].value));
            after_cgi = ran_a_cgi(&vs, r);
            r++;
            level++;
            continue;
        }
        /* The Action's request, then the one it was made from over it. */
        for (size_t i = 0; i < n && rc == 0; i++) {
            const struct var *v = &vs.v[i];
            if (v->level == r && !(k == RAN_CGIHOST && named(v, replaced, NREPLACED)))
                rc = put(&o, level, v->name, v->len, v->value, strlen(v->value));
        }
        for (size_t i = 0; i < n && rc == 0; i++) {
            const struct var *v = &vs.v[i];
            /* The Action's REDIRECT_URL is the URL of the request it was
             * made from: REDIRECT_URL of the level before, if Apache made
             * one there (for a CGI program). */
            if (v->level != r + 1 || (k == RAN_CGIHOST && named(v, replaced, NREPLACED)) ||
                named(v, action, sizeof action / sizeof action[0]) ||
                (v->len == 3 && memcmp(v->name, "URL", 3) == 0 && (level == 0 || !after_cgi)))
                continue;
            rc = put(&o, level, v->name, v->len, v->value, strlen(v->value));
        }
        if (rc == 0 && k == RAN_CGIHOST)
            rc = put_script(&o, &vs, r, level, find, arg);
        after_cgi = k == RAN_CGIHOST;
        r += 2;
        level++;
    }
    if (rc == 0)
        rc = dedupe(&o);
    free(vs.v);
    if (rc != 0) {
        cgih_cgi_env_free(o.v);
        return NULL;
    }
    return o.v;
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
    n = k ? snprintf(buf, sizeof buf, "cgihost: %d %s for %s: %s\n", status, text, uri, why)
          : snprintf(buf, sizeof buf, "cgihost: %d %s (no REQUEST_URI): %s\n", status, text, why);
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

/* Level 0's script file is the one cgih_cgi_resolve checked; an earlier
 * script of a chain of local redirects is found again. */
static size_t find_level(const char *translated, size_t level, void *arg)
{
    if (level == 0)
        return *(const size_t *)arg;
    struct stat st;
    size_t len;
    return find_script(translated, &len, &st) == 0 ? len : (size_t)-1;
}

/* Installs the script's environment as environ (cgih_cgi_direct_env). The
 * strings and the array live until exit, as environ's always do. Returns 0
 * or -1 (ENOMEM). */
static int rewrite_env(size_t fn_len)
{
    char **out = cgih_cgi_direct_env(environ, find_level, &fn_len);
    if (out == NULL)
        return -1;
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
    /* Run by hand in a CGI environment made up for it (a test, a cron job):
     * a web server always sets SCRIPT_NAME (RFC 3875 4.1.13), and no request
     * can unset it; nor are there then the variables of a server's request
     * (Apache's REQUEST_URI, a redirect's REDIRECT_STATUS, a PATH_INFO). A
     * gateway that dropped SCRIPT_NAME keeps the rule below. */
    int by_hand = *argc >= 2 && getenv("SCRIPT_NAME") == NULL && getenv("REQUEST_URI") == NULL &&
                  getenv("REDIRECT_STATUS") == NULL && getenv("PATH_INFO") == NULL;
    int named = *argc >= 2 && script_filename && strcmp((*argv)[1], script_filename) == 0;
    if ((size_t)(*argc - 1) > words || by_hand || named) {
        /* shebang (or a command line): argv[1] came from the kernel. */
        const char *script = (*argv)[1];
        int program = stat(script, &st) == 0 && S_ISREG(st.st_mode) && is_program(script, &st);
        /* But a query word naming SCRIPT_FILENAME, a program: the Action's,
         * cgihost itself, which no #! line runs (`/x.py?/usr/local/bin/cgihost`
         * is a query like any other, to the handler's checks below). */
        if (!(named && program && (size_t)(*argc - 1) <= words && !by_hand)) {
            if (program)
                return respond(403, "a program is not a script");
            return -1;
        }
    }

    /* handler: every argv word is the query string's. */
    const char *redirect_status = getenv("REDIRECT_STATUS");
    if (redirect_status == NULL || *redirect_status == '\0')
        return respond(403, "not reached through the cgihost-script Action (no REDIRECT_STATUS)");
    /* mod_actions names the handler to the request it makes (HANDLER, now
     * REDIRECT_HANDLER); a CGI program's local redirect to the handler's
     * URL, which could name the program's own file, carries none. */
    const char *redirect_handler = getenv("REDIRECT_HANDLER");
    if (redirect_handler == NULL || *redirect_handler == '\0')
        return respond(403, "not made by an Action (no REDIRECT_HANDLER)");
    const char *path_info = getenv("PATH_INFO");
    const char *redirect_url = getenv("REDIRECT_URL");
    if (path_info == NULL || *path_info == '\0')
        return respond(404, "no script in PATH_INFO");
    if (redirect_url == NULL || !cgih_cgi_same_url(redirect_url, path_info))
        return respond(403, "PATH_INFO is not the redirected URL");
    const char *translated = getenv("PATH_TRANSLATED");
    /* Apache gives none when its look-up of PATH_INFO fails, as past
     * LimitInternalRecursion (each script through the Action costs two). */
    if (translated == NULL)
        return respond(500, "no PATH_TRANSLATED (Apache's LimitInternalRecursion?)");

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
    if (routed && !cgih_cgi_routed_here(routed, filename))
        return refuse(filename, 403, "PATH_TRANSLATED is not the file routed to cgihost (CGIHOST_FILE)");
    const char *extra = translated + fn_len;
    size_t sn_len = cgih_cgi_script_name_len(path_info, extra);
    if (sn_len == (size_t)-1)
        return refuse(filename, 403, "PATH_INFO does not end as PATH_TRANSLATED does");

    if (access(filename, R_OK) != 0)
        return refuse(filename, 403, "script not readable");
    /* Apache takes nph from the name of the program it runs, cgihost's here:
     * the script's own status line would reach it as a malformed header (a
     * 500, the script run for nothing). Its #! line runs it as nph. */
    const char *base = strrchr(filename, '/');
    if (strncmp(base ? base + 1 : filename, "nph-", 4) == 0)
        return refuse(filename, 500, "an nph- script runs by its #! line, not through the Action");

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

    if (rewrite_env(fn_len) != 0)
        return respond(500, "out of memory");
    *argc += 1;
    *argv = nargv;
    return -1;
}
