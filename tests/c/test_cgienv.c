/* test_cgienv.c: the pure parts of CGI-mode resolution (host/cgienv.c): how
 * many argv words a query string accounts for, the environment a directly run
 * script would have had (through chains of redirects too), where the script's
 * URL ends, and its context. The rest runs end to end in
 * tests/test_apache.py. */
#include <string.h>

#include "cgienv.h"
#include "tap.h"

static void test_query_words(void)
{
    static const struct {
        const char *qs;
        size_t want;
    } cases[] = {
        {NULL, 0},    {"", 0},  {"a=1", 0},  {"-s", 1},   {"-s+-d+x", 3},
        {"a+b=c", 0}, {"+", 2}, {"%2Ds", 1}, {"x++y", 3}, {"=", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        tap_ok(cgih_cgi_query_words(cases[i].qs) == cases[i].want, "query words of %s: %zu",
               cases[i].qs ? cases[i].qs : "(unset)", cases[i].want);
}

/* ---- cgih_cgi_direct_env ---- */

#define MAXENV 96

/* An environment under construction: entries added at a level get that many
 * REDIRECT_ prefixes, as Apache's internal redirects give them. */
struct env {
    char *v[MAXENV];
    size_t n;
};

static void add(struct env *e, size_t level, const char *entry)
{
    static char store[MAXENV * 8][160];
    static size_t used;
    char *s = store[used++ % (MAXENV * 8)];
    s[0] = '\0';
    for (size_t i = 0; i < level; i++)
        strcat(s, "REDIRECT_");
    strcat(s, entry);
    e->v[e->n++] = s;
    e->v[e->n] = NULL;
}

static void add_all(struct env *e, size_t level, const char *const *entries)
{
    for (; *entries; entries++)
        add(e, level, *entries);
}

/* The request of the handler, as Apache makes it from the request for the
 * script (url, under /srv). */
static void handler(struct env *e, size_t level, const char *url, const char *query)
{
    char b[160];
    add(e, level, "SCRIPT_NAME=/cgihost-bin/cgihost");
    add(e, level, "SCRIPT_FILENAME=/usr/bin/cgihost");
    add(e, level, "CONTEXT_PREFIX=/cgihost-bin/cgihost");
    add(e, level, "CONTEXT_DOCUMENT_ROOT=/usr/bin/cgihost");
    add(e, level, "DOCUMENT_ROOT=/srv");
    add(e, level, "HTTP_HOST=h");
    snprintf(b, sizeof b, "PATH_INFO=%s", url);
    add(e, level, b);
    snprintf(b, sizeof b, "PATH_TRANSLATED=/srv%s", url);
    add(e, level, b);
    snprintf(b, sizeof b, "QUERY_STRING=%s", query);
    add(e, level, b);
    /* The Action's redirect, and the snippet's variable. */
    add(e, level + 1, "STATUS=200");
    snprintf(b, sizeof b, "URL=%s", url);
    add(e, level + 1, b);
    if (*query) {
        snprintf(b, sizeof b, "QUERY_STRING=%s", query);
        add(e, level + 1, b);
    }
    add(e, level + 1, "HANDLER=cgihost-script");
    add(e, level + 1, "CGIHOST_FILE=/srv/somewhere.py");
}

/* The script file at the start of a PATH_TRANSLATED: up to ".py", where the
 * file gone.py no longer exists. */
static size_t fake_find(const char *translated, size_t level, void *arg)
{
    (void)level;
    (void)arg;
    const char *p = strstr(translated, ".py");
    if (p == NULL || strstr(translated, "gone.py"))
        return (size_t)-1;
    return (size_t)(p + 3 - translated);
}

static int in(char *const *env, const char *entry)
{
    for (; *env; env++)
        if (strcmp(*env, entry) == 0)
            return 1;
    return 0;
}

static void check_direct_env(const char *what, const struct env *e, const char *const *want)
{
    char **got = cgih_cgi_direct_env(e->v, fake_find, NULL);
    if (got == NULL) {
        tap_ok(0, "direct environment of %s", what);
        return;
    }
    size_t ng = 0, nw = 0;
    int ok = 1;
    for (; got[ng]; ng++)
        if (!in((char *const *)want, got[ng])) {
            tap_diag("%s: unexpected %s", what, got[ng]);
            ok = 0;
        }
    for (; want[nw]; nw++)
        if (!in(got, want[nw])) {
            tap_diag("%s: missing %s", what, want[nw]);
            ok = 0;
        }
    tap_ok(ok && ng == nw, "direct environment of %s", what);
    cgih_cgi_env_free(got);
}

static void test_direct_env(void)
{
    struct env e = {{NULL}, 0};
    handler(&e, 0, "/d/x.py/a/b", "q=1");
    add(&e, 0, "UNIQUE_ID=handler");
    add(&e, 0, "REQUEST_URI=/d/x.py/a/b?q=1");
    add(&e, 1, "UNIQUE_ID=first"); /* the script's request's wins */
    add(&e, 1, "HTTPS=on");
    add(&e, 1, "SCRIPT_NAME=/bogus"); /* made again, never taken */
    add(&e, 0, "REDIRECTED=1");
    check_direct_env("a request through the Action", &e,
                     (const char *const[]){"SCRIPT_NAME=/d/x.py", "SCRIPT_FILENAME=/srv/d/x.py",
                                           "PATH_INFO=/a/b", "PATH_TRANSLATED=/srv/a/b",
                                           "CONTEXT_PREFIX=", "CONTEXT_DOCUMENT_ROOT=/srv",
                                           "DOCUMENT_ROOT=/srv", "HTTP_HOST=h", "QUERY_STRING=q=1",
                                           "UNIQUE_ID=first", "HTTPS=on", "REDIRECTED=1",
                                           "REQUEST_URI=/d/x.py/a/b?q=1", NULL});

    /* MergeSlashes Off: Apache merged the runs of '/' in the Action's
     * PATH_INFO, not in the script's URL; mod_cgi's SCRIPT_NAME keeps them. */
    e.n = 0;
    handler(&e, 0, "/d/x.py/a/b", "");
    for (size_t i = 0; i < e.n; i++)
        if (strncmp(e.v[i], "REDIRECT_URL=", 13) == 0)
            e.v[i] = (char *)"REDIRECT_URL=/d//x.py//a//b";
    check_direct_env("a URL with runs of '/'", &e,
                     (const char *const[]){"SCRIPT_NAME=/d//x.py", "SCRIPT_FILENAME=/srv/d/x.py",
                                           "PATH_INFO=/a/b", "PATH_TRANSLATED=/srv/a/b",
                                           "CONTEXT_PREFIX=", "CONTEXT_DOCUMENT_ROOT=/srv",
                                           "DOCUMENT_ROOT=/srv", "HTTP_HOST=h",
                                           "QUERY_STRING=", NULL});

    /* The snippet's context of the script's request wins over the guess,
     * and is not passed on. */
    e.n = 0;
    handler(&e, 0, "/am/x.py", "");
    add(&e, 1, "CGIHOST_CONTEXT_PREFIX=/am");
    add(&e, 1, "CGIHOST_CONTEXT_ROOT=/srv/real");
    check_direct_env("a request whose context the snippet passed", &e,
                     (const char *const[]){"SCRIPT_NAME=/am/x.py", "SCRIPT_FILENAME=/srv/am/x.py",
                                           "CONTEXT_PREFIX=/am", "CONTEXT_DOCUMENT_ROOT=/srv/real",
                                           "DOCUMENT_ROOT=/srv", "HTTP_HOST=h",
                                           "QUERY_STRING=", NULL});

    /* An ErrorDocument: the request that failed ran nothing. */
    e.n = 0;
    handler(&e, 0, "/err.py", "");
    add(&e, 0, "REQUEST_URI=/missing?a=1");
    add(&e, 2, "STATUS=404");
    add(&e, 2, "GLOBALVAR=g");
    static const char *const errdoc[] = {"SCRIPT_NAME=/err.py",
                                         "SCRIPT_FILENAME=/srv/err.py",
                                         "CONTEXT_PREFIX=",
                                         "CONTEXT_DOCUMENT_ROOT=/srv",
                                         "DOCUMENT_ROOT=/srv",
                                         "HTTP_HOST=h",
                                         "QUERY_STRING=",
                                         "REQUEST_URI=/missing?a=1",
                                         "REDIRECT_STATUS=404",
                                         "REDIRECT_GLOBALVAR=g",
                                         "REDIRECT_URL=/missing",
                                         "REDIRECT_QUERY_STRING=a=1",
                                         NULL};
    check_direct_env("an ErrorDocument", &e, errdoc);
    /* ... whose failed request came by a redirect: its URL is unknown. */
    add(&e, 3, "STATUS=200");
    check_direct_env("an ErrorDocument after a redirect", &e,
                     (const char *const[]){"SCRIPT_NAME=/err.py", "SCRIPT_FILENAME=/srv/err.py",
                                           "CONTEXT_PREFIX=", "CONTEXT_DOCUMENT_ROOT=/srv",
                                           "DOCUMENT_ROOT=/srv", "HTTP_HOST=h",
                                           "QUERY_STRING=", "REQUEST_URI=/missing?a=1",
                                           "REDIRECT_STATUS=404", "REDIRECT_GLOBALVAR=g",
                                           "REDIRECT_REDIRECT_STATUS=200", NULL});

    /* A local redirect from a.py, run through the Action too, to b.py. */
    e.n = 0;
    handler(&e, 0, "/b.py/p", "k=v");
    add(&e, 0, "REQUEST_URI=/a.py/ex?env");
    add(&e, 1, "GLOBALVAR=g");
    handler(&e, 2, "/a.py/ex", "env");
    add(&e, 2, "STATUS=200");
    add(&e, 2, "REQUEST_URI=/a.py/ex?env");
    add(&e, 3, "GLOBALVAR=g");
    static const char *const b_from_a[] = {"SCRIPT_NAME=/b.py",
                                           "SCRIPT_FILENAME=/srv/b.py",
                                           "PATH_INFO=/p",
                                           "PATH_TRANSLATED=/srv/p",
                                           "CONTEXT_PREFIX=",
                                           "CONTEXT_DOCUMENT_ROOT=/srv",
                                           "DOCUMENT_ROOT=/srv",
                                           "HTTP_HOST=h",
                                           "QUERY_STRING=k=v",
                                           "REQUEST_URI=/a.py/ex?env",
                                           "GLOBALVAR=g",
                                           "REDIRECT_STATUS=200",
                                           "REDIRECT_URL=/a.py/ex",
                                           "REDIRECT_SCRIPT_NAME=/a.py",
                                           "REDIRECT_SCRIPT_FILENAME=/srv/a.py",
                                           "REDIRECT_PATH_INFO=/ex",
                                           "REDIRECT_PATH_TRANSLATED=/srv/ex",
                                           "REDIRECT_CONTEXT_PREFIX=",
                                           "REDIRECT_CONTEXT_DOCUMENT_ROOT=/srv",
                                           "REDIRECT_DOCUMENT_ROOT=/srv",
                                           "REDIRECT_HTTP_HOST=h",
                                           "REDIRECT_QUERY_STRING=env",
                                           "REDIRECT_REQUEST_URI=/a.py/ex?env",
                                           "REDIRECT_GLOBALVAR=g",
                                           NULL};
    check_direct_env("a local redirect between two scripts", &e, b_from_a);

    /* One more hop before: first.py to a.py to b.py. */
    handler(&e, 4, "/first.py", "");
    add(&e, 4, "STATUS=302"); /* another status, to tell the levels apart */
    const char *const *w = b_from_a;
    struct env want = {{NULL}, 0};
    for (; *w; w++)
        add(&want, 0, *w);
    add_all(&want, 2,
            (const char *const[]){"STATUS=302", "URL=/first.py", "SCRIPT_NAME=/first.py",
                                  "SCRIPT_FILENAME=/srv/first.py",
                                  "CONTEXT_PREFIX=", "CONTEXT_DOCUMENT_ROOT=/srv",
                                  "DOCUMENT_ROOT=/srv", "HTTP_HOST=h", "QUERY_STRING=", NULL});
    check_direct_env("two local redirects", &e, (const char *const *)want.v);

    /* From a script mod_cgi ran directly: its level stays, its URL found. */
    e.n = 0;
    handler(&e, 0, "/b.py/p", "k=v");
    add(&e, 0, "REQUEST_URI=/cgi-bin/a.py/ex?env");
    add_all(&e, 2,
            (const char *const[]){"STATUS=200", "SCRIPT_NAME=/cgi-bin/a.py",
                                  "SCRIPT_FILENAME=/usr/lib/cgi-bin/a.py", "PATH_INFO=/ex",
                                  "QUERY_STRING=env", NULL});
    check_direct_env("a local redirect from a script run directly", &e,
                     (const char *const[]){
                         "SCRIPT_NAME=/b.py", "SCRIPT_FILENAME=/srv/b.py", "PATH_INFO=/p",
                         "PATH_TRANSLATED=/srv/p", "CONTEXT_PREFIX=", "CONTEXT_DOCUMENT_ROOT=/srv",
                         "DOCUMENT_ROOT=/srv", "HTTP_HOST=h", "QUERY_STRING=k=v",
                         "REQUEST_URI=/cgi-bin/a.py/ex?env", "REDIRECT_STATUS=200",
                         "REDIRECT_URL=/cgi-bin/a.py/ex", "REDIRECT_SCRIPT_NAME=/cgi-bin/a.py",
                         "REDIRECT_SCRIPT_FILENAME=/usr/lib/cgi-bin/a.py", "REDIRECT_PATH_INFO=/ex",
                         "REDIRECT_QUERY_STRING=env", NULL});

    /* An earlier script whose file is gone: its level without the six. */
    e.n = 0;
    handler(&e, 0, "/b.py", "");
    handler(&e, 2, "/gone.py", "");
    add(&e, 2, "STATUS=200");
    check_direct_env("a local redirect from a script since removed", &e,
                     (const char *const[]){"SCRIPT_NAME=/b.py", "SCRIPT_FILENAME=/srv/b.py",
                                           "CONTEXT_PREFIX=", "CONTEXT_DOCUMENT_ROOT=/srv",
                                           "DOCUMENT_ROOT=/srv", "HTTP_HOST=h",
                                           "QUERY_STRING=", "REDIRECT_STATUS=200",
                                           "REDIRECT_URL=/gone.py", "REDIRECT_DOCUMENT_ROOT=/srv",
                                           "REDIRECT_HTTP_HOST=h", "REDIRECT_QUERY_STRING=", NULL});

    /* A level that names cgihost but was made by no Action (no HANDLER
     * below it: a CGI program's local redirect) is kept as it is. */
    e.n = 0;
    handler(&e, 0, "/b.py", "");
    add_all(&e, 2,
            (const char *const[]){"STATUS=200", "SCRIPT_NAME=/cgihost-bin/cgihost",
                                  "SCRIPT_FILENAME=/usr/bin/cgihost", "PATH_INFO=/a.py",
                                  "PATH_TRANSLATED=/srv/a.py", NULL});
    add(&e, 3, "STATUS=200");
    add(&e, 3, "URL=/elsewhere");
    check_direct_env("a level not made by the Action", &e,
                     (const char *const[]){
                         "SCRIPT_NAME=/b.py", "SCRIPT_FILENAME=/srv/b.py",
                         "CONTEXT_PREFIX=", "CONTEXT_DOCUMENT_ROOT=/srv", "DOCUMENT_ROOT=/srv",
                         "HTTP_HOST=h", "QUERY_STRING=", "REDIRECT_STATUS=200",
                         "REDIRECT_URL=/cgihost-bin/cgihost/a.py",
                         "REDIRECT_SCRIPT_NAME=/cgihost-bin/cgihost",
                         "REDIRECT_SCRIPT_FILENAME=/usr/bin/cgihost", "REDIRECT_PATH_INFO=/a.py",
                         "REDIRECT_PATH_TRANSLATED=/srv/a.py", "REDIRECT_REDIRECT_STATUS=200",
                         "REDIRECT_REDIRECT_URL=/elsewhere", NULL});

    /* Another program's Action (HANDLER below it, another SCRIPT_FILENAME):
     * what Apache gave that program. */
    e.n = 0;
    handler(&e, 0, "/b.py", "");
    add_all(&e, 2,
            (const char *const[]){"STATUS=200", "SCRIPT_NAME=/cgi-bin/php",
                                  "SCRIPT_FILENAME=/usr/bin/php-cgi", "PATH_INFO=/a.php",
                                  "PATH_TRANSLATED=/srv/a.php", NULL});
    add_all(&e, 3, (const char *const[]){"STATUS=200", "URL=/a.php", "HANDLER=php", NULL});
    check_direct_env("a local redirect from another program's Action", &e,
                     (const char *const[]){
                         "SCRIPT_NAME=/b.py", "SCRIPT_FILENAME=/srv/b.py",
                         "CONTEXT_PREFIX=", "CONTEXT_DOCUMENT_ROOT=/srv", "DOCUMENT_ROOT=/srv",
                         "HTTP_HOST=h", "QUERY_STRING=", "REDIRECT_STATUS=200",
                         "REDIRECT_URL=/cgi-bin/php/a.php", "REDIRECT_SCRIPT_NAME=/cgi-bin/php",
                         "REDIRECT_SCRIPT_FILENAME=/usr/bin/php-cgi", "REDIRECT_PATH_INFO=/a.php",
                         "REDIRECT_PATH_TRANSLATED=/srv/a.php", "REDIRECT_REDIRECT_STATUS=200",
                         "REDIRECT_REDIRECT_URL=/a.php", "REDIRECT_REDIRECT_HANDLER=php", NULL});

    /* An ErrorDocument for a request the handler's own <Location> refused
     * (an Action's request that ran nothing): one level, the first URL. */
    e.n = 0;
    handler(&e, 0, "/err.py", "");
    add(&e, 0, "REQUEST_URI=/deny/x.py/p?q=1");
    add_all(&e, 2, (const char *const[]){"STATUS=403", "GLOBALVAR=g", NULL});
    add_all(&e, 3,
            (const char *const[]){"STATUS=200", "HANDLER=cgihost-script", "QUERY_STRING=q=1",
                                  "CGIHOST_FILE=/srv/deny/x.py", "GLOBALVAR=g", "FIRST=1", NULL});
    check_direct_env("an ErrorDocument for a request refused in the handler", &e,
                     (const char *const[]){"SCRIPT_NAME=/err.py", "SCRIPT_FILENAME=/srv/err.py",
                                           "CONTEXT_PREFIX=", "CONTEXT_DOCUMENT_ROOT=/srv",
                                           "DOCUMENT_ROOT=/srv", "HTTP_HOST=h", "QUERY_STRING=",
                                           "REQUEST_URI=/deny/x.py/p?q=1", "REDIRECT_STATUS=403",
                                           "REDIRECT_URL=/deny/x.py/p", "REDIRECT_QUERY_STRING=q=1",
                                           "REDIRECT_GLOBALVAR=g", "REDIRECT_FIRST=1", NULL});

    /* An ErrorDocument for a .py that does not exist: the snippet marked
     * the failed request (CGIHOST_FILE), which is cgihost's, not the
     * script's. */
    e.n = 0;
    handler(&e, 0, "/err.py", "");
    add(&e, 0, "REQUEST_URI=/missing.py");
    add_all(&e, 2,
            (const char *const[]){"STATUS=404", "URL=/missing.py", "CGIHOST_FILE=/srv/missing.py",
                                  "GLOBALVAR=g", NULL});
    check_direct_env("an ErrorDocument for a missing .py", &e,
                     (const char *const[]){"SCRIPT_NAME=/err.py", "SCRIPT_FILENAME=/srv/err.py",
                                           "CONTEXT_PREFIX=", "CONTEXT_DOCUMENT_ROOT=/srv",
                                           "DOCUMENT_ROOT=/srv", "HTTP_HOST=h",
                                           "QUERY_STRING=", "REQUEST_URI=/missing.py",
                                           "REDIRECT_STATUS=404", "REDIRECT_URL=/missing.py",
                                           "REDIRECT_GLOBALVAR=g", NULL});

    /* An ErrorDocument for a request a script's local redirect made (it ran
     * nothing, so the script's level has no REDIRECT_URL; its own URL is
     * not known). */
    e.n = 0;
    handler(&e, 0, "/err.py", "");
    add(&e, 0, "REQUEST_URI=/a.py");
    add_all(&e, 2, (const char *const[]){"STATUS=404", "GLOBALVAR=g", NULL});
    handler(&e, 3, "/a.py", "");
    add(&e, 3, "STATUS=200");
    check_direct_env(
        "an ErrorDocument after a local redirect", &e,
        (const char *const[]){
            "SCRIPT_NAME=/err.py", "SCRIPT_FILENAME=/srv/err.py",
            "CONTEXT_PREFIX=", "CONTEXT_DOCUMENT_ROOT=/srv", "DOCUMENT_ROOT=/srv", "HTTP_HOST=h",
            "QUERY_STRING=", "REQUEST_URI=/a.py", "REDIRECT_STATUS=404", "REDIRECT_GLOBALVAR=g",
            "REDIRECT_REDIRECT_STATUS=200", "REDIRECT_REDIRECT_SCRIPT_NAME=/a.py",
            "REDIRECT_REDIRECT_SCRIPT_FILENAME=/srv/a.py", "REDIRECT_REDIRECT_CONTEXT_PREFIX=",
            "REDIRECT_REDIRECT_CONTEXT_DOCUMENT_ROOT=/srv", "REDIRECT_REDIRECT_DOCUMENT_ROOT=/srv",
            "REDIRECT_REDIRECT_HTTP_HOST=h", "REDIRECT_REDIRECT_QUERY_STRING=", NULL});

    /* Many variables, each given twice: the script request's wins. */
    e.n = 0;
    handler(&e, 0, "/b.py", "");
    static char many[2][20][24];
    for (int i = 0; i < 20; i++) {
        snprintf(many[0][i], sizeof many[0][i], "HTTP_X_%d=handler", i);
        snprintf(many[1][i], sizeof many[1][i], "HTTP_X_%d=first", i);
        add(&e, 0, many[0][i]);
        add(&e, 1, many[1][i]);
    }
    struct env want_many = {{NULL}, 0};
    add_all(&want_many, 0,
            (const char *const[]){"SCRIPT_NAME=/b.py", "SCRIPT_FILENAME=/srv/b.py",
                                  "CONTEXT_PREFIX=", "CONTEXT_DOCUMENT_ROOT=/srv",
                                  "DOCUMENT_ROOT=/srv", "HTTP_HOST=h", "QUERY_STRING=", NULL});
    for (int i = 0; i < 20; i++)
        add(&want_many, 0, many[1][i]);
    check_direct_env("a variable given by both requests", &e, (const char *const *)want_many.v);
}

static void test_script_name(void)
{
    static const struct {
        const char *path_info, *extra;
        size_t want;
    } cases[] = {
        {"/x.py", "", 5},
        {"/dir/x.py/a/b", "/a/b", 9},
        {"/x.py/", "/", 5},
        {"/x.py/a", "/b", (size_t)-1},  /* not a suffix */
        {"/x.py", "/x.py", (size_t)-1}, /* nothing left for the script */
        {"/x.pya", "a", (size_t)-1},    /* the tail must start at '/' */
        {"x.py", "", (size_t)-1},       /* not absolute */
        {"/a", "/a/b", (size_t)-1},     /* longer than path_info */
        {"/d//x.py", "", 8},
        {"/d/", "", (size_t)-1}, /* ends at a slash: a directory */
        {"/", "", (size_t)-1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        tap_ok(cgih_cgi_script_name_len(cases[i].path_info, cases[i].extra) == cases[i].want,
               "script name in %s with extra '%s'", cases[i].path_info, cases[i].extra);
}

static void test_same_url(void)
{
    static const struct {
        const char *a, *b;
        int want;
    } cases[] = {
        {"/app.py/x", "/app.py/x", 1},
        {"/app.py//x", "/app.py/x", 1},
        {"/app.py/x", "//app.py///x", 1},
        {"/app.py/x/", "/app.py/x//", 1},
        {"/app.py/x", "/app.py/y", 0},
        {"/app.py/x", "/app.py/x/", 0},
        {"/app.py", "/app.py/", 0},
        {"/a/b", "/ab", 0},
        {"", "", 1},
        {"", "/", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        tap_ok(cgih_cgi_same_url(cases[i].a, cases[i].b) == cases[i].want &&
                   cgih_cgi_same_url(cases[i].b, cases[i].a) == cases[i].want,
               "'%s' and '%s' %s the same URL", cases[i].a, cases[i].b,
               cases[i].want ? "are" : "are not");
}

static void test_url_script_name(void)
{
    static const struct {
        const char *url, *extra;
        size_t want;
    } cases[] = {
        {"/x.py", "", 5},
        {"/x.py/a/b", "/a/b", 5},
        {"/x.py//a//b", "/a/b", 5},
        {"/d//x.py//a", "/a", 8},
        {"//x.py/a", "/a", 6},
        {"/x.py///", "/", 5},
        {"/x.py/a", "/b", (size_t)-1},
        {"/x.pya", "a", (size_t)-1},
        {"/x.py", "/x.py", (size_t)-1},
        {"x.py/a", "/a", (size_t)-1},
        {"/a", "/a/b", (size_t)-1},
        {"/d/", "", (size_t)-1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        tap_ok(cgih_cgi_url_script_len(cases[i].url, cases[i].extra) == cases[i].want,
               "script name in URL %s with extra '%s'", cases[i].url, cases[i].extra);
}

static void test_context(void)
{
    static const struct {
        const char *docroot, *script_name, *filename, *prefix, *root;
    } cases[] = {
        /* root NULL: DOCUMENT_ROOT itself */
        {"/var/www/html", "/x.py", "/var/www/html/x.py", "", NULL},
        {"/var/www/html/", "/d/x.py", "/var/www/html/d/x.py", "", NULL},
        {"/var/www/html", "/demo/x.py", "/srv/py/x.py", "/demo", "/srv/py"},
        {"/var/www/html", "/demo/sub/x.py", "/srv/py/sub/x.py", "/demo", "/srv/py"},
        {"/var/www/html", "/dx/a.py", "/srv/x/a.py", "/dx", "/srv/x"},
        {NULL, "/demo/x.py", "/srv/py/x.py", "/demo", "/srv/py"},
        {"", "/~ada/x.py", "/home/ada/public_html/x.py", "/~ada", "/home/ada/public_html"},
        {"/var/www/html", "/pretty", "/srv/py/real.py", "/pretty", "/srv/py"},
        {"/var/www/html", "/py/x.py", "/srv/py/x.py", "/py", "/srv/py"},
        {"/var/www/html", "/py/sub/x.py", "/srv/py/sub/x.py", "/py", "/srv/py"},
        {"/srv/doc", "/aliased/env.py", "/srv/aliased/env.py", "/aliased", "/srv/aliased"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t pl = 0, rl = 0;
        cgih_cgi_context(cases[i].docroot, cases[i].script_name, cases[i].filename, &pl, &rl);
        int ok = pl == strlen(cases[i].prefix) &&
                 strncmp(cases[i].script_name, cases[i].prefix, pl) == 0;
        if (cases[i].root == NULL)
            ok = ok && rl == (size_t)-1;
        else
            ok = ok && rl == strlen(cases[i].root) &&
                 strncmp(cases[i].filename, cases[i].root, rl) == 0;
        tap_ok(ok, "context of %s at %s: '%s' '%s'", cases[i].script_name, cases[i].filename,
               cases[i].prefix, cases[i].root ? cases[i].root : "(DOCUMENT_ROOT)");
        if (!ok)
            tap_diag("got prefix_len %zu root_len %zu", pl, rl);
    }
}

static void test_first_url(void)
{
    static const struct {
        const char *uri, *path, *query; /* path NULL: not recoverable */
    } cases[] = {
        {"/missing", "/missing", NULL},
        {"/missing?q=1&r", "/missing", "q=1&r"},
        {"/missing?", "/missing", ""},
        {"/a%20b/c%C3%A9?x=%20", "/a b/c\xc3\xa9", "x=%20"},
        {"/dir/", "/dir/", NULL},
        {"/", "/", NULL},
        {"http://example.org/x?y", "/x", "y"},
        {"https://example.org/x", "/x", NULL},
        {"http://example.org?x/y", NULL, NULL},
        {"http://example.org", NULL, NULL},
        {"/a%2Fb", NULL, NULL},
        {"/a%00b", NULL, NULL},
        {"/a%zzb", NULL, NULL},
        {"/a%4", NULL, NULL},
        {"/a//b", NULL, NULL},
        {"/a/./b", NULL, NULL},
        {"/a/../b", NULL, NULL},
        {"/a/%2e%2e/b", NULL, NULL},
        {"/a/..", NULL, NULL},
        {"/a/.", NULL, NULL},
        {"/a/.b/..c", "/a/.b/..c", NULL},
        {"*", NULL, NULL},
        {"x/y", NULL, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[64];
        const char *query = "unset";
        size_t n = cgih_cgi_first_url(cases[i].uri, out, sizeof out, &query);
        int ok;
        if (cases[i].path == NULL)
            ok = n == (size_t)-1;
        else
            ok = n == strlen(cases[i].path) && strcmp(out, cases[i].path) == 0 &&
                 (cases[i].query ? query && strcmp(query, cases[i].query) == 0 : query == NULL);
        tap_ok(ok, "first URL of %s", cases[i].uri);
    }
    char small[5];
    const char *q;
    tap_ok(cgih_cgi_first_url("/abcd", small, sizeof small, &q) == (size_t)-1,
           "first URL longer than the buffer");
    tap_ok(cgih_cgi_first_url("/abc", small, sizeof small, &q) == 4, "first URL that just fits");
}

/* ---- cgih_cgi_routed_here ---- */

static void test_routed_here(void)
{
    static const struct {
        const char *routed, *filename;
        int want;
    } cases[] = {
        /* the request's own file */
        {"/srv/www/x.py", "/srv/www/x.py", 1},
        {"/srv/www/x.py", "/srv/www/y.py", 0},
        {"/srv/www/app/x.py", "/srv/www/appcode/x.py", 0},
        /* DirectoryIndex: a file directly in the directory */
        {"/srv/www/", "/srv/www/index.py", 1},
        {"/srv/www//", "/srv/www/index.py", 1},
        {"/", "/index.py", 1},
        {"/", "/srv/www/index.py", 0},
        {"/srv/www/appcode/", "/srv/www/app/index.py", 0},
        {"/srv/www/", "/srv/www/sub/index.py", 0},
        {"/srv/www/sub/", "/srv/www/index.py", 0},
        {"/srv/www/sub/", "/srv/www/subx/index.py", 0},
        {"/srv/www/", "/srv/wwwx/index.py", 0},
        {"/srv/www/", "/srv/www/", 1}, /* (the same string; find_script refuses a directory) */
        {"/srv/www/", "/srv/www", 0},
        {"/srv/www", "/srv/www/index.py", 0},
        /* nor a name negotiated from (MultiViews never sets it) */
        {"/srv/www/page", "/srv/www/page.py", 0},
        {"", "/srv/www/x.py", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        tap_ok(cgih_cgi_routed_here(cases[i].routed, cases[i].filename) == cases[i].want,
               "routed %s, file %s: %d", cases[i].routed, cases[i].filename, cases[i].want);
}

int main(void)
{
    test_first_url();
    test_query_words();
    test_direct_env();
    test_script_name();
    test_same_url();
    test_url_script_name();
    test_context();
    test_routed_here();
    return tap_done();
}
