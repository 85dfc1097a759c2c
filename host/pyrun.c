/* pyrun.c: see pyrun.h. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../shim/pycompat.h"
#include "../shim/shim.h"
#include "nbsp.h"
#include "pyrun.h"

#ifndef CGIH_PYTHON_EXE
#error "CGIH_PYTHON_EXE must name the python3 that matches libpython"
#endif
#ifndef CGIH_SITE_DIRS
#define CGIH_SITE_DIRS ""
#endif

static void fix_modules_too(void);

/* The one place that reports a failed PyStatus. */
static int report_status(PyStatus st)
{
    if (PyStatus_IsExit(st)) /* what python3 itself ends with (-h, an unknown option) */
        return st.exitcode;
    if (st.func)
        fprintf(stderr, "cgihost: %s: %s\n", st.func, st.err_msg ? st.err_msg : "error");
    else
        fprintf(stderr, "cgihost: %s\n", st.err_msg ? st.err_msg : "cannot start Python");
    return 1;
}

/* A .pth line ran setuptools' _distutils_hack (distutils-precedence.pth). */
static int distutils_hack;

/* What the site step read, as it was then (cgih_py_site_changed()): each
 * site directory, there or not, and each .pth file in one, however many
 * (a fixed table let an edit of the .pth files past it, and of the site
 * directories after them, go unseen). And, for the server, the file of each
 * module it imported from one (cgih_py_module_changed()). */
struct site_watch {
    char *path;
    int there;
    struct stat st;
};
struct watch_list {
    struct site_watch *v;
    size_t n, cap;
};
static struct watch_list site_watched, module_watched;

static void watch_add(struct watch_list *l, const char *path, const struct stat *st)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 32;
        struct site_watch *w = realloc(l->v, cap * sizeof *w);
        if (!w)
            return;
        l->v = w;
        l->cap = cap;
    }
    char *copy = strdup(path);
    if (!copy)
        return;
    l->v[l->n].path = copy;
    l->v[l->n].there = st != NULL;
    if (st)
        l->v[l->n].st = *st;
    l->n++;
}

static void site_watch(const char *path, const struct stat *st)
{
    watch_add(&site_watched, path, st);
}

/* The first file of L that is another than it was, or NULL. */
static const char *watch_changed(const struct watch_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        const struct site_watch *w = &l->v[i];
        struct stat st;
        int there = stat(w->path, &st) == 0;
        if (there != w->there)
            return w->path;
        if (there && (st.st_dev != w->st.st_dev || st.st_ino != w->st.st_ino ||
                      st.st_size != w->st.st_size || st.st_mtim.tv_sec != w->st.st_mtim.tv_sec ||
                      st.st_mtim.tv_nsec != w->st.st_mtim.tv_nsec ||
                      st.st_ctim.tv_sec != w->st.st_ctim.tv_sec ||
                      st.st_ctim.tv_nsec != w->st.st_ctim.tv_nsec))
            return w->path;
    }
    return NULL;
}

int cgih_py_site_changed(void)
{
    return watch_changed(&site_watched) != NULL;
}

void cgih_py_watch_modules(void)
{
    PyObject *mods = PyImport_GetModuleDict(); /* borrowed */
    PyObject *copy = mods ? PyDict_Copy(mods) : NULL;
    Py_ssize_t pos = 0;
    PyObject *name, *mod;
    while (copy && PyDict_Next(copy, &pos, &name, &mod)) {
        /* A module found in a file (spec.has_location): not a built-in or
         * frozen one, which is the binary's, nor a namespace package. */
        PyObject *spec = PyObject_GetAttrString(mod, "__spec__");
        PyObject *has =
            spec && spec != Py_None ? PyObject_GetAttrString(spec, "has_location") : NULL;
        PyObject *origin =
            has && PyObject_IsTrue(has) == 1 ? PyObject_GetAttrString(spec, "origin") : NULL;
        PyObject *bytes = NULL;
        struct stat st;
        if (origin && PyUnicode_Check(origin) && PyUnicode_FSConverter(origin, &bytes) &&
            stat(PyBytes_AS_STRING(bytes), &st) == 0)
            watch_add(&module_watched, PyBytes_AS_STRING(bytes), &st);
        PyErr_Clear();
        Py_XDECREF(bytes);
        Py_XDECREF(origin);
        Py_XDECREF(has);
        Py_XDECREF(spec);
    }
    Py_XDECREF(copy);
    PyErr_Clear();
}

const char *cgih_py_module_changed(void)
{
    return watch_changed(&module_watched);
}

/* Appends dir to sys.path if it is a directory, then the plain path lines of its
 * .pth files. Lines that import code are skipped: they cost every request, and
 * a CGI script does not need them (see README); setuptools' is done when it
 * matters (distutils_find_spec()). */
static int add_site_dir(PyObject *path, const char *dir)
{
    struct stat st;
    int there = stat(dir, &st) == 0;
    site_watch(dir, there ? &st : NULL);
    if (!there || !S_ISDIR(st.st_mode))
        return 0;
    PyObject *d = PyUnicode_DecodeFSDefault(dir);
    if (!d)
        return -1;
    int have = PySequence_Contains(path, d);
    int rc = have < 0 ? -1 : have ? 0 : PyList_Append(path, d);
    Py_DECREF(d);
    if (rc < 0)
        return -1;

    DIR *dp = opendir(dir);
    if (!dp)
        return 0;
    struct dirent *de;
    while ((de = readdir(dp)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n < 5 || strcmp(de->d_name + n - 4, ".pth") != 0 || de->d_name[0] == '.')
            continue;
        char file[PATH_MAX];
        if (snprintf(file, sizeof file, "%s/%s", dir, de->d_name) >= (int)sizeof file)
            continue;
        FILE *f = fopen(file, "re");
        if (!f)
            continue;
        if (fstat(fileno(f), &st) == 0)
            site_watch(file, &st);
        char line[PATH_MAX];
        while (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\r\n")] = '\0';
            int code = strncmp(line, "import ", 7) == 0 || strncmp(line, "import\t", 7) == 0;
            if (code && strstr(line, "_distutils_hack")) {
                const char *use = getenv("SETUPTOOLS_USE_DISTUTILS"); /* the .pth line's test */
                if (!use || strcmp(use, "local") == 0)
                    distutils_hack = 1;
            }
            if (line[0] == '\0' || line[0] == '#' || code)
                continue;
            char full[PATH_MAX];
            if (line[0] == '/')
                snprintf(full, sizeof full, "%s", line);
            else if (snprintf(full, sizeof full, "%s/%s", dir, line) >= (int)sizeof full)
                continue;
            if (stat(full, &st) != 0)
                continue;
            PyObject *e = PyUnicode_DecodeFSDefault(full);
            if (!e) {
                rc = -1;
                break;
            }
            have = PySequence_Contains(path, e);
            rc = have < 0 ? -1 : have ? 0 : PyList_Append(path, e);
            Py_DECREF(e);
            if (rc < 0)
                break;
        }
        fclose(f);
        if (rc < 0)
            break;
    }
    closedir(dp);
    return rc;
}

/* find_spec(name, path=None, target=None) of a finder on sys.meta_path
 * where setuptools' distutils-precedence.pth would have run, at python3's
 * start, `import _distutils_hack; _distutils_hack.add_shim()` (unless
 * SETUPTOOLS_USE_DISTUTILS said other than "local" then: an interpreter-
 * shaping variable, proto.c): its finder, first on sys.meta_path, gives
 * `import distutils` setuptools' copy, without the stdlib's
 * DeprecationWarning, and watches `import pip`. Here it is done at the
 * first import of either; this finder then answers nothing more (it stays
 * where it is: importlib is going through the list), and the hack's finder,
 * first, answers as in python3. */
static PyObject *distutils_find_spec(PyObject *unused, PyObject *args);
static PyMethodDef distutils_find_spec_def = {"find_spec", distutils_find_spec, METH_VARARGS, NULL};
static int distutils_hack_done;

static PyObject *distutils_find_spec(PyObject *unused, PyObject *args)
{
    (void)unused;
    PyObject *name, *path = Py_None, *target = Py_None;
    if (!PyArg_ParseTuple(args, "O|OO:find_spec", &name, &path, &target))
        return NULL;
    if (distutils_hack_done || path != Py_None || !PyUnicode_Check(name) ||
        (PyUnicode_CompareWithASCIIString(name, "distutils") != 0 &&
         PyUnicode_CompareWithASCIIString(name, "pip") != 0))
        Py_RETURN_NONE;
    distutils_hack_done = 1;
    /* python3's site reports a failing .pth line and goes on: so do we, silently. */
    PyObject *hack = PyImport_ImportModule("_distutils_hack");
    PyObject *r = hack ? PyObject_CallMethod(hack, "add_shim", NULL) : NULL;
    PyObject *finder = r ? PyObject_GetAttrString(hack, "DISTUTILS_FINDER") : NULL;
    PyObject *spec =
        finder ? PyObject_CallMethod(finder, "find_spec", "OOO", name, path, target) : NULL;
    Py_XDECREF(r);
    Py_XDECREF(hack);
    if (!finder) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    Py_DECREF(finder);
    return spec; /* or the hack's exception, as python3 would raise it */
}

/* What site.py would add that scripts rely on: user and system site
 * directories, and the exit/quit/help builtins. (copyright and credits are
 * left out: their _sitebuiltins._Printer imports os.) */
/* os.path.abspath(path) (posixpath.normpath() of it joined to the working
 * directory) into out; -1 when it does not fit. */
static int abspath_into(char *out, size_t n, const char *path)
{
    char joined[PATH_MAX * 2];
    char cwd[PATH_MAX];
    if (path[0] != '/' && !getcwd(cwd, sizeof cwd))
        return -1;
    if (snprintf(joined, sizeof joined, "%s%s%s", path[0] == '/' ? "" : cwd,
                 path[0] == '/' ? "" : "/", path) >= (int)sizeof joined)
        return -1;
    /* POSIX keeps a leading "//" as it is, and normpath() with it. */
    size_t len = joined[1] == '/' && joined[2] != '/' ? 2 : 1;
    if (len >= n)
        return -1;
    memcpy(out, joined, len);
    for (char *save = NULL, *c = strtok_r(joined + len, "/", &save); c;
         c = strtok_r(NULL, "/", &save)) {
        if (strcmp(c, ".") == 0)
            continue;
        if (strcmp(c, "..") == 0) {
            while (len > 1 && out[len - 1] != '/')
                len--;
            if (len > 1 && !(len == 2 && out[0] == '/' && out[1] == '/'))
                len--; /* the slash before it, but the root's */
            continue;
        }
        size_t k = strlen(c), sep = out[len - 1] != '/';
        if (len + sep + k >= n)
            return -1;
        if (sep)
            out[len++] = '/';
        memcpy(out + len, c, k);
        len += k;
    }
    out[len] = '\0';
    return 0;
}

/* site.py's user site-packages directory: PYTHONUSERBASE, else ~/.local
 * (~ being HOME when it is set, even empty, else the user's home in the
 * password database), then lib/pythonX.Y/site-packages, made absolute. -1
 * when there is none (no home to be found). */
