/* proto.c: see proto.h. libc only. */
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* ---- encoding ----------------------------------------------------------------- */

struct out {
    char *buf;
    size_t len, cap;
    int failed;
};

static void put(struct out *o, const void *p, size_t n)
{
    if (o->failed)
        return;
    if (n > CGIH_REQ_MAX - o->len) {
        o->failed = E2BIG;
        return;
    }
    if (o->len + n > o->cap) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap < o->len + n)
            cap *= 2;
        char *nb = realloc(o->buf, cap);
        if (!nb) {
            o->failed = ENOMEM;
            return;
        }
        o->buf = nb;
        o->cap = cap;
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

static void put_u32(struct out *o, uint32_t v) { put(o, &v, sizeof v); }

static void put_str(struct out *o, const char *s)
{
    size_t n = strlen(s);
    if (n > CGIH_REQ_MAX) {
        o->failed = E2BIG;
        return;
    }
    put_u32(o, (uint32_t)n);
    put(o, s, n + 1);
}

char *cgih_req_encode(const struct cgih_req *r, size_t *len)
{
    struct out o = {0};
    if (r->argc > CGIH_MAX_STRINGS || r->envc > CGIH_MAX_STRINGS || r->nrlim > CGIH_MAX_RLIM) {
        errno = E2BIG;
        return NULL;
    }
    put_u32(&o, r->flags);
    put_u32(&o, r->umask);
    put_u32(&o, r->argc);
    for (uint32_t i = 0; i < r->argc; i++)
        put_str(&o, r->argv[i]);
    put_u32(&o, r->envc);
    for (uint32_t i = 0; i < r->envc; i++)
        put_str(&o, r->envp[i]);
    put_u32(&o, r->nrlim);
    for (uint32_t i = 0; i < r->nrlim; i++) {
        put_u32(&o, r->rlim[i].resource);
        put(&o, &r->rlim[i].cur, sizeof(uint64_t));
        put(&o, &r->rlim[i].max, sizeof(uint64_t));
    }
    put(&o, &r->sigblk, sizeof(uint64_t));
    if (o.failed) {
        free(o.buf);
        errno = o.failed;
        return NULL;
    }
    *len = o.len;
    return o.buf;
}

/* ---- decoding ----------------------------------------------------------------- */

int cgih_hdr_check(const struct cgih_hdr *h, const char **reason)
{
    if (h->magic != CGIH_PROTO_MAGIC) {
        *reason = "bad magic";
        return CGIH_ERROR;
    }
    if (h->version != CGIH_PROTO_VERSION) {
        *reason = "protocol version mismatch";
        return CGIH_ERROR;
    }
    if (h->kind != CGIH_KIND_REQ && h->kind != CGIH_KIND_STOP && h->kind != CGIH_KIND_QUERY) {
        *reason = "unknown kind";
        return CGIH_ERROR;
    }
    if (h->body_len > CGIH_REQ_MAX || (h->kind != CGIH_KIND_REQ && h->body_len != 0)) {
        *reason = "bad body length";
        return CGIH_ERROR;
    }
    return CGIH_OK;
}

struct in {
    char *p;
    size_t len, pos;
    const char *reason;
};

static int get(struct in *in, void *dst, size_t n, const char *what)
{
    if (n > in->len - in->pos) {
        in->reason = what;
        return -1;
    }
    memcpy(dst, in->p + in->pos, n);
    in->pos += n;
    return 0;
}

/* A string in place: u32 len, len bytes, NUL, with no NUL inside. */
static char *get_str(struct in *in)
{
    uint32_t n;
    size_t at = in->pos;
    if (get(in, &n, sizeof n, "truncated string length") < 0)
        return NULL;
    if ((size_t)n >= in->len - in->pos) {
        in->pos = at;
        in->reason = "truncated string";
        return NULL;
    }
    char *s = in->p + in->pos;
    if (s[n] != '\0' || memchr(s, '\0', n)) {
        in->pos = at;
        in->reason = "string not NUL-terminated where its length says";
        return NULL;
    }
    in->pos += (size_t)n + 1;
    return s;
}

/* count strings into a new NULL-terminated array. The count is checked
 * against what the remaining bytes can hold (5 bytes a string at least)
 * before anything is allocated. */
