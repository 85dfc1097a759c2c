/* test_proto.c: the client/server wire protocol and the socket directory
 * rule, without sockets: encode/decode round trips, every truncation and
 * every single-byte corruption of a request decoded without a crash and
 * either rejected or decoded into something sane, header checks, limits. */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto.h"
#include "tap.h"

static char *argv_[] = {"/usr/bin/cgihost", "/srv/x.py", "", "arg with spaces", NULL};
static char *envp_[] = {"PATH=/usr/bin:/bin", "QUERY_STRING=a=1&b=2", "EMPTY=", "X=y=z", NULL};

static struct cgih_req sample(void)
{
    struct cgih_req r;
    memset(&r, 0, sizeof r);
    r.flags = 0xf;
    r.umask = 022;
    r.argc = 4;
    r.argv = argv_;
    r.envc = 4;
    r.envp = envp_;
    r.nrlim = 2;
    r.rlim[0] = (struct cgih_rlim){7, 300, 4000};
    r.rlim[1] = (struct cgih_rlim){3, 8u << 20, ~0ull};
    r.sigblk = 1ull << (SIGUSR2 - 1) | 1ull << 63;
    return r;
}

static int same(const struct cgih_req *a, const struct cgih_req *b)
{
    if (a->flags != b->flags || a->umask != b->umask || a->argc != b->argc || a->envc != b->envc ||
        a->nrlim != b->nrlim || a->sigblk != b->sigblk)
        return 0;
    for (uint32_t i = 0; i < a->argc; i++)
        if (strcmp(a->argv[i], b->argv[i]) != 0)
            return 0;
    for (uint32_t i = 0; i < a->envc; i++)
        if (strcmp(a->envp[i], b->envp[i]) != 0)
            return 0;
    if (b->argv[b->argc] != NULL || b->envp[b->envc] != NULL)
        return 0;
    return memcmp(a->rlim, b->rlim, sizeof a->rlim[0] * a->nrlim) == 0;
}

/* Decodes a private copy of exactly len bytes (ASan sees any overread). */
static int decode_copy(const char *buf, size_t len, struct cgih_req *out, char **keep, const char **why)
{
    char *copy = malloc(len ? len : 1);
    memcpy(copy, buf, len);
    size_t pos = 0;
    int rc = cgih_req_decode(copy, len, out, why, &pos);
    if (rc == CGIH_OK)
        *keep = copy;
    else {
        free(copy);
        if (pos > len)
            rc = 99;
    }
    return rc;
}

static void test_round_trip(void)
{
    struct cgih_req r = sample(), d;
    size_t len;
    char *body = cgih_req_encode(&r, &len), *keep = NULL;
    const char *why = NULL;
    tap_ok(body != NULL, "encode");
    tap_ok(decode_copy(body, len, &d, &keep, &why) == CGIH_OK, "decode (%s)", why ? why : "ok");
    tap_ok(same(&r, &d), "round trip keeps every field, empty strings included");
    cgih_req_free(&d);
    free(keep);

    /* Every proper prefix is rejected, never read past. */
    int bad = 0;
    for (size_t n = 0; n < len; n++) {
        int rc = decode_copy(body, n, &d, &keep, &why);
        if (rc != CGIH_ERROR) {
            bad++;
            if (rc == CGIH_OK) {
                cgih_req_free(&d);
                free(keep);
            }
        }
    }
    tap_ok(bad == 0, "all %zu truncations rejected", len);

    /* A trailing byte is rejected too. */
    char *longer = malloc(len + 1);
    memcpy(longer, body, len);
    longer[len] = 0;
    tap_ok(decode_copy(longer, len + 1, &d, &keep, &why) == CGIH_ERROR && strcmp(why, "trailing bytes") == 0,
           "trailing bytes rejected");
    free(longer);

    /* Every byte flipped to each of a few values: no crash, no overread, and
     * whatever decodes has NUL-terminated strings and '=' in every entry. */
    static const unsigned char vals[] = {0x00, 0xff, 0x01, '=', 0x7f, 0x80};
    int insane = 0, decoded = 0;
    for (size_t i = 0; i < len; i++)
        for (size_t v = 0; v < sizeof vals; v++) {
            char *m = malloc(len);
            memcpy(m, body, len);
            m[i] = (char)vals[v];
            int rc = decode_copy(m, len, &d, &keep, &why);
            if (rc == CGIH_OK) {
                decoded++;
                for (uint32_t k = 0; k < d.envc; k++)
                    insane += strchr(d.envp[k], '=') == NULL;
                insane += d.argc < 1 || d.umask > 0777 || d.nrlim > CGIH_MAX_RLIM;
                cgih_req_free(&d);
                free(keep);
            } else if (rc == 99) {
                insane++;
            }
            free(m);
        }
    tap_ok(insane == 0, "corruptions: %d decoded, all sane", decoded);
    free(body);
}