static int user_site(char *out, size_t n)
{
    const char *base = getenv("PYTHONUSERBASE"), *home = getenv("HOME");
    char buf[PATH_MAX], pwbuf[4096];
    if (!base || !*base) {
        struct passwd pw, *found = NULL;
        if (!home && (getpwuid_r(getuid(), &pw, pwbuf, sizeof pwbuf, &found) != 0 || !found))
            return -1; /* expanduser() leaves "~" as it is: a directory named so, never there */
        if (!home)
            home = found->pw_dir;
        size_t len = strlen(home);
        while (len > 0 && home[len - 1] == '/')
            len--;
        if (snprintf(buf, sizeof buf, "%.*s/.local", (int)len, home) >= (int)sizeof buf)
            return -1;
        base = buf;
    }
    char site[PATH_MAX * 2];
    if (snprintf(site, sizeof site, "%s/lib/python%d.%d/site-packages", base, PY_MAJOR_VERSION,
                 PY_MINOR_VERSION) >= (int)sizeof site)
        return -1;
    return abspath_into(out, n, site);
}

static int lean_site(void)
{
    PyObject *path = PySys_GetObject("path"); /* borrowed */
    if (!path || !PyList_Check(path)) {
        PyErr_SetString(PyExc_RuntimeError, "sys.path is not a list");
        return -1;
    }
    PyObject *flags = PySys_GetObject("flags"); /* borrowed */
    PyObject *nus = flags ? PyObject_GetAttrString(flags, "no_user_site") : NULL;
    int nouser = nus ? PyObject_IsTrue(nus) : -1; /* -s, -I or PYTHONNOUSERSITE */
    Py_XDECREF(nus);
    if (nouser < 0)
        return -1;
    if (!nouser && getuid() == geteuid() && getgid() == getegid()) {
        char user[PATH_MAX];
        if (user_site(user, sizeof user) == 0 && add_site_dir(path, user) < 0)
            return -1;
    }
    char dirs[] = CGIH_SITE_DIRS;
    for (char *save = NULL, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save))
        if (add_site_dir(path, d) < 0)
            return -1;
    if (distutils_hack && cgih_meta_path_push(&distutils_find_spec_def) < 0)
        return -1;

    PyObject *sb = PyImport_ImportModule("_sitebuiltins");
    if (!sb)
        return -1;
    PyObject *builtins = PyEval_GetBuiltins(); /* borrowed */
    int rc = -1;
    PyObject *o = NULL;
    static const char eof[] = "Ctrl-D (i.e. EOF)";
    o = PyObject_CallMethod(sb, "Quitter", "ss", "exit", eof);
    if (!o || PyDict_SetItemString(builtins, "exit", o) < 0)
        goto done;
    Py_CLEAR(o);
    o = PyObject_CallMethod(sb, "Quitter", "ss", "quit", eof);
    if (!o || PyDict_SetItemString(builtins, "quit", o) < 0)
        goto done;
    Py_CLEAR(o);
    o = PyObject_CallMethod(sb, "_Helper", NULL);
    if (!o || PyDict_SetItemString(builtins, "help", o) < 0)
        goto done;
    Py_CLEAR(o);
    rc = 0;
done:
    Py_XDECREF(o);
    Py_DECREF(sb);
    return rc;
}

/* sys.flags with one field set to value: a new instance in its place (the
 * type makes none from Python). 0, or -1 with an exception set. */
static int set_sys_flag(const char *name, long value)
{
    PyObject *flags = PySys_GetObject("flags"); /* borrowed */
    if (!flags) {
        PyErr_SetString(PyExc_RuntimeError, "no sys.flags");
        return -1;
    }
    PyTypeObject *tp = Py_TYPE(flags);
    PyObject *names = PyObject_GetAttrString((PyObject *)tp, "__match_args__");
    PyObject *nf = names ? PyObject_GetAttrString((PyObject *)tp, "n_fields") : NULL;
    Py_ssize_t n = nf ? PyLong_AsSsize_t(nf) : -1, at = -1;
    Py_XDECREF(nf);
    for (Py_ssize_t i = 0; n >= 0 && names && PyTuple_Check(names) && i < PyTuple_GET_SIZE(names); i++)
        if (PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(names, i), name) == 0)
            at = i;
    Py_XDECREF(names);
    if (n < 0 || at < 0 || at >= n) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_RuntimeError, "no sys.flags.%s", name);
        return -1;
    }
    PyObject *copy = PyStructSequence_New(tp);
    if (!copy)
        return -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *v = i == at ? (PyBool_Check(PyStructSequence_GetItem(flags, i))
                                     ? PyBool_FromLong(value) : PyLong_FromLong(value))
                              : Py_XNewRef(PyStructSequence_GetItem(flags, i));
        if (!v) {
            Py_DECREF(copy);
            return -1;
        }
        PyStructSequence_SetItem(copy, i, v);
    }
    int rc = PySys_SetObject("flags", copy);
    Py_DECREF(copy);
    return rc;
}

/* The option of the script's "#!" line (shebang.h), python3's own command
 * line option: kept for sys.orig_argv. */
static char *shebang_opt;

int cgih_py_note_option(const char *opt)
{
    char *o = strdup(opt);
    if (!o)
        return -1;
    free(shebang_opt);
    shebang_opt = o;
    return 0;
}

const char *cgih_py_version(void)
{
    static char v[32];
    const char *full = Py_GetVersion(); /* "3.11.2 (main, ...) [GCC ...]" */
    snprintf(v, sizeof v, "%.*s", (int)strcspn(full, " "), full);
    return v;
}

/* The configuration python3 starts from: its name, and the "#!" line's
 * option on its command line (args, when with_opt). */
static PyStatus start_config(PyConfig *cfg, int with_opt, char **args)
{
    PyConfig_InitPythonConfig(cfg);
    cfg->parse_argv = with_opt;
    PyStatus st = PyConfig_SetBytesString(cfg, &cfg->program_name, CGIH_PYTHON_EXE);
    if (!PyStatus_Exception(st))
        st = PyConfig_SetBytesString(cfg, &cfg->executable, CGIH_PYTHON_EXE);
    if (!PyStatus_Exception(st) && with_opt)
        st = PyConfig_SetBytesArgv(cfg, 3, args);
    return st;
}

int cgih_py_init(const char *opt, const char *script)
{
    PyStatus st;
    PyPreConfig pre;
    PyPreConfig_InitPythonConfig(&pre);
    /* Python reads the "#!" line's option as python3 would from its command
     * line: here what shapes the start (-E, -I, -X utf8, -X dev), then in
     * PyConfig_Read() the rest (an unknown option is python3's usage message
     * and status 2, -h its help); the script is not run from there, whatever
     * the option says. */
    int with_opt = opt && *opt && script;
    char *args[] = {(char *)CGIH_PYTHON_EXE, (char *)opt, (char *)script};
    st = with_opt ? Py_PreInitializeFromBytesArgs(&pre, 3, args) : Py_PreInitialize(&pre);
    if (PyStatus_Exception(st))
        return report_status(st);

    /* The built-ins shadow the stdlib's cgi.py and cgitb.py (and stand in for
     * them on 3.13, which has none). The modules themselves also build as
     * extension modules (setup.py), so registering them is the host's job. */
    if (PyImport_AppendInittab("cgi", PyInit_cgi) < 0 ||
        PyImport_AppendInittab("cgitb", PyInit_cgitb) < 0) {
        fprintf(stderr, "cgihost: cannot register the built-in modules\n");
        return 1;
    }

    PyConfig cfg;
    st = start_config(&cfg, with_opt, args);
    if (PyStatus_Exception(st))
        goto fail;
    int no_site = 0, verbose = cfg.verbose, quiet = cfg.quiet;
    if (with_opt) {
        /* What the option says (-S, -v, -q), read from a copy: a
         * configuration read twice, here and by Py_InitializeFromConfig(),
         * loses -X warn_default_encoding; python3 reads it once. */
        PyConfig probe;
        st = start_config(&probe, with_opt, args);
        if (!PyStatus_Exception(st))
            st = PyConfig_Read(&probe);
        no_site = !probe.site_import;
        verbose = probe.verbose;
        quiet = probe.quiet;
        PyConfig_Clear(&probe);
        if (PyStatus_Exception(st))
            goto fail;
        if (cgih_py_note_option(opt) < 0) {
            st = PyStatus_NoMemory();
            goto fail;
        }
    }
    cfg.site_import = 0;
    st = Py_InitializeFromConfig(&cfg);
    if (PyStatus_Exception(st))
        goto fail;
    fix_modules_too();
    if (verbose && !quiet) { /* python3's pymain_header() for -v */
        fprintf(stderr, "Python %s on %s\n", Py_GetVersion(), Py_GetPlatform());
        if (!no_site)
            fputs("Type \"help\", \"copyright\", \"credits\" or \"license\" for more information.\n",
                  stderr);
    }
    PyConfig_Clear(&cfg);

    /* site is not imported, but sys.flags says what python3's would: a
     * script that imports site gets what python3 gave it at its start. */
    if (!no_site && (set_sys_flag("no_site", 0) < 0 || lean_site() < 0)) {
        PyErr_Print();
        return 1;
    }
    /* As `import cgi` does, from the start: a request's script sees the
     * same run in-process or by a server, which has cgi imported. */
    if (cgih_install_submodule_finder() < 0) {
        PyErr_Print();
        return 1;
    }
    return -1;
fail:
    PyConfig_Clear(&cfg);
    return report_status(st);
}

/* sys.path[0] as python3 computes it for a script: the directory of its real
 * path, or of the name as given when that cannot be resolved. */
static PyObject *script_dir(const char *script)
{
    char real[PATH_MAX];
    const char *p = realpath(script, real) ? real : script;
    const char *slash = strrchr(p, '/');
    if (!slash)
        return PyUnicode_FromString("");
    size_t n = (size_t)(slash - p);
    return PyUnicode_DecodeFSDefaultAndSize(p, n ? (Py_ssize_t)n : 1);
}

int cgih_py_set_argv(int argc, char **argv)
{
    PyObject *list = PyList_New(argc);
    if (!list)
        goto fail;
    for (int i = 0; i < argc; i++) {
        PyObject *a = PyUnicode_DecodeFSDefault(argv[i]);
        if (!a) {
            Py_DECREF(list);
            goto fail;
        }
        PyList_SET_ITEM(list, i, a);
    }
    int rc = PySys_SetObject("argv", list);
#if PY_VERSION_HEX >= 0x030A0000
    /* sys.orig_argv: python3's command line for the script, as a shebang
     * line or a web server would have given it. */
    PyObject *exe = rc < 0 ? NULL : PySys_GetObject("executable"); /* borrowed */
    PyObject *o = shebang_opt ? PyUnicode_DecodeFSDefault(shebang_opt) : NULL;
    PyObject *orig = exe && (o || !shebang_opt) ? PyList_New(o ? 2 : 1) : NULL;
    if (orig) {
        PyList_SET_ITEM(orig, 0, Py_NewRef(exe));
        if (o)
            PyList_SET_ITEM(orig, 1, Py_NewRef(o));
        PyObject *all = PySequence_InPlaceConcat(orig, list);
        Py_XDECREF(all);
        rc = all ? PySys_SetObject("orig_argv", orig) : -1;
        Py_DECREF(orig);
    } else if (rc == 0) {
        rc = -1;
    }
    Py_XDECREF(o);
#endif
    Py_DECREF(list);
    if (rc < 0)
        goto fail;
    /* PYTHONSAFEPATH (3.11): no script directory in front. */
    int safe = 0;
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *flags = PySys_GetObject("flags"); /* borrowed */
    PyObject *sp = flags ? PyObject_GetAttrString(flags, "safe_path") : NULL;
    safe = sp ? PyObject_IsTrue(sp) : 0;
    Py_XDECREF(sp);
    if (safe < 0)
        goto fail;
    PyErr_Clear();
#endif
    if (argc > 0 && !safe) {
        PyObject *path = PySys_GetObject("path");
        PyObject *dir = script_dir(argv[0]);
        if (!dir)
            goto fail;
        rc = path ? PyList_Insert(path, 0, dir) : -1;
        Py_DECREF(dir);
        if (rc < 0)
            goto fail;
    }
    return 0;
fail:
    PyErr_Print();
    return -1;
}

