/* cgienv.h: what cgihost does before running anything when it runs as a CGI
 * program (GATEWAY_INTERFACE is set): decide which script to run, refuse
 * requests that did not come the way the configuration intended, and give the
 * script the environment mod_cgi would have given it had it run directly.
 *
 * Two ways in, both Apache's (see host/apache/cgihost.conf):
 *
 *   shebang  The script starts with "#!/usr/local/bin/cgihost" and Apache runs
 *            it under ScriptAlias or ExecCGI. The kernel calls
 *            `cgihost SCRIPT [WORD...]`, where the WORDs are the query string's
 *            (mod_cgi passes a query string without '=' as argv, RFC 3875 4.4).
 *            The environment is already right; cgihost runs SCRIPT.
 *
 *   handler  `Action cgihost-script /cgihost-bin/cgihost` sends a request for
 *            /dir/x.py/extra through an internal redirect to
 *            /cgihost-bin/cgihost/dir/x.py/extra. cgihost is called as
 *            `cgihost [WORD...]` with SCRIPT_NAME and SCRIPT_FILENAME naming
 *            itself, PATH_INFO=/dir/x.py/extra, PATH_TRANSLATED=/docroot/dir/
 *            x.py/extra, REDIRECT_STATUS, REDIRECT_URL, and the first request's
 *            own variables renamed REDIRECT_NAME. cgihost requires
 *            REDIRECT_STATUS (the request came through the Action, as PHP's
 *            cgi.force_redirect does since CVE-2012-1823), REDIRECT_HANDLER
 *            (mod_actions made it) and REDIRECT_URL equal to PATH_INFO, finds
 *            the regular file Apache resolved at the start of
 *            PATH_TRANSLATED, and rewrites the environment (below).
 *
 * Which one: argv words beyond those the query string can account for, or
 * an argv[1] that is SCRIPT_FILENAME (a server that passes no query words,
 * such as fcgiwrap or lighttpd, runs `cgihost SCRIPT` for a query `foo`), or
 * none of SCRIPT_NAME (which every web server sets), REQUEST_URI,
 * REDIRECT_STATUS and PATH_INFO (a CGI environment made by hand, with
 * `cgihost SCRIPT` on the command line) mean shebang.
 * WORDs from the query string come last and are never read as options or as
 * a script (but by hand, where there is no request), so
 * `/cgihost-bin/cgihost?/etc/passwd` or `/x.py?-s` run nothing they name (a
 * query naming SCRIPT_FILENAME, cgihost itself there, names a program, which
 * cgihost refuses to run as a script).
 */
#ifndef CGIH_CGIENV_H
#define CGIH_CGIENV_H

#include <stddef.h>

/* Called once, first thing, when GATEWAY_INTERFACE is set. On success returns
 * -1 with *argc and *argv such that (*argv)[1] is the script to run and
 * (*argv)[1..*argc) its sys.argv, the environment rewritten and the working
 * directory set to the script's directory, as mod_cgi does. Otherwise it has
 * written a complete CGI error response (Status 403, 404 or 500) to stdout and
 * one line to stderr (Apache's error log), and returns the exit status. */
int cgih_cgi_resolve(int *argc, char ***argv);

/* ---- pure parts, exposed for the unit tests ---------------------------------- */

/* How many argv words the server made of this query string: none when it is
 * unset, empty or contains '='; otherwise one per '+'-separated word. An
 * overestimate only makes cgihost refuse, never run argv as a script. */
size_t cgih_cgi_query_words(const char *query_string);