static void test_limits(void)
{
    /* A count larger than the bytes could hold is refused before allocating. */
    char buf[64];
    uint32_t v[] = {0, 022, 0xffffffffu};
    memcpy(buf, v, sizeof v);
    struct cgih_req d;
    char *keep = NULL;
    const char *why = NULL;
    tap_ok(decode_copy(buf, sizeof v, &d, &keep, &why) == CGIH_ERROR && strcmp(why, "string count too large") == 0,
           "huge argc refused (%s)", why ? why : "?");
    uint32_t w[] = {0x10, 022, 1};
    memcpy(buf, w, sizeof w);
    tap_ok(decode_copy(buf, sizeof w, &d, &keep, &why) == CGIH_ERROR && strcmp(why, "unknown flags") == 0,
           "unknown flags refused");
    uint32_t u[] = {0, 01000, 1};
    memcpy(buf, u, sizeof u);
    tap_ok(decode_copy(buf, sizeof u, &d, &keep, &why) == CGIH_ERROR && strcmp(why, "bad umask") == 0,
           "bad umask refused");

    /* A string with a NUL inside, and an entry without '='. */
    struct cgih_req r = sample();
    char *noeq[] = {"PATH=/bin", "NOEQUALS", NULL};
    r.envp = noeq;
    r.envc = 2;
    size_t len;
    char *body = cgih_req_encode(&r, &len);
    tap_ok(decode_copy(body, len, &d, &keep, &why) == CGIH_ERROR, "environment entry without '=' refused");
    free(body);
    r = sample();
    r.argc = 0;
    body = cgih_req_encode(&r, &len);
    tap_ok(decode_copy(body, len, &d, &keep, &why) == CGIH_ERROR && strcmp(why, "no argv") == 0,
           "empty argv refused");
    free(body);
}

static void test_header(void)
{
    const char *why = NULL;
    struct cgih_hdr h = {CGIH_PROTO_MAGIC, CGIH_PROTO_VERSION, CGIH_KIND_REQ, 100};
    tap_ok(cgih_hdr_check(&h, &why) == CGIH_OK, "good header");
    h.magic ^= 1;
    tap_ok(cgih_hdr_check(&h, &why) == CGIH_ERROR && strcmp(why, "bad magic") == 0, "bad magic");
    h.magic ^= 1;
    h.version = CGIH_PROTO_VERSION + 1;
    tap_ok(cgih_hdr_check(&h, &why) == CGIH_ERROR && strstr(why, "version"), "other version");
    h.version = CGIH_PROTO_VERSION;
    h.body_len = CGIH_REQ_MAX + 1;
    tap_ok(cgih_hdr_check(&h, &why) == CGIH_ERROR, "body over the limit");
    h.kind = CGIH_KIND_STOP;
    h.body_len = 1;
    tap_ok(cgih_hdr_check(&h, &why) == CGIH_ERROR, "STOP with a body");
    h.body_len = 0;
    tap_ok(cgih_hdr_check(&h, &why) == CGIH_OK, "STOP");
    h.kind = 9;
    tap_ok(cgih_hdr_check(&h, &why) == CGIH_ERROR, "unknown kind");
}

