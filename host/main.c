/* main.c: the cgihost command.
 *
 *   cgihost SCRIPT [ARG...]   run SCRIPT as `python3 SCRIPT ARG...` would
 *   cgihost --version | --help
 *
 * When run as a CGI program (GATEWAY_INTERFACE is set) no argument is read as
 * an option, so nothing from a URL can become one.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "cgienv.h"
#include "proto.h"
#include "pyrun.h"
#include "server.h"
#include "shebang.h"

#ifndef CGIH_VERSION
#define CGIH_VERSION "unknown"
#endif

static void usage(FILE *f)
{
    fputs("usage: cgihost [--] SCRIPT [ARG...]\n"
          "       cgihost serve [--user USER] [OPTION...]   (options: cgihost serve --help)\n"
          "       cgihost stop | status [--user USER] [--socket-dir DIR]\n"
          "       cgihost --version | --help\n"
          "Runs a Python CGI script with built-in C cgi/cgitb modules.\n",
          f);
}

/* Which script and arguments: -1 with *argc and *argv set to run (*argv)[1],
 * else the exit status. Shared by main() and the server's request children,
 * which run it on the request's argv, environment and cwd. */
int cgih_main_prepare(int *argcp, char ***argvp)
{
    int argc = *argcp;
    char **argv = *argvp;
    const char *gateway = getenv("GATEWAY_INTERFACE");
    int as_cgi = gateway && *gateway;

    /* As a CGI program: which script, its environment, or an error response. */
    if (as_cgi) {
        int refused = cgih_cgi_resolve(&argc, &argv);
        if (refused >= 0)
            return refused;
    }
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!as_cgi && argv[1][0] == '-') {
        if (strcmp(argv[1], "--version") == 0) {
            printf("cgihost %s (CPython %s)\n", CGIH_VERSION, cgih_py_version());
            return 0;
        }
        if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[1], "--") == 0) {
            argv++;
            argc--;
            if (argc < 2) {
                usage(stderr);
                return 2;
            }
        } else {
            fprintf(stderr, "cgihost: unknown option %s\n", argv[1]);
            usage(stderr);
            return 2;
        }
    }

    *argcp = argc;
    *argvp = argv;
    return -1;
}

/* Runs (*argv)[1] in the initialized interpreter; returns the exit status. */
int cgih_main_run(int argc, char **argv)
{
    return cgih_py_set_argv(argc - 1, argv + 1) < 0 ? cgih_py_finalize(1)
                                                    : cgih_py_finalize(cgih_py_run_file(argv[1]));
}

/* env's entry of the name of "NAME=value" e, or NULL. */
static const char *entry_of(char *const *env, const char *e)
{
    size_t n = strcspn(e, "=");
    for (; *env; env++)
        if (strncmp(*env, e, n) == 0 && (*env)[n] == '=')
            return *env;
    return NULL;
}

/* Whether the script's environment (now environ) gives another value to a
 * variable read at start than the one we started with (env0): behind the
 * Action, a site's SetEnv LD_LIBRARY_PATH comes as REDIRECT_LD_LIBRARY_PATH
 * and the script gets it as LD_LIBRARY_PATH, which our loader never read. */
static int start_env_differs(char *const *env0)
{
    for (char **e = environ; *e; e++) {
        const char *was = cgih_env_read_at_start(*e) ? entry_of(env0, *e) : NULL;
        if (cgih_env_read_at_start(*e) && (!was || strcmp(was, *e) != 0))
            return 1;
    }
    for (char *const *e = env0; *e; e++)
        if (cgih_env_read_at_start(*e) && !entry_of(environ, *e))
            return 1;
    return 0;
}

#define START_ENV_MARK "CGIHOST_START_ENV=1"

/* Runs this program again on argv0 and env0, with the script's values of
 * the variables read at start, as python3 would have started with them.
 * Returns only if the exec fails (then the script runs here, as before). */
static void reexec_with_start_env(char **argv0, char *const *env0)
{
    size_t n = 0;
    for (char *const *e = env0; *e; e++)
        n++;
    for (char **e = environ; *e; e++)
        n++;
    char **env = calloc(n + 2, sizeof *env);
    if (env == NULL)
        return;
    size_t k = 0;
    for (char *const *e = env0; *e; e++)
        if (!cgih_env_read_at_start(*e))
            env[k++] = *e;
    for (char **e = environ; *e; e++)
        if (cgih_env_read_at_start(*e))
            env[k++] = *e;
    env[k++] = START_ENV_MARK;
    execve("/proc/self/exe", argv0, env);
    free(env);
}

int main(int argc, char **argv)
{
    /* A set-user-ID or set-group-ID copy (chmod u+s, a package's mistake)
     * would run any script its caller names with the effective ids: root's,
     * for a root-owned copy, to every local user; and code a server runs
     * could take the real ids back. The client hands such a run here:
     * refused here, for every run, serve's too. */
    if (getuid() != geteuid() || getgid() != getegid()) {
        fprintf(stderr, "cgihost: refusing to run with real and effective user or group ids "
                        "that differ (a set-user-ID or set-group-ID copy?)\n");
        _exit(1); /* running nothing at exit either (nor LeakSanitizer's check, which fails so) */
    }
    const char *gateway = getenv("GATEWAY_INTERFACE");
    if (!(gateway && *gateway) && argc >= 2 && cgih_server_is_command(argv[1]))
        return cgih_server_command(argc - 1, argv + 1);
    /* (the mark of reexec_with_start_env(), not the script's) */
    int reexecuted = getenv("CGIHOST_START_ENV") != NULL;
    if (reexecuted)
        unsetenv("CGIHOST_START_ENV");
    char **env0 = environ, **argv0 = argv;
    cgih_drain_keep_env(); /* the web server's, as the client reads it */
    int status = cgih_main_prepare(&argc, &argv);
    if (status >= 0)
        return status;
    if (gateway && *gateway && environ != env0 && !reexecuted && start_env_differs(env0))
        reexec_with_start_env(argv0, env0);
    /* The options of the script's "#!" line, as python3 would have had them. */
    char opt[CGIH_SHEBANG_MAX];
    (void)cgih_shebang_python_arg_of(argv[1], opt);
    status = cgih_py_init(opt, argv[1]);
    if (status >= 0)
        return status;
    status = cgih_main_run(argc, argv);
    if (cgih_drain_wanted(0)) {
        /* Its output written: what it left of the body (a served child
         * hands it to the client instead). Python's handlers gone, as
         * python3's end resets them: a web server's signal ends the drain
         * and us by its default effect. */
        /* (An alarm the script left armed is the script's: it goes too.) */
        struct itimerval off = {{0, 0}, {0, 0}};
        if (setitimer(ITIMER_REAL, &off, NULL) != 0) {
            /* cannot fail with these arguments */
        }
        static const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM};
        for (size_t i = 0; i < sizeof sigs / sizeof *sigs; i++) {
            struct sigaction sa;
            if (sigaction(sigs[i], NULL, &sa) != 0 || sa.sa_handler == SIG_DFL ||
                sa.sa_handler == SIG_IGN)
                continue;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = SIG_DFL;
            if (sigaction(sigs[i], &sa, NULL) != 0)
                continue; /* then its handler may cut the drain short: as before */
        }
        cgih_drain_body(0);
    }
    _exit(status);
}
