/* client.c: build/cgihost, the program a web server executes. A small static
 * binary without libpython: it hands the request (fds 0-2, argv, environment,
 * cwd, umask, rlimits) to the resident server of its user and exits with the
 * script's status. Everything else, and every failure to reach a server,
 * execs cgihost-py (next to this binary), which runs the script in-process.
 *
 *   exec'ing the full cgihost-py (libpython linked in, four shared libraries)
 *   costs about 0.35 ms more than this binary before main() runs: on a
 *   request that the server completes in about as much as a static C program
 *   costs, that is the difference between 1x and 2x the floor (see README).
 *
 * Environment: CGIHOST_NO_SERVER=1 forces the in-process path;
 * CGIHOST_SOCKET_DIR overrides /tmp/cgihost-UID; CGIHOST_TIMEOUT_MS bounds
 * the handshake (default 2000); CGIHOST_NO_AUTOSTART=1 never starts a server.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proto.h"

extern char **environ;

#define FAT_NAME "cgihost-py"

/* Signals sent to us that should reach the script (a web server's, an
 * admin's, a terminal's): all that python3's process would take itself,
 * whatever their default action here (SIGPIPE, which python3 ignores,
 * would end us and with us the script; SIGWINCH and SIGCONT, which we
 * ignore, would never reach the script's handler), the real-time ones too:
 * python3's (glibc's), 34 to 64, whatever our C library calls them (musl
 * keeps 32-34 for itself, and uses 34 only for a set*id() call across
 * threads, which we never make). Not those the kernel raises for our own
 * faults and limits, SIGCHLD (our own children), nor job control (TSTP,
 * TTIN, TTOU: they stop us, not the script; see the man page). */
static const int fwd_fixed[] = {SIGHUP,  SIGINT,  SIGQUIT,  SIGTERM,  SIGUSR1, SIGUSR2,
                                SIGALRM, SIGPIPE, SIGWINCH, SIGURG,   SIGCONT, SIGVTALRM,
                                SIGPROF, SIGIO,   SIGPWR,   SIGSTKFLT};
#define PY_SIGRTMIN 34 /* glibc's SIGRTMIN, python3's */
#define SIGBIT(sig) ((uint64_t)1 << ((sig)-1))

/* They are blocked and read from a signalfd, with no handler: two system
 * calls, where a handler for each would take a hundred (sigaction() to
 * read and to set each disposition) on every request's path. The masks
 * are the kernel's (bit n-1 for signal n), set and read with the system
 * call itself: musl's sigprocmask() leaves 32-34 out of the mask it
 * reports, and so unblocks them when given it back (a client started with
 * 34 blocked gave its script, served or in-process after a fallback, 34
 * unblocked, and a 34 pending meanwhile ended it). */
static uint64_t old_mask;
static int sig_fd = -1;  /* the signalfd, once take_signals() has succeeded */
static uint64_t pending; /* read from sig_fd, not yet forwarded: bit n-1 for signal n */

static int kernel_sigmask(int how, const uint64_t *set, uint64_t *old)
{
    return syscall(SYS_rt_sigprocmask, how, set, old, sizeof(uint64_t)) == 0 ? 0 : -1;
}

/* CGIHOST_TRACE=1: the phases' times, printed to stderr at the end. */
static int tracing; /* 1: times and private memory; 2: times only */
static long long t_main, t_conn, t_sent, t_ready, t_go;

/* Blocks the forwarded signals, readable from sig_fd from now on. */
static void take_signals(void)
{
    uint64_t fwd_set = 0;
    for (size_t i = 0; i < sizeof fwd_fixed / sizeof fwd_fixed[0]; i++)
        fwd_set |= SIGBIT(fwd_fixed[i]);
    for (int sig = PY_SIGRTMIN; sig <= 64; sig++)
        fwd_set |= SIGBIT(sig);
    if (kernel_sigmask(SIG_BLOCK, &fwd_set, &old_mask) != 0)
        return;
    sig_fd = (int)syscall(SYS_signalfd4, -1, &fwd_set, sizeof fwd_set, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sig_fd < 0)
        kernel_sigmask(SIG_SETMASK, &old_mask, NULL);
}