/* The environment a directly run script would have had, made from env, the
 * handler's (NULL-terminated "NAME=value" strings, level 0 a handler
 * request that cgih_cgi_resolve accepted).
 *
 * Levels. Each internal redirect renames the previous request's variables
 * REDIRECT_NAME, so REDIRECT_REDIRECT_X=v is X=v at level 2, two requests
 * back. A request through an Action costs two levels where a directly run
 * script's costs one: the Action's request (level r) and the request it was
 * made from (level r+1: SetEnv and the like, the Action's REDIRECT_STATUS,
 * _URL and _QUERY_STRING, mod_actions' HANDLER and the snippet's
 * CGIHOST_FILE). A level r is an Action's when level r+1 has HANDLER; it
 * ran cgihost (an earlier script of the chain, which sent a local redirect,
 * RFC 3875 6.2.2) when its SCRIPT_FILENAME is level 0's and its PATH_INFO
 * the Action's REDIRECT_URL, and ran nothing when it has no CGI variables
 * (refused, say, by a <Location> of the handler's URL, before an
 * ErrorDocument).
 *
 * Each such pair becomes one level of the result: the Action's request's
 * variables, with those of the request it was made from winning over them,
 * the Action's own dropped, and, where it ran cgihost, SCRIPT_NAME,
 * SCRIPT_FILENAME, PATH_INFO, PATH_TRANSLATED, CONTEXT_PREFIX and
 * CONTEXT_DOCUMENT_ROOT made again from its PATH_INFO and the script file at
 * the start of its PATH_TRANSLATED: find(translated, level, arg) gives that
 * file name's length, or (size_t)-1 to leave the six out. The two CONTEXT_
 * variables are the script's request's own where the snippet passed them
 * (CGIHOST_CONTEXT_PREFIX and CGIHOST_CONTEXT_ROOT at level r+1, dropped
 * as CGIHOST_FILE is), otherwise cgih_cgi_context's guess. Any other level
 * (another program's, or a request that ran nothing and was made by no
 * Action) is kept as it is.
 *
 * REDIRECT_URL, which Apache makes for a CGI program alone (the URL of the
 * request before), is given where a directly run chain would have it: after
 * a CGI program's level, the URL of an Action's script request, the
 * SCRIPT_NAME and PATH_INFO of a CGI program run directly, or, for a first
 * request that ran nothing (one an ErrorDocument answered), REQUEST_URI
 * (cgih_cgi_first_url) with its query string; otherwise it is not known.
 *
 * Returns a NULL-terminated array of new strings, for cgih_cgi_env_free, or
 * NULL when out of memory. */
typedef size_t (*cgih_cgi_find_fn)(const char *translated, size_t level, void *arg);
char **cgih_cgi_direct_env(char *const *env, cgih_cgi_find_fn find, void *arg);
void cgih_cgi_env_free(char **env);

/* PATH_INFO is the script's URL path followed by the extra path, and the extra
 * path is what follows the script's file name in PATH_TRANSLATED. Returns the
 * length of the script's URL path (the new SCRIPT_NAME) within path_info, or
 * (size_t)-1 when extra is not a suffix of path_info at a '/' or leaves an
 * empty or non-absolute script path. */
size_t cgih_cgi_script_name_len(const char *path_info, const char *extra);

/* Whether two URL paths are the same once each run of '/' is taken as one:
 * Apache merges them in the PATH_INFO it gives the Action (its look-up of
 * the file), not in the redirected URL, when a rewrite made them
 * ("RewriteRule ^(.*)$ /app.py/$1" gives "/app.py//page"). */
int cgih_cgi_same_url(const char *a, const char *b);

/* The script's part of its URL path, as mod_cgi takes SCRIPT_NAME from the
 * request's URL: what is left once extra (the path info, whose runs of '/'
 * Apache merged) is matched off its end, a run of '/' in url matching one in
 * extra. Returns its length, or (size_t)-1 when extra does not end url so or
 * leaves an empty, non-absolute or '/'-ended script path. */
size_t cgih_cgi_url_script_len(const char *url, const char *extra);

/* Whether filename, the script PATH_TRANSLATED names, is the one the request
 * was routed to: routed is its REQUEST_FILENAME (CGIHOST_FILE, set by the
 * snippet as the request's own file was mapped). The same file; or, when
 * DirectoryIndex chose the script in a sub-request (where the snippet's
 * variable is not set again), a file directly in the directory routed names
 * with its trailing '/'. */
int cgih_cgi_routed_here(const char *routed, const char *filename);

/* CONTEXT_PREFIX and CONTEXT_DOCUMENT_ROOT of a directly run script, from its
 * URL path and file: "" and DOCUMENT_ROOT when the file is DOCUMENT_ROOT
 * followed by the URL path; otherwise (an Alias) the URL and the file with
 * their longest common tail of whole '/' components removed, leaving at least
 * the URL's first component as the prefix, without a trailing slash. A guess:
 * Apache does not pass the first request's context to the Action, and gives
 * "" and DOCUMENT_ROOT for an AliasMatch or a rewrite to a file name; used
 * when the snippet's CGIHOST_CONTEXT_* are not there.
 * Sets *prefix_len within script_name and *root_len within filename;
 * *root_len == (size_t)-1 means "use document_root". */
void cgih_cgi_context(const char *document_root, const char *script_name, const char *filename,
                      size_t *prefix_len, size_t *root_len);

/* REDIRECT_URL and REDIRECT_QUERY_STRING of a script an ErrorDocument sent
 * to: the first request's decoded path and raw query string, recovered from
 * REQUEST_URI (origin or absolute form). Writes the path and its NUL into out
 * and returns its length, with *query pointing after the '?' in request_uri
 * or NULL. Returns (size_t)-1 when Apache's r->uri cannot be known exactly:
 * an encoded '/' or NUL, a bad escape, "//", "." or ".." segments, or not
 * enough room. */
size_t cgih_cgi_first_url(const char *request_uri, char *out, size_t outlen, const char **query);

#endif