/* Reads the whole file; NULL with errno set on failure. REGULAR_ONLY: a
 * regular file or nothing, and the open does not wait (for the server, which
 * must not block on a script swapped for a FIFO). */
static char *slurp(const char *path, size_t *len, int regular_only)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | (regular_only ? O_NONBLOCK : 0));
    if (fd < 0)
        return NULL;
    struct stat st;
    char *buf = NULL;
    if (fstat(fd, &st) != 0)
        goto fail;
    if (S_ISDIR(st.st_mode)) {
        errno = EISDIR;
        goto fail;
    }
    if (regular_only && !S_ISREG(st.st_mode)) {
        errno = EINVAL;
        goto fail;
    }
    size_t cap = st.st_size > 0 ? (size_t)st.st_size + 1 : 4096, n = 0;
    buf = malloc(cap + 1);
    if (!buf)
        goto fail;
    for (;;) {
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb)
                goto fail;
            buf = nb;
            cap *= 2;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            goto fail;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *len = n;
    return buf;
fail: {
    int e = errno;
    free(buf);
    close(fd);
    errno = e;
    return NULL;
}
}

/* orig with each no-break space that the rewrite (fixed, of the same length)
 * replaced made one space, as in a copy of the script fixed by hand.
 * Returns its new length. */
static size_t flatten(char *orig, const char *fixed, size_t len)
{
    size_t k = 0;
    for (size_t i = 0; i < len;) {
        if (i + 1 < len && memcmp(orig + i, "\xc2\xa0", 2) == 0 && memcmp(fixed + i, "\xc2\xa0", 2) != 0) {
            orig[k++] = ' ';
            i += 2;
        } else {
            orig[k++] = orig[i++];
        }
    }
    orig[k] = '\0';
    return k;
}

/* How a source is compiled: the script with Py_CompileStringObject(), a
 * module it imports by importlib's own source_to_code(). src is
 * NUL-terminated at len; utf8: it is UTF-8, decoded from the encoding its
 * coding spec names, which is then not read again. */
typedef PyObject *(*compile_fn)(const char *src, size_t len, int utf8, PyObject *filename, void *ctx);

static PyObject *compile_string(const char *src, size_t len, int utf8, PyObject *filename, void *ctx)
{
    (void)len;
    (void)ctx;
    PyCompilerFlags cf = _PyCompilerFlags_INIT;
    if (utf8)
        cf.cf_flags |= PyCF_IGNORE_COOKIE;
    return Py_CompileStringObject(src, filename, Py_file_input, &cf, -1);
}

/* The end of the line at src[i], past its LF, CR LF or lone CR (as the
 * tokenizer reads them). */
static size_t line_end(const char *src, size_t len, size_t i)
{
    while (i < len && src[i] != '\n' && src[i] != '\r')
        i++;
    if (i < len && src[i] == '\r' && i + 1 < len && src[i + 1] == '\n')
        i++;
    return i < len ? i + 1 : i;
}

/* The list of warning filters in force: warnings.filters once warnings is
 * imported, _warnings.filters before (new reference, or NULL). */
static PyObject *warning_filters(void)
{
    PyObject *w = PyDict_GetItemString(PyImport_GetModuleDict(), "warnings"); /* borrowed */
    PyObject *uw = w ? NULL : PyImport_ImportModule("_warnings");
    PyObject *f = w ? PyObject_GetAttrString(w, "filters") : uw ? PyObject_GetAttrString(uw, "filters") : NULL;
    Py_XDECREF(uw);
    if (f && !PyList_Check(f))
        Py_CLEAR(f);
    PyErr_Clear();
    return f;
}

/* Whether an "error" filter's module pattern (None, or a compiled regex)
 * matches the module name compile-time warnings of FILENAME carry: the path
 * without ".py", as _warnings names it. */
static int module_matches(PyObject *pattern, PyObject *filename)
{
    if (pattern == Py_None)
        return 1;
    Py_ssize_t n = PyUnicode_GetLength(filename);
    PyObject *suffix = PyUnicode_FromString(".py");
    int py = suffix && n >= 3 ? (int)PyUnicode_Tailmatch(filename, suffix, 0, n, 1) : 0;
    Py_XDECREF(suffix);
    PyObject *name = py > 0 ? PyUnicode_Substring(filename, 0, n - 3) : Py_NewRef(filename);
    PyObject *m = name ? PyObject_CallMethod(pattern, "match", "O", name) : NULL;
    int r = m ? PyObject_IsTrue(m) : -1;
    Py_XDECREF(m);
    Py_XDECREF(name);
    PyErr_Clear();
    return r > 0;
}

/* Compiles src (for FILENAME's source, under the name of a memfd holding
 * src, or of none; a SyntaxError's filename is then "") giving no
 * warning: the filters are, for that time, the same list with every action
 * but "error" made "ignore" (and an "error" for another module's warnings
 * too, one for this file's made to match it under no file name), then an
 * "ignore" for all; a warning that is an error (-W error) still stops the
 * compile where it does. For the compile that only places an error: the
 * compile before gave the warnings. The filters' version is left alone
 * (compile-time warnings keep no registry; bumping it would make every
 * warning already shown show again). The compile is in C: no Python code
 * runs meanwhile but a warning category's or a filter's own. */
static PyObject *compile_quietly(const char *src, size_t len, int utf8, PyObject *filename)
{
    PyObject *filters = warning_filters(), *saved = NULL, *quiet = NULL, *ignore = NULL;
    Py_ssize_t n = filters ? PyList_GET_SIZE(filters) : 0;
    int swapped = 0;
    PyObject *none = PyUnicode_FromString("");
    if (none && filters && (saved = PyList_GetSlice(filters, 0, n)) && (quiet = PyList_New(0)) &&
        (ignore = PyUnicode_FromString("ignore"))) {
        int ok = 1;
        for (Py_ssize_t i = 0; ok && i < n; i++) {
            PyObject *f = PyList_GET_ITEM(saved, i), *g = NULL;
            int tuple = PyTuple_Check(f) && PyTuple_GET_SIZE(f) == 5 && PyUnicode_Check(PyTuple_GET_ITEM(f, 0));
            int error = tuple && PyUnicode_CompareWithASCIIString(PyTuple_GET_ITEM(f, 0), "error") == 0;
            if (tuple && (!error || !module_matches(PyTuple_GET_ITEM(f, 3), filename)))
                g = Py_BuildValue("(OOOOO)", ignore, PyTuple_GET_ITEM(f, 1), PyTuple_GET_ITEM(f, 2),
                                  PyTuple_GET_ITEM(f, 3), PyTuple_GET_ITEM(f, 4));
            else if (error && PyTuple_GET_ITEM(f, 3) != Py_None)
                g = Py_BuildValue("(OOOOO)", PyTuple_GET_ITEM(f, 0), PyTuple_GET_ITEM(f, 1),
                                  PyTuple_GET_ITEM(f, 2), Py_None, PyTuple_GET_ITEM(f, 4));
            else
                g = Py_NewRef(f);
            ok = g && PyList_Append(quiet, g) == 0;
            Py_XDECREF(g);
        }
        PyObject *all = ok ? Py_BuildValue("(OOOOi)", ignore, Py_None, PyExc_Warning, Py_None, 0) : NULL;
        swapped = all && PyList_Append(quiet, all) == 0 && PyList_SetSlice(filters, 0, n, quiet) == 0;
        Py_XDECREF(all);
    }
    PyErr_Clear();
    /* Under the name of a file holding src (a memfd), so that the parser
     * reads an error's line from there, as python3 reads it from a copy
     * fixed by hand: that line alone, with its newline, after a BOM, in the
     * file's encoding (src in its own codec, compiled with its coding
     * spec). Not for src decoded to UTF-8 (utf8): the parser would read a
     * line there that python3 cannot read back. */
    PyObject *name = NULL;
    int fd = utf8 ? -1 : memfd_create("cgihost-nbsp", MFD_CLOEXEC);
    if (fd >= 0 && write(fd, src, len) == (ssize_t)len)
        name = PyUnicode_FromFormat("/proc/self/fd/%d", fd);
    PyErr_Clear();
    PyObject *code = none ? compile_string(src, len, utf8, name ? name : none, NULL) : NULL;
    if (!code && name && PyErr_ExceptionMatches(PyExc_SyntaxError)) {
        PyObject *e = PyErr_GetRaisedException_compat();
        if (PyObject_SetAttrString(e, "filename", none) < 0)
            PyErr_Clear();
        PyErr_SetRaisedException_compat(e);
    }
    Py_XDECREF(name);
    if (fd >= 0)
        close(fd);
    PyObject *exc = PyErr_GetRaisedException_compat();
    if (swapped && PyList_SetSlice(filters, 0, PyList_GET_SIZE(filters), saved) < 0) {
        PyErr_Clear();
        fputs("cgihost: the warning filters could not be put back\n", stderr);
    }
    PyErr_SetRaisedException_compat(exc);
    Py_XDECREF(none);
    Py_XDECREF(ignore);
    Py_XDECREF(quiet);
    Py_XDECREF(saved);
    Py_XDECREF(filters);
    return code;
}

/* A SyntaxError found past the parser ('break' outside a loop, a duplicate
 * argument) takes its text from the file, which under no file name it did
 * not find: given here from the source (line lineno, with a newline if it
 * has one), as CPython reads it from a file: as UTF-8 whatever the source's
 * encoding, and none when the line is not UTF-8. src is UTF-8; codec, if
 * not NULL, is the encoding of the file it was decoded from. Returns -1
 * with an exception set on failure. */
static int set_text(PyObject *err, const char *src, size_t len, const char *codec)
{
    PyObject *text = PyObject_GetAttrString(err, "text");
    PyObject *lineno = text == Py_None ? PyObject_GetAttrString(err, "lineno") : NULL;
    long n = lineno && PyLong_Check(lineno) ? PyLong_AsLong(lineno) : -1;
    int rc = text ? 0 : -1;
    Py_XDECREF(text);
    Py_XDECREF(lineno);
    PyErr_Clear();
    if (rc < 0 || n < 1)
        return rc;
    size_t i = 0;
    for (long k = 1; k < n && i < len; k++)
        i = line_end(src, len, i);
    if (i >= len)
        return 0;
    size_t end = i;
    while (end < len && src[end] != '\n' && src[end] != '\r')
        end++;
    PyObject *bare = PyUnicode_DecodeUTF8(src + i, (Py_ssize_t)(end - i), NULL);
    if (bare && codec) { /* the line's bytes in the file, read as UTF-8 */
        PyObject *raw = PyUnicode_AsEncodedString(bare, codec, "strict");
        Py_SETREF(bare, raw ? PyUnicode_DecodeUTF8(PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), NULL) : NULL);
        Py_XDECREF(raw);
    }
    if (!bare) {
        PyErr_Clear();
        return 0;
    }
    PyObject *line = PyUnicode_FromFormat("%U%s", bare, end < len ? "\n" : "");
    rc = line ? PyObject_SetAttrString(err, "text", line) : -1;
    Py_XDECREF(line);
    Py_DECREF(bare);
    return rc;
}