static void test_env(void)
{
    tap_ok(cgih_env_shapes_interp("PYTHONPATH=/x") && cgih_env_shapes_interp("LANG=C") &&
               cgih_env_shapes_interp("LC_ALL=") && cgih_env_shapes_interp("HOME=/root") &&
               cgih_env_shapes_interp("LC_CTYPE=C.UTF-8") &&
               cgih_env_shapes_interp("LD_LIBRARY_PATH=/x") &&
               cgih_env_shapes_interp("LD_PRELOAD=") &&
               cgih_env_shapes_interp("GLIBC_TUNABLES=a=1") &&
               cgih_env_shapes_interp("MALLOC_ARENA_MAX=2"),
           "interpreter-shaping variables");
    tap_ok(!cgih_env_shapes_interp("PATH=/bin") && !cgih_env_shapes_interp("LANGUAGE=de") &&
               !cgih_env_shapes_interp("HOMEDIR=/x") && !cgih_env_shapes_interp("LC_TIME=C") &&
               !cgih_env_shapes_interp("QUERY_STRING=PYTHONPATH") &&
               !cgih_env_shapes_interp("OLD_X=1") && !cgih_env_shapes_interp("GLIBC_TUNABLESX=1"),
           "and not others");
    tap_ok(strcmp(cgih_env_get(envp_, "X"), "y=z") == 0 && strcmp(cgih_env_get(envp_, "EMPTY"), "") == 0 &&
               cgih_env_get(envp_, "QUERY") == NULL,
           "env_get");
}

static void test_sockdir(void)
{
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_mode = S_IFDIR | 0700;
    st.st_uid = 33;
    tap_ok(cgih_sockdir_verdict(&st, 33) == NULL, "0700 dir of ours passes");
    st.st_mode = S_IFDIR | 0755;
    tap_ok(cgih_sockdir_verdict(&st, 33) == NULL, "0755 passes (not writable by others)");
    st.st_mode = S_IFDIR | 0720;
    tap_ok(cgih_sockdir_verdict(&st, 33) != NULL, "group-writable refused");
    st.st_mode = S_IFDIR | 0702;
    tap_ok(cgih_sockdir_verdict(&st, 33) != NULL, "world-writable refused");
    st.st_mode = S_IFDIR | 01777;
    tap_ok(cgih_sockdir_verdict(&st, 33) != NULL, "/tmp-like refused");
    st.st_mode = S_IFDIR | 0700;
    tap_ok(cgih_sockdir_verdict(&st, 34) != NULL, "another owner refused");
    st.st_mode = S_IFLNK | 0777;
    tap_ok(cgih_sockdir_verdict(&st, 33) != NULL, "symlink refused");

    char d[4096], p[200];
    unsetenv("CGIHOST_SOCKET_DIR");
    tap_ok(cgih_sockdir(d, sizeof d, 1000) == CGIH_OK && strcmp(d, "/tmp/cgihost-1000") == 0, "default dir");
    setenv("CGIHOST_SOCKET_DIR", "/run/x", 1);
    tap_ok(cgih_sockdir(d, sizeof d, 1000) == CGIH_OK && strcmp(d, "/run/x") == 0, "CGIHOST_SOCKET_DIR");
    tap_ok(cgih_sockpath(p, sizeof p, "/run/x") == CGIH_OK && strcmp(p, "/run/x/server.sock") == 0,
           "socket path");
    char longdir[200];
    memset(longdir, 'a', sizeof longdir - 1);
    longdir[0] = '/';
    longdir[sizeof longdir - 1] = '\0';
    tap_ok(cgih_sockpath(p, sizeof p, longdir) == CGIH_ERROR, "too long for sun_path");

    /* The check on the real file system, creating a fresh directory. */
    char tmpl[] = "/tmp/cgih-proto-XXXXXX";
    char sub[64];
    const char *why = NULL;
    if (mkdtemp(tmpl)) {
        snprintf(sub, sizeof sub, "%s/s", tmpl);
        tap_ok(cgih_sockdir_check(sub, geteuid(), 0, &why) == CGIH_ERROR && errno == ENOENT,
               "missing, not created");
        tap_ok(cgih_sockdir_check(sub, geteuid(), 1, &why) == CGIH_OK, "created");
        struct stat s2;
        tap_ok(stat(sub, &s2) == 0 && (s2.st_mode & 0777) == 0700, "created 0700");
        tap_ok(chmod(sub, 0770) == 0 && cgih_sockdir_check(sub, geteuid(), 1, &why) == CGIH_ERROR,
               "then group-writable: refused (%s)", why ? why : "");
        rmdir(sub);
        /* relative: refused, and not made in the working directory */
        tap_ok(chdir(tmpl) == 0 && cgih_sockdir_check("s", geteuid(), 1, &why) == CGIH_ERROR &&
                   errno == EINVAL && access("s", F_OK) != 0 && chdir("/") == 0,
               "relative: refused (%s)", why ? why : "");
        rmdir(tmpl);
    } else {
        tap_ok(0, "mkdtemp");
    }
}