static char **get_strings(struct in *in, uint32_t *count, const char *what)
{
    if (get(in, count, sizeof *count, what) < 0)
        return NULL;
    if (*count > CGIH_MAX_STRINGS || *count > (in->len - in->pos) / 5) {
        in->pos -= sizeof *count;
        in->reason = "string count too large";
        return NULL;
    }
    char **v = calloc((size_t)*count + 1, sizeof *v);
    if (!v) {
        in->reason = "out of memory";
        return NULL;
    }
    for (uint32_t i = 0; i < *count; i++)
        if (!(v[i] = get_str(in))) {
            free(v);
            return NULL;
        }
    return v;
}

int cgih_req_decode(char *body, size_t len, struct cgih_req *r, const char **reason, size_t *pos)
{
    struct in in = {body, len, 0, NULL};
    memset(r, 0, sizeof *r);
    if (get(&in, &r->flags, sizeof r->flags, "truncated flags") < 0 ||
        get(&in, &r->umask, sizeof r->umask, "truncated umask") < 0)
        goto fail;
    if (r->flags & ~0xfu) {
        in.pos -= 8;
        in.reason = "unknown flags";
        goto fail;
    }
    if (r->umask > 0777) {
        in.pos -= 4;
        in.reason = "bad umask";
        goto fail;
    }
    if (!(r->argv = get_strings(&in, &r->argc, "truncated argc")))
        goto fail;
    if (r->argc < 1) {
        in.reason = "no argv";
        goto fail;
    }
    if (!(r->envp = get_strings(&in, &r->envc, "truncated envc")))
        goto fail;
    for (uint32_t i = 0; i < r->envc; i++)
        if (!strchr(r->envp[i], '=')) {
            in.reason = "environment entry without '='";
            goto fail;
        }
    if (get(&in, &r->nrlim, sizeof r->nrlim, "truncated rlimit count") < 0)
        goto fail;
    if (r->nrlim > CGIH_MAX_RLIM) {
        in.pos -= 4;
        in.reason = "too many rlimits";
        goto fail;
    }
    for (uint32_t i = 0; i < r->nrlim; i++)
        if (get(&in, &r->rlim[i].resource, 4, "truncated rlimit") < 0 ||
            get(&in, &r->rlim[i].cur, 8, "truncated rlimit") < 0 ||
            get(&in, &r->rlim[i].max, 8, "truncated rlimit") < 0)
            goto fail;
    if (get(&in, &r->sigblk, 8, "truncated signal set") < 0)
        goto fail;
    if (in.pos != len) {
        in.reason = "trailing bytes";
        goto fail;
    }
    return CGIH_OK;
fail:
    free(r->argv);
    free(r->envp);
    memset(r, 0, sizeof *r);
    *reason = in.reason;
    *pos = in.pos;
    return CGIH_ERROR;
}

void cgih_req_free(struct cgih_req *r)
{
    free(r->argv);
    free(r->envp);
    r->argv = r->envp = NULL;
}

/* One line of a status file: SigIgn (bit 0 of the result) or one of what
 * confines a process, or what it passes on (bits 1-5: CapBnd, NoNewPrivs,
 * Seccomp, Seccomp_filters, CapAmb), read into ign or c; 0 for any other
 * line or a value that does not read. */
static int status_line(const char *line, uint64_t *ign, struct cgih_confinement *c)
{
    static const char *const names[] = {
        "SigIgn:", "CapBnd:", "NoNewPrivs:", "Seccomp:", "Seccomp_filters:", "CapAmb:"};
    for (int i = 0; i < 6; i++) {
        size_t n = strlen(names[i]);
        if (strncmp(line, names[i], n) != 0)
            continue;
        char *end;
        errno = 0;
        unsigned long long v = strtoull(line + n, &end, i <= 1 || i == 5 ? 16 : 10);
        if (errno != 0 || end == line + n || (*end != '\n' && *end != '\0'))
            return 0;
        if (i == 0)
            *ign = (uint64_t)v;
        else if (i == 1)
            c->capbnd = v;
        else if (i == 2)
            c->no_new_privs = (int)v;
        else if (i == 3)
            c->seccomp = (int)v;
        else if (i == 4)
            c->seccomp_filters = (int)v;
        else
            c->capamb = v;
        return 1 << i;
    }
    return 0;
}