/* A source whose declared encoding python3 cannot read it with (no such
 * codec, a byte the codec refuses anywhere in the file, or a coding spec
 * other than utf-8 after a UTF-8 BOM): reading the file, python3's tokenizer
 * says only "encoding problem: NAME" (" with BOM"), with no place; compiled
 * from memory, the same source gives the codec's own error at line 0. Such a
 * pending SyntaxError (line 0, a coding spec that is not utf-8) becomes
 * python3's. Returns 1 if it did. */
static int encoding_problem(const char *src, size_t len)
{
    const char *spec;
    size_t n = cgih_source_coding(src, len, &spec);
    if (n == 0 || (n == 5 && memcmp(spec, "utf-8", 5) == 0))
        return 0;
    PyObject *exc = PyErr_GetRaisedException_compat();
    PyObject *lineno = PyObject_GetAttrString(exc, "lineno");
    int at0 = lineno && PyLong_Check(lineno) && PyLong_AsLong(lineno) == 0;
    Py_XDECREF(lineno);
    PyErr_Clear();
    PyObject *name = at0 ? PyUnicode_FromStringAndSize(spec, (Py_ssize_t)n) : NULL;
    if (!name) {
        PyErr_Clear();
        PyErr_SetRaisedException_compat(exc);
        return 0;
    }
    Py_DECREF(exc);
    PyErr_Format(PyExc_SyntaxError, "encoding problem: %U%s", name,
                 len >= 3 && memcmp(src, "\xef\xbb\xbf", 3) == 0 ? " with BOM" : "");
    Py_DECREF(name);
    return 1;
}

/* Whether a codec reads and writes ASCII as ASCII: each byte below 80 as
 * itself both ways (mac_arabic writes a space as A0), and no escapes
 * (unicode_escape's \x41, raw_unicode_escape's \u0041, utf-7's +AEE-;
 * decoding such a source may warn, and one decoded here but not rewritten
 * is decoded again by the compiler). The escapes are tried first, so that
 * no invalid escape is warned about. UTF-8 by another name, latin-1,
 * cp1252, koi8-r, mac_roman, cp437, euc_jp, shift_jis and gbk do; utf-16,
 * EBCDIC and shift_jis_2004 (whose 5C is a yen sign) do not. */
static int reads_ascii(const char *name)
{
    static const char probe[] = "\\x41\\u0041\\101+AEE-";
    char ascii[128];
    for (int i = 0; i < 128; i++)
        ascii[i] = (char)i;
    PyObject *text = PyUnicode_Decode(probe, sizeof probe - 1, name, "strict");
    int yes = text && PyUnicode_CompareWithASCIIString(text, probe) == 0;
    Py_XDECREF(text);
    text = yes ? PyUnicode_Decode(ascii, sizeof ascii, name, "strict") : NULL;
    yes = text && PyUnicode_GET_LENGTH(text) == 128;
    for (Py_ssize_t i = 0; yes && i < 128; i++)
        yes = PyUnicode_READ_CHAR(text, i) == (Py_UCS4)i;
    PyObject *back = yes ? PyUnicode_AsEncodedString(text, name, "strict") : NULL;
    yes = back && PyBytes_GET_SIZE(back) == 128 && memcmp(PyBytes_AS_STRING(back), ascii, 128) == 0;
    Py_XDECREF(back);
    Py_XDECREF(text);
    return yes;
}

/* A source to compile with its no-break spaces rewritten (nbsp_rewritten()):
 * orig, the source as UTF-8, and fixed, rewritten (NUL-terminated, len
 * bytes each); codec names the encoding that orig was decoded from ("" for
 * a UTF-8 source, whose orig is the caller's). */
typedef struct {
    const char *orig;
    char *fixed, *decoded;
    size_t len;
    char codec[64];
} rewrite;

static void rewrite_free(rewrite *rw)
{
    free(rw->fixed);
    free(rw->decoded);
}

/* For a source whose coding spec (spec, n bytes) does not name utf-8 as
 * the tokenizer spells it: 1 with rw->decoded and rw->codec filled if it is
 * in an encoding that reads and writes ASCII as ASCII (reads_ascii(); UTF-8
 * by another name, "utf8", "U8", "cp65001", is one) and has no-break
 * spaces, decoded to UTF-8 as CPython's tokenizer decodes it, so that the
 * rewrite works on the text the compiler sees and columns are counted
 * alike; 0 to leave it alone (no byte past ASCII: then it has no no-break
 * space, or is in an iso2022 encoding, which writes everything in 7 bits
 * and is not fixed; a codec that is unknown or refuses the source, which
 * python3 reports; or a UTF-8 BOM, which python3 refuses with another
 * spec); -1 with an exception set when out of memory. The exception in
 * flight, if any, is kept. */
static int other_encoding(const char *src, size_t len, const char *spec, size_t n, rewrite *rw)
{
    int high = 0;
    for (size_t i = 0; i < len && !high; i++)
        high = (unsigned char)src[i] >= 0x80;
    if (!high || n >= sizeof rw->codec || (len >= 3 && memcmp(src, "\xef\xbb\xbf", 3) == 0))
        return 0;
    memcpy(rw->codec, spec, n);
    rw->codec[n] = '\0';
    PyObject *exc = PyErr_GetRaisedException_compat();
    int kind = reads_ascii(rw->codec);
    PyObject *text = kind ? PyUnicode_Decode(src, (Py_ssize_t)len, rw->codec, "strict") : NULL;
    Py_ssize_t size = 0;
    const char *utf8 = text ? PyUnicode_AsUTF8AndSize(text, &size) : NULL;
    if (!utf8 || !memmem(utf8, (size_t)size, "\xc2\xa0", 2))
        kind = 0;
    else if ((rw->decoded = malloc((size_t)size + 1)) != NULL)
        memcpy(rw->decoded, utf8, (size_t)size + 1);
    else
        kind = -1;
    Py_XDECREF(text);
    int oom = kind < 0 || (PyErr_Occurred() && PyErr_ExceptionMatches(PyExc_MemoryError));
    PyErr_Clear(); /* an unknown codec (LookupError), or one that refuses the source */
    if (oom) {
        Py_XDECREF(exc);
        free(rw->decoded);
        rw->decoded = NULL;
        PyErr_NoMemory();
        return -1;
    }
    PyErr_SetRaisedException_compat(exc);
    if (kind == 1) {
        rw->orig = rw->decoded;
        rw->len = (size_t)size;
    } else {
        rw->codec[0] = '\0';
    }
    return kind;
}

/* Fills rw when the source has no-break spaces outside its literals and
 * comments, where CPython refuses them, and is UTF-8 or in an encoding
 * decoded to UTF-8 (other_encoding()): returns 1, and rewrite_free() frees
 * it. Returns 0 when there is nothing to rewrite (or it is in an encoding
 * left alone), -1 with an exception set when out of memory. */
static int nbsp_rewritten(const char *src, size_t len, rewrite *rw)
{
    *rw = (rewrite){.orig = src, .len = len};
    const char *spec;
    size_t n = cgih_source_coding(src, len, &spec);
    if (n != 0 && !(n == 5 && memcmp(spec, "utf-8", 5) == 0)) {
        int kind = other_encoding(src, len, spec, n, rw);
        if (kind <= 0)
            return kind;
    }
    if (!rw->decoded && !memmem(src, len, "\xc2\xa0", 2))
        return 0;
    if (!(rw->fixed = malloc(rw->len + 1))) {
        rewrite_free(rw);
        PyErr_NoMemory();
        return -1;
    }
    memcpy(rw->fixed, rw->orig, rw->len);
    rw->fixed[rw->len] = '\0';
    if (cgih_nbsp_fix(rw->fixed, rw->len) == 0) {
        rewrite_free(rw);
        return 0;
    }
    return 1;
}

/* Compiles the rewritten source (rw, from nbsp_rewritten()); the original,
 * as it is, would not compile, and is not tried. When this fails too, the
 * SyntaxError stands that python3 gives a copy fixed by hand, one space for
 * each no-break space replaced (the rewrite keeps every byte offset of the
 * UTF-8 text, two bytes for each): found by compiling such a copy under
 * the name of a memfd holding it (compile_quietly(); under the script's
 * name CPython would read the line again from the script, where a no-break
 * space is one column but two bytes), then named, and given its line where
 * the compiler left it out. That compile ignores warnings (the
 * first gave them), unless a warning was the error. */
static PyObject *compile_fixed(const rewrite *rw, PyObject *filename, compile_fn compile, void *ctx)
{
    int utf8 = *rw->codec != '\0';
    PyObject *code = compile(rw->fixed, rw->len, utf8, filename, ctx);
    if (code || !PyErr_ExceptionMatches(PyExc_SyntaxError))
        return code;
    PyObject *exc = PyErr_GetRaisedException_compat();
    char *flat = malloc(rw->len + 1);
    if (!flat) {
        PyErr_SetRaisedException_compat(exc);
        return NULL;
    }
    memcpy(flat, rw->orig, rw->len);
    flat[rw->len] = '\0';
    size_t n = flatten(flat, rw->fixed, rw->len);
    /* A source decoded from another codec is placed in that codec, as the
     * copy fixed by hand is in it (or, where the codec cannot write it
     * back, as UTF-8 under no file name) */
    PyObject *text = utf8 ? PyUnicode_DecodeUTF8(flat, (Py_ssize_t)n, "strict") : NULL;
    PyObject *raw = text ? PyUnicode_AsEncodedString(text, rw->codec, "strict") : NULL;
    Py_XDECREF(text);
    PyErr_Clear();
    PyObject *again =
        raw && PyBytes_Check(raw)
            ? compile_quietly(PyBytes_AS_STRING(raw), (size_t)PyBytes_GET_SIZE(raw), 0, filename)
            : compile_quietly(flat, n, utf8, filename);
    Py_XDECREF(raw);
    if (!again && PyErr_Occurred() && PyErr_ExceptionMatches(PyExc_SyntaxError)) {
        /* it takes the first error's traceback: a module's went through
         * importlib's frames, which are dropped from what is shown */
        PyObject *copy = PyErr_GetRaisedException_compat(), *tb = PyException_GetTraceback(exc);
        if (PyObject_SetAttrString(copy, "filename", filename) == 0 &&
            set_text(copy, flat, n, utf8 ? rw->codec : NULL) == 0 &&
            PyException_SetTraceback(copy, tb ? tb : Py_None) == 0) {
            Py_XDECREF(exc);
            exc = copy;
        } else {
            PyErr_Clear();
            Py_DECREF(copy);
        }
        Py_XDECREF(tb);
    }
    free(flat);
    Py_XDECREF(again);
    PyErr_Clear();
    PyErr_SetRaisedException_compat(exc);
    return NULL;
}

/* Compiles the script, rewritten when it has no-break spaces where CPython
 * refuses them (compile_fixed()). */
