/* proto.h: the wire protocol between the cgihost client and its resident
 * server, and the socket directory rules. Pure C (libc only), shared by the
 * small client binary and the server, unit-tested in tests/c/test_proto.c.
 *
 * A connection, on a Unix stream socket in the socket directory:
 *
 *   client                                  server child
 *   REQ header + body                       ->
 *                                          <- READY       (request decoded)
 *   GO, SCM_RIGHTS [0,1,2,cwd]              ->            (commit point)
 *                                                         runs the script
 *   SIGNAL n (any number, after GO)         ->            (to the server)
 *                                          <- STATUS s    (exit status, or 128+N)
 *                                             [SCM_RIGHTS stdin: the request body
 *                                              left, for the client to drain]
 *
 * Before GO nothing of the request has been touched: a client that sees no
 * READY in time closes the connection and runs the request in-process; the
 * child then reads EOF instead of GO and exits without running anything. This
 * makes the fallback race-free, and since the fds travel with GO a wedged
 * server never holds the client's stdout (a web server would wait for its
 * end). After GO the client waits for STATUS without a
 * time limit (the script's run time is the web server's business) and forwards
 * the signals it receives. REFUSE n instead of READY means "run it yourself".
 *
 * The header's kind may also be STOP or QUERY (no body, no fds): the server
 * answers with INFO messages (value = a counter, see cgih_info) or stops.
 *
 * The body (all integers native-endian u32/u64: both ends run on one host):
 *   u32 flags        bit i (0..2): fd i is attached; bit 3: a cwd fd is attached
 *   u32 umask
 *   u32 argc, then argc strings      string = u32 len, len bytes, one NUL
 *   u32 envc, then envc strings      each "NAME=value"
 *   u32 nrlim, then nrlim x (u32 resource, u64 cur, u64 max)
 *   u64 sigblk                       the signals blocked (bit n-1: signal n)
 * The fds travel with GO in ascending order of their flag bits.
 */
#ifndef CGIH_PROTO_H
#define CGIH_PROTO_H

#include <stddef.h>
#include <stdio.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define CGIH_SOCK_NAME "server.sock" /* in the socket directory (cgih_sockpath()) */
#define CGIH_PROTO_MAGIC 0x31484743u /* "CGH1" */
#define CGIH_PROTO_VERSION 4u

/* Limits on what a client controls. A body is at most CGIH_REQ_MAX bytes
 * (execve's ARG_MAX is 2 MiB for argv and environment together). */
#define CGIH_REQ_MAX (8u << 20)
#define CGIH_MAX_STRINGS 65536u
#define CGIH_MAX_RLIM 16u
#define CGIH_MAX_FDS 4

enum cgih_kind { CGIH_KIND_REQ = 1, CGIH_KIND_STOP = 2, CGIH_KIND_QUERY = 3 };

enum cgih_msg_type {
    CGIH_MSG_READY = 1,
    CGIH_MSG_GO = 2,
    CGIH_MSG_SIGNAL = 3,
    CGIH_MSG_STATUS = 4,
    CGIH_MSG_REFUSE = 5,
    CGIH_MSG_INFO = 6,
};

/* Why a server refuses a request (REFUSE's value). */
enum cgih_refuse {
    CGIH_REFUSE_UID = 1,     /* the peer is another user */
    CGIH_REFUSE_ENV = 2,     /* interpreter-shaping variables differ from the server's */
    CGIH_REFUSE_BAD = 3,     /* malformed request */
    CGIH_REFUSE_BUSY = 4,    /* no child could be started */
    CGIH_REFUSE_VERSION = 5, /* another protocol version */
    CGIH_REFUSE_GROUPS = 6,  /* the peer's group or supplementary groups differ from the server's */
    CGIH_REFUSE_LIMITS = 7,  /* a hard resource limit above the server's, which it cannot give */
    CGIH_REFUSE_CONFINED =
        8,               /* no_new_privs, seccomp or capability bounding set not the server's */
    CGIH_REFUSE_TMP = 9, /* the peer's /tmp is another (systemd's PrivateTmp=) */
};

/* INFO replies to QUERY, in order: pid, uptime seconds, requests served,
 * running requests, idle pool children, cached code objects, requests
 * waiting for a child, requests refused (their clients ran them). */