/* cgih_proc_sigign() reads what a process ignores, as a program it execs
 * would inherit it. */
static void test_sigsets(void)
{
    struct sigaction ig = {.sa_handler = SIG_IGN}, dfl = {.sa_handler = SIG_DFL}, old;
    sigemptyset(&ig.sa_mask);
    sigemptyset(&dfl.sa_mask);
    if (sigaction(SIGHUP, &ig, &old) != 0 || sigaction(SIGTERM, &dfl, NULL) != 0) {
        tap_ok(0, "set up the signals");
        return;
    }
    uint64_t ign = 0;
    tap_ok(cgih_proc_sigign(getpid(), &ign) == CGIH_OK && ign & 1ull << (SIGHUP - 1) &&
               !(ign & 1ull << (SIGTERM - 1)),
           "SIGHUP ignored, SIGTERM not");
    uint64_t self = 0;
    tap_ok(cgih_proc_sigign(0, &self) == CGIH_OK && self == ign, "pid 0 reads /proc/self");
    sigaction(SIGHUP, &dfl, NULL); /* whatever the test run inherited */
    tap_ok(cgih_proc_sigign(getpid(), &ign) == CGIH_OK && !(ign & 1ull << (SIGHUP - 1)),
           "and not once at its default");
    sigaction(SIGHUP, &old, NULL);
    tap_ok(cgih_proc_sigign(999999999, &ign) == CGIH_ERROR, "no such process: an error");

    /* SigIgn past the first 4 KiB (a long Groups: line), a name that
     * contains the word, no SigIgn at all. */
    size_t cap = 16384;
    char *text = malloc(cap);
    int k = snprintf(text, cap, "Name:\tSigIgn: 1\nGroups:\t");
    for (int g = 0; g < 900; g++)
        k += snprintf(text + k, cap - (size_t)k, "%d ", 100000 + g);
    snprintf(text + k, cap - (size_t)k, "\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000001001\n");
    FILE *f = fmemopen(text, strlen(text), "r");
    ign = 0;
    tap_ok(f && strlen(text) > 4096 && cgih_status_sigign(f, &ign) == CGIH_OK && ign == 0x1001,
           "SigIgn found at byte %zu, not in Name:", strlen(text) - 25);
    if (f)
        fclose(f);
    f = fmemopen(text, 20, "r");
    tap_ok(f && cgih_status_sigign(f, &ign) == CGIH_ERROR, "no SigIgn line: an error");
    if (f)
        fclose(f);
    free(text);
}

static void test_confinement(void)
{
    static char text[] =
        "Name:\tNoNewPrivs: 1\nCapBnd:\t000001fffeffffff\nCapAmb:\t0000000000000400\n"
        "NoNewPrivs:\t1\nSeccomp:\t2\nSeccomp_filters:\t3\nSpeculation_Store_Bypass:\tx\n";
    struct cgih_confinement c;
    FILE *f = fmemopen(text, strlen(text), "r");
    tap_ok(f && cgih_status_confinement(f, &c) == CGIH_OK && c.capbnd == 0x1fffeffffffull &&
               c.no_new_privs == 1 && c.seccomp == 2 && c.seccomp_filters == 3 && c.capamb == 0x400,
           "confinement read");
    if (f)
        fclose(f);
    f = fmemopen(text, 40, "r");
    tap_ok(f && cgih_status_confinement(f, &c) == CGIH_ERROR, "no NoNewPrivs line: an error");
    if (f)
        fclose(f);
    tap_ok(cgih_proc_confinement(0, &c) == CGIH_OK &&
               cgih_proc_confinement(999999999, &c) == CGIH_ERROR,
           "our own read, no such process an error");
}

int main(void)
{
    test_confinement();
    test_round_trip();
    test_limits();
    test_header();
    test_env();
    test_sockdir();
    test_sigsets();
    return tap_done();
}
