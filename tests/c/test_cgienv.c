/* test_cgienv.c: the pure parts of CGI-mode resolution (host/cgienv.c): how
 * many argv words a query string accounts for, what becomes of each variable
 * of the handler's request, where the script's URL ends, and the context a
 * directly run script would have had. The rest runs end to end in
 * tests/test_cgienv.py and tests/test_apache.py. */
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

static void test_env_fate(void)
{
    static const struct {
        const char *entry;
        enum cgih_env_fate want;
    } cases[] = {
        {"HTTP_HOST=x", CGIH_ENV_KEEP},
        {"QUERY_STRING=a=1", CGIH_ENV_KEEP},
        {"REQUEST_URI=/x.py", CGIH_ENV_KEEP},
        {"SCRIPT_NAMES=x", CGIH_ENV_KEEP},
        {"SCRIPT_NAME=/cgihost-bin/cgihost", CGIH_ENV_REPLACE},
        {"SCRIPT_FILENAME=/usr/bin/cgihost", CGIH_ENV_REPLACE},
        {"PATH_INFO=/x.py", CGIH_ENV_REPLACE},
        {"PATH_TRANSLATED=/var/www/x.py", CGIH_ENV_REPLACE},
        {"CONTEXT_PREFIX=/cgihost-bin/cgihost", CGIH_ENV_REPLACE},
        {"CONTEXT_DOCUMENT_ROOT=/usr/bin/cgihost", CGIH_ENV_REPLACE},
        {"PATH=/usr/bin:/bin", CGIH_ENV_KEEP},
        {"REDIRECT_STATUS=200", CGIH_ENV_DROP},
        {"REDIRECT_URL=/x.py", CGIH_ENV_DROP},
        {"REDIRECT_QUERY_STRING=a=1", CGIH_ENV_DROP},
        {"REDIRECT_HANDLER=cgihost-script", CGIH_ENV_DROP},
        {"REDIRECT_CGIHOST_FILE=/srv/x.py", CGIH_ENV_DROP},
        {"REDIRECT_=x", CGIH_ENV_DROP},
        {"REDIRECT_STATUSX=1", CGIH_ENV_UNWRAP},
        {"REDIRECT_UNIQUE_ID=abc", CGIH_ENV_UNWRAP},
        {"REDIRECT_HTTPS=on", CGIH_ENV_UNWRAP},
        {"REDIRECT_REDIRECT_STATUS=404", CGIH_ENV_UNWRAP},
        {"REDIRECT_REDIRECT_URL=/missing", CGIH_ENV_UNWRAP},
        {"REDIRECT_SCRIPT_NAME=/x", CGIH_ENV_UNWRAP},
        {"REDIRECTED=1", CGIH_ENV_KEEP},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        tap_ok(cgih_cgi_env_fate(cases[i].entry) == cases[i].want, "fate of %s is %d",
               cases[i].entry, (int)cases[i].want);
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

int main(void)
{
    test_first_url();
    test_query_words();
    test_env_fate();
    test_script_name();
    test_context();
    return tap_done();
}