enum { CGIH_INFO_COUNT = 8 }; /* pid, uptime, served, running, idle, cached, waiting, refused */

#define CGIH_FLAG_CWD (1u << 3)

struct cgih_hdr {
    uint32_t magic;
    uint32_t version;
    uint32_t kind;
    uint32_t body_len;
};

struct cgih_msg {
    uint32_t type;
    int32_t value;
};

struct cgih_rlim {
    uint32_t resource;
    uint64_t cur, max;
};

/* A decoded request. argv and envp point into the body buffer it was decoded
 * from (NULL-terminated arrays allocated by cgih_req_decode). */
struct cgih_req {
    uint32_t flags;
    uint32_t umask;
    uint32_t argc, envc, nrlim;
    char **argv;
    char **envp;
    struct cgih_rlim rlim[CGIH_MAX_RLIM];
    uint64_t sigblk; /* the signals a process started by the client would have blocked */
};

enum cgih_status { CGIH_OK = 0, CGIH_ERROR = -1 };

/* The body for a request; malloc'd, *len set, NULL on ENOMEM/E2BIG. The
 * header is not included. */
char *cgih_req_encode(const struct cgih_req *r, size_t *len);

/* Checks a header: CGIH_OK, or CGIH_ERROR with *reason. */
int cgih_hdr_check(const struct cgih_hdr *h, const char **reason);

/* Decodes body[0..len) into *r (which it zero-fills first). The body must
 * stay alive as long as r. Returns CGIH_OK, or CGIH_ERROR with *reason and
 * *pos the offset of the offending field; r then needs no freeing. */
int cgih_req_decode(char *body, size_t len, struct cgih_req *r, const char **reason, size_t *pos);

void cgih_req_free(struct cgih_req *r);

/* The signals process pid ignores (SigIgn in /proc/PID/status; pid 0:
 * /proc/self), as bits. CGIH_OK, or CGIH_ERROR when it cannot be read.
 * Reading it costs about 18 us here: the server's child does it while it
 * waits for the request, not the client. */
int cgih_proc_sigign(pid_t pid, uint64_t *ign);

/* What confines a process that a fork inherits and an exec keeps, which
 * a script would have had from its client: from a status file's text. */
struct cgih_confinement {
    unsigned long long capbnd; /* CapBnd */
    unsigned long long capamb; /* CapAmb: what a program it execs has (0 before Linux 4.3) */
    int no_new_privs;          /* NoNewPrivs */
    int seccomp;               /* Seccomp: 0, 1 strict, 2 filter */
    int seccomp_filters;       /* Seccomp_filters (0 where the kernel has no such line) */
};
int cgih_status_confinement(FILE *f, struct cgih_confinement *c);
int cgih_proc_confinement(pid_t pid, struct cgih_confinement *c);
/* Both from one reading of a status file (pid 0: our own): *ign_ok and
 * *c_ok say which were there (ign or c NULL: not wanted). The file not
 * there (no such process, no /proc): CGIH_ERROR. */
int cgih_status_read(FILE *f, uint64_t *ign, int *ign_ok, struct cgih_confinement *c, int *c_ok);
int cgih_proc_status(pid_t pid, uint64_t *ign, int *ign_ok, struct cgih_confinement *c, int *c_ok);

/* The same from a status file's text, read line by line (a long Groups:
 * line may put SigIgn past the first 4 KiB). */
int cgih_status_sigign(FILE *f, uint64_t *ign);

/* Fills those of fds 0-2 that are closed with /dev/null (OFLAGS added to
 * O_RDWR), so that no socket or fd opened later takes one and passes for
 * stdin, stdout or stderr. Returns which were closed (bit fd), or -1. */
int cgih_fill_std_fds(int oflags);

/* The value of NAME in envp, or NULL. */
const char *cgih_env_get(char *const *envp, const char *name);

/* Whether NAME=... is read by the dynamic loader or the C library as a
 * process starts (LD_*, MALLOC_*, GLIBC_TUNABLES): set later, it changes
 * nothing in that process. */
int cgih_env_read_at_start(const char *entry);

/* Whether NAME=... shapes the interpreter's start (PYTHON*, locale, HOME,
 * SETUPTOOLS_USE_DISTUTILS, read by a .pth file of setuptools; LD_*,
 * MALLOC_* and GLIBC_TUNABLES, read by the loader and the C library):
 * a server only serves requests that agree with it on all of these. */