int cgih_status_read(FILE *f, uint64_t *ign, int *ign_ok, struct cgih_confinement *c, int *c_ok)
{
    char *line = NULL;
    size_t cap = 0;
    int seen = 0;
    uint64_t ign_read = 0;
    struct cgih_confinement c_read;
    memset(&c_read, 0, sizeof c_read);
    /* (Seccomp_filters, the last of them, is not there before Linux 5.9) */
    while (seen != 63 && getline(&line, &cap, f) > 0)
        seen |= status_line(line, &ign_read, &c_read);
    free(line);
    if (ign && (*ign_ok = (seen & 1) != 0))
        *ign = ign_read;
    /* CapBnd, NoNewPrivs and Seccomp are there since Linux 4.10 */
    if (c && (*c_ok = (seen & 14) == 14))
        *c = c_read;
    return CGIH_OK;
}

int cgih_proc_status(pid_t pid, uint64_t *ign, int *ign_ok, struct cgih_confinement *c, int *c_ok)
{
    char path[64];
    if (pid > 0)
        snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    else
        snprintf(path, sizeof path, "/proc/self/status");
    if (ign)
        *ign_ok = 0;
    if (c)
        *c_ok = 0;
    FILE *f = fopen(path, "re");
    if (!f)
        return CGIH_ERROR;
    cgih_status_read(f, ign, ign_ok, c, c_ok);
    fclose(f);
    return CGIH_OK;
}

int cgih_status_sigign(FILE *f, uint64_t *ign)
{
    int ok;
    cgih_status_read(f, ign, &ok, NULL, NULL);
    return ok ? CGIH_OK : CGIH_ERROR;
}

int cgih_proc_sigign(pid_t pid, uint64_t *ign)
{
    int ok;
    return cgih_proc_status(pid, ign, &ok, NULL, NULL) == CGIH_OK && ok ? CGIH_OK : CGIH_ERROR;
}

int cgih_status_confinement(FILE *f, struct cgih_confinement *c)
{
    int ok;
    memset(c, 0, sizeof *c);
    cgih_status_read(f, NULL, NULL, c, &ok);
    return ok ? CGIH_OK : CGIH_ERROR;
}

int cgih_proc_confinement(pid_t pid, struct cgih_confinement *c)
{
    int ok;
    memset(c, 0, sizeof *c);
    return cgih_proc_status(pid, NULL, NULL, c, &ok) == CGIH_OK && ok ? CGIH_OK : CGIH_ERROR;
}

int cgih_fill_std_fds(int oflags)
{
    int closed = 0;
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0) {
            closed |= 1 << fd;
            /* the lowest free fd: fd, those below being open by now */
            int nul = open("/dev/null", O_RDWR | oflags);
            if (nul != fd) {
                if (nul >= 0)
                    close(nul);
                return -1;
            }
        }
    return closed;
}

const char *cgih_env_get(char *const *envp, const char *name)
{
    size_t n = strlen(name);
    for (; *envp; envp++)
        if (strncmp(*envp, name, n) == 0 && (*envp)[n] == '=')
            return *envp + n + 1;
    return NULL;
}

int cgih_env_read_at_start(const char *e)
{
    return strncmp(e, "LD_", 3) == 0 || strncmp(e, "MALLOC_", 7) == 0 ||
           strncmp(e, "GLIBC_TUNABLES=", 15) == 0;
}

int cgih_env_shapes_interp(const char *e)
{
    static const char *const names[] = {
        "LC_ALL=", "LC_CTYPE=", "LANG=", "HOME=", "SETUPTOOLS_USE_DISTUTILS="};
    /* and what the loader and the C library read at a process's start
     * (LD_LIBRARY_PATH for the libraries an extension module or ctypes
     * loads, LD_PRELOAD...): a request child has the server's */
    if (strncmp(e, "PYTHON", 6) == 0 || cgih_env_read_at_start(e))
        return 1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strncmp(e, names[i], strlen(names[i])) == 0)
            return 1;
    return 0;
}

int cgih_env_redirect_shapes_interp(const char *e)
{
    const char *name = e;
    while (strncmp(name, "REDIRECT_", 9) == 0)
        name += 9;
    return name != e && cgih_env_shapes_interp(name);
}

/* ---- the socket directory ------------------------------------------------------- */

int cgih_sockdir(char *out, size_t n, uid_t uid)
{
    const char *d = getenv("CGIHOST_SOCKET_DIR");
    int w = d && *d ? snprintf(out, n, "%s", d) : snprintf(out, n, "/tmp/cgihost-%lu", (unsigned long)uid);
    return w < 0 || (size_t)w >= n ? CGIH_ERROR : CGIH_OK;
}

