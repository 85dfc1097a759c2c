/* pyrun.h: the embedded interpreter, started lean, running one script the way
 * `python3 SCRIPT ARG...` does.
 *
 * Sequence: cgih_py_init() once; cgih_py_set_argv() and cgih_py_run_file() for
 * the request; cgih_py_finalize() to leave with the script's status. The split
 * lets a resident server initialize once and run requests in forked children.
 */
#ifndef CGIH_PYRUN_H
#define CGIH_PYRUN_H

/* Starts CPython with the built-in cgi/cgitb modules, the system's site and
 * dist-packages on sys.path, and without importing site. opt, when not NULL
 * or "", is the option the script's "#!" line gives python3 (shebang.h) and
 * script the script's path: Python reads the option as python3 reads its
 * command line (-u, -O, -W..., -S, -s, -E, -I, -B, -X...). Returns -1 when
 * Python is ready, else the exit status to leave with, the reason printed (0
 * for what python3 ends with at once, as for -V). */
int cgih_py_init(const char *opt, const char *script);

/* The embedded CPython's version ("3.11.2"); callable before cgih_py_init(). */
const char *cgih_py_version(void);

/* For a server's request child that applies the "#!" line's option itself
 * (-u): sys.orig_argv names it. 0, or -1 when out of memory. */
int cgih_py_note_option(const char *opt);

/* sys.argv = argv[0..argc) and sys.path[0] = the script's real directory.
 * Returns 0, or -1 with the error already printed. */
int cgih_py_set_argv(int argc, char **argv);

/* Runs a script file as __main__. Returns its exit status: 0, sys.exit()'s
 * code, 1 after an uncaught exception (traceback printed), 2 when the file
 * cannot be read. */
int cgih_py_run_file(const char *path);

/* Waits for threads, runs atexit handlers, releases the script's globals and
 * flushes stdout and stderr; returns status, or 120 when flushing failed, as
 * python3 does. The caller then leaves with _exit(): the rest of the heap is
 * not torn down. */
int cgih_py_finalize(int status);

/* For the resident server's code cache. (struct _object is CPython's
 * PyObject; this header does not need Python.h.)
 *
 * cgih_py_set_code_lookup(): from then on cgih_py_run_file() first asks
 * lookup(filename) for the script's code, filename being the absolute path
 * it would compile it under (a str); lookup returns a new reference, or NULL
 * without an exception set to have the file read and compiled as usual.
 *
 * cgih_py_compile_file(): reads and compiles the file as cgih_py_run_file()
 * would (no-break-space rewrite included), if it is a regular file, without
 * waiting in open() (a FIFO swapped in); a new reference, or NULL with an
 * exception set. */
/* cgih_py_fix_baseline(): what the interpreter holds now (sys.modules, the
 * names in sys and builtins) is what every script starts with, so that
 * cgih_py_finalize() releases only what a script added; without this call,
 * cgih_py_run_file() notes it itself. The server calls it once, before it
 * forks: its children share the record instead of each making it. */
void cgih_py_fix_baseline(void);

/* Whether a site directory or a .pth file that the interpreter's start read
 * is another now (a package installed or removed, a .pth added or edited,
 * the user's site-packages made): sys.path would be another at a fresh
 * start. */
int cgih_py_site_changed(void);

/* cgih_py_watch_modules(): notes the file of each module imported so far
 * that came from one (source or extension; not a built-in or frozen one).
 * cgih_py_module_changed(): the first of those files that is another now
 * (replaced, edited or removed: an apt upgrade of the standard library, a
 * package upgraded in place), or NULL. The server, which keeps the modules
 * it imported, restarts then, as for a site change. */
void cgih_py_watch_modules(void);
const char *cgih_py_module_changed(void);

struct _object;
void cgih_py_set_code_lookup(struct _object *(*lookup)(struct _object *filename));
struct _object *cgih_py_compile_file(struct _object *filename);

#endif