int cgih_env_shapes_interp(const char *entry);

/* Whether entry is REDIRECT_NAME=... (any number of REDIRECT_) of such a
 * NAME: behind an Action, what the script gets as NAME (cgienv.c). */
int cgih_env_redirect_shapes_interp(const char *entry);

/* The socket directory: $CGIHOST_SOCKET_DIR, else /tmp/cgihost-UID. Returns
 * CGIH_OK, or CGIH_ERROR when it does not fit. */
int cgih_sockdir(char *out, size_t n, uid_t uid);

/* The socket's path in dir; CGIH_ERROR when longer than sun_path allows. */
int cgih_sockpath(char *out, size_t n, const char *dir);

/* The tmux rule: a directory (not a symlink), owned by uid, not writable by
 * group or others. NULL when st passes, else the reason. */
const char *cgih_sockdir_verdict(const struct stat *st, uid_t uid);

/* lstat()s dir, which must be absolute, and applies the rule; with create,
 * makes it (mode 0700) when missing. CGIH_OK, or CGIH_ERROR with *reason (errno kept when a system
 * call failed). */
int cgih_sockdir_check(const char *dir, uid_t uid, int create, const char **reason);

/* Whether the peer of fd, connected to the socket at path, is the server of
 * uid. A listening socket carries the credentials of who called listen():
 * uid's, or root's where systemd made it (cgihost.socket) and passed it to
 * the server it starts as uid. Root's then only as systemd makes that one:
 * a socket file of uid's, closed to group and others (not another service
 * of root's, such as a journal's, put in its place). */
int cgih_peer_is_server_of(int fd, const char *path, uid_t uid);

/* For CGIHOST_TRACE=1 (per-phase timings on stderr, read by bench.py):
 * CLOCK_MONOTONIC in ns, and this process's private memory
 * (Private_Clean + Private_Dirty of /proc/self/smaps_rollup) in KiB, -1 if
 * unknown. */
/* Sends one struct cgih_msg, retrying on EINTR; 0, or -1 with errno. */
int cgih_send_msg(int fd, uint32_t type, int32_t value);

/* Sends buf[0..len) with fds[0..nfds) attached (SCM_RIGHTS, 1..CGIH_MAX_FDS),
 * retrying on EINTR. Returns the bytes sent, or -1 with errno. */
ssize_t cgih_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds,
                           int flags);

/* One recvmsg() into buf[0..len) (flags: MSG_WAITALL, MSG_DONTWAIT...),
 * retrying on EINTR, the fds that come with it close-on-exec in
 * fds[0..*nfds) (at most CGIH_MAX_FDS; more are closed). Returns the bytes
 * read, or -1 with errno (EBADMSG: the fds were cut short, those received
 * are still in fds). */
ssize_t cgih_recv_with_fds(int sock, void *buf, size_t len, int *fds, int *nfds, int flags);

long long cgih_now_ns(void);
long cgih_private_kb(void);

/* The request body a script left unread, on a socket (mod_cgid gives a CGI
 * one socket as stdin and stdout): closed with body unread in it, or with
 * more arriving as it closes, the kernel resets the web server's end and the
 * response in it is lost (Apache's AH00574). cgih_drain_body(fd) reads and
 * drops it once the script has ended; under Apache, which writes the whole
 * body before it reads the response and then shuts its end down, until that
 * end (at most CONTENT_LENGTH bytes; a chunked body, without one, to the
 * end), however slowly the client sends it, waiting at most
 * CGIHOST_DRAIN_MS (default 60000) for each next byte; under another web
 * server, only once it found body unread (a peer that never shuts its end
 * down would hold every script for that long). Reads the environment of a
 * CGI request: as cgih_drain_keep_env() found it, if called, else as it is
 * at the drain. cgih_drain_wanted(fd): whether there may be any (fd a
 * socket, a request with a body): the served child then hands fd to the
 * client, which drains it, so that the server's child is not held for it. */
int cgih_drain_wanted(int fd);
void cgih_drain_body(int fd);
/* Keeps what the drain reads of the environment as it is now, the web
 * server's: not what the script's run makes of it (a <Directory>'s SetEnv
 * renamed for the script, the script's own changes to os.environ). */
void cgih_drain_keep_env(void);

#endif