static PyObject *compile_script(char *src, size_t len, PyObject *filename)
{
    /* Compiled from memory, the tokenizer would not check what it checks in
     * a file python3 runs: that source declaring no encoding is UTF-8. */
    size_t line;
    size_t bad = cgih_source_bad_utf8(src, len, &line);
    if (bad != (size_t)-1) {
        PyErr_Format(PyExc_SyntaxError,
                     "Non-UTF-8 code starting with '\\x%.2x' in file %U on line %zu, "
                     "but no encoding declared; see https://peps.python.org/pep-0263/ for details",
                     (unsigned char)src[bad], filename, line);
        return NULL;
    }
    rewrite rw;
    int fix = nbsp_rewritten(src, len, &rw);
    if (fix < 0)
        return NULL;
    PyObject *code = fix ? compile_fixed(&rw, filename, compile_string, NULL)
                         : compile_string(src, len, 0, filename, NULL);
    if (fix)
        rewrite_free(&rw);
    if (!code && PyErr_ExceptionMatches(PyExc_SyntaxError))
        (void)encoding_problem(src, len);
    return code;
}

/* ---- no-break spaces in the modules a script imports ------------------------------
 *
 * importlib's SourceLoader.get_code() finds a module's code (its .pyc, or
 * its source compiled by source_to_code() and then cached as a .pyc). Both
 * are wrapped here. In get_code(), source_to_code() given a source with
 * no-break spaces where CPython refuses them compiles nothing: it raises a
 * SyntaxError that carries the source, which get_code() lets through without
 * caching anything, and get_code()'s wrapper compiles the source as the
 * script's is (compile_fixed(), through the original source_to_code(), so a
 * traceback loses importlib's frames as it does) and returns that code,
 * cached nowhere: python3 refuses the file, and would run a .pyc of it
 * without a word. Only imports go this way; compile(), py_compile and
 * runpy.run_path() see what python3 gives them, as does a loader with a
 * source_to_code() of its own. */
static PyObject *source_to_code_orig, *get_code_orig, *source_to_code_ours;
static _Thread_local PyObject *getting_code; /* the loader whose get_code() this thread is in */

static PyObject *compile_module(const char *src, size_t len, int utf8, PyObject *filename, void *ctx)
{
    /* compile() reads no coding spec in a str */
    PyObject *data = utf8 ? PyUnicode_DecodeUTF8(src, (Py_ssize_t)len, NULL)
                          : PyBytes_FromStringAndSize(src, (Py_ssize_t)len);
    if (!data)
        return NULL;
    PyObject *code = PyObject_CallFunctionObjArgs(source_to_code_orig, (PyObject *)ctx, data, filename, NULL);
    Py_DECREF(data);
    return code;
}

/* Whether this loader compiles with SourceLoader's own source_to_code()
 * (ours, the function the method on the class gives). */
static int own_source_to_code(PyObject *self)
{
    PyObject *f = PyObject_GetAttrString((PyObject *)Py_TYPE(self), "source_to_code");
    int own = f && f == source_to_code_ours;
    Py_XDECREF(f);
    PyErr_Clear();
    return own;
}

static PyObject *module_source_to_code(PyObject *unused, PyObject *const *args, Py_ssize_t nargs,
                                       PyObject *kwnames)
{
    (void)unused;
    if (getting_code && nargs == 3 && !kwnames && args[0] == getting_code && PyBytes_Check(args[1]) &&
        PyUnicode_Check(args[2])) {
        const char *src = PyBytes_AS_STRING(args[1]);
        size_t len = (size_t)PyBytes_GET_SIZE(args[1]);
        rewrite rw;
        int fix = nbsp_rewritten(src, len, &rw);
        if (fix < 0)
            return NULL;
        if (fix)
            rewrite_free(&rw);
        if (!fix || !own_source_to_code(args[0])) /* the class lookup only when it matters */
            return PyObject_Vectorcall(source_to_code_orig, args, (size_t)nargs, kwnames);
        PyObject *e = PyObject_CallFunction(PyExc_SyntaxError, "s", "no-break spaces (cgihost)");
        if (!e)
            return NULL;
        if (PyObject_SetAttrString(e, "_cgihost_source", args[1]) == 0 &&
            PyObject_SetAttrString(e, "_cgihost_path", args[2]) == 0)
            PyErr_SetRaisedException_compat(e);
        else
            Py_DECREF(e);
        return NULL;
    }
    return PyObject_Vectorcall(source_to_code_orig, args, (size_t)nargs, kwnames);
}

static PyObject *module_get_code(PyObject *unused, PyObject *const *args, Py_ssize_t nargs,
                                 PyObject *kwnames)
{
    (void)unused;
    PyObject *outer = getting_code;
    getting_code = nargs >= 1 ? args[0] : NULL;
    PyObject *code = PyObject_Vectorcall(get_code_orig, args, (size_t)nargs, kwnames);
    getting_code = outer;
    if (code || !PyErr_ExceptionMatches(PyExc_SyntaxError))
        return code;
    PyObject *exc = PyErr_GetRaisedException_compat();
    PyObject *data = PyObject_GetAttrString(exc, "_cgihost_source");
    PyObject *path = data ? PyObject_GetAttrString(exc, "_cgihost_path") : NULL;
    PyErr_Clear();
    if (!path || !PyBytes_Check(data)) { /* a SyntaxError of its own */
        Py_XDECREF(data);
        Py_XDECREF(path);
        PyErr_SetRaisedException_compat(exc);
        return NULL;
    }
    Py_DECREF(exc);
    const char *src = PyBytes_AS_STRING(data);
    size_t len = (size_t)PyBytes_GET_SIZE(data);
    rewrite rw;
    int fix = nbsp_rewritten(src, len, &rw);
    if (fix > 0) {
        code = compile_fixed(&rw, path, compile_module, nargs >= 1 ? args[0] : NULL);
        rewrite_free(&rw);
    } else if (fix == 0) {
        code = compile_module(src, len, 0, path, nargs >= 1 ? args[0] : NULL);
    }
    Py_DECREF(data);
    Py_DECREF(path);
    return code;
}

static PyMethodDef module_source_to_code_def = {
    "source_to_code", (PyCFunction)(void (*)(void))module_source_to_code, METH_FASTCALL | METH_KEYWORDS,
    "importlib's SourceLoader.source_to_code(), wrapped by cgihost (no-break spaces in imported modules)."};
static PyMethodDef module_get_code_def = {
    "get_code", (PyCFunction)(void (*)(void))module_get_code, METH_FASTCALL | METH_KEYWORDS,
    "importlib's SourceLoader.get_code(), wrapped by cgihost to take no-break spaces in an imported "
    "module as spaces."};

/* A method calling def in place of cls.name (a function), the original kept
 * in *orig; the function it calls in *ours if ours is not NULL. */
static int wrap_method(PyObject *cls, const char *name, PyMethodDef *def, PyObject **orig, PyObject **ours)
{
    PyObject *f = NULL, *m = NULL;
    int rc = -1;
    if ((*orig = PyObject_GetAttrString(cls, name)) && PyFunction_Check(*orig) &&
        (f = PyCFunction_New(def, NULL)) && (m = PyInstanceMethod_New(f)) &&
        PyObject_SetAttrString(cls, name, m) == 0) {
        rc = 0;
        if (ours)
            *ours = Py_NewRef(f);
    }
    Py_XDECREF(m);
    Py_XDECREF(f);
    return rc;
}

/* Installs both wrappers, or neither (modules are then compiled as python3
 * compiles them). */
static void fix_modules_too(void)
{
    PyObject *ext = PyImport_ImportModule("_frozen_importlib_external");
    PyObject *cls = ext ? PyObject_GetAttrString(ext, "SourceLoader") : NULL;
    if (cls && wrap_method(cls, "source_to_code", &module_source_to_code_def, &source_to_code_orig,
                           &source_to_code_ours) == 0 &&
        wrap_method(cls, "get_code", &module_get_code_def, &get_code_orig, NULL) < 0) {
        if (PyObject_SetAttrString(cls, "source_to_code", source_to_code_orig) < 0)
            PyErr_Clear();
        Py_CLEAR(source_to_code_ours);
    }
    PyErr_Clear();
    Py_XDECREF(cls);
    Py_XDECREF(ext);
}

/* The exit status for a pending exception, printing as python3 does. */
static int exit_status_from_error(void)
{
    if (!PyErr_ExceptionMatches(PyExc_SystemExit)) {
        PyErr_Print();
        return 1;
    }
#if PY_VERSION_HEX < 0x030C0000
    /* As 3.11's _Py_HandleSystemExit(), the value as raised, not normalized:
     * the eval loop normalizes an exception only for a handler, so the tuple
     * of sys.exit((5,)) reaches the top as it is, and is printed ("(5,)",
     * status 1), where SystemExit((5,)).code would be 5. */
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
    Py_XDECREF(type);
    Py_XDECREF(tb);
#else
    PyObject *exc = PyErr_GetRaisedException();
#endif
    /* the `code` of an exception, else the value itself (a SystemExit
     * without one, which python3 prints; or 3.11's raw value) */
    PyObject *code = NULL;
    if (!exc || exc == Py_None) {
        code = Py_NewRef(Py_None);
    } else if (PyExceptionInstance_Check(exc)) {
        code = PyObject_GetAttrString(exc, "code");
        if (!code) {
            PyErr_Clear();
            code = Py_NewRef(exc);
        }
    } else {
        code = Py_NewRef(exc);
    }
    int status = 0;
    if (code == Py_None) {
        status = 0;
    } else if (PyLong_Check(code)) {
        int overflow = 0;
        long v = PyLong_AsLongAndOverflow(code, &overflow);
        status = (overflow || (v == -1 && PyErr_Occurred())) ? -1 : (int)v;
        PyErr_Clear();
    } else {
        /* sys.exit("msg"): the message goes to stderr and the status is 1.
         * As _Py_HandleSystemExit(): the newline goes to sys.stderr as it is
         * then (str(code) may replace it), whether the message went or not. */
        PyObject *ferr = Py_XNewRef(PySys_GetObject("stderr"));
        if (ferr && ferr != Py_None) {
            if (PyFile_WriteObject(code, ferr, Py_PRINT_RAW) < 0)
                PyErr_Clear();
        } else {
            PyObject_Print(code, stderr, Py_PRINT_RAW);
            fflush(stderr);
        }
        Py_XDECREF(ferr);
        PySys_WriteStderr("\n");
        status = 1;
    }
    Py_XDECREF(code);
    Py_XDECREF(exc);
    return status;
}

/* The path made absolute against the cwd (not resolved), as a str. */
static PyObject *abspath_object(const char *path)
{
    char cwd[PATH_MAX];
    if (path[0] == '/' || !getcwd(cwd, sizeof cwd))
        return PyUnicode_DecodeFSDefault(path);
    PyObject *d = PyUnicode_DecodeFSDefault(cwd), *p = d ? PyUnicode_DecodeFSDefault(path) : NULL;
    PyObject *r = p ? PyUnicode_FromFormat("%U/%U", d, p) : NULL;
    Py_XDECREF(d);
    Py_XDECREF(p);
    return r;
}

static void mark_baseline(void);
static void intern_special_names(void);
static int baseline_fixed; /* cgih_py_fix_baseline() was called */
static int unhandled_sigint; /* the script ended by an uncaught KeyboardInterrupt */

/* pythonrun.c's flush_io(): sys.stderr, then sys.stdout, errors ignored, the
 * pending exception kept. */