int cgih_sockpath(char *out, size_t n, const char *dir)
{
    struct sockaddr_un sun;
    size_t lim = n < sizeof sun.sun_path ? n : sizeof sun.sun_path;
    int w = snprintf(out, n, "%s/" CGIH_SOCK_NAME, dir);
    return w < 0 || (size_t)w >= lim ? CGIH_ERROR : CGIH_OK;
}

const char *cgih_sockdir_verdict(const struct stat *st, uid_t uid)
{
    if (!S_ISDIR(st->st_mode))
        return "not a directory";
    if (st->st_uid != uid)
        return "owned by another user";
    if (st->st_mode & (S_IWGRP | S_IWOTH))
        return "writable by group or others";
    return NULL;
}

int cgih_sockdir_check(const char *dir, uid_t uid, int create, const char **reason)
{
    /* A relative one would be another directory in each working directory
     * (a server's, each request's): clients refuse it, and so does this. */
    if (dir[0] != '/') {
        *reason = "not an absolute path";
        errno = EINVAL;
        return CGIH_ERROR;
    }
    /* Without its trailing slashes and "." components: lstat("link/") and
     * lstat("link/.") follow the link. */
    char d[PATH_MAX];
    size_t n = strlen(dir);
    for (;;) {
        if (n > 1 && dir[n - 1] == '/')
            n--;
        else if (n > 2 && dir[n - 1] == '.' && dir[n - 2] == '/')
            n -= 2;
        else
            break;
    }
    if (n >= sizeof d) {
        *reason = strerror(ENAMETOOLONG);
        errno = ENAMETOOLONG;
        return CGIH_ERROR;
    }
    memcpy(d, dir, n);
    d[n] = '\0';
    dir = d;
    struct stat st;
    if (lstat(dir, &st) != 0) {
        if (errno != ENOENT || !create) {
            *reason = strerror(errno);
            return CGIH_ERROR;
        }
        if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
            *reason = strerror(errno);
            return CGIH_ERROR;
        }
        if (lstat(dir, &st) != 0) {
            *reason = strerror(errno);
            return CGIH_ERROR;
        }
    }
    const char *v = cgih_sockdir_verdict(&st, uid);
    if (v) {
        *reason = v;
        errno = EPERM;
        return CGIH_ERROR;
    }
    return CGIH_OK;
}

int cgih_peer_is_server_of(int fd, const char *path, uid_t uid)
{
    struct ucred cr;
    socklen_t crl = sizeof cr;
    struct stat st;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) != 0)
        return 0;
    return cr.uid == uid || (cr.uid == 0 && lstat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
                             st.st_uid == uid && (st.st_mode & 077) == 0);
}

/* ---- tracing ------------------------------------------------------------------ */

long long cgih_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

long cgih_private_kb(void)
{
    FILE *f = fopen("/proc/self/smaps_rollup", "re");
    if (!f)
        return -1;
    char line[256];
    long total = 0, v;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Private_Clean: %ld kB", &v) == 1 || sscanf(line, "Private_Dirty: %ld kB", &v) == 1)
            total += v;
    fclose(f);
    return total;
}

int cgih_send_msg(int fd, uint32_t type, int32_t value)
{
    struct cgih_msg m = {type, value};
    ssize_t k;
    do
        k = send(fd, &m, sizeof m, MSG_NOSIGNAL);
    while (k < 0 && errno == EINTR);
    return k == (ssize_t)sizeof m ? 0 : -1;
}

ssize_t cgih_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds,
                           int flags)
{
    union {
        struct cmsghdr c;
        char buf[CMSG_SPACE(sizeof(int) * CGIH_MAX_FDS)];
    } cm;
    if (nfds < 1 || nfds > CGIH_MAX_FDS) {
        errno = EINVAL;
        return -1;
    }
    memset(&cm, 0, sizeof cm);
    struct iovec iov = {(void *)buf, len};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cm.buf;
    mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    ssize_t k;
    do
        k = sendmsg(sock, &mh, flags);
    while (k < 0 && errno == EINTR);
    return k;
}