/* Moves what sig_fd holds to pending. A signal we raised ourselves (a
 * SIGPIPE of our own write to a closed pipe) is nobody else's. */
static void collect_signals(void)
{
    struct signalfd_siginfo si[8];
    ssize_t n;
    while (sig_fd >= 0 && (n = read(sig_fd, si, sizeof si)) > 0)
        for (size_t i = 0; i < (size_t)n / sizeof si[0]; i++)
            if (si[i].ssi_signo >= 1 && si[i].ssi_signo <= 64 &&
                !(si[i].ssi_code == SI_USER && si[i].ssi_pid == (uint32_t)getpid() &&
                  si[i].ssi_signo == SIGPIPE))
                pending |= SIGBIT(si[i].ssi_signo);
}

/* At the commit: of the signals that came before it, those we were
 * started ignoring are dropped, as python3's process, which had not
 * started yet, would have ignored them. From now on every one is
 * forwarded: the server read which ones we ignore (/proc's SigIgn, before
 * READY), so the script starts with them ignored, as under python3; a
 * script that then handles one (SIGHUP under nohup, SIGINT in a shell's
 * background job) gets it when it is sent to us, as python3's process
 * would. One it keeps ignoring ignores what we forward. (One the C library
 * will not tell about, 34 under musl: /proc's SigIgn says.) */
static void commit_signals(void)
{
    collect_signals();
    uint64_t ign = 0;
    int ign_read = 0;
    for (int sig = 1; sig <= 64 && pending; sig++) {
        if (!(pending & SIGBIT(sig)))
            continue;
        struct sigaction sa;
        if (sigaction(sig, NULL, &sa) == 0) {
            if (sa.sa_handler == SIG_IGN)
                pending &= ~SIGBIT(sig);
            continue;
        }
        if (!ign_read) {
            int ok = 0;
            ign_read = 1;
            if (cgih_proc_status(0, &ign, &ok, NULL, NULL) != CGIH_OK || !ok)
                ign = 0;
        }
        if (ign & SIGBIT(sig))
            pending &= ~SIGBIT(sig);
    }
}

/* Puts the mask back; a signal that arrived meanwhile then takes its
 * original effect (the dispositions are untouched), as if it had come
 * before we started. */
static void give_back_signals(void)
{
    if (sig_fd < 0)
        return;
    collect_signals();
    close(sig_fd);
    sig_fd = -1;
    for (int sig = 1; sig <= 64; sig++)
        if (pending & SIGBIT(sig))
            raise(sig); /* blocked still: taken when the mask goes back */
    pending = 0;
    kernel_sigmask(SIG_SETMASK, &old_mask, NULL);
}

/* Runs the request in-process: execs cgihost-py with our argv. */
static _Noreturn void exec_fat(char **argv)
{
    give_back_signals();
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - sizeof FAT_NAME - 1);
    if (n < 0 || (size_t)n >= sizeof self - sizeof FAT_NAME - 1) {
        fprintf(stderr, "cgihost: cannot find my own path: %s\n", strerror(errno));
        _exit(127);
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (!slash) {
        fprintf(stderr, "cgihost: cannot find my own directory\n");
        _exit(127);
    }
    strcpy(slash + 1, FAT_NAME);
    execv(self, argv);
    fprintf(stderr, "cgihost: cannot run %s: %s\n", self, strerror(errno));
    _exit(127);
}