static void flush_io(void)
{
#if PY_VERSION_HEX < 0x030C0000
    /* kept as raised, not normalized: see exit_status_from_error() */
    PyObject *type, *exc, *tb;
    PyErr_Fetch(&type, &exc, &tb);
#else
    PyObject *exc = PyErr_GetRaisedException();
#endif
    static const char *const names[] = {"stderr", "stdout"};
    for (int i = 0; i < 2; i++) {
        PyObject *f = PySys_GetObject(names[i]); /* borrowed */
        PyObject *r = f ? PyObject_CallMethod(f, "flush", NULL) : NULL;
        if (r)
            Py_DECREF(r);
        else
            PyErr_Clear();
    }
#if PY_VERSION_HEX < 0x030C0000
    PyErr_Restore(type, exc, tb);
#else
    PyErr_SetRaisedException(exc);
#endif
}

static PyObject *(*code_lookup)(PyObject *filename);

void cgih_py_set_code_lookup(PyObject *(*lookup)(PyObject *filename))
{
    code_lookup = lookup;
}

PyObject *cgih_py_compile_file(PyObject *filename)
{
    PyObject *bytes = PyUnicode_EncodeFSDefault(filename);
    if (!bytes)
        return NULL;
    size_t len = 0;
    char *src = slurp(PyBytes_AS_STRING(bytes), &len, 1);
    Py_DECREF(bytes);
    if (!src)
        return PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, filename);
    PyObject *code = NULL;
    if (memchr(src, '\0', len)) /* run from the file, by every request (cgih_py_run_file()) */
        PyErr_SetString(PyExc_ValueError, "source code contains a NUL byte");
    else
        code = compile_script(src, len, filename);
    free(src);
    return code;
}

/* gc.freeze(). 0, or -1 with an exception set. */
static int freeze_heap(void)
{
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *r = gc ? PyObject_CallMethod(gc, "freeze", NULL) : NULL;
    Py_XDECREF(gc);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

/* The __main__ the script runs in, in a server's child or in-process. The
 * interpreter's own was made before the heap was gc.freeze()d (before the
 * fork, or before the script), and the collector never frees a cycle
 * through a frozen dict: a class and its methods with the globals make one,
 * so what the script left in them (and their __del__ methods) would
 * outlive the teardown. The script gets a module of its own, with the same
 * first names and a dict of annotations of its own. Borrowed, from
 * sys.modules. */
static PyObject *own_main(void)
{
    PyObject *modules = PyImport_GetModuleDict(); /* borrowed */
    PyObject *old = PyDict_GetItemString(modules, "__main__"); /* borrowed */
    PyObject *m = PyModule_New("__main__");
    if (!m)
        return NULL;
    PyObject *d = PyModule_GetDict(m), *ann = NULL; /* borrowed */
    int rc = old && PyModule_Check(old) ? PyDict_Update(d, PyModule_GetDict(old)) : 0;
    if (rc == 0 && PyDict_GetItemString(d, "__annotations__"))
        rc = (ann = PyDict_New()) ? PyDict_SetItemString(d, "__annotations__", ann) : -1;
    Py_XDECREF(ann);
    if (rc == 0)
        rc = PyDict_SetItemString(modules, "__main__", m);
    Py_DECREF(m);
    return rc < 0 ? NULL : PyDict_GetItemString(modules, "__main__");
}

int cgih_py_run_file(const char *path)
{
    size_t len = 0;
    int status = 1;
    PyObject *filename = NULL, *code = NULL, *res = NULL, *loader = NULL;
    PyObject *named = NULL; /* __main__'s dict, once __file__ is set in it */
    char *src = NULL;
    if (code_lookup) {
        if (!(filename = abspath_object(path)))
            goto error;
        code = code_lookup(filename);
    }
    if (!code)
        src = slurp(path, &len, 0);
    if (!code && !src) {
        int e = errno;
        Py_CLEAR(filename);
        PyObject *s = abspath_object(path);
        PyObject *r = s ? PyObject_Repr(s) : NULL;
        const char *rs = r ? PyUnicode_AsUTF8(r) : NULL;
        PyErr_Clear();
        fflush(stdout);
        fprintf(stderr, "cgihost: can't open file %s: [Errno %d] %s\n", rs ? rs : path, e,
                strerror(e));
        Py_XDECREF(r);
        Py_XDECREF(s);
        return 2;
    }

    /* __file__ and tracebacks name the absolute path, as in python3 >= 3.9. */
    if (!filename && !(filename = abspath_object(path)))
        goto error;

    /* In-process, as in a server's child: the heap the interpreter started
     * with is left out of every collection (gc.freeze()), and the script
     * gets a __main__ of its own, made after it. A collection then walks
     * the script's objects only: the three of the teardown cost 0.3 ms each
     * otherwise. */
    if (!baseline_fixed && freeze_heap() < 0)
        goto error;
    PyObject *main = own_main(); /* borrowed */
    if (!main)
        goto error;
    PyObject *d = PyModule_GetDict(main); /* borrowed */
    if (PyDict_SetItemString(d, "__file__", filename) < 0 ||
        PyDict_SetItemString(d, "__cached__", Py_None) < 0)
        goto error;
    named = Py_NewRef(d);
    PyObject *ext = PyImport_ImportModule("_frozen_importlib_external");
    if (ext) {
        loader = PyObject_CallMethod(ext, "SourceFileLoader", "sO", "__main__", filename);
        Py_DECREF(ext);
    }
    if (!loader || PyDict_SetItemString(d, "__loader__", loader) < 0)
        goto error;

    if (!code && memchr(src, '\0', len)) {
        /* A NUL byte: python3's file tokenizer ends the line there (3.11,
         * which runs the rest) or refuses the file (3.12); compiled from
         * memory, the source would end at it without a word. Run from the
         * file, as python3 runs it. */
        rewrite rw;
        int fix = nbsp_rewritten(src, len, &rw);
        if (fix < 0)
            goto error;
        if (fix && rw.decoded) { /* its coding spec would misread the UTF-8 rewrite: as it is */
            rewrite_free(&rw);
            fix = 0;
        }
        /* The rewrite read from memory, as from its file: the NUL stays. */
        PyObject *fsname = PyUnicode_EncodeFSDefault(filename);
        FILE *fp = !fsname ? NULL : fix ? fmemopen(rw.fixed, rw.len, "rb") : fopen(path, "rbe");
        if (!fp) {
            if (fsname)
                PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, filename);
            Py_XDECREF(fsname);
            if (fix)
                rewrite_free(&rw);
            goto error;
        }
        if (!baseline_fixed)
            mark_baseline();
        PyCompilerFlags cf = _PyCompilerFlags_INIT;
        res = PyRun_FileExFlags(fp, PyBytes_AS_STRING(fsname), Py_file_input, d, d, 1, &cf);
        Py_DECREF(fsname);
        if (fix)
            rewrite_free(&rw);
    } else {
        if (!code && !(code = compile_script(src, len, filename)))
            goto error;
        if (!baseline_fixed)
            mark_baseline();
        res = PyEval_EvalCode(code, d, d);
    }
    /* As python3's run of a file: an uncaught KeyboardInterrupt (exactly)
     * ends the process by SIGINT, after the teardown (cgih_py_finalize());
     * stderr and stdout are flushed before a traceback or an exit message
     * is printed, and before atexit handlers run. */
    unhandled_sigint = !res && PyErr_Occurred() == PyExc_KeyboardInterrupt;
    flush_io();
    if (!res)
        goto error;
    status = 0;
    goto done;
error:
    /* python3's SystemExit ends the process from within PyErr_Print(),
     * leaving __file__ where it is */
    if (PyErr_ExceptionMatches(PyExc_SystemExit))
        Py_CLEAR(named);
    status = exit_status_from_error();
done:
    /* As _PyRun_SimpleFileObject(), once the script's code has ended (and an
     * uncaught exception was printed): __file__ and __cached__ go from
     * __main__, so that atexit handlers, threads and finalizers do not see
     * them, whatever the script did with them. */
    if (named) {
        if (PyDict_DelItemString(named, "__file__") < 0)
            PyErr_Clear();
        if (PyDict_DelItemString(named, "__cached__") < 0)
            PyErr_Clear();
        Py_DECREF(named);
    }
    Py_XDECREF(res);
    Py_XDECREF(code);
    Py_XDECREF(loader);
    Py_XDECREF(filename);
    free(src);
    return status;
}

/* Calls module.func() if module is loaded; errors are reported as unraisable. */
static void call_if_loaded(const char *module, const char *func)
{
    PyObject *m = PyDict_GetItemString(PyImport_GetModuleDict(), module); /* borrowed */
    if (!m)
        return;
    PyObject *r = PyObject_CallMethod(m, func, NULL);
    if (!r)
        PyErr_WriteUnraisable(m);
    Py_XDECREF(r);
}

static int finalize(int status);

/* What the interpreter held before the script ran: the modules (their
 * addresses, each with a weak reference: a module freed since, such as the
 * __main__ a request replaces, leaves its address to the next object of
 * its size, a module the script makes perhaps, which is not one that was
 * there; held, they would live longer than in python3) and copies of the
 * sys and builtins dicts. The teardown releases what the script added, as
 * python3's releases all. */
struct base_entry {
    uintptr_t addr; /* first: cmp_addr() compares it */
    PyObject *wr;   /* a weak reference to it, or NULL (not weakly referable: None) */
};
static struct base_entry *baseline;
static Py_ssize_t nbaseline;
static PyObject *sys_copy, *builtins_copy;

/* The dict of a module in sys.modules, such as sys (borrowed), or NULL; no
 * import (PyImport_ImportModule() runs importlib's Python code). */
static PyObject *module_dict(const char *name)
{
    PyObject *m = PyDict_GetItemString(PyImport_GetModuleDict(), name); /* borrowed */
    PyErr_Clear();
    return m && PyModule_Check(m) ? PyModule_GetDict(m) : NULL;
}

/* A module in sys.modules (a new reference), or NULL (no error): no import,
 * whose machinery costs about 7,000 instructions even for a module loaded. */
static PyObject *loaded(const char *name)
{
    PyObject *m = PyDict_GetItemString(PyImport_GetModuleDict(), name); /* borrowed */
    PyErr_Clear();
    return m && PyModule_Check(m) ? Py_NewRef(m) : NULL;
}

/* Whether the builtins dict has changed since mark_baseline(), so that
 * the teardown looks at its ~160 names only when a script did: its version
 * tag on 3.11, a dict watcher from 3.12 on (where the tag is deprecated). */
#if PY_VERSION_HEX >= 0x030C0000
static int builtins_watcher = -1, builtins_touched = 1;

static int on_builtins(PyDict_WatchEvent ev, PyObject *d, PyObject *k, PyObject *v)
{
    (void)ev, (void)d, (void)k, (void)v;
    builtins_touched = 1;
    return 0;
}

static void watch_builtins(PyObject *d)
{
    if (builtins_watcher < 0)
        builtins_watcher = PyDict_AddWatcher(on_builtins);
    builtins_touched = builtins_watcher < 0 || PyDict_Watch(builtins_watcher, d) < 0;
    PyErr_Clear(); /* not watched: always looked at */
}

static int builtins_changed(PyObject *d)
{
    (void)d;
    return builtins_touched;
}
#else
static uint64_t builtins_version;

static void watch_builtins(PyObject *d)
{
    builtins_version = ((PyDictObject *)d)->ma_version_tag;
}

static int builtins_changed(PyObject *d)
{
    return ((PyDictObject *)d)->ma_version_tag != builtins_version;
}
#endif

static int cmp_addr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return (x > y) - (x < y);
}