ssize_t cgih_recv_with_fds(int sock, void *buf, size_t len, int *fds, int *nfds, int flags)
{
    union {
        struct cmsghdr c;
        char buf[CMSG_SPACE(sizeof(int) * CGIH_MAX_FDS)];
    } cm;
    struct iovec iov = {buf, len};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cm.buf;
    mh.msg_controllen = sizeof cm.buf;
    *nfds = 0;
    ssize_t k;
    do
        k = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
    while (k < 0 && errno == EINTR);
    for (struct cmsghdr *c = k >= 0 ? CMSG_FIRSTHDR(&mh) : NULL; c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int f;
            memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof f);
            if (*nfds < CGIH_MAX_FDS)
                fds[(*nfds)++] = f;
            else
                close(f);
        }
    }
    if (k >= 0 && (mh.msg_flags & MSG_CTRUNC)) {
        errno = EBADMSG;
        return -1;
    }
    return k;
}

/* ---- the request body a script left ------------------------------------------ */

/* What the drain reads of the request's environment, as the web server gave
 * it (cgih_drain_keep_env()), or NULL: then getenv() at the drain. */
static const char *const drain_names[] = {"GATEWAY_INTERFACE", "CONTENT_LENGTH", "SERVER_SOFTWARE",
                                          "HTTP_TRANSFER_ENCODING", "CGIHOST_DRAIN_MS"};
enum { DRAIN_GW, DRAIN_CL, DRAIN_SW, DRAIN_TE, DRAIN_MS, DRAIN_N };
static char *drain_env[DRAIN_N];
static int drain_env_kept;

void cgih_drain_keep_env(void)
{
    for (int i = 0; i < DRAIN_N; i++) {
        const char *v = getenv(drain_names[i]);
        free(drain_env[i]);
        drain_env[i] = v ? strdup(v) : NULL; /* (out of memory: as unset) */
    }
    drain_env_kept = 1;
}

static const char *drain_getenv(int i)
{
    return drain_env_kept ? drain_env[i] : getenv(drain_names[i]);
}

/* 1 with *left (bytes at most) and *apache when the request has a body. */
static int body_left(long long *left, int *apache)
{
    const char *gw = drain_getenv(DRAIN_GW), *cl = drain_getenv(DRAIN_CL);
    const char *sw = drain_getenv(DRAIN_SW), *te = drain_getenv(DRAIN_TE);
    if (!gw || !*gw)
        return 0;
    *apache = sw && strncmp(sw, "Apache", 6) == 0;
    if (cl) {
        char *end;
        errno = 0;
        long long n = strtoll(cl, &end, 10);
        if (errno || end == cl || *end || n <= 0)
            return 0;
        *left = n;
        return 1;
    }
    if (*apache && te && *te) { /* chunked: Apache passes it on as it comes, to its end */
        *left = LLONG_MAX;
        return 1;
    }
    return 0;
}

/* body_left(), and fd a socket. */
static int body_on_socket(int fd, long long *left, int *apache)
{
    struct stat st;
    return body_left(left, apache) && fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode);
}

int cgih_drain_wanted(int fd)
{
    long long left;
    int apache;
    return body_on_socket(fd, &left, &apache);
}

void cgih_drain_body(int fd)
{
    long long left;
    int waited; /* under Apache from the start; else once some body was found */
    if (!body_on_socket(fd, &left, &waited))
        return;
    long idle = 60000;
    const char *ms = drain_getenv(DRAIN_MS);
    if (ms && *ms) {
        char *end;
        errno = 0;
        long v = strtol(ms, &end, 10);
        if (!errno && *end == '\0' && v >= 0 && v <= 3600000 && ms[0] >= '0' && ms[0] <= '9')
            idle = v;
        else /* said where the web server logs a script's errors, as for the parser's limits */
            fprintf(stderr,
                    "cgihost: CGIHOST_DRAIN_MS=%.100s ignored: not a whole number from 0 "
                    "to 3600000; the default applies\n",
                    ms);
    }
    char buf[65536];
    while (left > 0) {
        ssize_t n =
            recv(fd, buf, left < (long long)sizeof buf ? (size_t)left : sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            left -= n;
            waited = 1;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) || !waited)
            return;
        struct pollfd p = {fd, POLLIN, 0};
        int r = poll(&p, 1, (int)idle);
        if (r < 0 && errno == EINTR)
            continue; /* a signal handled: the drain goes on */
        if (r <= 0)
            return;
    }
}