static int flag_set(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* An fd that came with a message (the request body left, with STATUS), or -1. */
static int msg_fd = -1;

/* recv() that also takes an fd sent with the bytes (into msg_fd, any more
 * closed). */
static ssize_t recv_fd(int fd, void *buf, size_t len)
{
    int fds[CGIH_MAX_FDS], n = 0;
    ssize_t k = cgih_recv_with_fds(fd, buf, len, fds, &n, MSG_DONTWAIT);
    for (int i = 0; i < n; i++) {
        if (msg_fd < 0 && k >= 0)
            msg_fd = fds[i];
        else
            close(fds[i]);
    }
    return k;
}

/* Reads one message before the deadline (-1: none). 1 with *m, 0 on EOF,
 * -1 on error or timeout. Signals that come meanwhile are left pending;
 * without a deadline, -2 when there are some, for the caller to forward. */
static int read_msg(int fd, struct cgih_msg *m, long deadline)
{
    size_t got = 0;
    char *p = (char *)m;
    while (got < sizeof *m) {
        struct pollfd pfd[2] = {{fd, POLLIN, 0}, {sig_fd, POLLIN, 0}};
        struct timespec ts, *tsp = NULL;
        if (deadline >= 0) {
            long left = deadline - now_ms();
            if (left <= 0)
                return -1;
            ts.tv_sec = left / 1000;
            ts.tv_nsec = (left % 1000) * 1000000;
            tsp = &ts;
        }
        int r = ppoll(pfd, sig_fd >= 0 ? 2 : 1, tsp, NULL);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r > 0 && pfd[1].revents) {
            collect_signals();
            if (deadline < 0 && pending)
                return -2; /* let the caller forward them */
        }
        if (!pfd[0].revents)
            continue;
        ssize_t k = recv_fd(fd, p + got, sizeof *m - got);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            return 0;
        got += (size_t)k;
    }
    return 1;
}

/* Starts a server for this user, detached, unless one was tried in the last
 * two seconds. Only interpreter-shaping variables and CGIHOST_* settings are
 * passed to it: it must start as a request's interpreter would. */
static void autostart(const char *dir, char **argv)
{
    if (flag_set("CGIHOST_NO_AUTOSTART"))
        return;
    const char *why;
    if (cgih_sockdir_check(dir, geteuid(), 1, &why) != CGIH_OK) {
        /* it cannot be made (its parent missing: /run/cgihost without the
         * tmpfiles line): said on every request, as a directory refused */
        fprintf(stderr,
                "cgihost: socket directory %.200s: %s; no resident server, running "
                "in-process\n",
                dir, why);
        return;
    }
    char stamp[PATH_MAX];
    if (snprintf(stamp, sizeof stamp, "%s/autostart", dir) >= (int)sizeof stamp)
        return;
    struct stat st;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (lstat(stamp, &st) == 0 && now.tv_sec - st.st_mtim.tv_sec < 2 && now.tv_sec >= st.st_mtim.tv_sec)
        return;
    int sfd = open(stamp, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (sfd < 0) {
        /* (a full file system, a symlink put there): said, as a directory
         * refused is, on every request that would start one */
        fprintf(stderr, "cgihost: %.200s: %s; no resident server, running in-process\n", stamp,
                strerror(errno));
        return;
    }
    /* One client starts it; the others carry on in-process. */
    if (flock(sfd, LOCK_EX | LOCK_NB) != 0 || futimens(sfd, NULL) != 0) {
        close(sfd);
        return;
    }

    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - sizeof FAT_NAME - 1);
    char *slash = n > 0 ? (self[n] = '\0', strrchr(self, '/')) : NULL;
    if (!slash) {
        close(sfd);
        return;
    }
    strcpy(slash + 1, FAT_NAME);

    size_t envc = 0;
    for (char **e = environ; *e; e++)
        envc++;
    char **env = calloc(envc + 1, sizeof *env);
    if (!env) {
        close(sfd);
        return;
    }
    size_t k = 0;
    for (char **e = environ; *e; e++)
        if (cgih_env_shapes_interp(*e) ||
            (strncmp(*e, "CGIHOST_", 8) == 0 && strncmp(*e, "CGIHOST_NO_SERVER=", 18) != 0))
            env[k++] = *e;
    char *args[] = {argv[0], "serve", "--auto", NULL};

    pid_t pid = fork();
    if (pid == 0) {
        /* Detached: a session of its own, reparented when we exit. */
        if (setsid() < 0)
            _exit(1);
        pid_t g = fork();
        if (g != 0)
            _exit(g < 0);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        /* The server starts from the default dispositions, not from
         * whatever this client was given (each request's child takes its
         * own client's). */
        for (int sig = 1; sig < NSIG; sig++)
            if (sig != SIGKILL && sig != SIGSTOP && signal(sig, SIG_DFL) == SIG_ERR &&
                errno != EINVAL)
                _exit(1); /* (EINVAL: one the libc keeps for itself) */
        int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
        char log[PATH_MAX];
        int lfd = snprintf(log, sizeof log, "%s/server.log", dir) < (int)sizeof log
                      ? open(log, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600)
                      : -1;
        if (nul < 0 || dup2(nul, 0) < 0 || dup2(nul, 1) < 0 || dup2(lfd >= 0 ? lfd : nul, 2) < 0)
            _exit(1);
        /* dup2() onto itself (with 0-2 closed, an open gets 0, 1 or 2)
         * keeps close-on-exec: clear it on 0-2 all the same. */
        for (int fd = 0; fd < 3; fd++)
            if (fcntl(fd, F_SETFD, 0) != 0)
                _exit(1);
        if (chdir("/") != 0)
            _exit(1);
        execve(self, args, env);
        _exit(127);
    }
    if (pid > 0)
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    free(env);
    close(sfd); /* the stamp keeps its mtime; the lock goes */
}