static void mark_baseline(void)
{
    PyObject *modules = PyImport_GetModuleDict(), *k, *v;
    Py_ssize_t n = PyDict_Size(modules), pos = 0, had = nbaseline;
    nbaseline = 0;
    for (Py_ssize_t i = 0; i < had; i++)
        Py_XDECREF(baseline[i].wr);
    struct base_entry *b = n >= 0 ? realloc(baseline, ((size_t)n + 1) * sizeof *b) : NULL;
    if (!b)
        return; /* nothing released at the end but __main__: as before */
    baseline = b;
    while (nbaseline < n && PyDict_Next(modules, &pos, &k, &v)) {
        PyObject *wr = PyType_SUPPORTS_WEAKREFS(Py_TYPE(v)) ? PyWeakref_NewRef(v, NULL) : NULL;
        PyErr_Clear();
        baseline[nbaseline].addr = (uintptr_t)v;
        baseline[nbaseline++].wr = wr;
    }
    qsort(baseline, (size_t)nbaseline, sizeof *baseline, cmp_addr);
    PyObject *d = module_dict("sys");
    Py_XSETREF(sys_copy, d ? PyDict_Copy(d) : NULL);
    d = module_dict("builtins");
    Py_XSETREF(builtins_copy, d ? PyDict_Copy(d) : NULL);
    if (d)
        watch_builtins(d);
    intern_special_names();
    PyErr_Clear();
}

void cgih_py_fix_baseline(void)
{
    mark_baseline();
    baseline_fixed = 1;
}

static int in_baseline(PyObject *m)
{
    struct base_entry key = {(uintptr_t)m, NULL};
    const struct base_entry *e =
        nbaseline > 0 ? bsearch(&key, baseline, (size_t)nbaseline, sizeof *baseline, cmp_addr)
                      : NULL;
    /* (found: the same object, not one made where it was) */
    if (!e || !e->wr)
        return e != NULL;
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *o = NULL;
    int r = PyWeakref_GetRef(e->wr, &o);
    if (r < 0)
        PyErr_Clear();
    Py_XDECREF(o);
    return r > 0 && o == m;
#else
    return PyWeakref_GetObject(e->wr) == m;
#endif
}

/* A str name with one leading underscore, not two. */
static int one_underscore(PyObject *k)
{
    Py_ssize_t kl = PyUnicode_GET_LENGTH(k);
    return kl >= 1 && PyUnicode_READ_CHAR(k, 0) == '_' &&
           (kl == 1 || PyUnicode_READ_CHAR(k, 1) != '_');
}

/* _PyModule_ClearDict(): names with one leading underscore set to None
 * first, then all but __builtins__. */
static void clear_module_dict(PyObject *d)
{
    for (int pass = 0; pass < 2; pass++) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(d, &pos, &k, &v)) {
            if (v == Py_None || !PyUnicode_Check(k))
                continue;
            if (pass == 0 ? !one_underscore(k)
                          : PyUnicode_CompareWithASCIIString(k, "__builtins__") == 0)
                continue;
            if (PyDict_SetItem(d, k, Py_None) < 0)
                PyErr_WriteUnraisable(NULL);
        }
    }
}

/* The builtins dict as copy had it, as python3 puts it back: names added
 * since deleted, values replaced since set back, names deleted since put
 * back. Only what changed is touched: the rest is the server's, shared with
 * it. */
static void put_back(PyObject *d, PyObject *copy)
{
    if (!d || !copy)
        return;
    PyObject *changed = NULL, *k, *v;
    Py_ssize_t pos = 0;
    while (PyDict_Next(d, &pos, &k, &v)) {
        PyObject *was = PyDict_GetItemWithError(copy, k); /* borrowed */
        if (was == v || PyErr_Occurred()) {
            PyErr_Clear();
            continue;
        }
        if ((!changed && !(changed = PyList_New(0))) || PyList_Append(changed, k) < 0) {
            PyErr_Clear();
            break;
        }
    }
    for (Py_ssize_t i = 0; changed && i < PyList_GET_SIZE(changed); i++) {
        k = PyList_GET_ITEM(changed, i);
        PyObject *was = PyDict_GetItemWithError(copy, k); /* borrowed */
        int rc = was ? PyDict_SetItem(d, k, was) : PyErr_Occurred() ? -1 : PyDict_DelItem(d, k);
        if (rc < 0)
            PyErr_WriteUnraisable(NULL);
    }
    Py_XDECREF(changed);
    pos = 0;
    while (PyDict_Next(copy, &pos, &k, &v)) {
        int has = PyDict_Contains(d, k);
        if (has == 0 && PyDict_SetItem(d, k, v) < 0)
            PyErr_WriteUnraisable(NULL);
        PyErr_Clear();
    }
}

static const char *const special[] = {
    /* sys names set to None */
    "path", "argv", "ps1", "ps2", "last_exc" /* 3.12 */, "last_type", "last_value", "last_traceback",
    "path_hooks", "path_importer_cache", "meta_path", "__interactivehook__",
    /* sys streams put back, builtins._ */
    "stdin", "__stdin__", "stdout", "__stdout__", "stderr", "__stderr__", "_"};
#define NSPECIAL (sizeof special / sizeof *special)
#define NDELETES 12              /* special[0..12): the sys names set to None */
#define STREAMS NDELETES         /* then three pairs: (stream, its original) */
#define UNDERSCORE (NSPECIAL - 1) /* and builtins._ */
static PyObject *special_names[NSPECIAL]; /* interned in mark_baseline(): in the server, once */

/* Which of sys's streams the name k is (special[STREAMS + i]), or -1. */
static int std_stream_index(PyObject *k)
{
    for (int i = 0; i < 6; i++)
        if (PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, special[STREAMS + i]) == 0)
            return i;
    return -1;
}

static void intern_special_names(void)
{
    for (size_t i = 0; i < NSPECIAL; i++)
        if (!special_names[i] && !(special_names[i] = PyUnicode_InternFromString(special[i])))
            PyErr_Clear();
}

/* d[special[i]], borrowed, or NULL (no error). */
static PyObject *special_get(PyObject *d, size_t i)
{
    PyObject *v = special_names[i] ? PyDict_GetItemWithError(d, special_names[i])
                                   : PyDict_GetItemString(d, special[i]);
    PyErr_Clear();
    return v;
}

static int special_set(PyObject *d, size_t i, PyObject *v)
{
    return special_names[i] ? PyDict_SetItem(d, special_names[i], v) : PyDict_SetItemString(d, special[i], v);
}

/* finalize_modules_delete_special(): the sys names where values hide that
 * would otherwise be released last (sys.last_traceback holds the frames of
 * an uncaught exception) set to None, sys.stdin = sys.__stdin__ and co.,
 * builtins._ = None. */
static void delete_special(void)
{
    /* Those the script set: what was there before it is the server's. */
    PyObject *sys = module_dict("sys");
    for (size_t i = 0; sys && i < NDELETES; i++) {
        PyObject *v = special_get(sys, i);
        PyObject *was = sys_copy ? special_get(sys_copy, i) : NULL;
        if (v && v != Py_None && v != was && special_set(sys, i, Py_None) < 0)
            PyErr_WriteUnraisable(NULL);
    }
    for (size_t i = STREAMS; sys && i < STREAMS + 6; i += 2) {
        PyObject *orig = special_get(sys, i + 1);
        if (!orig)
            orig = Py_None;
        if (special_get(sys, i) != orig && special_set(sys, i, orig) < 0)
            PyErr_WriteUnraisable(NULL);
    }
    PyObject *b = module_dict("builtins");
    PyObject *last = b ? special_get(b, UNDERSCORE) : NULL;
    if (last && last != Py_None && special_set(b, UNDERSCORE, Py_None) < 0)
        PyErr_WriteUnraisable(NULL);
}

/* The object a weak reference refers to (a new reference), or NULL. */
static PyObject *referent(PyObject *ref)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *o = NULL;
    if (PyWeakref_GetRef(ref, &o) < 0)
        PyErr_Clear();
    return o;
#else
    PyObject *o = PyWeakref_GetObject(ref); /* borrowed */
    if (!o || o == Py_None) {
        PyErr_Clear();
        return NULL;
    }
    return Py_NewRef(o);
#endif
}

/* finalize_modules()'s collection, _PyGC_CollectNoFail(): made also where
 * the script disabled gc, and without calling gc.callbacks. */
static void collect_no_fail(void)
{
    PyObject *gc = loaded("gc"); /* built in, imported at start-up */
    PyObject *cbs = gc ? PyObject_GetAttrString(gc, "callbacks") : NULL, *saved = NULL;
    Py_ssize_t n = cbs && PyList_Check(cbs) ? PyList_GET_SIZE(cbs) : 0;
    if (n > 0 && (saved = PyList_GetSlice(cbs, 0, n)) && PyList_SetSlice(cbs, 0, n, NULL) < 0)
        Py_CLEAR(saved);
    PyErr_Clear();
    int was = PyGC_Enable();
    PyGC_Collect();
    if (!was)
        PyGC_Disable();
    if (saved && PyList_SetSlice(cbs, 0, PyList_GET_SIZE(cbs), saved) < 0)
        PyErr_Clear();
    Py_XDECREF(saved);
    Py_XDECREF(cbs);
    Py_XDECREF(gc);
}

/* _PySignal_Fini(): every signal with a handler in Python (the script's, or
 * SIGINT's default_int_handler) back to SIG_DFL, so that the handler, and the
 * module globals it holds (__main__'s: its finalizers, a temporary file to
 * delete), go with the rest. Handlers that are SIG_DFL or SIG_IGN, or not
 * Python's (None), stay. signal.signal() first runs the handlers of signals
 * caught and not yet handled, which python3 drops here: they run with
 * sys.stdout and sys.stderr None, so that what they print goes nowhere. */
static void signal_fini(void)
{
    PyObject *sig = loaded("_signal"); /* not loaded: the script set no handler */
    if (!sig)
        return;
    PyObject *out = Py_XNewRef(PySys_GetObject("stdout")),
             *err = Py_XNewRef(PySys_GetObject("stderr"));
    if (PySys_SetObject("stdout", Py_None) < 0 || PySys_SetObject("stderr", Py_None) < 0)
        PyErr_Clear();
    PyObject *get = PyObject_GetAttrString(sig, "getsignal");
    PyObject *set = get ? PyObject_GetAttrString(sig, "signal") : NULL;
    PyObject *dfl = set ? PyObject_GetAttrString(sig, "SIG_DFL") : NULL;
    for (int n = 1; dfl && n < NSIG; n++) {
        PyObject *num = PyLong_FromLong(n);
        PyObject *h = num ? PyObject_CallOneArg(get, num) : NULL;
        if (h && h != Py_None && !PyLong_Check(h)) {
            /* signal.signal() first runs the handlers of signals caught and
             * not yet handled, and stops at one that raises, which fails
             * the call: the handler of n would stay. Each failed call
             * handled one: at most one call more per signal number. */
            PyObject *r = PyObject_CallFunctionObjArgs(set, num, dfl, NULL);
            for (int tries = 1; !r && tries < NSIG; tries++) {
                PyErr_Clear();
                r = PyObject_CallFunctionObjArgs(set, num, dfl, NULL);
            }
            Py_XDECREF(r);
        }
        Py_XDECREF(h);
        Py_XDECREF(num);
        PyErr_Clear();
    }
    Py_XDECREF(dfl);
    Py_XDECREF(set);
    Py_XDECREF(get);
    Py_DECREF(sig);
    if ((out && PySys_SetObject("stdout", out) < 0) || (err && PySys_SetObject("stderr", err) < 0))
        PyErr_Clear();
    Py_XDECREF(out);
    Py_XDECREF(err);
    PyErr_Clear();
}