/* Sends GO with our fds: until now the server had nothing of ours that it
 * could hold on to (a wedged server holding our stdout would keep the web
 * server waiting for its end). 0, or -1. */
static int send_go(int fd, const int *fds, int nfds)
{
    struct cgih_msg m = {CGIH_MSG_GO, 0};
    return cgih_send_with_fds(fd, &m, sizeof m, fds, nfds, MSG_NOSIGNAL) == (ssize_t)sizeof m ? 0
                                                                                            : -1;
}

/* Which of fds 0-2 the web server (or shell) left closed, the child to make
 * those sys.std* None as python3 would. Their slots hold /dev/null meanwhile
 * (close-on-exec: closed again for the in-process run), lest our socket or
 * cwd fd take one and be passed on as the script's stdin or stdout. */
static int std_closed;

/* Builds and sends the request before the deadline; fills fds with those GO
 * will carry. 0, or -1. */
static int send_request(int fd, int argc, char **argv, int cwdfd, int *fds, int *nfdsp,
                        long deadline)
{
    struct cgih_req r;
    memset(&r, 0, sizeof r);
    int nfds = 0;
    for (int i = 0; i < 3; i++)
        if (!(std_closed & (1 << i))) {
            r.flags |= 1u << i;
            fds[nfds++] = i;
        }
    r.flags |= CGIH_FLAG_CWD;
    fds[nfds++] = cwdfd;
    *nfdsp = nfds;
    mode_t um = umask(0);
    umask(um);
    r.umask = (uint32_t)um;
    r.argc = (uint32_t)argc;
    r.argv = argv;
    for (char **e = environ; *e; e++)
        r.envc++;
    r.envp = environ;
    r.sigblk = old_mask; /* as before take_signals() */
    for (int res = 0; res < RLIM_NLIMITS && r.nrlim < CGIH_MAX_RLIM; res++) {
        struct rlimit rl;
        if (getrlimit(res, &rl) != 0)
            continue;
        r.rlim[r.nrlim].resource = (uint32_t)res;
        r.rlim[r.nrlim].cur = rl.rlim_cur;
        r.rlim[r.nrlim].max = rl.rlim_max;
        r.nrlim++;
    }
    size_t blen;
    char *body = cgih_req_encode(&r, &blen);
    if (!body)
        return -1;
    struct cgih_hdr h = {CGIH_PROTO_MAGIC, CGIH_PROTO_VERSION, CGIH_KIND_REQ, (uint32_t)blen};
    struct iovec iov[2] = {{&h, sizeof h}, {body, blen}};
    struct msghdr mh = {0};
    mh.msg_iov = iov;
    mh.msg_iovlen = 2;

    /* A large environment may need the server to read before it all fits.
     * Sent without blocking, each wait for room bounded by what is left of
     * the handshake's time: a blocking sendmsg() under SO_SNDTIMEO gives
     * each part it waits for room for the whole time-out again, so a server
     * that reads a little now and then would hold us for as long as it
     * takes to read it all. */
    size_t total = sizeof h + blen, sent = 0;
    int rc = 0;
    while (sent < total) {
        ssize_t k = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            long left = deadline - now_ms();
            struct pollfd p = {fd, POLLOUT, 0};
            int ready = left > 0 ? poll(&p, 1, (int)left) : 0;
            if (ready > 0 || (ready < 0 && errno == EINTR))
                continue;
            rc = -1;
            break;
        }
        if (k <= 0) {
            rc = -1;
            break;
        }
        sent += (size_t)k;
        size_t skip = (size_t)k;
        while (mh.msg_iovlen && skip >= mh.msg_iov[0].iov_len) {
            skip -= mh.msg_iov[0].iov_len;
            mh.msg_iov++;
            mh.msg_iovlen--;
        }
        if (mh.msg_iovlen) {
            mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + skip;
            mh.msg_iov[0].iov_len -= skip;
        }
    }
    free(body);
    return rc;
}

/* The fast path. Returns the exit status, or -1 to run in-process (nothing
 * of the request has been touched then). */
static int via_server(int argc, char **argv)
{
    uid_t uid = geteuid();
    char dir[PATH_MAX], path[sizeof(struct sockaddr_un)];
    const char *why;
    if (cgih_sockdir(dir, sizeof dir, uid) != CGIH_OK ||
        cgih_sockpath(path, sizeof path, dir) != CGIH_OK) {
        /* said on every request, as a directory refused */
        fprintf(stderr,
                "cgihost: socket directory %.200s: path too long for a socket; no resident "
                "server, running in-process\n",
                dir);
        return -1;
    }
    if (dir[0] != '/') { /* one per script directory, and a server started in / looks in another */
        fprintf(stderr,
                "cgihost: CGIHOST_SOCKET_DIR=%.200s is not an absolute path; no resident server, "
                "running in-process\n",
                dir);
        return -1;
    }
    if (cgih_sockdir_check(dir, uid, 0, &why) != CGIH_OK) {
        if (errno == ENOENT)
            autostart(dir, argv);
        else /* someone else's, or open to others: said on every request */
            fprintf(stderr, "cgihost: socket directory %.200s: %s; no resident server, running "
                            "in-process\n", dir, why);
        return -1;
    }

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int rc0 = connect(fd, (struct sockaddr *)&sa, sizeof sa);
    if (tracing)
        t_conn = cgih_now_ns();
    if (rc0 != 0) {
        int e = errno;
        close(fd);
        if (e == ENOENT || e == ECONNREFUSED)
            autostart(dir, argv);
        return -1; /* EAGAIN: the backlog is full, a busy or wedged server */
    }
    /* The server must be ours too. */
    if (!cgih_peer_is_server_of(fd, path, uid))
        goto fallback;

    long timeout = 2000;
    const char *t = getenv("CGIHOST_TIMEOUT_MS");
    if (t && *t) {
        char *end;
        errno = 0;
        long v = strtol(t, &end, 10);
        if (errno == 0 && end != t && *end == '\0' && v > 0 && v <= 3600000)
            timeout = v;
        else
            fprintf(stderr,
                    "cgihost: CGIHOST_TIMEOUT_MS=%.100s ignored: not a whole number from 1 to "
                    "3600000; 2000 it is\n",
                    t);
    }
    struct timeval tv = {timeout / 1000, (timeout % 1000) * 1000};
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
        goto fallback;
    long deadline = now_ms() + timeout;

    int cwdfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (cwdfd < 0)
        goto fallback;
    take_signals();
    int fds[CGIH_MAX_FDS], nfds = 0;
    struct cgih_msg m;
    int rc = send_request(fd, argc, argv, cwdfd, fds, &nfds, deadline);
    if (tracing)
        t_sent = cgih_now_ns();
    if (rc == 0 && (read_msg(fd, &m, deadline) != 1 || m.type != CGIH_MSG_READY))
        rc = -1; /* REFUSE, EOF, timeout: the child will not run it */
    if (tracing)
        t_ready = cgih_now_ns();
    /* The commit point. If GO cannot be sent the child reads EOF instead. */
    if (rc == 0)
        rc = send_go(fd, fds, nfds);
    if (tracing)
        t_go = cgih_now_ns();
    close(cwdfd);
    if (rc < 0)
        goto fallback;
    commit_signals();
    /* Committed: the child has the request's fds. Let go of our stdin and
     * stdout, so that the web server sees the response end when the script
     * closes its stdout or the child ends, not when we have the status (as
     * with python3, where the script's process holds the only copies).
     * stderr stays for our own messages. */
    int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (nul >= 0) {
        for (int i = 0; i < 2; i++)
            if (fcntl(i, F_GETFD) >= 0 && dup2(nul, i) < 0)
                break; /* then we keep it: the response ends when we exit */
        close(nul);
    }

    for (;;) {
        for (int sig = 1; sig <= 64 && pending; sig++)
            if (pending & SIGBIT(sig)) {
                pending &= ~SIGBIT(sig);
                if (cgih_send_msg(fd, CGIH_MSG_SIGNAL, sig) < 0) {
                    pending = 0; /* the server is gone; the child still reports */
                    break;
                }
            }
        int r = read_msg(fd, &m, -1);
        if (r == -2)
            continue;
        if (r == 1 && m.type == CGIH_MSG_STATUS) {
            if (tracing) {
                long long t_status = cgih_now_ns(); /* before reading smaps */
                fprintf(stderr, "cgihost-trace client main %lld connected %lld sent %lld ready %lld go %lld "
                        "status %lld private_kb %ld\n", t_main, t_conn, t_sent, t_ready, t_go,
                        t_status, tracing == 1 ? cgih_private_kb() : -1L);
            }
            if (msg_fd >= 0) { /* the request body the script left: ours to drain */
                /* The script has ended: a signal caught since is for
                 * nobody; one still blocked, or one that comes during the
                 * drain, takes its own effect (ends us, by default), as on
                 * a script's process draining in-process. */
                collect_signals();
                pending = 0;
                give_back_signals();
                cgih_drain_body(msg_fd);
                close(msg_fd);
            }
            return m.value & 0xff;
        }
        if (r == 1)
            continue;
        /* Server and child are both gone without a word. */
        fprintf(stderr, "cgihost: lost the server during the request\n");
        return 1;
    }
fallback:
    close(fd);
    return -1;
}