/* The files the script opened that outlive the teardown, held where python3
 * would free them only as the interpreter goes (a signal handler's, a codec
 * search function's or an at-fork callback's globals, an attribute of a
 * module that was there before the script, a list in sys): flushed, as
 * freeing them would, text files first, so that their data is not lost with
 * the process. The objects made before the script are frozen out of
 * gc.get_objects(). Not while another thread runs (a daemon thread): it may
 * hold a file's lock, blocked in a write, where python3 abandons it. */
static void flush_survivors(void)
{
    PyThreadState *ts = PyInterpreterState_ThreadHead(PyInterpreterState_Get());
    if (ts && PyThreadState_Next(ts))
        return;
    PyObject *gc = loaded("gc"), *io = loaded("_io");
    PyObject *objs = gc && io ? PyObject_CallMethod(gc, "get_objects", NULL) : NULL;
    static const char *const kinds[2][2] = {{"TextIOWrapper", NULL},
                                            {"BufferedWriter", "BufferedRandom"}};
    for (int pass = 0; objs && PyList_Check(objs) && pass < 2; pass++) {
        PyTypeObject *t[2] = {NULL, NULL};
        for (int j = 0; j < 2 && kinds[pass][j]; j++) {
            PyObject *o = PyObject_GetAttrString(io, kinds[pass][j]);
            if (o && PyType_Check(o))
                t[j] = (PyTypeObject *)o;
            else
                Py_XDECREF(o);
        }
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(objs); i++) {
            PyObject *f = PyList_GET_ITEM(objs, i);
            if (!(t[0] && PyObject_TypeCheck(f, t[0])) && !(t[1] && PyObject_TypeCheck(f, t[1])))
                continue;
            PyObject *r = PyObject_CallMethod(f, "flush", NULL); /* a closed one raises */
            Py_XDECREF(r);
            PyErr_Clear();
        }
        Py_XDECREF(t[0]);
        Py_XDECREF(t[1]);
    }
    Py_XDECREF(objs);
    Py_XDECREF(io);
    Py_XDECREF(gc);
    PyErr_Clear();
}

/* finalize_modules(), for what the script added: the modules it imported
 * and __main__ leave sys.modules (weak references kept), builtins are put
 * back, garbage is collected; then the modules still alive are cleared,
 * last imported first; sys loses what the script put in it; and cgi's log
 * file goes, which cgi.py's module would drop with it (cgi may be
 * preloaded, there before the script). */
static void release_what_the_script_added(void)
{
    PyObject *modules = PyImport_GetModuleDict(), *k, *v;
    PyObject *cgi = PyDict_GetItemString(modules, "cgi"); /* borrowed */
    PyObject *cd = cgi && PyModule_Check(cgi) ? PyModule_GetDict(cgi) : NULL;
    PyObject *fp = cd ? PyDict_GetItemString(cd, "logfp") : NULL;
    if (fp && fp != Py_None && PyDict_SetItemString(cd, "logfp", Py_None) < 0)
        PyErr_WriteUnraisable(NULL);
    PyErr_Clear();
    PyObject *gone = PyList_New(0); /* (name, weakref or None) in import order */
    /* __main__, also under another name (multiprocessing's __mp_main__): in
     * the cold path it was there when the baseline was marked */
    PyObject *mainmod = PyDict_GetItemString(modules, "__main__"); /* borrowed */
    PyErr_Clear();
    Py_ssize_t pos = 0;
    while (gone && PyDict_Next(modules, &pos, &k, &v)) {
        int main = (mainmod && v == mainmod) ||
                   (PyUnicode_Check(k) && PyUnicode_CompareWithASCIIString(k, "__main__") == 0);
        if ((baseline && in_baseline(v) && !main) || (!baseline && !main))
            continue;
        /* Not a module (sys.modules[__name__] = an instance): it leaves
         * sys.modules too, as python3 lets go of every entry, but is not
         * cleared. */
        PyObject *ref = PyModule_Check(v) ? PyWeakref_NewRef(v, NULL) : Py_NewRef(Py_None);
        PyObject *pair = ref ? PyTuple_Pack(2, k, ref) : NULL;
        Py_XDECREF(ref);
        if (!pair || PyList_Append(gone, pair) < 0)
            Py_CLEAR(gone);
        Py_XDECREF(pair);
    }
    for (Py_ssize_t i = 0; gone && i < PyList_GET_SIZE(gone); i++)
        if (PyDict_DelItem(modules, PyTuple_GET_ITEM(PyList_GET_ITEM(gone, i), 0)) < 0)
            PyErr_WriteUnraisable(NULL);
    PyObject *bd = module_dict("builtins");
    if (bd && builtins_changed(bd))
        put_back(bd, builtins_copy);
    collect_no_fail();
    for (Py_ssize_t i = gone ? PyList_GET_SIZE(gone) - 1 : -1; i >= 0; i--) {
        PyObject *ref = PyTuple_GET_ITEM(PyList_GET_ITEM(gone, i), 1);
        PyObject *m = ref == Py_None ? NULL : referent(ref);
        if (m) {
            PyObject *d = PyModule_GetDict(m); /* borrowed */
            if (d)
                clear_module_dict(d);
            Py_DECREF(m);
        }
    }
    Py_XDECREF(gone);
    PyErr_Clear();
}

/* finalize_clear_sys_builtins_dict() for sys, and the collection that follows
 * it: as _PyModule_ClearDict(), names with one leading underscore first,
 * then the rest in the dict's order, but of what the script changed only
 * (added names deleted, replaced values set to None; the rest is the
 * server's, shared with it), and sys's streams set to None as the pass
 * reaches them, as there: what a finalizer prints from then on is dropped,
 * silently, as under python3 (an object the script kept in sys under a name
 * it added, or one in a cycle that the clearing of its module released).
 * The streams come back for the last flush. */
static void release_sys_and_collect(void)
{
    PyObject *sys = module_dict("sys"), *kept[6] = {NULL};
    PyObject *keys = sys ? PyDict_Keys(sys) : NULL;
    for (int pass = 0; keys && pass < 2; pass++) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(keys); i++) {
            PyObject *k = PyList_GET_ITEM(keys, i);
            if (!PyUnicode_Check(k) || one_underscore(k) != (pass == 0))
                continue;
            PyObject *v = PyDict_GetItemWithError(sys, k); /* borrowed */
            if (!v || v == Py_None) {
                PyErr_Clear();
                continue;
            }
            int st = std_stream_index(k);
            if (st >= 0) {
                kept[st] = Py_NewRef(v);
                if (PyDict_SetItem(sys, k, Py_None) < 0) {
                    PyErr_Clear();
                    Py_CLEAR(kept[st]);
                }
                continue;
            }
            PyObject *was = sys_copy ? PyDict_GetItemWithError(sys_copy, k) : v; /* borrowed */
            if (was == v || PyErr_Occurred()) {
                PyErr_Clear();
                continue;
            }
            if ((was ? PyDict_SetItem(sys, k, Py_None) : PyDict_DelItem(sys, k)) < 0)
                PyErr_WriteUnraisable(NULL);
        }
    }
    Py_XDECREF(keys);
    PyErr_Clear();
    collect_no_fail();
    for (size_t i = 0; i < 6; i++) {
        if (kept[i] && special_set(sys, STREAMS + i, kept[i]) < 0)
            PyErr_Clear();
        Py_XDECREF(kept[i]);
    }
    PyErr_Clear();
}

/* f.flush() for f, a sys.<name> held by the caller (NULL or None: nothing
 * to do); -1 when it failed, reported as python3 does (or, quiet, as its
 * teardown's closing of the files does: silently). */
static int flush_held(PyObject *f, int quiet)
{
    if (!f || f == Py_None)
        return 0;
    /* A file the script closed is left alone, as file_is_closed() in
     * pylifecycle.c does. */
    PyObject *closed = PyObject_GetAttrString(f, "closed");
    int is_closed = closed ? PyObject_IsTrue(closed) : 0;
    Py_XDECREF(closed);
    PyErr_Clear(); /* no such attribute, or no truth: open, as there */
    PyObject *r = is_closed > 0 ? Py_NewRef(Py_None) : PyObject_CallMethod(f, "flush", NULL);
    int rc = r ? 0 : -1;
    Py_XDECREF(r);
    if (rc < 0 && quiet)
        PyErr_Clear();
    else if (rc < 0)
        PyErr_WriteUnraisable(f);
    return rc;
}

/* flush_held() for sys.<name>, held: its "closed" may be Python code that
 * replaces sys.<name>. */
static int flush_std(const char *name, int quiet)
{
    PyObject *f = Py_XNewRef(PySys_GetObject(name));
    int rc = flush_held(f, quiet);
    Py_XDECREF(f);
    return rc;
}

int cgih_py_finalize(int status)
{
    status = finalize(status);
    if (unhandled_sigint) {
        /* As python3's exit_sigint(): a shell that ran us sees the ^C. */
        if (signal(SIGINT, SIG_DFL) == SIG_ERR || kill(getpid(), SIGINT) != 0)
            perror("signal");
        status = 128 + SIGINT;
    }
    return status;
}

static int finalize(int status)
{
    /* What Py_FinalizeEx() does that a script can observe, in its order: wait
     * for non-daemon threads, run atexit handlers, flush stdout and stderr
     * (a failure gives status 120, and is reported for stdout), put the signals that have
     * handlers in Python back to SIG_DFL, collect, then finalize_modules()
     * for what the script added (delete_special(), release_what_the_
     * script_added(): unclosed files, here or in a helper module, are
     * flushed and closed, and __del__ methods run), collect, and flush
     * again: the original streams, whose buffers python3 flushes when it
     * frees them. Tearing down the rest of the heap, what was there before
     * the script ran, would only cost time: the process is about to end;
     * but the script's files still open anywhere are flushed
     * (flush_survivors()). */
    call_if_loaded("threading", "_shutdown");
    call_if_loaded("atexit", "_run_exitfuncs");
    /* As Py_FinalizeEx(): the output is flushed before the teardown (which
     * may take a while: closing a large upload's temporary file frees it),
     * and again after it, for what finalizers print. */
    /* As flush_std_files(): both read before stdout's flush, which may
     * replace sys.stderr; stderr's failure silently. */
    PyObject *out = Py_XNewRef(PySys_GetObject("stdout")),
             *err = Py_XNewRef(PySys_GetObject("stderr"));
    if (flush_held(out, 0) < 0)
        status = 120;
    if (flush_held(err, 1) < 0)
        status = 120;
    Py_XDECREF(out);
    Py_XDECREF(err);
    /* As Py_FinalizeEx(), collect before the modules go: garbage's
     * finalizers run while they are all there, and what survives moves to
     * the oldest generation. Without it, a file left open in a script whose
     * globals are in a cycle (any function's __globals__) was collected
     * with that cycle below, its FileIO closed before the TextIOWrapper's
     * flush: the data was lost. A no-op when the script disabled gc, as
     * there. */
    signal_fini();
    PyGC_Collect();
    delete_special();
    release_what_the_script_added();
    release_sys_and_collect();
    flush_survivors();
    /* What finalizers printed goes out as when Python's teardown closes the
     * files: silently, a failure changes nothing. */
    flush_std("stdout", 1);
    flush_std("stderr", 1);
    fflush(NULL);
    return status;
}