int main(int argc, char **argv)
{
    if ((tracing = flag_set("CGIHOST_TRACE") ? 1 + (strcmp(getenv("CGIHOST_TRACE"), "2") == 0) : 0))
        t_main = cgih_now_ns();
    const char *gw = getenv("GATEWAY_INTERFACE");
    if (!(gw && *gw)) {
        /* Options and commands are cgihost-py's business. As a CGI program
         * (a handler may have no argument at all) nothing is an option. */
        if (argc < 2 || (strcmp(argv[1], "--") == 0 && argc < 3))
            exec_fat(argv);
        if (strcmp(argv[1], "--") != 0 &&
            (argv[1][0] == '-' || strcmp(argv[1], "serve") == 0 || strcmp(argv[1], "stop") == 0 ||
             strcmp(argv[1], "status") == 0))
            exec_fat(argv);
    }
    /* Root never uses a resident server (it would have to be root's), nor
     * does a set-id program. */
    if (flag_set("CGIHOST_NO_SERVER") || geteuid() == 0 || geteuid() != getuid() || getegid() != getgid())
        exec_fat(argv);
    /* Behind an Action, a site's SetEnv PYTHONPATH (or LANG...) comes as
     * REDIRECT_PYTHONPATH, which the script gets as PYTHONPATH: it shapes
     * the interpreter, which a server has made already. In-process, it is
     * there before the interpreter starts, as for a script run directly. */
    if (gw && *gw && getenv("REDIRECT_HANDLER"))
        for (char **e = environ; *e; e++)
            if (cgih_env_redirect_shapes_interp(*e))
                exec_fat(argv);
    int status = (std_closed = cgih_fill_std_fds(O_CLOEXEC)) < 0 ? -1 : via_server(argc, argv);
    if (status < 0)
        exec_fat(argv);
    _exit(status);
}
