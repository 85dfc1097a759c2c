/* server.c: `cgihost serve`, the resident server, and `cgihost stop|status`.
 *
 * The server initializes Python once (cgi, cgitb and CGIHOST_PRELOAD
 * imported, gc.freeze()d), listens on SOCKDIR/server.sock and forks a child
 * per request (PyOS_BeforeFork / PyOS_AfterFork_Child). Idle pool children,
 * warmed up, accept connections themselves (SO_PEERCRED checked) and tell
 * the server (TAKEN, with the fd). The parent is a C event loop (epoll) that
 * never runs Python on a request's path:
 *
 *   listener  only while no pool child is idle: accept, check SO_PEERCRED,
 *             fork a child for that connection and hand it over (DISPATCH);
 *             with --max-children running, park it in the queue
 *   queued    a parked connection's header (STOP, QUERY: answered) or
 *             hang-up; handed to a child when one ends, oldest first,
 *             refused BUSY after --queue-ms
 *   control   TAKEN (watch that client from now on), STARTED (the client said
 *             GO: read its SIGNAL messages from now on), SCRIPT path (compile
 *             it into the code cache when idle), QUERY and STOP
 *   conn      SIGNAL n -> kill(child, n); hang-up -> kill(child, SIGKILL)
 *   signalfd  SIGCHLD: reap, send STATUS (the child sends its own first on a
 *             normal exit; this one covers signals and exec); TERM/INT/HUP:
 *             stop
 *   idle      (nothing ready) refill the pool, compile one cached script,
 *             exit after --idle-exit seconds, re-exec when the binary changed
 *
 * A child reads the request from the connection itself (proto.h), answers
 * READY, waits for GO, then takes the request's fds, environment, cwd, umask
 * and rlimits and runs the script through main.c's path, exactly as a cold
 * start does. It sends STATUS, having closed its copies of the fds, and
 * _exit()s. Children survive the server: a request in flight completes and
 * reports its status even when the server is killed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <langinfo.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <sched.h>
#include <spawn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
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
#include "pyrun.h"
#include "server.h"
#include "shebang.h"
#include "../shim/shim.h"

extern char **environ;

/* Control messages on a child's SOCK_SEQPACKET socketpair. */
enum { CTL_DISPATCH = 1, CTL_STARTED = 2, CTL_SCRIPT = 3, CTL_STOP = 4, CTL_TAKEN = 6, CTL_QUERY = 7,
       CTL_REFUSED = 8 };
struct ctl_msg {
    uint32_t type;
    uint32_t peer_uid;
    int32_t peer_pid;
    int32_t info[CGIH_INFO_COUNT];
};

/* The namespaces same_ns() compares (ns_names): net, pid, ipc, uts, user,
 * NS_MNT, mnt (same_mounts()), and time. */
#define N_NS 7
#define NS_MNT 5

enum wkind { W_LISTEN, W_SIGNAL, W_CTL, W_CONN, W_QUEUED };
struct child;
struct queued;
struct watch {
    enum wkind kind;
    struct child *c;
    struct queued *q;
};

/* A connection waiting for one of --max-children to finish (--queue). */
struct queued {
    int fd; /* -1 once answered or gone; freed when it reaches the head */
    uid_t uid;
    pid_t pid;
    long long since_ns;
    struct watch w;
    struct queued *next;
};

struct child {
    pid_t pid;
    int ctl;  /* our end of the control socket, -1 once closed */
    int conn; /* the client's connection, -1 when idle or gone */
    int started, dead;
    unsigned gen; /* the code cache generation it was forked with */
    int learner;  /* it records the pages its request writes (see learn_pages()) */
    int took;     /* a pool child that accepted its connection itself (TAKEN) */
    int leaving;  /* told to leave (retire_idle()): it may have taken one still */
    struct watch wctl, wconn;
    struct child *next;
};

static struct server {
    /* options */
    int pool, max_children, autostarted, ncpu;
    int queue;     /* connections that may wait for a child (--queue) */
    long queue_ms; /* for at most this long (--queue-ms) */
    long idle_exit;
    long stop_wait; /* seconds a stop waits for its requests before leaving the socket to a
                       successor */
    const char *preload;
    const char *relative_user_base; /* "PYTHONUSERBASE, relative" or "HOME, relative", or NULL */
    char dir[PATH_MAX], sock[sizeof(((struct sockaddr_un *)0)->sun_path)];
    /* state */
    int lfd, sfd, epfd, lockfd, activated, listening;
    struct watch wlisten, wsignal;
    struct child *idle, *busy, *grave;
    struct child *leaving; /* pool children told to leave, until they are reaped (retire_idle()) */
    int nidle, nbusy;
    struct queued *qhead, **qtail; /* oldest first */
    int nqueued;                   /* those with an fd */
    long queue_refused;            /* those that waited --queue-ms, since the last log line */
    long refused;                  /* requests refused since the start: their clients ran them */
    time_t t_queue_log;
    time_t t_refused_log[10]; /* when a refusal of each kind (enum cgih_refuse) was last logged */
    int fd_starved;                /* accept() ran out of fds: not listening until a child ends */
    int has_tty;                   /* we have a controlling terminal (child_serve()) */
    gid_t *groups; /* our supplementary groups, read once (same_groups()) */
    int ngroups;
    unsigned gen;
    long served;
    time_t t_start, t_active, t_selfcheck, t_spawn_failed;
    int stopping, restarting;
    int site_changed; /* the restart is for a site directory, not a new binary */
    char module_changed[PATH_MAX]; /* the restart is for this file of a module we imported */
    int draining; /* past --stop-wait with requests running: socket and lock let go, still
                     watching them */
    time_t t_stop;
    PyObject *cache;   /* (filename, dev, ino, mtime_ns, ctime_ns, size) -> code */
    PyObject *pending; /* filenames to compile when idle */
    PyObject *uncached; /* keys that did not compile cleanly: not tried again */
    /* the environment */
    char **shape;   /* interpreter-shaping entries at start, sorted */
    size_t nshape;
    char **added;   /* entries Python's start added (PEP 538's LC_CTYPE) */
    size_t nadded;
    char **env0;    /* the environment we started with, for re-exec */
    char **argv;
    char self[PATH_MAX];
    struct stat self_st;
    struct stat self_seen; /* a new binary seen at the last look (at t_seen), if self_seen_ok */
    int self_seen_ok;
    long t_seen, t_nextlook, backoff;
    struct stat self_failed; /* the file that did not run, if self_failed_ok */
    int self_failed_ok;
    long t_gone; /* when the binary was first missed, if gone_seen (binary_gone()) */
    int gone_seen;
    /* stdio as Python made it */
    PyObject *stdio_encoding, *stdio_errors;
    int buffered_stdio;
    int stdio_on_pipes; /* sys.std* were made on pipes (in the server, before any fork) */
    PyObject *std_pipe[3]; /* those, kept: a child that swaps them never frees them */
    PyObject *std_file[3]; /* the same made on /dev/null, for regular files and /dev/null */
    int stdio_on_files;
    uint64_t sigign; /* the signals ignored here, which children inherit (bit n-1: signal n) */
    int sigign_known;
    struct cgih_confinement confined; /* ours, which children inherit, if confined_known */
    int confined_known;
    const char *tz; /* the server's TZ, NULL if unset */
    struct stat tmp_st; /* our /tmp, if tmp_ok (same_tmp()) */
    char ns_link[N_NS][64]; /* our ns/NAME's link, "net:[4026531840]", for each of ns_names */
    int ns_ok[N_NS];        /* ns_link[i] is known (same_ns()) */
    int proc_ok; /* we can look into ourselves through /proc/self (same_tmp()) */
    int tmp_ok;
    struct stat tz_st; /* the time zone file it names (tz_file_stat()), if tz_st_ok */
    int tz_st_ok;
    dev_t null_rdev;
    struct stat sock_st; /* the socket file we listen on, if sock_st_ok (own_socket()) */
    int sock_st_ok;
} S = {.lfd = -1, .sfd = -1, .epfd = -1, .lockfd = -1};

/* ---- learned pre-faulting ------------------------------------------------------------
 *
 * Most of what a request child costs beyond running the script is taking
 * copy-on-write faults on the pages of the shared heap it writes to. Now and
 * then a request child records, once its fds 0-2 are closed and before it
 * reports its status, which pages of its writable private mappings are its
 * own (pagemap's "exclusively mapped") in a MAP_SHARED area; pool children,
 * while they wait, copy those pages (MADV_POPULATE_WRITE) so that the next
 * request finds them copied already.
 *
 * Only a learner records: the first LEARN_FIRST children forked, then one
 * in LEARN_EVERY (and one more for each learner retired unused), which copy
 * nothing ahead. The pages a learner owns are then those it wrote since the
 * fork (and any the server wrote since, once no other child shared them). A
 * child that had copied the pages learned before would own those too,
 * whether its request wrote them or not, and the set could only grow: one
 * request of a large script, once learned, made every later request copy
 * its pages (hello.py's 206 pages became 533 for good). Children forked for
 * a connection copy nothing ahead either, but learn only when their number
 * comes up: they are forked under load, where recording would hold up
 * every request's status. */
#define LEARN_PAGES 4096
#define LEARN_FIRST 4
#define LEARN_EVERY 64
struct learned {
    int lock;   /* 0 free, else the pid holding it: whoever fails to take it skips */
    unsigned n; /* read once, and checked: a script can write here too */
    uintptr_t page[LEARN_PAGES];
};
static struct learned *L;
static unsigned long children_forked; /* in the server: which child is a learner */
static unsigned learners_owed;        /* in the server: learners retired before they served */
static int learner;                   /* in a child: it copies nothing ahead, and records */

/* A holder that died holding the lock (a request child killed because its
 * client went away) leaves it to the next taker; the pages it left half
 * recorded are only ever written back where they are mapped and writable. */
static int learned_lock(void)
{
    if (!L)
        return 0;
    int expect = 0, me = (int)getpid();
    if (__atomic_compare_exchange_n(&L->lock, &expect, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return 1;
    if (expect > 0 && kill((pid_t)expect, 0) != 0 && errno == ESRCH)
        return __atomic_compare_exchange_n(&L->lock, &expect, me, 0, __ATOMIC_ACQUIRE,
                                           __ATOMIC_RELAXED);
    return 0;
}

static void learned_unlock(void)
{
    __atomic_store_n(&L->lock, 0, __ATOMIC_RELEASE);
}

/* What each_mapping() visits: the writable private mappings but the stack,
 * or the read-only private file mappings (code and constants). */
enum { WRITABLE, READ_ONLY };

/* Calls fn(start, end, arg) for each mapping of that kind. */
static void each_mapping(int kind, void (*fn)(uintptr_t, uintptr_t, void *), void *arg)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b, ino;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s %*s %*s %lu", &a, &b, perms, &ino) != 4 || perms[0] != 'r' ||
            perms[3] != 'p' || (perms[1] == 'w') != (kind == WRITABLE) || strstr(line, "[stack]") ||
            strstr(line, "[v") || (kind == READ_ONLY && ino == 0))
            continue;
        fn((uintptr_t)a, (uintptr_t)b, arg);
    }
    fclose(f);
}

static void record_range(uintptr_t a, uintptr_t b, void *arg)
{
    int pm = *(int *)arg;
    if (b - a > ((uintptr_t)1 << 30))
        return; /* reservations (a sanitizer's shadow), not heap */
    long ps = sysconf(_SC_PAGESIZE);
    uint64_t ent[512];
    for (uintptr_t p = a; p < b && L->n < LEARN_PAGES;) {
        size_t k = (size_t)((b - p) / (uintptr_t)ps);
        if (k > 512)
            k = 512;
        ssize_t got = pread(pm, ent, k * sizeof ent[0], (off_t)(p / (uintptr_t)ps * sizeof ent[0]));
        if (got <= 0)
            return;
        k = (size_t)got / sizeof ent[0];
        for (size_t i = 0; i < k && L->n < LEARN_PAGES; i++)
            if ((ent[i] >> 63) & 1 && (ent[i] >> 56) & 1) /* present, exclusively mapped */
                L->page[L->n++] = p + i * (uintptr_t)ps;
        p += k * (uintptr_t)ps;
    }
}

/* In a learner request child, its fds 0-2 closed, before it reports. */
static void learn_pages(void)
{
    if (!L || !learner)
        return;
    /* A pool child copying pages ahead holds the lock for a millisecond or
     * so, often just now, as the pool is refilled after each request:
     * skipping then lost this learner's turn, and the pages stayed those of
     * an older script for another LEARN_EVERY children. Wait for it, 20 ms
     * at most (a learner is one request in LEARN_EVERY). */
    int locked = learned_lock();
    for (int i = 0; !locked && i < 400; i++) {
        struct timespec pause = {0, 50 * 1000};
        if (nanosleep(&pause, NULL) != 0) {
            /* a signal cut it short: look again */
        }
        locked = learned_lock();
    }
    if (!locked)
        return;
    int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pm >= 0) {
        L->n = 0;
        each_mapping(WRITABLE, record_range, &pm);
        close(pm);
    }
    learned_unlock();
}

struct ranges {
    uintptr_t a[256], b[256];
    int n;
};

static void keep_range(uintptr_t a, uintptr_t b, void *arg)
{
    struct ranges *r = arg;
    if (r->n < 256) {
        r->a[r->n] = a;
        r->b[r->n] = b;
        r->n++;
    }
}

/* In a pool child: take the faults of the recorded pages that are mapped
 * here too. Runs of adjacent pages go to MADV_POPULATE_WRITE (Linux 5.14),
 * one call instead of a fault per page; without it, each page's first byte
 * is written back unchanged. */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
static void prefault(void)
{
    static struct ranges r;
    static int no_populate;
    if (!L || L->n == 0 || !learned_lock())
        return;
    /* Every request child can write the area (a script too): its count is
     * read once and must fit the array, and pages outside our writable
     * mappings are skipped below. */
    unsigned n = __atomic_load_n(&L->n, __ATOMIC_RELAXED);
    if (n > LEARN_PAGES) {
        learned_unlock();
        return;
    }
    r.n = 0;
    each_mapping(WRITABLE, keep_range, &r);
    uintptr_t ps = (uintptr_t)sysconf(_SC_PAGESIZE);
    for (unsigned i = 0; i < n;) {
        uintptr_t p = L->page[i];
        int j = 0;
        while (j < r.n && !(p >= r.a[j] && p < r.b[j]))
            j++;
        if (j == r.n || p % ps != 0) {
            i++;
            continue;
        }
        unsigned k = i + 1; /* the run of pages after p in the same mapping */
        while (k < n && L->page[k] == L->page[k - 1] + ps && L->page[k] < r.b[j])
            k++;
        int rc = no_populate ? -1 : madvise((void *)p, (size_t)(k - i) * ps, MADV_POPULATE_WRITE);
        if (rc != 0 && (no_populate || errno == EINVAL)) {
            /* A kernel before 5.14. (Any other failure, such as EFAULT for a
             * file mapping cut short, skips the run: writing to it would
             * raise SIGBUS.) */
            no_populate = 1;
            for (unsigned q = i; q < k; q++) {
                /* Read once and checked again: a request child may be
                 * writing the area while we read it. */
                uintptr_t a = __atomic_load_n(&L->page[q], __ATOMIC_RELAXED);
                if (a % ps == 0 && a >= r.a[j] && a < r.b[j]) {
                    volatile unsigned char *c = (volatile unsigned char *)a;
                    *c = *c;
                }
            }
        }
        i = k;
    }
    learned_unlock();
}

/* ---- our code on huge pages -------------------------------------------------------------
 *
 * cgihost-py holds the whole interpreter (libpython is linked in), 5 MiB of
 * code and constants, linked at 2 MiB boundaries (see the Makefile). On
 * x86-64 the server reads each whole 2 MiB of them from its executable into
 * an anonymous transparent huge page and moves that over the original
 * mapping (mremap(), one atomic step; the bytes are the same, so the code
 * running it goes on). A fork then copies one page table entry for each
 * 2 MiB instead of 512, an exit drops one, and a request child's
 * instruction fetches miss the TLB far less. What it costs: 8 MiB of the
 * server's own memory instead of shared page cache, and perf and uprobes
 * no longer see the executable behind that code. CGIHOST_HUGEPAGES=0 keeps
 * it as it was, as does any step the kernel refuses or a huge page it does
 * not give. */
#define HUGE_SIZE ((uintptr_t)2 << 20)

/* AnonHugePages of the mapping that starts at a, in KiB, or -1. */
static long anon_huge_kb(uintptr_t a)
{
    FILE *f = fopen("/proc/self/smaps", "re");
    char line[512];
    long kb = -1;
    int in = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long x, y;
        if (sscanf(line, "%lx-%lx ", &x, &y) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = x == a;
        else if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
            break;
    }
    if (f)
        fclose(f);
    return kb;
}

/* [a, b) of the executable, at file offset off, onto huge pages; up to the
 * next 2 MiB boundary when nothing is mapped there (next: where the
 * following mapping starts). NULL, or why not. */
static const char *hugify_range(int exe, uintptr_t a, uintptr_t b, off_t off, uintptr_t next, int prot)
{
    if (b - a < HUGE_SIZE / 2)
        return NULL; /* the ELF headers' 128 KiB: not worth 2 MiB */
    uintptr_t ha = (a + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1), hb = (b + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1);
    if (hb > next)
        hb = b & ~(HUGE_SIZE - 1); /* the last part stays: what follows it is in use */
    if (hb <= ha)
        return NULL;
    size_t n = hb - ha, have = (b < hb ? b : hb) - ha; /* past b: zeros, where nothing was mapped */
    char *raw = mmap(NULL, n + HUGE_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return "mmap failed";
    char *tmp = (char *)(((uintptr_t)raw + HUGE_SIZE - 1) & ~(HUGE_SIZE - 1));
    char *end = raw + n + HUGE_SIZE;
    const char *why = NULL;
    if (madvise(tmp, n, MADV_HUGEPAGE) != 0)
        why = "madvise(MADV_HUGEPAGE) refused";
    /* From the file, not from memory: a breakpoint a debugger or a uprobe
     * has written into the code must not be copied into memory that no
     * longer has a file for the kernel to match it against. */
    for (size_t got = 0; !why && got < have;) {
        ssize_t k = pread(exe, tmp + got, have - got, off + (off_t)(ha - a) + (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            why = "cannot read the executable";
        else
            got += (size_t)k;
    }
    if (!why && anon_huge_kb((uintptr_t)tmp) < (long)(n >> 10))
        why = "no huge pages given";
    if (!why && mprotect(tmp, n, prot) != 0)
        why = "mprotect refused";
    if (!why && mremap(tmp, n, n, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)ha) == MAP_FAILED)
        why = "mremap refused";
    if (why) {
        if (munmap(raw, n + HUGE_SIZE) != 0) {
            /* an unused reservation stays */
        }
        return why;
    }
    if (tmp > raw && munmap(raw, (size_t)(tmp - raw)) != 0) {
        /* likewise */
    }
    if (end > tmp + n && munmap(tmp + n, (size_t)(end - (tmp + n))) != 0) {
        /* likewise */
    }
    return NULL;
}

/* Whether madvise(MADV_HUGEPAGE) gives 2 MiB pages to this process. */
static const char *huge_pages_unusable(void)
{
#if !defined(__x86_64__)
    return "not x86-64"; /* elsewhere code pages want more (BTI, cache flushes) */
#else
    char buf[128];
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "re");
    int ok = f && fgets(buf, sizeof buf, f) && (strstr(buf, "[always]") || strstr(buf, "[madvise]"));
    if (f)
        fclose(f);
    if (!ok)
        return "transparent huge pages are off";
    f = fopen("/sys/kernel/mm/transparent_hugepage/hpage_pmd_size", "re");
    ok = f && fgets(buf, sizeof buf, f) && strtoul(buf, NULL, 10) == HUGE_SIZE;
    if (f)
        fclose(f);
    if (!ok)
        return "huge pages are not of 2 MiB";
    /* PR_SET_THP_DISABLE (a container's) shows here */
    f = fopen("/proc/self/status", "re");
    ok = 1;
    while (f && fgets(buf, sizeof buf, f))
        if (strncmp(buf, "THP_enabled:", 12) == 0)
            ok = atoi(buf + 12) != 0;
    if (f)
        fclose(f);
    return ok ? NULL : "transparent huge pages are off for this process";
#endif
}

/* NULL when done (or not wanted), else why the code stays on small pages. */
static const char *hugify_code(void)
{
    const char *no = getenv("CGIHOST_HUGEPAGES");
    if (no && strcmp(no, "0") == 0)
        return NULL;
    const char *why = huge_pages_unusable();
    if (why)
        return why;
    char self[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    FILE *f = k > 0 ? fopen("/proc/self/maps", "re") : NULL;
    if (!f)
        return "cannot read /proc/self/maps";
    self[k] = '\0';
    struct {
        uintptr_t a, b, next; /* next: where the following mapping starts */
        unsigned long long off;
        int prot;
    } r[8];
    int n = 0;
    char line[PATH_MAX + 128];
    while (fgets(line, sizeof line, f)) {
        unsigned long a, b;
        unsigned long long off;
        char perms[8];
        int at = 0;
        line[strcspn(line, "\n")] = '\0';
        if (sscanf(line, "%lx-%lx %7s %llx %*s %*s %n", &a, &b, perms, &off, &at) != 4 || at == 0)
            continue;
        if (n > 0 && r[n - 1].next == UINTPTR_MAX)
            r[n - 1].next = a; /* maps lists mappings in address order */
        if (n == 8 || strcmp(line + at, self) != 0 || perms[0] != 'r' || perms[1] != '-' ||
            perms[3] != 'p')
            continue;
        r[n].a = a;
        r[n].b = b;
        r[n].off = off;
        r[n].next = UINTPTR_MAX;
        r[n].prot = PROT_READ | (perms[2] == 'x' ? PROT_EXEC : 0);
        n++;
    }
    fclose(f);
    int exe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    if (exe < 0)
        return "cannot open the executable";
    for (int i = 0; i < n && !why; i++)
        why = hugify_range(exe, r[i].a, r[i].b, (off_t)r[i].off, r[i].next, r[i].prot);
    close(exe);
    return why;
}

/* ---- code mappings that a fork copies ---------------------------------------------------
 *
 * fork() copies no page table entries of a private file mapping that has
 * no anonymous pages (a program's or a library's code and constants): the
 * child maps each page again on first use. Here that was 68 faults a
 * request, of 2-3 us each (a virtual machine's), 30% of a request child's
 * faults. Once the server has mapped the whole of each such mapping
 * (MADV_POPULATE_READ), one of its bytes is written back unchanged through
 * /proc/self/mem, as a debugger sets a breakpoint: the mapping then holds
 * one anonymous page, and each fork copies its entries, which costs far
 * less than the faults. Contents and protections stay as they were; where
 * the kernel refuses either step, the mapping stays as it was. */
#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif
static void share_range(uintptr_t a, uintptr_t b, void *arg)
{
    int mem = *(int *)arg;
    if (b - a > ((uintptr_t)64 << 20))
        return; /* not code: a large read-only file mapped by a preloaded module */
    if (madvise((void *)a, b - a, MADV_POPULATE_READ) != 0)
        return;
    unsigned char byte = *(volatile unsigned char *)a;
    if (pwrite(mem, &byte, 1, (off_t)a) != 1) {
        /* the mapping is faulted in as before */
    }
}

static void share_code_on_fork(void)
{
    int mem = open("/proc/self/mem", O_RDWR | O_CLOEXEC);
    if (mem < 0)
        return;
    each_mapping(READ_ONLY, share_range, &mem);
    close(mem);
}

/* The server whose stderr is systemd's journal (JOURNAL_STREAM names it),
 * else 0. The journal names that process itself ("cgihost[PID]: ") and
 * dates each line: its lines are not prefixed again; a child's keep their
 * pid. Elsewhere (server.log, a terminal) a line starts with the local time
 * and "cgihost[PID]: ". */
static pid_t journal_pid;

static void find_journal(void)
{
    const char *js = getenv("JOURNAL_STREAM");
    unsigned long long dev, ino;
    struct stat st;
    if (js && sscanf(js, "%llu:%llu", &dev, &ino) == 2 && fstat(STDERR_FILENO, &st) == 0 &&
        (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino)
        journal_pid = getpid();
}

static void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logmsg(const char *fmt, ...)
{
    /* The same line again within a second of its writing is counted, not
     * written: a failure that every request meets (out of fds) would fill
     * the log, which is in /tmp by default. */
    static char last[2048];
    static long long last_ns;
    static unsigned long repeats;
    char line[sizeof last];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    long long now = cgih_now_ns();
    if (strcmp(line, last) == 0 && now - last_ns < 1000000000LL) {
        repeats++;
        return;
    }
    char prefix[64] = "";
    size_t pl = 0;
    struct timespec ts;
    struct tm tm;
    if (journal_pid == 0 && clock_gettime(CLOCK_REALTIME, &ts) == 0 &&
        localtime_r(&ts.tv_sec, &tm) != NULL)
        pl = strftime(prefix, sizeof prefix, "%Y-%m-%d %H:%M:%S ", &tm);
    if (getpid() != journal_pid)
        snprintf(prefix + pl, sizeof prefix - pl, "cgihost[%ld]: ", (long)getpid());
    if (repeats)
        fprintf(stderr, "%s(the line before %lu more times)\n", prefix, repeats);
    repeats = 0;
    memcpy(last, line, sizeof last);
    last_ns = now;
    fprintf(stderr, "%s%s\n", prefix, line);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted interpreter-shaping entries of envp (pointers into it). */
static char **shape_of(char **envp, size_t *n)
{
    size_t k = 0, cap = 0;
    for (char **e = envp; *e; e++)
        cap += cgih_env_shapes_interp(*e) != 0;
    char **v = malloc((cap + 1) * sizeof *v);
    if (!v)
        return NULL;
    for (char **e = envp; *e; e++)
        if (cgih_env_shapes_interp(*e))
            v[k++] = *e;
    qsort(v, k, sizeof *v, cmp_str);
    v[k] = NULL;
    *n = k;
    return v;
}

static char **copy_env(char **envp)
{
    size_t n = 0;
    while (envp[n])
        n++;
    char **v = calloc(n + 1, sizeof *v);
    if (!v)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!(v[i] = strdup(envp[i])))
            return NULL; /* the process is starting; it exits on NULL */
    return v;
}

static long now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec;
}

/* ---- the child ------------------------------------------------------------------ */

static int read_full(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t k = recv(fd, p, n, MSG_WAITALL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return -1;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* A message and the fds that come with it (GO brings the request's). */
static int recv_with_fds(int fd, void *h, size_t len, int *fds, int *nfds)
{
    ssize_t k = cgih_recv_with_fds(fd, h, len, fds, nfds, MSG_WAITALL);
    if (k <= 0 || (size_t)k < len)
        return k > 0 && read_full(fd, (char *)h + k, len - (size_t)k) == 0 ? 0 : -1;
    return 0;
}

/* posix.environ (which os.environ shares) := environ, first entry winning
 * as at interpreter start. */
static int sync_environ(void)
{
    PyObject *posix = PyImport_ImportModule("posix");
    PyObject *d = posix ? PyObject_GetAttrString(posix, "environ") : NULL;
    int rc = -1;
    if (!d || !PyDict_Check(d))
        goto done;
    PyDict_Clear(d);
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (!eq)
            continue;
        PyObject *k = PyBytes_FromStringAndSize(*e, eq - *e);
        PyObject *v = k ? PyBytes_FromString(eq + 1) : NULL;
        PyObject *r = v ? PyDict_SetDefault(d, k, v) : NULL;
        Py_XDECREF(k);
        Py_XDECREF(v);
        if (!r)
            goto done;
    }
    rc = 0;
done:
    Py_XDECREF(d);
    Py_XDECREF(posix);
    return rc;
}

/* sys.std* made afresh on the request's fds 0-2, as Python's start makes
 * them (create_stdio() in pylifecycle.c): buffering, line buffering for a
 * tty and stderr, seekability are the request's, not the server's. */
static PyObject *make_stdio(PyObject *io, int fd, int write, const char *name, PyObject *errors)
{
    if (fcntl(fd, F_GETFD) < 0)
        Py_RETURN_NONE;
    int buffering = (!S.buffered_stdio && write) ? 0 : -1;
    PyObject *buf = PyObject_CallMethod(io, "open", "isiOOOO", fd, write ? "wb" : "rb", buffering,
                                        Py_None, Py_None, Py_None, Py_False);
    if (!buf)
        return NULL;
    PyObject *raw = buffering ? PyObject_GetAttrString(buf, "raw") : (Py_INCREF(buf), buf);
    PyObject *stream = NULL, *text = NULL, *res = NULL;
    if (!raw)
        goto done;
    if (!(text = PyUnicode_FromString(name)) || PyObject_SetAttrString(raw, "name", text) < 0)
        goto done;
    if (!(res = PyObject_CallMethod(raw, "isatty", NULL)))
        goto done;
    int tty = PyObject_IsTrue(res);
    if (tty < 0)
        goto done;
    PyObject *line = S.buffered_stdio && (tty || fd == 2) ? Py_True : Py_False;
    PyObject *through = S.buffered_stdio ? Py_False : Py_True;
    stream = PyObject_CallMethod(io, "TextIOWrapper", "OOOsOO", buf, S.stdio_encoding, errors, "\n", line,
                                 through);
    Py_CLEAR(text);
    if (stream && (!(text = PyUnicode_FromString(write ? "w" : "r")) ||
                   PyObject_SetAttrString(stream, "mode", text) < 0))
        Py_CLEAR(stream);
done:
    Py_XDECREF(res);
    Py_XDECREF(text);
    Py_XDECREF(raw);
    Py_DECREF(buf);
    return stream;
}

static const char *const std_names[3][3] = {
    {"stdin", "__stdin__", "<stdin>"}, {"stdout", "__stdout__", "<stdout>"},
    {"stderr", "__stderr__", "<stderr>"}};

/* sys.std* objects for the fds in mask (bit i: fd i) as they are now, not
 * installed (new references in out, NULL for the others). 0, or -1 with an
 * exception set. */
static int make_stdio_set(unsigned mask, PyObject *out[3])
{
    PyObject *io = PyImport_ImportModule("io");
    PyObject *bsr = PyUnicode_FromString("backslashreplace");
    int rc = io && bsr ? 0 : -1;
    for (int fd = 0; fd < 3; fd++) {
        out[fd] = NULL;
        if (rc == 0 && (mask & (1u << fd)) &&
            !(out[fd] = make_stdio(io, fd, fd > 0, std_names[fd][2], fd == 2 ? bsr : S.stdio_errors)))
            rc = -1;
    }
    Py_XDECREF(bsr);
    Py_XDECREF(io);
    return rc;
}

/* sys.std<fd> and sys.__std<fd>__ := s. */
static int set_stdio(int fd, PyObject *s)
{
    return PySys_SetObject(std_names[fd][0], s) < 0 || PySys_SetObject(std_names[fd][1], s) < 0 ? -1 : 0;
}

/* Makes sys.std* afresh for the fds in mask. */
static int reset_stdio_fds(unsigned mask)
{
    PyObject *s[3];
    int rc = make_stdio_set(mask, s);
    for (int fd = 0; fd < 3; fd++) {
        if (rc == 0 && s[fd] && set_stdio(fd, s[fd]) < 0)
            rc = -1;
        Py_XDECREF(s[fd]);
    }
    return rc;
}

/* Installs one of the server's premade objects as sys.std<fd>. A buffered
 * one asks for the fd's position, which it keeps (tell() would give the
 * server's otherwise). */
static int use_stdio(int fd, PyObject *s)
{
    if (set_stdio(fd, s) < 0)
        return -1;
    PyObject *buf = PyObject_GetAttrString(s, "buffer");
    PyObject *r = buf && PyObject_HasAttrString(buf, "raw") ? PyObject_CallMethod(buf, "tell", NULL) : NULL;
    Py_XDECREF(r);
    Py_XDECREF(buf);
    PyErr_Clear(); /* an fd that cannot tell() needs no position */
    return 0;
}

/* The code cache's key for a script path (a str), or NULL without an
 * exception when the file cannot be stat()ed. */
static PyObject *cache_key(PyObject *filename)
{
    PyObject *b = PyUnicode_EncodeFSDefault(filename);
    if (!b) {
        PyErr_Clear();
        return NULL;
    }
    struct stat st;
    int rc = stat(PyBytes_AS_STRING(b), &st);
    Py_DECREF(b);
    if (rc != 0 || !S_ISREG(st.st_mode))
        return NULL;
    /* ctime too: a chmod (the script made unreadable) or a rename is a miss,
     * and the run then does what a cold start does. */
    long long mtime = (long long)st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec;
    long long ctime = (long long)st.st_ctim.tv_sec * 1000000000LL + st.st_ctim.tv_nsec;
    PyObject *k = Py_BuildValue("(OKKLLL)", filename, (unsigned long long)st.st_dev,
                                (unsigned long long)st.st_ino, mtime, ctime, (long long)st.st_size);
    if (!k)
        PyErr_Clear();
    return k;
}

static PyObject *cache_get(PyObject *filename)
{
    if (!S.cache || PyDict_GET_SIZE(S.cache) == 0)
        return NULL;
    PyObject *k = cache_key(filename);
    if (!k)
        return NULL;
    PyObject *code = PyDict_GetItemWithError(S.cache, k);
    Py_DECREF(k);
    PyErr_Clear();
    Py_XINCREF(code);
    return code;
}

/* In a request child: the control socket, open until the script's code is
 * looked up. */
static int lookup_ctl = -1;

/* In a request child: its connection to the client, which reports the
 * status. */
static int request_conn = -1;

/* pthread_atfork()'s child handler in a request child: a process the script
 * forks (a daemon, a worker) is not the request and keeps none of its
 * connections, as a process python3 forks has none. A daemon that kept the
 * client's connection would hold the client, once the server is gone (no
 * STATUS from its reaping), until the daemon ends, not the script. */
static void forget_request(void)
{
    if (request_conn >= 0)
        close(request_conn);
    request_conn = -1;
    if (lookup_ctl >= 0)
        close(lookup_ctl);
    lookup_ctl = -1;
}

/* The code cache as the run sees it: on a miss, the server is told the
 * script's path, to compile it when idle (on a hit it hears nothing and
 * runs no Python for it). Then the control socket is closed: the script
 * never has it. */
static PyObject *cache_lookup(PyObject *filename)
{
    PyObject *code = cache_get(filename);
    if (lookup_ctl < 0)
        return code;
    PyObject *b = code ? NULL : PyUnicode_EncodeFSDefault(filename);
    if (b && PyBytes_GET_SIZE(b) < PATH_MAX) {
        char msg[sizeof(struct ctl_msg) + PATH_MAX];
        struct ctl_msg *sm = (struct ctl_msg *)(void *)msg;
        memset(sm, 0, sizeof *sm);
        sm->type = CTL_SCRIPT;
        memcpy(msg + sizeof *sm, PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(b));
        if (send(lookup_ctl, msg, sizeof *sm + (size_t)PyBytes_GET_SIZE(b), MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
            /* no cache entry then */
        }
    }
    Py_XDECREF(b);
    PyErr_Clear();
    close(lookup_ctl);
    lookup_ctl = -1;
    return code;
}

/* Our limits, read while a pool child waits (1: read). */
static struct rlimit own_limits[RLIM_NLIMITS];
static char own_limits_read[RLIM_NLIMITS];

static void read_own_limits(void)
{
    for (int res = 0; res < RLIM_NLIMITS; res++)
        own_limits_read[res] = getrlimit(res, &own_limits[res]) == 0;
}

static int own_limit(int res, struct rlimit *have)
{
    if (own_limits_read[res]) {
        *have = own_limits[res];
        return 0;
    }
    return getrlimit(res, have);
}

/* 1 when this child can take every limit of the request exactly: it cannot
 * raise a hard limit above its own (a server started by a request with low
 * limits would give every later request those). */
static int limits_fit(const struct cgih_req *r)
{
    for (uint32_t i = 0; i < r->nrlim; i++) {
        struct rlimit have;
        int res = (int)r->rlim[i].resource;
        if (res < 0 || res >= RLIM_NLIMITS || own_limit(res, &have) != 0 ||
            (rlim_t)r->rlim[i].max > have.rlim_max)
            return 0;
    }
    return 1;
}

/* The default stack of the threads a script starts. glibc sizes it once, at
 * a process's start, from the soft RLIMIT_STACK then (its
 * __pthread_early_init()): here the server's. python3 started with the
 * request's limit would give its threads a stack of that limit (rounded up
 * to a page, at least PTHREAD_STACK_MIN), or of glibc's default for the
 * architecture when unlimited: 2 MiB on x86. */
static void thread_stack_as_started(void)
{
#ifdef __GLIBC__
    struct rlimit st;
    if (getrlimit(RLIMIT_STACK, &st) != 0)
        return;
    size_t size;
    if (st.rlim_cur == RLIM_INFINITY) {
#if defined(__x86_64__) || defined(__i386__)
        size = (size_t)2 << 20;
#else
        return; /* glibc's default for unlimited differs by architecture */
#endif
    } else {
        long min = sysconf(_SC_THREAD_STACK_MIN), page = sysconf(_SC_PAGESIZE);
        size = st.rlim_cur > (rlim_t)SIZE_MAX / 2 ? SIZE_MAX / 2 : (size_t)st.rlim_cur;
        if (min > 0 && size < (size_t)min)
            size = (size_t)min;
        if (page > 0)
            size = (size + (size_t)page - 1) / (size_t)page * (size_t)page;
    }
    pthread_attr_t attr;
    if (pthread_getattr_default_np(&attr) != 0)
        return;
    size_t now = 0;
    if (pthread_attr_getstacksize(&attr, &now) == 0 && now != size &&
        pthread_attr_setstacksize(&attr, size) == 0 && pthread_setattr_default_np(&attr) != 0) {
        /* a size glibc refuses: the server's stays */
    }
    pthread_attr_destroy(&attr);
#endif
}

/* The request's limits, where they are not ours (which the pool child
 * read while it waited): the thread stack too when its limit is another. */
static void apply_rlimits(const struct cgih_req *r)
{
    for (uint32_t i = 0; i < r->nrlim; i++) {
        struct rlimit want = {(rlim_t)r->rlim[i].cur, (rlim_t)r->rlim[i].max}, have;
        int res = (int)r->rlim[i].resource;
        if (res < 0 || res >= RLIM_NLIMITS || own_limit(res, &have) != 0)
            continue;
        if (have.rlim_cur == want.rlim_cur && have.rlim_max == want.rlim_max)
            continue;
        if (setrlimit(res, &want) != 0) {
            /* limits_fit() said we could: nothing else to do but go on */
        } else if (res == RLIMIT_STACK && have.rlim_cur != want.rlim_cur) {
            thread_stack_as_started();
        }
    }
}

/* 1 when the peer on CONN has our group and supplementary groups. */
static int same_groups(int conn)
{
    struct ucred cr;
    socklen_t crl = sizeof cr;
    if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr, &crl) != 0 || cr.gid != getegid())
        return 0;
    int nm = S.ngroups;
    gid_t *theirs = calloc((size_t)nm + 1, sizeof(gid_t));
    if (!theirs)
        return 0;
    socklen_t tl = (socklen_t)(((size_t)nm + 1) * sizeof(gid_t)); /* one more: a longer list fails */
    int same = getsockopt(conn, SOL_SOCKET, SO_PEERGROUPS, theirs, &tl) == 0 &&
               tl == (socklen_t)((size_t)nm * sizeof(gid_t));
    /* Both lists come from the kernel's sorted group_info; compared as sets
     * anyway (n is small). */
    for (int i = 0; same && i < nm; i++) {
        int found = 0;
        for (int j = 0; j < nm && !found; j++)
            found = theirs[j] == S.groups[i];
        same = found;
    }
    free(theirs);
    return same;
}

/* What a request does first, done by a pool child while it waits: the
 * copy-on-write faults a request takes (learned, see prefault()) and
 * syncing os.environ are taken off the request's path. (Running a little
 * Python here as well took about 0.5 ms of CPU per request and no fault off
 * the path that prefault() does not; stdio is made once, in the server.) */
static void warm_up(void)
{
    if (!learner)
        prefault();
    if (sync_environ() < 0)
        PyErr_Clear();
    read_own_limits();
}

#define SIGBIT(sig) (1ull << ((sig) - 1))

/* A script run by python3 from the client would inherit the client's
 * ignored and blocked signals; a request child has inherited the server's.
 * The client sends its blocked set; its ignored set the child reads from
 * /proc while the client builds its request (unknown without /proc: the
 * dispositions then stay the server's). Where the ignored sets differ, the
 * child takes the client's through the signal module (signal.getsignal()
 * then agrees), as python3's start would leave them: a signal it ignores
 * stays ignored, SIGINT included; one it does not is at its default,
 * SIGINT at Python's handler. SIGPIPE and SIGXFSZ are ignored whatever
 * python3 inherits, and a handler a preloaded module installed is left
 * alone. Then the client's blocked set. */
static void take_clients_signals(const struct cgih_req *r, int ign_known, uint64_t sigign)
{
    uint64_t diff = ign_known ? (sigign ^ S.sigign) & ~(SIGBIT(SIGKILL) | SIGBIT(SIGSTOP) |
                                                       SIGBIT(SIGPIPE) | SIGBIT(SIGXFSZ))
                              : 0;
    PyObject *sm = diff ? PyImport_ImportModule("_signal") : NULL;
    PyObject *dfl = sm ? PyObject_GetAttrString(sm, "SIG_DFL") : NULL;
    PyObject *ign = sm ? PyObject_GetAttrString(sm, "SIG_IGN") : NULL;
    PyObject *intr = sm ? PyObject_GetAttrString(sm, "default_int_handler") : NULL;
    for (int sig = 1; intr && sig <= 64 && sig < NSIG; sig++) {
        if (!(diff & SIGBIT(sig)))
            continue;
        PyObject *now = PyObject_CallMethod(sm, "getsignal", "i", sig);
        if (!now) {
            PyErr_Clear(); /* a signal Python does not know */
            continue;
        }
        PyObject *ours = sig == SIGINT ? intr : dfl, *want = NULL;
        if (sigign & SIGBIT(sig))
            want = now == dfl || now == intr || PyObject_RichCompareBool(now, dfl, Py_EQ) == 1 ? ign : NULL;
        else
            want = now == ign || PyObject_RichCompareBool(now, ign, Py_EQ) == 1 ? ours : NULL;
        PyObject *done = want ? PyObject_CallMethod(sm, "signal", "iO", sig, want) : NULL;
        Py_XDECREF(done);
        Py_DECREF(now);
        PyErr_Clear(); /* a signal Python cannot set (glibc's own 32 and 33) stays as it is */
    }
    Py_XDECREF(intr);
    Py_XDECREF(ign);
    Py_XDECREF(dfl);
    Py_XDECREF(sm);
    PyErr_Clear();
    sigset_t blk;
    sigemptyset(&blk);
    for (int sig = 1; sig <= 64 && sig < NSIG; sig++)
        if (r->sigblk & SIGBIT(sig) && sigaddset(&blk, sig) != 0) {
            /* glibc's reserved signals cannot be blocked anyway */
        }
    /* Last: what was held since GO is delivered now, to the script's
     * dispositions (what the client's mask blocks stays pending, as it
     * would under python3). */
    if (sigprocmask(SIG_SETMASK, &blk, NULL) != 0) {
        /* cannot fail with a valid how */
    }
}

/* A script whose "#!" line gives python3 an option (shebang.h: -u, -O, -E,
 * -W...) needs an interpreter started with it, which this one is past: the
 * child runs it as the cold path does, by execing our own program with the
 * request as it stands (fds, environment, cwd, limits, argv after the CGI
 * rewrite) and the client's signal dispositions and mask. It keeps its pid,
 * so the server reports its exit status and the client's signals reach it as
 * for any request. Returns only if the exec failed. */
static void exec_cold(int argc, char **argv, int ign_known, uint64_t sigign)
{
    for (int sig = 1; sig <= 64 && sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP)
            continue;
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = ign_known && (sigign & SIGBIT(sig)) ? SIG_IGN : SIG_DFL;
        if (sigaction(sig, &sa, NULL) != 0) {
            /* glibc's reserved signals cannot be set: they stay as they are */
        }
    }
    const char *gw = getenv("GATEWAY_INTERFACE");
    int dashdash = !(gw && *gw) && argv[1][0] == '-'; /* read again as a command line */
    char **av = calloc((size_t)argc + 2, sizeof *av);
    if (!av)
        return;
    int k = 0;
    av[k++] = argv[0];
    if (dashdash)
        av[k++] = "--";
    for (int i = 1; i < argc; i++)
        av[k++] = argv[i];
    /* The environment without what our own start added (PEP 538's LC_CTYPE):
     * the fresh start decides that again, as python3's would. */
    size_t ne = 0, n = 0;
    while (environ[ne])
        ne++;
    char **ev = calloc(ne + 1, sizeof *ev);
    if (!ev) {
        free(av);
        return;
    }
    for (size_t i = 0; i < ne; i++) {
        int added = 0;
        for (size_t j = 0; j < S.nadded && !added; j++)
            added = environ[i] == S.added[j];
        if (!added)
            ev[n++] = environ[i];
    }
    fflush(NULL);
    execve("/proc/self/exe", av, ev);
    int e = errno;
    free(av);
    free(ev);
    fprintf(stderr, "cgihost: cannot start a fresh interpreter for the script's #! option: %s\n",
            strerror(e));
}

/* Tells the server that a child refused a request (cgihost status counts
 * them, its log says why): WHY (enum cgih_refuse), with DETAIL (or NULL).
 * Its client runs it in-process. */
static void tell_refused(int ctl, int why, const char *detail)
{
    char msg[sizeof(struct ctl_msg) + 512];
    struct ctl_msg *t = (struct ctl_msg *)(void *)msg;
    memset(t, 0, sizeof *t);
    t->type = CTL_REFUSED;
    t->info[0] = why;
    size_t n = detail ? strnlen(detail, sizeof msg - sizeof *t) : 0;
    memcpy(msg + sizeof *t, detail ? detail : "", n);
    if (send(ctl, msg, sizeof *t + n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* the server is gone: nobody counts */
    }
}

/* The detail of a refusal of another user's request. */
static const char *uid_detail(char *out, size_t n, uid_t uid)
{
    snprintf(out, n, "uid %ld", (long)uid);
    return out;
}

/* A request child refusing its request. */
static _Noreturn void refuse_request(int conn, int ctl, int why, const char *detail)
{
    tell_refused(ctl, why, detail);
    cgih_send_msg(conn, CGIH_MSG_REFUSE, why);
    _exit(0);
}

/* The names of the interpreter-shaping variables (sorted NAME=value lists A
 * and B) whose values differ or that only one has, into out. */
static void shape_difference(char *const *a, size_t na, char *const *b, size_t nb, char *out, size_t n)
{
    size_t i = 0, j = 0, w = 0;
    out[0] = '\0';
    while ((i < na || j < nb) && w + 1 < n) {
        const char *x = i < na ? a[i] : NULL, *y = j < nb ? b[j] : NULL;
        size_t lx = x ? strcspn(x, "=") : 0, ly = y ? strcspn(y, "=") : 0;
        /* the names, '=' included: the lists' own (strcmp) order */
        int c = !x ? 1 : !y ? -1 : strncmp(x, y, (lx < ly ? lx : ly) + 1);
        const char *name = c <= 0 ? x : y;
        size_t len = c <= 0 ? lx : ly;
        int differs = c != 0 || strcmp(x, y) != 0;
        if (c <= 0)
            i++;
        if (c >= 0)
            j++;
        if (differs) {
            int k = snprintf(out + w, n - w, "%s%.*s", w ? ", " : "", (int)len, name);
            w = k < 0 || (size_t)k >= n - w ? n - 1 : w + (size_t)k;
        }
    }
}

/* Whether the time zone file that TZ (NULL: unset) names, as glibc finds it,
 * is there: then its stat into st. */
static int tz_file_stat(const char *tz, struct stat *st)
{
    if (tz && *tz == '\0')
        tz = "Universal";
    else if (tz && *tz == ':')
        tz++;
    if (!tz)
        tz = "/etc/localtime";
    char path[PATH_MAX];
    const char *dir = getenv("TZDIR");
    if (*tz != '/' && snprintf(path, sizeof path, "%s/%s",
                               dir && *dir ? dir : "/usr/share/zoneinfo", tz) >= (int)sizeof path)
        return 0;
    return stat(*tz == '/' ? tz : path, st) == 0;
}

static int same_zone_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/* The client's checks below read /proc/PID by number, which the kernel
 * gives to another process once the client has gone: a confined client
 * could connect, leave its connection to a child and exit, and have the
 * number taken by a process of ours (a pool child forked meanwhile), whose
 * namespaces then passed for its own. So the child holds a pidfd of the
 * process that connected (SO_PEERPIDFD, Linux 6.5; before it, pidfd_open()
 * of its number as the child takes the connection), and serves only if
 * that process still lives when the checks are done (peer_alive()): the
 * number was its all along. -1 without pidfds (Linux < 5.3): as before. */
#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif
static int peer_pidfd(int conn, pid_t pid)
{
    int fd = -1;
    socklen_t len = sizeof fd;
    if (getsockopt(conn, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0 && fd >= 0) {
        if (fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) {
            close(fd);
            _exit(0);
        }
        return fd;
    }
    if (errno != ENOPROTOOPT && errno != EOPNOTSUPP)
        _exit(0); /* the process that connected is gone: nobody to serve */
#ifdef SYS_pidfd_open
    if (pid > 0) {
        fd = (int)syscall(SYS_pidfd_open, pid, 0); /* close-on-exec */
        if (fd < 0 && errno == ESRCH)
            _exit(0);
        return fd;
    }
#endif
    (void)pid;
    return -1;
}

static int peer_alive(int pidfd)
{
#ifdef SYS_pidfd_send_signal
    return pidfd < 0 || syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) == 0;
#else
    (void)pidfd;
    return 1;
#endif
}

static char proc_state(long pid);

/* Whether the client (pid) sees the /tmp we see: a web server given a
 * private one (systemd's PrivateTmp=, Debian's apache2.service) runs its
 * scripts in it, where a session file one of them leaves is found by the
 * next; ours may be another (a server systemd started). A client whose root
 * we cannot read (one made undumpable) is not: what confines it is unknown.
 * Without /proc (our own unreadable too), as ours. */
static int same_tmp(pid_t pid)
{
    char path[64];
    struct stat theirs;
    snprintf(path, sizeof path, "/proc/%ld/root/tmp", (long)pid);
    if (stat(path, &theirs) != 0) {
        /* A client gone (killed before we looked, a zombie or reaped) has
         * no /tmp to compare: nobody to refuse, and its ENOENT is no other
         * /tmp (the log said so, sending the reader to PrivateTmp=). */
        int e = errno;
        char st = e == ENOENT && proc_state(getpid()) ? proc_state(pid) : 'R'; /* (no /proc: 'R') */
        if (st == 0 || st == 'Z' || st == 'X')
            _exit(0);
        return !S.tmp_ok ? e == ENOENT : !S.proc_ok;
    }
    return S.tmp_ok && theirs.st_dev == S.tmp_st.st_dev && theirs.st_ino == S.tmp_st.st_ino;
}

/* The namespaces a request child must share with its client (same_ns()):
 * the mounts' (NS_MNT) is compared further by same_mounts(). */
static const char *const ns_names[N_NS] = {"net", "pid", "ipc", "uts", "user", "mnt", "time"};

/* The link /proc/PID/ns/NAME (pid 0: self), "net:[4026531840]": the kind
 * and the inode number of the namespace, on nsfs, the one file system that
 * namespaces have; read at half the cost of a stat(), which follows it.
 * 0, or -1 when unreadable. */
static int ns_link(pid_t pid, const char *name, char *buf, size_t size)
{
    char path[64];
    if (pid)
        snprintf(path, sizeof path, "/proc/%ld/ns/%s", (long)pid, name);
    else
        snprintf(path, sizeof path, "/proc/self/ns/%s", name);
    ssize_t n = readlink(path, buf, size - 1);
    if (n <= 0 || (size_t)n >= size - 1)
        return -1;
    buf[n] = '\0';
    return 0;
}

/* Whether the client (pid) is in our namespace of the kind ns_names[i],
 * whose link was read at start (a request is spared the look-up). When we
 * have none to compare (no /proc): as ours. A client we cannot look into
 * is not, as for same_tmp(): a script could otherwise make its process
 * undumpable to pass for one of ours. */
static int same_ns(pid_t pid, size_t i)
{
    char theirs[sizeof S.ns_link[0]];
    if (!S.ns_ok[i])
        return 1;
    return ns_link(pid, ns_names[i], theirs, sizeof theirs) == 0 &&
           strcmp(theirs, S.ns_link[i]) == 0;
}

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

/* A line of /proc/PID/mountinfo, split in place: its mount and parent
 * mount ids, device, root, mount point, options, and what follows the
 * optional fields ("- " on: type, source, super options). */
struct mount_line {
    char *line, *id, *parent, *dev, *root, *mp, *opts, *rest;
};

/* Whether m is a bind mount, onto itself, of the directory it covers: the
 * file system, options and directory its parent mount shows there, so it
 * changes nothing that is seen. systemd makes one for each directory of
 * RuntimeDirectory= (StateDirectory=, ...) in a unit's mount namespace:
 * cgihost.service's /run/cgihost, which its clients see as part of /run. */
static int self_bind(const struct mount_line *m, const struct mount_line *all, size_t n)
{
    const struct mount_line *p = NULL;
    for (size_t i = 0; i < n && !p; i++)
        if (&all[i] != m && strcmp(all[i].id, m->parent) == 0)
            p = &all[i];
    if (!p || strcmp(p->dev, m->dev) != 0 || strcmp(p->opts, m->opts) != 0 ||
        strcmp(p->rest, m->rest) != 0)
        return 0;
    size_t pl = strcmp(p->mp, "/") == 0 ? 0 : strlen(p->mp);
    if (strncmp(m->mp, p->mp, pl) != 0 || (m->mp[pl] != '/' && m->mp[pl] != '\0'))
        return 0;
    const char *rel = strcmp(m->mp, p->mp) == 0 ? "" : m->mp + pl; /* "" or "/..." */
    size_t rl = strcmp(p->root, "/") == 0 ? 0 : strlen(p->root);
    if (strncmp(m->root, p->root, rl) != 0)
        return 0;
    return strcmp(m->root + rl, *rel || rl ? rel : "/") == 0;
}

/* The mounts /proc/PID/mountinfo lists, sorted, each without its ids and
 * optional fields (another namespace's peer groups), but those of /tmp
 * and /var/tmp and below (systemd's PrivateTmp=, same_tmp()'s business),
 * systemd's /run/systemd/incoming (in each unit's mount namespace, a
 * read-only view of its own /run/systemd/propagate/UNIT, through which
 * `systemctl bind` brings mounts in: another for every unit) and bind
 * mounts of a directory onto itself (self_bind()). NULL when unreadable. */
static char **mount_view(const char *path, size_t *np)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return NULL;
    struct mount_line *m = NULL;
    char **v = NULL, *line = NULL;
    size_t nm = 0, mcap = 0, n = 0, lcap = 0;
    int ok = 1;
    while (ok && getline(&line, &lcap, f) > 0) {
        line[strcspn(line, "\n")] = '\0';
        char *p = line, *fld[6], *sp, *rest;
        int k = 0;
        while (k < 6 && (sp = strchr(p, ' ')) != NULL) {
            *sp = '\0';
            fld[k++] = p;
            p = sp + 1;
        }
        rest = k == 6 ? strstr(p, "- ") : NULL;
        if (!rest)
            continue;
        if (nm == mcap) {
            size_t more_cap = mcap ? 2 * mcap : 64;
            struct mount_line *more = reallocarray(m, more_cap, sizeof *m);
            if (!more) {
                ok = 0;
                break;
            }
            m = more;
            mcap = more_cap;
        }
        m[nm] = (struct mount_line){line, fld[0], fld[1], fld[2], fld[3], fld[4], fld[5], rest};
        nm++;
        line = NULL; /* now m[nm - 1]'s */
        lcap = 0;
    }
    free(line);
    fclose(f);
    for (size_t i = 0; ok && i < nm; i++) {
        const char *mp = m[i].mp;
        if (strcmp(mp, "/tmp") == 0 || strncmp(mp, "/tmp/", 5) == 0 ||
            strcmp(mp, "/var/tmp") == 0 || strncmp(mp, "/var/tmp/", 9) == 0 ||
            strcmp(mp, "/run/systemd/incoming") == 0 || self_bind(&m[i], m, nm))
            continue;
        if (!v && !(v = calloc(nm, sizeof *v))) {
            ok = 0;
            break;
        }
        if (asprintf(&v[n], "%s %s %s %s %s", m[i].dev, m[i].root, mp, m[i].opts, m[i].rest) < 0) {
            ok = 0;
            break;
        }
        n++;
    }
    for (size_t i = 0; i < nm; i++)
        free(m[i].line);
    free(m);
    if (!ok) {
        free_strs(v, n);
        return NULL;
    }
    if (n)
        qsort(v, n, sizeof *v, cmp_str);
    *np = n;
    return v ? v : calloc(1, sizeof *v);
}

/* Whether the client (pid) sees the file systems we see, /tmp aside: a web
 * server confined by systemd (ProtectHome=, ProtectSystem=,
 * InaccessiblePaths=...) has them in a mount namespace of its own, which a
 * script run here would escape. Unknown (its mountinfo unreadable): not. */
static int same_mounts(pid_t pid)
{
    if (same_ns(pid, NS_MNT))
        return 1;
    char path[64];
    size_t nt = 0, no = 0;
    snprintf(path, sizeof path, "/proc/%ld/mountinfo", (long)pid);
    char **theirs = mount_view(path, &nt),
         **ours = theirs ? mount_view("/proc/self/mountinfo", &no) : NULL;
    int same = theirs && ours && nt == no; /* what we cannot compare is not the same */
    for (size_t i = 0; theirs && ours && same && i < nt; i++)
        same = strcmp(theirs[i], ours[i]) == 0;
    free_strs(theirs, nt);
    free_strs(ours, no);
    return same;
}

/* Seconds a request child waits for each message of the handshake, and for
 * the whole handshake (header, request, GO). */
#define HANDSHAKE_S 10

static _Noreturn void child_serve(int ctl, int for_dispatch)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* A server with a controlling terminal (`serve` run from a shell): a
     * session of our own, without it, so that no script reaches the
     * terminal (root's, before `--user`) or gets its job-control signals. A
     * forked child is no process group leader, so this does not fail.
     * Otherwise (systemd's, or started by a client) the server's session
     * has no terminal, and the child stays in it, no session or group
     * leader, as a CGI under Apache: os.setsid() works for its script. */
    if (S.has_tty && setsid() < 0)
        _exit(0);
    /* A child forked for a connection the server holds takes only that. */
    if (for_dispatch) {
        close(S.lfd);
        S.lfd = -1;
    } else {
        warm_up();
    }

    /* Wait for a connection: accept one ourselves (the server stays off the
     * request's path), or take one the server accepted (it does when no pool
     * child is idle). EOF on ctl: the server is gone or recycles us. */
    int conn = -1;
    uid_t peer = (uid_t)-1;
    pid_t peer_pid = 0; /* the client, as SO_PEERCRED gave it */
    while (conn < 0) {
        struct pollfd pfd[2] = {{ctl, POLLIN, 0}, {S.lfd, POLLIN, 0}};
        if (poll(pfd, S.lfd >= 0 ? 2 : 1, -1) < 0) {
            if (errno == EINTR)
                continue;
            _exit(0);
        }
        if (pfd[0].revents) {
            struct ctl_msg m;
            union {
                struct cmsghdr c;
                char buf[CMSG_SPACE(sizeof(int))];
            } cm;
            struct iovec iov = {&m, sizeof m};
            struct msghdr mh = {0};
            mh.msg_iov = &iov;
            mh.msg_iovlen = 1;
            mh.msg_control = cm.buf;
            mh.msg_controllen = sizeof cm.buf;
            ssize_t k = recvmsg(ctl, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
            if (k < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
            if (k != (ssize_t)sizeof m || m.type != CTL_DISPATCH || !c || c->cmsg_type != SCM_RIGHTS)
                _exit(0);
            memcpy(&conn, CMSG_DATA(c), sizeof conn);
            peer = m.peer_uid;
            peer_pid = (pid_t)m.peer_pid;
        } else if (pfd[1].revents) {
            int a = accept4(S.lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (a < 0)
                continue; /* another child was faster */
            struct ucred cr = {0, (uid_t)-1, (gid_t)-1}; /* (uid -1 in the log: unknown) */
            socklen_t crl = sizeof cr;
            int fl = fcntl(a, F_GETFL);
            if (fl < 0 || fcntl(a, F_SETFL, fl & ~O_NONBLOCK) != 0 ||
                getsockopt(a, SOL_SOCKET, SO_PEERCRED, &cr, &crl) != 0 ||
                (cr.uid != getuid() && cr.uid != 0)) {
                struct cgih_msg no = {CGIH_MSG_REFUSE, CGIH_REFUSE_UID};
                if (send(a, &no, sizeof no, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
                    /* it falls back on EOF as well */
                }
                close(a);
                char who[32];
                tell_refused(ctl, CGIH_REFUSE_UID, uid_detail(who, sizeof who, cr.uid));
                continue;
            }
            /* Tell the server: it watches the client from now on. */
            struct ctl_msg t = {.type = CTL_TAKEN};
            if (cgih_send_with_fds(ctl, &t, sizeof t, &a, 1, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
                /* the server is gone: serve the request without it */
            }
            conn = a;
            peer = cr.uid;
            peer_pid = cr.pid;
        }
    }
    if (S.lfd >= 0)
        close(S.lfd);
    /* Before /proc/PID is first read (cgih_proc_status() below). */
    int pidfd = peer_pid > 0 ? peer_pidfd(conn, peer_pid) : -1;
    long long t_dispatched = cgih_now_ns(), t_req = 0, t_go = 0, t_setup = 0;
    /* The client's ignored signals, read while it builds its request (about
     * 18 us of the kernel's, which its critical path does not wait for). */
    uint64_t client_ign = 0;
    /* And, from the same reading, what confines it (systemd's
     * NoNewPrivileges= or SystemCallFilter= for the web server, setpriv...),
     * which the script would have kept under python3: a child has ours, and
     * serves only a client that has the same. (Unknown without /proc: then
     * as ours.) */
    struct cgih_confinement client_conf;
    int ign_known = 0, conf_known = 0;
    if (peer_pid > 0 && (S.sigign_known || S.confined_known) &&
        cgih_proc_status(peer_pid, &client_ign, &ign_known, &client_conf, &conf_known) != CGIH_OK)
        ign_known = conf_known = 0;
    ign_known = ign_known && S.sigign_known;
    int conf_differs =
        S.confined_known && conf_known &&
        (client_conf.no_new_privs != S.confined.no_new_privs ||
         client_conf.seccomp != S.confined.seccomp ||
         client_conf.seccomp_filters != S.confined.seccomp_filters ||
         client_conf.capbnd != S.confined.capbnd || client_conf.capamb != S.confined.capamb);
    /* Out of the script's way: its first open() gets fd 3, as in a cold start. */
    int hi = fcntl(conn, F_DUPFD_CLOEXEC, 200);
    if (hi >= 0) {
        close(conn);
        conn = hi;
    }
    struct timeval tv = {HANDSHAKE_S, 0};
    if (setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(conn, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
        _exit(0);
    /* Those bound each wait; the whole handshake is bounded too, or a peer
     * sending a byte now and then would hold this child for ever: SIGALRM's
     * default action ends us, and GO cancels it. */
    struct sigaction alrm = {.sa_handler = SIG_DFL}, alrm0;
    sigemptyset(&alrm.sa_mask);
    if (sigaction(SIGALRM, &alrm, &alrm0) != 0)
        _exit(0);
    alarm(HANDSHAKE_S);

    struct cgih_hdr h;
    int fds[CGIH_MAX_FDS], nfds = 0;
    const char *why = NULL;
    if (read_full(conn, &h, sizeof h) < 0)
        _exit(0);
    if (cgih_hdr_check(&h, &why) != CGIH_OK)
        refuse_request(conn, ctl, h.magic == CGIH_PROTO_MAGIC && h.version != CGIH_PROTO_VERSION
                                      ? CGIH_REFUSE_VERSION
                                      : CGIH_REFUSE_BAD, why);
    if (h.kind == CGIH_KIND_QUERY || h.kind == CGIH_KIND_STOP) {
        /* The server answers on its copy of the connection. */
        struct ctl_msg s = {.type = h.kind == CGIH_KIND_STOP ? CTL_STOP : CTL_QUERY};
        if (send(ctl, &s, sizeof s, MSG_NOSIGNAL) < 0) {
            /* no server, no answer: the asker sees EOF */
        }
        _exit(0);
    }
    if (peer != getuid()) {
        char who[32];
        refuse_request(conn, ctl, CGIH_REFUSE_UID, uid_detail(who, sizeof who, peer));
    }
    /* The same groups too: the script runs with ours, and must not get
     * more than its client had (a file readable by a group it left). */
    if (!same_groups(conn)) {
        refuse_request(conn, ctl, CGIH_REFUSE_GROUPS, NULL);
    }
    char *body = malloc((size_t)h.body_len + 1);
    struct cgih_req r;
    size_t pos;
    if (!body || read_full(conn, body, h.body_len) < 0)
        _exit(0);
    if (cgih_req_decode(body, h.body_len, &r, &why, &pos) != CGIH_OK)
        refuse_request(conn, ctl, CGIH_REFUSE_BAD, why);
    /* Only a request whose interpreter would start as ours did. */
    size_t nshape;
    char **shape = shape_of(r.envp, &nshape);
    int same = shape && nshape == S.nshape;
    for (size_t i = 0; same && i < nshape; i++)
        same = strcmp(shape[i], S.shape[i]) == 0;
    if (!same) {
        char names[256] = "";
        if (shape)
            shape_difference(shape, nshape, S.shape, S.nshape, names, sizeof names);
        refuse_request(conn, ctl, CGIH_REFUSE_ENV, names);
    }
    /* Ours, the request's too (the same shape), made absolute at our start
     * from our working directory, not the request's. */
    if (S.relative_user_base)
        refuse_request(conn, ctl, CGIH_REFUSE_ENV, S.relative_user_base);
    if (!limits_fit(&r)) {
        refuse_request(conn, ctl, CGIH_REFUSE_LIMITS, NULL);
    }
    if (conf_differs)
        refuse_request(conn, ctl, CGIH_REFUSE_CONFINED, NULL);
    /* A client in a PID namespace that ours does not contain (SO_PEERCRED
     * gave pid 0: we run in one of our own) cannot be looked into, and what
     * confines it is unknown. */
    if (peer_pid <= 0)
        refuse_request(conn, ctl, CGIH_REFUSE_CONFINED, "a PID namespace I do not see");
    if (!same_tmp(peer_pid))
        refuse_request(conn, ctl, CGIH_REFUSE_TMP, NULL);
    /* Nor may the script leave its client's network, processes, IPC,
     * host name or file systems (systemd's PrivateNetwork=, PrivatePIDs=,
     * PrivateIPC=, ProtectHostname=, ProtectHome=...) for ours, nor its
     * user namespace (unshare -U, a sandbox's): in ours it would have
     * another uid and other capabilities, and see files' owners otherwise;
     * nor its time namespace (unshare -T, a checkpointed container's), whose
     * CLOCK_MONOTONIC and CLOCK_BOOTTIME are not ours. */
    for (size_t i = 0; i < N_NS; i++)
        if (i != NS_MNT && !same_ns(peer_pid, i)) {
            char what[64];
            snprintf(what, sizeof what, "another %s namespace, or unknown", ns_names[i]);
            refuse_request(conn, ctl, CGIH_REFUSE_CONFINED, what);
        }
    if (!same_mounts(peer_pid))
        refuse_request(conn, ctl, CGIH_REFUSE_CONFINED, "other mounts, or unknown");
    /* What /proc/PID showed was the client's only if it is still there. */
    if (!peer_alive(pidfd))
        _exit(0);
    if (pidfd >= 0)
        close(pidfd);
    if (cgih_send_msg(conn, CGIH_MSG_READY, 0) < 0)
        _exit(0);
    t_req = cgih_now_ns();

    /* While the client answers: the environment, with what Python's start
     * would add to it (it added the same to ours). */
    char **env = malloc((r.envc + S.nadded + 1) * sizeof *env);
    if (!env)
        _exit(0);
    size_t n = 0;
    for (uint32_t i = 0; i < r.envc; i++)
        env[n++] = r.envp[i];
    for (size_t i = 0; i < S.nadded; i++) {
        size_t len = strcspn(S.added[i], "=") + 1;
        int have = 0;
        for (uint32_t j = 0; j < r.envc && !have; j++)
            have = strncmp(r.envp[j], S.added[i], len) == 0;
        if (!have)
            env[n++] = S.added[i];
    }
    env[n] = NULL;
    /* os.environ too, while the client answers: nothing here is seen
     * outside this process, which exits if GO does not come. (A handler
     * request's script resolution installs a new environ: synced again.) */
    environ = env;
    cgih_drain_keep_env(); /* the web server's, as the client reads it */
    int synced = sync_environ();
    if (synced < 0)
        PyErr_Clear(); /* tried again, and reported, once committed */
    /* The C library and the time module read TZ once, at the server's
     * start: a request with another TZ has both read it again, as a fresh
     * process would have (localtime(), time.tzname, datetime). */
    const char *tz = getenv("TZ");
    int same_tz = tz && S.tz ? strcmp(tz, S.tz) == 0 : tz == S.tz;
    /* The same TZ, but its file is another since the server read it
     * (timedatectl set-timezone, a tzdata upgrade): read it again too.
     * glibc reads nothing for a TZ it has read already: a TZ of no file
     * first makes it forget. */
    struct stat tz_st;
    int tz_st_ok = tz_file_stat(tz, &tz_st);
    if (same_tz && (tz_st_ok != S.tz_st_ok || (tz_st_ok && !same_zone_file(&tz_st, &S.tz_st)))) {
        char utc[] = "TZ=UTC0", *only_utc[] = {utc, NULL};
        environ = only_utc;
        tzset();
        environ = env;
        same_tz = 0;
    }
    if (!same_tz) {
        tzset();
        PyObject *time = PyImport_ImportModule("time");
        PyObject *done = time ? PyObject_CallMethod(time, "tzset", NULL) : NULL;
        Py_XDECREF(done);
        Py_XDECREF(time);
        PyErr_Clear(); /* as python3 would: it starts whatever TZ says */
    }

    struct cgih_msg go = {0};
    if (recv_with_fds(conn, &go, sizeof go, fds, &nfds) < 0 || go.type != CGIH_MSG_GO)
        _exit(go.type == CGIH_MSG_GO ? 71 : 0); /* a GO we cannot use; else the client runs it itself */
    if (nfds != __builtin_popcount(r.flags))
        _exit(71);
    alarm(0);
    if (sigaction(SIGALRM, &alrm0, NULL) != 0)
        _exit(71);
    t_go = cgih_now_ns();
    /* Signals wait (the client forwards what it caught from now on) until
     * the script's dispositions and mask are in place: take_clients_signals(). */
    sigset_t all;
    sigfillset(&all);
    if (sigprocmask(SIG_BLOCK, &all, NULL) != 0)
        _exit(71);
    /* A signal that reached this pool child before it became the request
     * (only a kill aimed at it: it has a session of its own) is no
     * request's: a SIGINT Python noted would be the script's
     * KeyboardInterrupt. Python's handlers run now, and what they raise
     * is dropped. */
    if (PyErr_CheckSignals() < 0)
        PyErr_Clear();
    struct ctl_msg started = {.type = CTL_STARTED};
    if (send(ctl, &started, sizeof started, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* the server is gone: the request goes on without it */
    }

    /* The commit point is behind us: become the request. */
    int k2 = 0;
    int cwdfd = -1;
    for (int fd = 0; fd < 3; fd++) {
        if (r.flags & (1u << fd)) {
            if (dup2(fds[k2++], fd) < 0)
                _exit(71);
        } else {
            close(fd);
        }
    }
    if (r.flags & CGIH_FLAG_CWD)
        cwdfd = fds[k2++];
    if (cwdfd >= 0 && fchdir(cwdfd) != 0) {
        fprintf(stderr, "cgihost: cannot enter the working directory: %s\n", strerror(errno));
        _exit(71);
    }
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    umask((mode_t)r.umask);
    apply_rlimits(&r);
    /* sys.std*: the server's premade ones where the fd is of their kind
     * (sys.std* are the pipe ones already), else made afresh (a tty's
     * stdout is line-buffered, a closed fd gives None). */
    unsigned remake = 0;
    for (int fd = 0; fd < 3; fd++) {
        struct stat st;
        if (!(r.flags & (1u << fd)) || fstat(fd, &st) != 0) {
            remake |= 1u << fd;
        } else if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) {
            if (!S.stdio_on_pipes)
                remake |= 1u << fd;
        } else if (S_ISREG(st.st_mode) || (S_ISCHR(st.st_mode) && st.st_rdev == S.null_rdev)) {
            if (!S.stdio_on_files || use_stdio(fd, S.std_file[fd]) < 0) {
                PyErr_Clear();
                remake |= 1u << fd;
            }
        } else {
            remake |= 1u << fd;
        }
    }
    if (remake && reset_stdio_fds(remake) < 0) {
        PyErr_Print();
        _exit(71);
    }

    int argc = (int)r.argc;
    char **argv = r.argv;
    take_clients_signals(&r, ign_known, client_ign);
    int status = cgih_main_prepare(&argc, &argv);
    if ((synced < 0 || environ != env) && sync_environ() < 0) {
        PyErr_Print();
        status = 71;
    }
    /* The run's code lookup tells the server of a script to cache, then
     * closes ctl (cache_lookup()); it is closed here if no run looks. */
    char opt[CGIH_SHEBANG_MAX];
    if (status < 0 && cgih_shebang_python_arg_of(argv[1], opt)) {
        /* -u (the common one): unbuffered stdout and stderr, made here;
         * any other option needs a fresh start. */
        if (opt[0] == '-' && opt[1] && strspn(opt + 1, "u") == strlen(opt + 1)) {
            S.buffered_stdio = 0;
            if (reset_stdio_fds(7) < 0 || cgih_py_note_option(opt) < 0) {
                PyErr_Print();
                _exit(71);
            }
        } else {
            exec_cold(argc, argv, ign_known, client_ign); /* on failure it runs here, without it */
        }
    }
    /* Streams made for this request (above, or for -u): cgitb's handler,
     * made at our import, holds them from the start, and the script's own
     * `import cgitb` makes a new module, as in a fresh start. */
    if (cgih_cgitb_follow_stdout() < 0) {
        PyErr_Print();
        _exit(71);
    }
    if (status < 0)
        lookup_ctl = ctl;
    else
        close(ctl);
    t_setup = cgih_now_ns();
    const char *trace = getenv("CGIHOST_TRACE");
    int tracing = trace && *trace && strcmp(trace, "0") != 0;
    struct rusage ru0 = {0}, ru1 = {0};
    if (tracing && getrusage(RUSAGE_SELF, &ru0) != 0)
        tracing = 0;
    pid_t request_pid = getpid();
    request_conn = conn;
    if (pthread_atfork(NULL, NULL, forget_request) != 0) {
        /* out of memory: its forks keep the connection, as before */
    }
    if (status < 0)
        status = cgih_main_run(argc, argv);
    if (lookup_ctl >= 0) {
        close(lookup_ctl);
        lookup_ctl = -1;
    }
    fflush(NULL);
    if (getpid() != request_pid)
        _exit(status); /* a process the script forked, returning: the request is not its to end */
    long long t_done = cgih_now_ns(); /* before reading smaps */
    if (tracing && getrusage(RUSAGE_SELF, &ru1) == 0)
        fprintf(stderr, "cgihost-trace child dispatched %lld ready %lld go %lld setup %lld done %lld "
                "private_kb %ld faults_run %ld\n", t_dispatched, t_req, t_go, t_setup, t_done,
                strcmp(trace, "2") != 0 ? cgih_private_kb() : -1L, ru1.ru_minflt - ru0.ru_minflt);
    /* What the script left of a request body on a socket goes to the
     * client with the status: it drains it (cgih_drain_body()), so that
     * this child, and its place among --max-children, is not held while a
     * slow client sends the rest; and the socket has a holder until then.
     * (Copied once 1 and 2 are closed: a script that used up its fds left
     * no other place for the copy.) */
    close(1);
    close(2);
    int left = cgih_drain_wanted(0) ? fcntl(0, F_DUPFD_CLOEXEC, 1) : -1;
    close(0);
    /* Our copies of fds 0-2 are closed (the client has let go of its own
     * stdin and stdout at GO). Learn before reporting: once the client has
     * its status and exits, the server kills us. */
    learn_pages();
    if (left >= 0) {
        struct cgih_msg m = {CGIH_MSG_STATUS, status & 0xff};
        if (cgih_send_with_fds(conn, &m, sizeof m, &left, 1, MSG_NOSIGNAL) < 0) {
            /* the client has gone: nobody to tell */
        }
        close(left);
    } else {
        cgih_send_msg(conn, CGIH_MSG_STATUS, status & 0xff);
    }
    /* Our exit (tearing down a copy of the server's address space) takes
     * a few hundred microseconds; the client woken by STATUS, if the
     * scheduler put it on this CPU, would wait for it. Let it go first. */
    (void)sched_yield(); /* cannot fail on Linux; failing would only cost the wait */
    _exit(status);
}

/* ---- the server: children ------------------------------------------------------------ */

static void ep_add(int fd, uint32_t events, struct watch *w)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(S.epfd, EPOLL_CTL_ADD, fd, &ev) != 0)
        logmsg("epoll_ctl add: %s", strerror(errno));
}

static void ep_mod(int fd, uint32_t events, struct watch *w)
{
    struct epoll_event ev = {.events = events, .data.ptr = w};
    if (epoll_ctl(S.epfd, EPOLL_CTL_MOD, fd, &ev) != 0)
        logmsg("epoll_ctl mod: %s", strerror(errno));
}

static void close_watched(int *fd)
{
    if (*fd < 0)
        return;
    epoll_ctl(S.epfd, EPOLL_CTL_DEL, *fd, NULL);
    close(*fd);
    *fd = -1;
}

static void unlink_child(struct child **list, struct child *c)
{
    for (struct child **p = list; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            return;
        }
}

/* Forks a pool child, idle until dispatched; it does not keep `pending`,
 * a connection being dispatched (-1: none). NULL when fork fails. */
static struct child *spawn(int pending)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        logmsg("socketpair: %s", strerror(errno));
        return NULL;
    }
    struct child *c = calloc(1, sizeof *c);
    if (!c) {
        close(sv[0]);
        close(sv[1]);
        return NULL;
    }
    children_forked++;
    int learns = children_forked <= LEARN_FIRST || children_forked % LEARN_EVERY == 0;
    if (!learns && learners_owed > 0) {
        learns = 1;
        learners_owed--;
    }
    PyOS_BeforeFork();
    pid_t pid = fork();
    if (pid == 0) {
        learner = learns;
        PyOS_AfterFork_Child();
        /* Nothing of the server's: its sockets, and other requests'. */
        close(sv[0]);
        close(S.sfd);
        close(S.epfd);
        close(S.lockfd);
        if (pending >= 0)
            close(pending);
        struct child *lists[] = {S.idle, S.busy, S.leaving};
        for (int i = 0; i < 3; i++)
            for (struct child *o = lists[i]; o && o != o->next; o = o->next) {
                if (o->ctl >= 0)
                    close(o->ctl);
                if (o->conn >= 0)
                    close(o->conn);
            }
        for (struct queued *q = S.qhead; q; q = q->next)
            if (q->fd >= 0)
                close(q->fd);
        child_serve(sv[1], pending >= 0);
    }
    PyOS_AfterFork_Parent();
    close(sv[1]);
    if (pid < 0) {
        logmsg("fork: %s", strerror(errno));
        close(sv[0]);
        free(c);
        return NULL;
    }
    c->pid = pid;
    c->ctl = sv[0];
    c->conn = -1;
    c->gen = S.gen;
    c->learner = learns;
    c->wctl = (struct watch){.kind = W_CTL, .c = c};
    c->wconn = (struct watch){.kind = W_CONN, .c = c};
    ep_add(c->ctl, EPOLLIN, &c->wctl);
    return c;
}

static void refuse(int conn, int why)
{
    S.refused++;
    struct cgih_msg m = {CGIH_MSG_REFUSE, why};
    if (send(conn, &m, sizeof m, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* the client falls back on EOF as well */
    }
    close(conn);
}

/* A refusal in the log: the first of its kind, then at most one a minute,
 * with what was refused, so that a server that serves nothing says why. */
static void log_refused(int why, const char *detail)
{
    time_t now = now_s(), *last = &S.t_refused_log[why > 0 && why < 10 ? why : 0];
    if (*last && now - *last < 60)
        return;
    *last = now;
    const char *what = why == CGIH_REFUSE_UID      ? "another user"
                       : why == CGIH_REFUSE_ENV    ? "interpreter-shaping variables not as mine"
                       : why == CGIH_REFUSE_GROUPS ? "other groups than mine"
                       : why == CGIH_REFUSE_LIMITS ? "a hard resource limit above mine"
                       : why == CGIH_REFUSE_TMP
                           ? "another /tmp than mine (a private /tmp, as systemd's PrivateTmp= "
                             "gives a web server: see cgihost.service)"
                       : why == CGIH_REFUSE_CONFINED
                           ? "another confinement than mine (no_new_privs, seccomp, "
                             "capability bounding or ambient set, network, PID, IPC, UTS, "
                             "user or time namespace, mounts)"
                       : why == CGIH_REFUSE_VERSION ? "another version of cgihost"
                       : why == CGIH_REFUSE_BUSY    ? "no child to run it"
                                                    : "a malformed request";
    logmsg("refused a request (%s%s%s), which its client runs in-process (%ld refused so far)%s", what,
           *detail ? ": " : "", detail, S.refused,
           why == CGIH_REFUSE_ENV ? "; a server for a web server's requests starts with their "
                                    "environment (cgihost(1), ENVIRONMENT)" : "");
}

/* Whether S.sock is still the socket file we bound (or found, re-executed):
 * a directory removed and made again, or a socket file removed, may hold
 * another server's by now, which is not ours to unlink. */
static int own_socket(void)
{
    struct stat st;
    return S.sock_st_ok && lstat(S.sock, &st) == 0 && S_ISSOCK(st.st_mode) &&
           st.st_dev == S.sock_st.st_dev && st.st_ino == S.sock_st.st_ino;
}

static void unlink_own_socket(void)
{
    if (own_socket())
        unlink(S.sock);
}

/* The state letter of process pid in /proc (R, S, T, Z...), 0 when none. */
static char proc_state(long pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    const char *p = strrchr(buf, ')'); /* the state follows the command's name */
    return p && p[1] == ' ' ? p[2] : 0;
}

/* Whether a signal stopped the process (SIGSTOP, SIGTSTP, a debugger). */
static int proc_stopped(pid_t pid)
{
    char st = proc_state(pid);
    return st == 'T' || st == 't';
}

static void update_listening(void);

/* Tells pool child c, out of S.idle already, to leave: EOF on its control
 * socket, whose reading end stays open until it is reaped. A pool child
 * accepts by itself, so it may have taken a connection just before (its
 * TAKEN not read yet, or not sent yet): closing the socket lost that TAKEN,
 * and the connection went unwatched (a status or stop then never answered:
 * "did not answer"; a request's client signals not passed on, nor counted
 * among --max-children or in a stop's drain). Its TAKEN still comes, and
 * makes it busy (on_ctl()). */
static void retire_idle(struct child *c)
{
    if (c->ctl < 0 || shutdown(c->ctl, SHUT_WR) != 0) {
        close_watched(&c->ctl);
        c->dead = 1;
        c->next = S.grave;
        S.grave = c;
        return;
    }
    c->leaving = 1;
    c->next = S.leaving;
    S.leaving = c;
}

/* While a child counts as idle the server does not listen, its pool
 * children accepting for it; one that a signal stopped accepts nothing, and
 * every connection would wait for its client's timeout. Once a second,
 * while a connection waits: stopped idle children are killed (they hold no
 * request) and the pool is made again. */
static void retire_stopped_idle(void)
{
    struct pollfd p = {.fd = S.lfd, .events = POLLIN};
    if (S.nidle == 0 || S.lfd < 0 || poll(&p, 1, 0) != 1)
        return;
    for (struct child **pp = &S.idle; *pp;) {
        struct child *c = *pp;
        if (!proc_stopped(c->pid)) {
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        S.nidle--;
        close_watched(&c->ctl);
        if (kill(c->pid, SIGKILL) != 0)
            logmsg("kill %ld: %s", (long)c->pid, strerror(errno));
        logmsg("pool child %ld was stopped by a signal while connections waited: killed",
               (long)c->pid);
        c->dead = 1;
        c->next = S.grave;
        S.grave = c;
    }
    update_listening();
}

/* Socket and lock let go (a stopping server whose requests outlast
 * --stop-wait, or whose socket file is gone): a successor may start, while
 * we keep watching the requests running until the last one ends. */
static void let_socket_go(void)
{
    S.draining = 1;
    S.restarting = 0;
    update_listening();
    unlink_own_socket();
    close(S.lfd);
    S.lfd = -1;
    close(S.lockfd);
    S.lockfd = -1;
}

static void start_stop(const char *why)
{
    if (S.stopping)
        return;
    logmsg("stopping: %s", why);
    S.stopping = 1;
    S.t_stop = now_s();
    if (!S.activated && !S.restarting)
        unlink_own_socket();
    while (S.idle) {
        struct child *c = S.idle;
        S.idle = c->next;
        S.nidle--;
        /* it reads EOF and leaves */
        retire_idle(c);
        if (kill(c->pid, SIGCONT) != 0 && errno != ESRCH) /* one that a signal stopped too */
            logmsg("kill %ld: %s", (long)c->pid, strerror(errno));
    }
}

/* A stop asked for (a signal, `cgihost stop`), also while a restart waits
 * for running requests: then it becomes a stop, with no exec, and the
 * socket goes at once, so no client waits for a server that will not
 * answer. */
static void stop_now(const char *why)
{
    if (S.stopping && S.restarting) {
        logmsg("stopping: %s", why);
        S.restarting = 0;
        if (!S.activated)
            unlink_own_socket();
        return;
    }
    start_stop(why);
}

/* ASKER: the child that took the asking connection, or NULL: it runs no
 * request, and a pool child that took it itself counts as the idle child
 * it was until the question came, but for the one forked since in its
 * place (with --pool 1, the pool is refilled while the question runs:
 * counted both, the pool showed one more child than it holds). */
static void send_info(int conn, const struct child *asker)
{
    int was_idle = asker && asker->took && !asker->leaving;
    int idle = S.nidle + was_idle;
    if (was_idle && idle > S.pool)
        idle = S.pool;
    int32_t info[CGIH_INFO_COUNT] = {(int32_t)getpid(),
                                     (int32_t)(now_s() - S.t_start),
                                     (int32_t)S.served,
                                     S.nbusy - (asker != NULL),
                                     idle,
                                     (int32_t)PyDict_GET_SIZE(S.cache),
                                     S.nqueued,
                                     (int32_t)S.refused};
    for (int i = 0; i < CGIH_INFO_COUNT; i++) {
        struct cgih_msg m = {CGIH_MSG_INFO, info[i]};
        if (send(conn, &m, sizeof m, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
            break;
    }
}

/* STOP: the asker hears the server's pid, then the server stops. */
static void answer_stop(int conn)
{
    struct cgih_msg r = {CGIH_MSG_INFO, (int32_t)getpid()};
    if (conn >= 0 && send(conn, &r, sizeof r, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
        /* it asked; it need not hear */
    }
    stop_now("asked to stop");
}

/* A connection no child can take (--max-children are busy, or fork failed):
 * STOP and QUERY are answered here, so that `cgihost stop|status` reach a
 * server that is saturated or cannot fork; anything else is refused BUSY.
 * Their header comes right after connect(): it is waited for, at most 20 ms,
 * on this path only. */
static void answer_unforked(int conn)
{
    struct pollfd p = {conn, POLLIN, 0};
    struct cgih_hdr h;
    const char *why;
    if (poll(&p, 1, 20) == 1 && recv(conn, &h, sizeof h, MSG_PEEK | MSG_DONTWAIT) == (ssize_t)sizeof h &&
        cgih_hdr_check(&h, &why) == CGIH_OK) {
        if (h.kind == CGIH_KIND_QUERY) {
            send_info(conn, NULL);
            close(conn);
            return;
        }
        if (h.kind == CGIH_KIND_STOP) {
            answer_stop(conn);
            close(conn);
            return;
        }
    }
    refuse(conn, CGIH_REFUSE_BUSY);
    char detail[96];
    if (S.stopping)
        snprintf(detail, sizeof detail, "the server is stopping");
    else if (S.nbusy >= S.max_children)
        snprintf(detail, sizeof detail, "--max-children %d running, %s", S.max_children,
                 S.queue_ms <= 0 || S.queue <= 0 ? "no --queue" : "the --queue full");
    else
        snprintf(detail, sizeof detail, "no child could be forked");
    log_refused(CGIH_REFUSE_BUSY, detail);
}

/* ---- the queue: requests waiting for a child -------------------------------------------
 *
 * With --max-children running, a request waits here (--queue of them, each
 * --queue-ms at most) for one of them to end, instead of being refused at
 * once: refused, it would run in-process, a whole interpreter's start on a
 * machine that is busy already, and past the limit on processes that
 * --max-children is. Waiting ones are served oldest first; one that waited
 * too long, or finds the server stopping, is refused BUSY and runs
 * in-process then. STOP and QUERY are answered as soon as their header is
 * read. */
static void unqueue(struct queued *q)
{
    if (q->fd < 0)
        return;
    epoll_ctl(S.epfd, EPOLL_CTL_DEL, q->fd, NULL);
    q->fd = -1;
    S.nqueued--;
}

/* 0 when conn waits in the queue; -1 when it is full or off. */
static int enqueue(int conn, uid_t peer, pid_t peer_pid)
{
    struct queued *q;
    if (S.stopping || S.queue_ms <= 0 || S.nqueued >= S.queue || !(q = calloc(1, sizeof *q)))
        return -1;
    *q = (struct queued){.fd = conn, .uid = peer, .pid = peer_pid, .since_ns = cgih_now_ns()};
    q->w = (struct watch){.kind = W_QUEUED, .q = q};
    /* Edge-triggered: a header that came in part waits for the rest
     * without waking the loop over and over. */
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = &q->w};
    if (epoll_ctl(S.epfd, EPOLL_CTL_ADD, conn, &ev) != 0) {
        free(q);
        return -1;
    }
    *S.qtail = q;
    S.qtail = &q->next;
    S.nqueued++;
    return 0;
}

/* Its header (peeked, left for the child) or its hang-up. */
static void on_queued(struct queued *q, uint32_t events)
{
    struct cgih_hdr h;
    const char *why;
    ssize_t k = events & EPOLLIN ? recv(q->fd, &h, sizeof h, MSG_PEEK | MSG_DONTWAIT) : 0;
    if (k < 0 && (errno == EINTR || errno == EAGAIN))
        return;
    int fd = q->fd, gone = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0;
    if (k == (ssize_t)sizeof h && cgih_hdr_check(&h, &why) == CGIH_OK && h.kind != CGIH_KIND_REQ) {
        unqueue(q);
        if (h.kind == CGIH_KIND_QUERY)
            send_info(fd, NULL);
        else
            answer_stop(fd);
        close(fd);
    } else if (k == (ssize_t)sizeof h && !gone) {
        /* A request (or garbage: its child will see): from now on only
         * its hang-up matters. */
        ep_mod(fd, EPOLLRDHUP | EPOLLET, &q->w);
    } else if (k > 0 && !gone) {
        /* part of a header: the rest comes with the next edge (or the
         * wait ends at --queue-ms) */
    } else {
        unqueue(q); /* gone: it runs in-process (or never was a client) */
        close(fd);
    }
}

static void hand_to_child(int conn, uid_t peer, pid_t peer_pid);

/* Hands the oldest waiting connections to children while there is room,
 * refuses those that waited --queue-ms (all of them when stopping), frees
 * the entries done with. Returns the milliseconds until the oldest waiting
 * one times out, -1 when none waits. */
static long drain_queue(void)
{
    long long now = cgih_now_ns(), limit = (long long)S.queue_ms * 1000000;
    int blocked = 0; /* the oldest waiting one stays: so do all after it */
    struct queued **p = &S.qhead;
    while (*p) {
        struct queued *q = *p;
        if (q->fd >= 0 && !blocked) {
            int fd = q->fd;
            if (S.stopping || now - q->since_ns >= limit) {
                unqueue(q);
                refuse(fd, CGIH_REFUSE_BUSY);
                S.queue_refused += !S.stopping;
            } else if (S.nbusy < S.max_children) {
                unqueue(q);
                hand_to_child(fd, q->uid, q->pid);
            } else {
                blocked = 1;
            }
        }
        if (q->fd >= 0) {
            p = &q->next;
        } else { /* done with: handed, refused, answered or gone */
            *p = q->next;
            free(q);
        }
    }
    S.qtail = p;
    if (S.queue_refused > 0 && now_s() - S.t_queue_log >= 10) {
        logmsg("%ld requests waited %ld ms for one of --max-children %d and ran in-process",
               S.queue_refused, S.queue_ms, S.max_children);
        S.queue_refused = 0;
        S.t_queue_log = now_s();
    }
    return S.qhead ? (long)((S.qhead->since_ns + limit - now) / 1000000) + 1 : -1;
}

static void hand_to_child(int conn, uid_t peer, pid_t peer_pid)
{
    for (;;) {
        /* We accept only when no pool child is idle (or one was forked just
         * now: it may be accepting already), so this gets a child of its own;
         * a pool child is never handed a connection, which it could not tell
         * from one it accepted at the same time. */
        struct child *c = NULL;
        if (S.nbusy >= S.max_children || !(c = spawn(conn))) {
            answer_unforked(conn);
            return;
        }
        struct ctl_msg m = {.type = CTL_DISPATCH, .peer_uid = (uint32_t)peer, .peer_pid = (int32_t)peer_pid};
        c->next = S.busy;
        S.busy = c;
        S.nbusy++;
        if (cgih_send_with_fds(c->ctl, &m, sizeof m, &conn, 1, MSG_NOSIGNAL | MSG_DONTWAIT) ==
            (ssize_t)sizeof m) {
            c->conn = conn;
            /* Until the child has read the request, only watch for hang-up. */
            ep_add(conn, EPOLLRDHUP, &c->wconn);
            return;
        }
        /* A dead pool child: forget it (SIGCHLD reaps it) and try again. */
        close_watched(&c->ctl);
    }
}

static void dispatch(int conn, uid_t peer, pid_t peer_pid)
{
    if (S.stopping) { /* status and stop are answered; a request runs in-process now */
        answer_unforked(conn);
        return;
    }
    /* Oldest first: with others waiting, a new one waits behind them (or,
     * the queue full, is refused: it does not pass them). */
    if (S.nbusy >= S.max_children || S.nqueued > 0) {
        if (enqueue(conn, peer, peer_pid) != 0)
            answer_unforked(conn);
        return;
    }
    hand_to_child(conn, peer, peer_pid);
}

static void on_listen(void)
{
    for (int i = 0; i < 64; i++) {
        int conn = accept4(S.lfd, NULL, NULL, SOCK_CLOEXEC);
        if (conn < 0) {
            if (errno == EMFILE || errno == ENFILE) {
                /* Out of fds: listening again when a child ends frees some
                 * (not now, or the ready socket would spin the loop). */
                if (!S.fd_starved)
                    logmsg("accept: %s; not accepting until a request ends", strerror(errno));
                S.fd_starved = 1;
            } else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED) {
                logmsg("accept: %s", strerror(errno));
            }
            return;
        }
        struct ucred cr = {0, (uid_t)-1, (gid_t)-1};
        socklen_t crl = sizeof cr;
        if (getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cr, &crl) != 0 ||
            (cr.uid != getuid() && cr.uid != 0)) {
            refuse(conn, CGIH_REFUSE_UID);
            char who[32];
            log_refused(CGIH_REFUSE_UID, uid_detail(who, sizeof who, cr.uid));
            continue;
        }
        S.t_active = now_s();
        dispatch(conn, cr.uid, cr.pid);
    }
}

/* Handles one control message; 0 when there was none. */
static int on_ctl(struct child *c)
{
    char buf[sizeof(struct ctl_msg) + PATH_MAX + 1];
    union {
        struct cmsghdr h;
        char b[CMSG_SPACE(sizeof(int))];
    } cm;
    struct iovec iov = {buf, sizeof buf - 1};
    struct msghdr mh = {0};
    mh.msg_iov = &iov;
    mh.msg_iovlen = 1;
    mh.msg_control = cm.b;
    mh.msg_controllen = sizeof cm.b;
    ssize_t k = recvmsg(c->ctl, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (k < 0 && errno == EINTR)
        return 1;
    if (k < 0 && errno == EAGAIN)
        return 0;
    int fd = -1;
    struct cmsghdr *h = k > 0 ? CMSG_FIRSTHDR(&mh) : NULL;
    if (h && h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
        memcpy(&fd, CMSG_DATA(h), sizeof fd);
    if (k < (ssize_t)sizeof(struct ctl_msg)) {
        if (fd >= 0)
            close(fd);
        close_watched(&c->ctl);
        return 0;
    }
    struct ctl_msg m;
    memcpy(&m, buf, sizeof m);
    if (m.type == CTL_TAKEN && fd >= 0 && c->conn < 0 && !c->dead) {
        /* A pool child accepted a connection itself: it is busy now. */
        c->took = 1;
        for (struct child **p = c->leaving ? &S.leaving : &S.idle; *p; p = &(*p)->next)
            if (*p == c) {
                *p = c->next;
                S.nidle -= !c->leaving;
                c->next = S.busy;
                S.busy = c;
                S.nbusy++;
                break;
            }
        c->conn = fd;
        fd = -1;
        S.t_active = now_s();
        ep_add(c->conn, EPOLLRDHUP, &c->wconn);
    } else if (m.type == CTL_STARTED && c->conn >= 0) {
        c->started = 1;
        ep_mod(c->conn, EPOLLIN | EPOLLRDHUP, &c->wconn);
    } else if (m.type == CTL_SCRIPT && PyList_GET_SIZE(S.pending) < 64) {
        buf[k] = '\0';
        PyObject *f = PyUnicode_DecodeFSDefault(buf + sizeof m);
        if (!f || PyList_Append(S.pending, f) < 0)
            PyErr_Clear();
        Py_XDECREF(f);
    } else if (m.type == CTL_REFUSED) {
        S.refused++;
        buf[k] = '\0';
        log_refused(m.info[0], buf + sizeof m);
    } else if (m.type == CTL_QUERY && c->conn >= 0) {
        send_info(c->conn, c);
    } else if (m.type == CTL_STOP) {
        answer_stop(c->conn);
    }
    if (fd >= 0)
        close(fd);
    return 1;
}

/* The server accepts connections itself only when no pool child is idle
 * (idle children accept their own). */
static void update_listening(void)
{
    /* Stopping, it listens on: until it ends or drains (a running request
     * may take --stop-wait), whoever connects hears at once
     * (answer_unforked()), rather than wait in the backlog for the client's
     * time-out. */
    int want = (S.stopping || S.nidle == 0) && !S.fd_starved && !S.draining;
    if (want && !S.listening) {
        ep_add(S.lfd, EPOLLIN, &S.wlisten);
        S.listening = 1;
    } else if (!want && S.listening) {
        epoll_ctl(S.epfd, EPOLL_CTL_DEL, S.lfd, NULL);
        S.listening = 0;
    }
}

static void on_conn(struct child *c, uint32_t events)
{
    if (events & EPOLLIN) {
        struct cgih_msg m;
        for (;;) {
            ssize_t k = recv(c->conn, &m, sizeof m, MSG_DONTWAIT | MSG_WAITALL);
            if (k < 0 && errno == EINTR)
                continue;
            if (k < 0 && errno == EAGAIN)
                return;
            if (k != (ssize_t)sizeof m)
                break; /* EOF or garbage: the client is gone */
            if (m.type == CGIH_MSG_SIGNAL && m.value > 0 && m.value < NSIG && !c->dead)
                kill(c->pid, m.value);
        }
    } else if (!(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
        return;
    }
    /* The client hung up or died: no orphan keeps running its script. */
    if (!c->dead)
        kill(c->pid, SIGKILL);
    close_watched(&c->conn);
}

static long idle_deaths;      /* pool children killed by a signal, since the last log line */
static time_t t_idle_death_log;

static void reap(void)
{
    int st;
    pid_t pid;
    while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
        struct child *c = NULL, **lists[] = {&S.busy, &S.idle, &S.grave, &S.leaving};
        int which = -1;
        for (int i = 0; i < 4 && !c; i++)
            for (struct child *o = *lists[i]; o; o = o->next)
                if (o->pid == pid) {
                    c = o;
                    which = i;
                    break;
                }
        if (L) { /* a child that died holding the learning lock frees it */
            int held = (int)pid;
            __atomic_compare_exchange_n(&L->lock, &held, 0, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED);
        }
        if (!c)
            continue; /* one of a previous image's, before a re-exec */
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
        /* What it said before it died (SIGCHLD may come first); that may
         * move it from the idle list to the busy one. */
        while (c->ctl >= 0 && on_ctl(c))
            ;
        which = c->dead ? 2 : -1;
        for (struct child *o = S.busy; which < 0 && o; o = o->next)
            which = o == c ? 0 : -1;
        for (struct child *o = S.idle; which < 0 && o; o = o->next)
            which = o == c ? 1 : -1;
        for (struct child *o = S.leaving; which < 0 && o; o = o->next)
            which = o == c ? 3 : -1;
        if (which < 0)
            which = 2;
        if (c->conn >= 0) {
            struct cgih_msg m = {CGIH_MSG_STATUS, code};
            if (send(c->conn, &m, sizeof m, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
                /* the client has gone: nobody to tell */
            }
        }
        close_watched(&c->conn);
        close_watched(&c->ctl);
        S.fd_starved = 0;
        if (which == 0) {
            S.nbusy--;
            S.served += c->started; /* a request it refused, or one whose client left before GO, is none */
            S.t_active = now_s();
        } else if (which == 1) {
            S.nidle--;
            if (WIFSIGNALED(st)) { /* a pool child dies only of EOF on ctl, normally */
                idle_deaths++;
                if (now_s() - t_idle_death_log >= 10) {
                    logmsg("%ld pool children died while idle, the last of signal %d", idle_deaths,
                           WTERMSIG(st));
                    idle_deaths = 0;
                    t_idle_death_log = now_s();
                }
            }
        }
        if (which != 2) {
            /* Freed after this batch of events, some of which may be its. */
            unlink_child(lists[which], c);
            c->dead = 1;
            c->next = S.grave;
            S.grave = c;
        }
    }
}

/* Whether this process has used three quarters of its CPU time limit: a
 * server that a client started inherits the client's (Apache's RLimitCPU),
 * which counts the server's own time over its whole life, and past it the
 * kernel sends SIGXCPU, or SIGKILL at once where the soft limit is the hard
 * one. Stopping in time, it leaves no request without its server. */
static int cpu_time_near_limit(void)
{
    struct rlimit rl;
    struct rusage ru;
    if (getrlimit(RLIMIT_CPU, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
        getrusage(RUSAGE_SELF, &ru) != 0)
        return 0;
    long long used_ms = (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000 +
                        (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000;
    /* (0 acts as 1 second; a limit past a lifetime is none) */
    unsigned long long limit_s = rl.rlim_cur ? (unsigned long long)rl.rlim_cur : 1;
    return limit_s < (1ULL << 40) && (unsigned long long)used_ms >= limit_s * 750;
}

static void on_signal(void)
{
    struct signalfd_siginfo si;
    while (read(S.sfd, &si, sizeof si) == (ssize_t)sizeof si) {
        if (si.ssi_signo == SIGCHLD) {
            reap();
        } else {
            stop_now(strsignal((int)si.ssi_signo));
        }
    }
    reap();
}

/* ---- the server: idle work -------------------------------------------------------------- */

/* Compiles one script for the cache; warnings are errors here, so a script
 * that warns at compile time keeps doing so in every request. */
static void compile_one(void)
{
    PyObject *f = PyList_GetItem(S.pending, 0);
    Py_XINCREF(f);
    if (!f || PySequence_DelItem(S.pending, 0) < 0) {
        PyErr_Clear();
        Py_XDECREF(f);
        return;
    }
    PyObject *key = cache_key(f), *code = NULL, *after = NULL;
    PyObject *warnings = NULL, *filters = NULL, *entry = NULL, *r = NULL;
    if (!key || PyDict_Contains(S.cache, key) != 0 || PySet_Contains(S.uncached, key) != 0)
        goto done;
    if (!(warnings = PyImport_ImportModule("_warnings")) ||
        !(filters = PyObject_GetAttrString(warnings, "filters")) || !PyList_Check(filters) ||
        !(entry = Py_BuildValue("(sOOOi)", "error", Py_None, PyExc_Warning, Py_None, 0)) ||
        PyList_Insert(filters, 0, entry) < 0)
        goto done;
    if (!(r = PyObject_CallMethod(warnings, "_filters_mutated", NULL))) {
        PySequence_DelItem(filters, 0);
        goto done;
    }
    Py_CLEAR(r);
    code = cgih_py_compile_file(f);
    PyErr_Clear();
    if (PySequence_DelItem(filters, 0) < 0 || !(r = PyObject_CallMethod(warnings, "_filters_mutated", NULL)))
        goto done;
    /* Cache it only if the file did not change while we read it. */
    after = cache_key(f);
    if (code && after && PyObject_RichCompareBool(key, after, Py_EQ) == 1) {
        if (PyDict_GET_SIZE(S.cache) >= 256)
            PyDict_Clear(S.cache);
        if (PyDict_SetItem(S.cache, key, code) == 0) {
            S.gen++;
            PyObject *gc = PyImport_ImportModule("gc");
            PyObject *fr = gc ? PyObject_CallMethod(gc, "freeze", NULL) : NULL;
            Py_XDECREF(fr);
            Py_XDECREF(gc);
        }
    } else if (!code) {
        /* A syntax error or a compile-time warning: every request compiles
         * it, and shows it, itself. */
        if (PySet_GET_SIZE(S.uncached) >= 256)
            PySet_Clear(S.uncached);
        if (PySet_Add(S.uncached, key) < 0)
            PyErr_Clear();
    }
done:
    PyErr_Clear();
    Py_XDECREF(r);
    Py_XDECREF(entry);
    Py_XDECREF(filters);
    Py_XDECREF(warnings);
    Py_XDECREF(after);
    Py_XDECREF(code);
    Py_XDECREF(key);
    Py_DECREF(f);
}

/* Whether to fork a pool child now. The pool is filled while no request
 * runs: a fork and its pre-faulting, beside a running request on a small
 * machine, slowed it by 0.3 ms (hyperfine, sequential requests, 2 CPUs).
 * While requests run, one child is kept ready, with a CPU to spare: under
 * saturation forking per request costs less than warming up ahead. Never
 * past --max-children, nor in the second after a fork failed (RLIMIT_NPROC,
 * memory): either would make a busy loop of idle work that cannot be done. */
static int want_refill(void)
{
    return S.nidle < S.pool && S.nidle + S.nbusy < S.max_children && S.nqueued == 0 &&
           (S.nbusy == 0 || (S.nidle == 0 && S.nbusy < S.ncpu)) &&
           (S.t_spawn_failed == 0 || now_s() > S.t_spawn_failed);
}

/* One piece of idle work; 0 when there was none. */
static int idle_work(void)
{
    if (S.stopping)
        return 0;
    /* Pool children forked before the cache last grew go first. */
    for (struct child **p = &S.idle; *p; p = &(*p)->next)
        if ((*p)->gen != S.gen) {
            struct child *c = *p;
            *p = c->next;
            S.nidle--;
            learners_owed += c->learner && learners_owed < LEARN_FIRST; /* a later child learns instead */
            retire_idle(c);
            return 1;
        }
    if (S.cache && PyList_GET_SIZE(S.pending) > 0) {
        compile_one();
        return 1;
    }
    if (want_refill()) {
        struct child *c = spawn(-1);
        if (!c) {
            S.t_spawn_failed = now_s();
            return 0;
        }
        c->next = S.idle;
        S.idle = c;
        S.nidle++;
        return 1;
    }
    return 0;
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
           a->st_mtim.tv_nsec == b->st_mtim.tv_nsec && a->st_size == b->st_size;
}

static int binary_runs(void);

/* The file now under the binary's name did not run or exec: it is looked
 * at again S.backoff seconds later (10, doubling to 600), another file at
 * once. */
static void failed_look(long now)
{
    S.self_failed_ok = stat(S.self, &S.self_failed) == 0;
    S.t_nextlook = now + S.backoff;
    logmsg("%s changed, but does not run: looking again in %lds", S.self, S.backoff);
    S.backoff = S.backoff < 300 ? S.backoff * 2 : 600;
}

/* Whether the binary we run from was replaced by a finished one: another
 * regular file, time or size under its name, executable by us, the same at
 * two looks at least a second apart, and running (binary_runs()). A linker
 * or install(1) writes the new file in place and makes it executable last;
 * cp(1) makes it executable first. SELF: what stat() of its name gave, or
 * NULL when it failed. */
static int binary_replaced(long now, const struct stat *self)
{
    if (!self || same_file(self, &S.self_st)) {
        S.self_seen_ok = 0; /* being replaced, or not */
        return 0;
    }
    if (S.self_failed_ok && same_file(self, &S.self_failed)) {
        if (now < S.t_nextlook)
            return 0;
    } else if (S.self_failed_ok) {
        S.self_failed_ok = 0; /* another file: no waiting */
        S.backoff = 10;
    }
    if (!S_ISREG(self->st_mode) || access(S.self, X_OK) != 0 || !S.self_seen_ok ||
        !same_file(self, &S.self_seen)) {
        S.self_seen = *self;
        S.self_seen_ok = 1;
        S.t_seen = now;
        return 0;
    }
    if (now - S.t_seen < 1)
        return 0;
    S.self_seen_ok = 0;
    if (!binary_runs()) {
        failed_look(now);
        return 0;
    }
    return 1;
}

/* Whether the binary we run from has been MISSING (stat(): ENOENT) at every look
 * for BINARY_GONE_S seconds: uninstalled, or its build directory cleaned.
 * Serving on from the deleted file until --idle-exit, we would also serve
 * the user's other copies of cgihost, whose clients reach the same socket.
 * A replacement leaves the name empty a moment at most (rm, then cp). */
#define BINARY_GONE_S 3
static int binary_gone(long now, int missing)
{
    if (!missing) {
        S.gone_seen = 0;
        return 0;
    }
    if (!S.gone_seen) {
        S.gone_seen = 1;
        S.t_gone = now;
    }
    return now - S.t_gone >= BINARY_GONE_S;
}

/* Whether `BINARY --version` exits 0 within two seconds (posix_spawn(): no
 * copy of this process), with /dev/null for its stdio. */
static int binary_runs(void)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0)
        return 0;
    pid_t pid;
    char *argv[] = {S.argv[0], "--version", NULL};
    int rc = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (rc == 0)
        rc = posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (rc == 0)
        rc = posix_spawn(&pid, S.self, &fa, NULL, argv, S.env0); /* as the exec would have it */
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return 0;
    int status = 0;
    for (int i = 0; i < 2000; i++) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid)
            return WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (w < 0 && errno != EINTR)
            return 0;
        nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
    kill(pid, SIGKILL);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    return 0;
}

/* Re-executes the (new) binary, handing it the listening socket as systemd
 * would (LISTEN_FDS), so no client finds the socket missing meanwhile.
 * EXTRA: a NAME=value for its environment (replacing NAME's), or NULL. */
static void reexec(const char *extra)
{
    if (!extra && S.module_changed[0])
        logmsg("%s, a module this server imported, changed: restarting", S.module_changed);
    else if (!extra && S.site_changed)
        logmsg("a site-packages directory or .pth file changed: restarting");
    else if (!extra)
        logmsg("%s changed: restarting", S.self);
    const char *eq = extra ? strchr(extra, '=') : NULL;
    size_t extra_name = eq ? (size_t)(eq - extra + 1) : 0; /* NAME= */
    char pid[32], **env;
    snprintf(pid, sizeof pid, "LISTEN_PID=%ld", (long)getpid());
    size_t n = 0;
    while (S.env0[n])
        n++;
    if (!(env = calloc(n + 5, sizeof *env)))
        return;
    /* fd 3 is the socket's across the exec; what it was (the lock, maybe:
     * close-on-exec, it is let go only by an exec that works) is kept aside
     * and put back if the exec fails. */
    int saved = -1, flags3 = fcntl(3, F_GETFD);
    if (S.lfd != 3 && flags3 >= 0 && (saved = fcntl(3, F_DUPFD_CLOEXEC, 10)) < 0) {
        logmsg("re-exec %s: %s", S.self, strerror(errno));
        free(env);
        return;
    }
    if ((S.lfd != 3 && dup2(S.lfd, 3) < 0) || fcntl(3, F_SETFD, 0) != 0) {
        logmsg("re-exec %s: %s", S.self, strerror(errno));
        goto restore;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(S.env0[i], "LISTEN_", 7) != 0 &&
            strncmp(S.env0[i], "CGIHOST_REEXEC=", 15) != 0 &&
            !(extra_name && strncmp(S.env0[i], extra, extra_name) == 0))
            env[k++] = S.env0[i];
    if (extra)
        env[k++] = (char *)extra;
    env[k++] = S.activated ? "CGIHOST_REEXEC=activated" : "CGIHOST_REEXEC=own";
    env[k++] = "LISTEN_FDS=1";
    env[k++] = pid;
    env[k] = NULL;
    fflush(NULL);
    execve(S.self, S.argv, env);
    logmsg("re-exec %s: %s", S.self, strerror(errno));
restore:
    if (S.lfd == 3) {
        if (fcntl(3, F_SETFD, flags3) != 0)
            logmsg("fd 3: %s", strerror(errno));
    } else if (saved >= 0) {
        if (dup2(saved, 3) < 0 || fcntl(3, F_SETFD, flags3) != 0)
            logmsg("fd 3: %s", strerror(errno));
        close(saved);
    } else {
        close(3);
    }
    free(env);
}

/* ---- the server: setup and loop ----------------------------------------------------------- */

static int parse_long(const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

/* A setting from the environment: 0 with *out set (or when unset); -1 when
 * not a whole number from lo to hi (the default stays), which the caller
 * logs with env_long_ignored() once the server holds its lock: an
 * auto-started server's log, its stderr, is emptied then. */
static int env_long(const char *name, long lo, long hi, long *out)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return 0;
    return parse_long(s, lo, hi, out) == 0 ? 0 : -1;
}

static void env_long_ignored(const char *name, long lo, long hi, long value)
{
    fprintf(stderr, "cgihost: %s=%s ignored: not a whole number from %ld to %ld; %ld it is\n", name,
            getenv(name), lo, hi, value);
}

static int drop_to(const char *user)
{
    errno = 0;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        fprintf(stderr, "cgihost: no user %s\n", user);
        return -1;
    }
    if (pw->pw_uid == 0) {
        fprintf(stderr, "cgihost: will not serve as root\n");
        return -1;
    }
    if (geteuid() != 0) {
        if (pw->pw_uid != geteuid()) {
            fprintf(stderr, "cgihost: only root can serve as %s\n", user);
            return -1;
        }
        return 0;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        fprintf(stderr, "cgihost: cannot become %s: %s\n", user, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) {
        fprintf(stderr, "cgihost: could not drop root\n");
        return -1;
    }
    /* root's shell's HOME and locale are not the user's, nor in a web
     * server's requests, and a server serves only requests whose
     * interpreter-shaping variables are its own: drop them, as the systemd
     * unit does (UnsetEnvironment=). PYTHON* stay: set on purpose. */
    static const char *const drop[] = {"HOME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE"};
    for (size_t i = 0; i < sizeof drop / sizeof drop[0]; i++)
        if (unsetenv(drop[i]) != 0)
            return -1;
    return 0;
}

static int socket_activated(void);

/* The terminal's signals the relay passes on to the server: a flag each,
 * set by the handler, acted on by the relay's loop. */
static const int relay_sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP, SIGCONT};
#define RELAY_NSIGS (sizeof relay_sigs / sizeof *relay_sigs)
static volatile sig_atomic_t relay_got[RELAY_NSIGS];

static void relay_note(int sig)
{
    for (size_t i = 0; i < RELAY_NSIGS; i++)
        if (relay_sigs[i] == sig)
            relay_got[i] = 1;
}

/* SIG typed at the terminal, for the server PID (gone already: nothing to
 * pass on). A stop stops it, then this process, so that the shell sees its
 * job stop; continued, the server is too. */
static void relay_forward(pid_t pid, int sig)
{
    if (sig != SIGTSTP) {
        if (kill(pid, sig) != 0 && errno != ESRCH)
            fprintf(stderr, "cgihost: kill: %s\n", strerror(errno));
        return;
    }
    struct sigaction dfl = {.sa_handler = SIG_DFL}, own;
    sigset_t tstp;
    if (kill(pid, SIGSTOP) != 0 || sigaction(SIGTSTP, &dfl, &own) != 0 || sigemptyset(&tstp) != 0 ||
        sigaddset(&tstp, SIGTSTP) != 0)
        return;
    /* (blocked outside ppoll()) */
    if (sigprocmask(SIG_UNBLOCK, &tstp, NULL) != 0 || raise(SIGTSTP) != 0 ||
        sigprocmask(SIG_BLOCK, &tstp, NULL) != 0 || sigaction(SIGTSTP, &own, NULL) != 0)
        fprintf(stderr, "cgihost: stopping: %s\n", strerror(errno));
    if (kill(pid, SIGCONT) != 0 && errno != ESRCH)
        fprintf(stderr, "cgihost: kill: %s\n", strerror(errno));
}

#define RELAY_BUF 4096

static void relay_put(int fd, const unsigned char *out, size_t k)
{
    for (size_t off = 0; off < k;) {
        ssize_t w = write(fd, out + off, k - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* the terminal hung up: dropped, the pipe still drained */
        off += (size_t)w;
    }
}

/* A UTF-8 sequence the relay holds back until it is whole; utf8: root's
 * locale is in UTF-8 (else no sequence passes: its continuation bytes
 * 0x80-0x9f are C1 to a terminal not in UTF-8, "\xe2\x9b\xb1" a CSI). */
struct relay_seq {
    unsigned char b[4];
    int have, need, utf8;
};

/* Puts b at out[k] as the terminal is to see it: C0 but tab and newline,
 * DEL, and C1 (a lone byte 0x80-0x9f, which a terminal not in UTF-8 takes
 * for one) as '?'. Returns k + 1. */
static size_t relay_byte(unsigned char *out, size_t k, unsigned char b)
{
    out[k] =
        (b < 0x20 && b != '\n' && b != '\t') || b == 0x7f || (b >= 0x80 && b <= 0x9f) ? '?' : b;
    return k + 1;
}

/* The bytes of a sequence left unfinished, each as relay_byte() shows it. */
static size_t relay_unfinished(unsigned char *out, size_t k, struct relay_seq *q)
{
    for (int i = 0; i < q->have; i++)
        k = relay_byte(out, k, q->b[i]);
    q->have = q->need = 0;
    return k;
}

/* Writes buf[0..n) to fd with the terminal's controls shown as '?': the
 * bytes are the user's. In a UTF-8 locale, valid UTF-8 sequences pass whole
 * (C1 as UTF-8, C2 80-9F, as '?'), held in *q across calls; the bytes of
 * one left unfinished or invalid are each shown alone, so that no 0x80-0x9f
 * passes outside a whole, valid sequence. */
static void relay_write(int fd, const unsigned char *buf, size_t n, struct relay_seq *q)
{
    unsigned char out[RELAY_BUF + 4]; /* n at most RELAY_BUF, and 3 held back */
    size_t k = 0;
    if (n > RELAY_BUF)
        n = RELAY_BUF;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = buf[i];
        if (q->need > 0) {
            /* a second byte in Unicode's ranges (Table 3-7): no overlong
             * form ("\xe0\x82\x9b" for C1's CSI), surrogate or past
             * U+10FFFF passes */
            unsigned char lo = 0x80, hi = 0xbf;
            if (q->have == 1) {
                lo = q->b[0] == 0xe0 ? 0xa0 : q->b[0] == 0xf0 ? 0x90 : 0x80;
                hi = q->b[0] == 0xed ? 0x9f : q->b[0] == 0xf4 ? 0x8f : 0xbf;
            }
            if (b >= lo && b <= hi) {
                q->b[q->have++] = b;
                if (q->have == q->need) {
                    if (q->b[0] == 0xc2 && q->b[1] <= 0x9f) {
                        out[k++] = '?';
                    } else {
                        memcpy(out + k, q->b, (size_t)q->have);
                        k += (size_t)q->have;
                    }
                    q->have = q->need = 0;
                }
                continue;
            }
            k = relay_unfinished(out, k, q);
        }
        if (q->utf8 && b >= 0xc2 && b <= 0xf4) {
            q->b[0] = b;
            q->have = 1;
            q->need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
            continue;
        }
        k = relay_byte(out, k, b);
    }
    relay_put(fd, out, k);
}

/* Root's terminal is not the user's. A server holding it (its fds 0-2, or
 * as its controlling terminal) is, like any process of the user, any
 * script's to take over (pidfd_getfd(), ptrace: the same uid), which could
 * then read root's keystrokes or push a command into root's shell
 * (TIOCSTI, the terminal being the server's). As root, from a terminal:
 * the server goes on in a session of its own, without a terminal, its stdin
 * /dev/null where it was the terminal, its stdout and stderr there a pipe;
 * this process, still root, copies that pipe to the terminal until the
 * server ends, passing on the signals typed there, and exits with the
 * server's status (as sudo's use_pty does); a socket passed as fd 3 is the
 * server's alone. Returns 0 in the server, -1 on failure. */
static int leave_roots_terminal(void)
{
    int tty = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC), out = -1;
    int any = tty >= 0;
    if (tty >= 0)
        close(tty);
    for (int fd = 0; fd < 3; fd++)
        if (isatty(fd)) {
            any = 1;
            if (fd > 0)
                out = fd;
        }
    if (!any)
        return 0;
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        fprintf(stderr, "cgihost: pipe: %s\n", strerror(errno));
        return -1;
    }
    int activated = socket_activated();
    fflush(NULL);
    /* SIGCHLD inherited ignored: the server could not be waited for */
    struct sigaction dfl = {.sa_handler = SIG_DFL};
    if (sigaction(SIGCHLD, &dfl, NULL) != 0) {
        fprintf(stderr, "cgihost: sigaction: %s\n", strerror(errno));
        return -1;
    }
    /* The signals are blocked but in ppoll(), so that none comes between
     * the look at the flags and the wait; and caught before the fork, so
     * that one typed meanwhile is passed on too (at its default, it would
     * end this process and leave the server, in a session of its own,
     * running). SIGCHLD too, with no flag: it ends the wait at the
     * server's end. The server gets back what we had. */
    struct sigaction sa = {.sa_handler = relay_note}, old[RELAY_NSIGS + 1];
    sigset_t waiting;
    if (sigemptyset(&sa.sa_mask) != 0 || sigaddset(&sa.sa_mask, SIGCHLD) != 0)
        return -1;
    for (size_t i = 0; i < RELAY_NSIGS; i++)
        if (sigaddset(&sa.sa_mask, relay_sigs[i]) != 0)
            return -1;
    if (sigprocmask(SIG_BLOCK, &sa.sa_mask, &waiting) != 0) {
        fprintf(stderr, "cgihost: sigprocmask: %s\n", strerror(errno));
        return -1;
    }
    for (size_t i = 0; i <= RELAY_NSIGS; i++)
        if (sigaction(i < RELAY_NSIGS ? relay_sigs[i] : SIGCHLD, &sa, &old[i]) != 0) {
            fprintf(stderr, "cgihost: sigaction: %s\n", strerror(errno));
            return -1;
        }
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "cgihost: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        for (size_t i = 0; i <= RELAY_NSIGS; i++)
            if (sigaction(i < RELAY_NSIGS ? relay_sigs[i] : SIGCHLD, &old[i], NULL) != 0)
                _exit(1);
        if (sigprocmask(SIG_SETMASK, &waiting, NULL) != 0)
            _exit(1);
        int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (nul < 0 || setsid() < 0) /* (a forked child is no group leader) */
            _exit(1);
        for (int fd = 0; fd < 3; fd++)
            if (isatty(fd) && dup2(fd == 0 ? nul : p[1], fd) != fd)
                _exit(1);
        close(nul);
        close(p[0]);
        close(p[1]);
        char me[32]; /* the socket passed as fd 3 is for the server: our pid now */
        snprintf(me, sizeof me, "%ld", (long)getpid());
        if (activated && setenv("LISTEN_PID", me, 1) != 0)
            _exit(1);
        return 0;
    }
    close(p[1]);
    if (activated)
        close(3);
    struct sigaction ign = {.sa_handler = SIG_IGN};
    /* SIGTTOU: as the server wrote there before */
    if (sigaction(SIGTTOU, &ign, NULL) != 0 || sigaction(SIGPIPE, &ign, NULL) != 0)
        fprintf(stderr, "cgihost: sigaction: %s\n", strerror(errno));
    unsigned char buf[RELAY_BUF];
    struct relay_seq seq = {{0}, 0, 0, 0};
    /* (this process only: the server, forked, runs on as it was) */
    seq.utf8 = setlocale(LC_CTYPE, "") && strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    int st = 0, ended = 0, eof = 0;
    /* Until the server has ended, not the pipe: its output may go elsewhere
     * (to a file, `| tee`: the pipe then ends at once), or be closed before
     * it ends; the terminal's signals are still its. */
    for (;;) {
        for (size_t i = 0; i < RELAY_NSIGS && !ended; i++)
            if (relay_got[i]) {
                relay_got[i] = 0;
                relay_forward(pid, relay_sigs[i]);
            }
        struct pollfd pfd = {eof ? -1 : p[0], POLLIN, 0};
        struct timespec wait = {ended ? 0 : 1, 0};
        int r = ppoll(&pfd, 1, &wait, &waiting);
        ssize_t n = r > 0 ? read(p[0], buf, sizeof buf) : 0;
        if (n > 0 && out >= 0)
            relay_write(out, buf, (size_t)n, &seq);
        if (n > 0 || (r > 0 && n < 0 && errno == EINTR))
            continue;
        if (r > 0) /* EOF, or a read error: the pipe is done with */
            eof = 1;
        if (ended && (eof || r == 0)) /* all read once it ended */
            break;
        if (!ended) {
            pid_t w = waitpid(pid, &st, WNOHANG);
            ended = w == pid || (w < 0 && errno != EINTR);
        }
    }
    if (out >= 0) { /* a sequence left unfinished at the end */
        unsigned char rest[4];
        relay_put(out, rest, relay_unfinished(rest, 0, &seq));
    }
    _exit(WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1);
}

/* Root's environment is root's: a root shell's or sudo's (tokens, agent
 * sockets) would stay in the initial block that /proc/self/environ shows
 * and in our copies of it, in the memory of every request child, a
 * script's to read. Having dropped root, run again with only what a server
 * takes from its start (the unit's are as few), as the user: main()'s
 * ARGV0 again, whose --user now names ourselves. Returns only on failure. */
static int clean_reexec(char **argv0)
{
    static const char *const keep[] = {"PATH=", "TZ=", "TMPDIR=", "PYTHON", "CGIHOST_",
                                       "LISTEN_", "NOTIFY_SOCKET=", "ASAN_OPTIONS=",
                                       "UBSAN_OPTIONS=", "LSAN_OPTIONS="};
    size_t n = 0, k = 0;
    for (char **e = environ; *e; e++)
        n++;
    char **env = calloc(n + 1, sizeof *env);
    if (!env) {
        fprintf(stderr, "cgihost: out of memory\n");
        return -1;
    }
    for (char **e = environ; *e; e++)
        for (size_t i = 0; i < sizeof keep / sizeof *keep; i++)
            if (strncmp(*e, keep[i], strlen(keep[i])) == 0) {
                env[k++] = *e;
                break;
            }
    execve("/proc/self/exe", argv0, env);
    fprintf(stderr, "cgihost: cannot run myself again as the user: %s\n", strerror(errno));
    free(env);
    return -1;
}

/* 1 when systemd (or our own re-exec) handed us the listening socket as fd 3. */
static int socket_activated(void)
{
    const char *lp = getenv("LISTEN_PID"), *lf = getenv("LISTEN_FDS");
    return lp && lf && strtol(lp, NULL, 10) == (long)getpid() && strcmp(lf, "1") == 0;
}

/* The directory of the socket passed as fd 3 (a path ending in
 * "/server.sock", as cgih_sockpath() names it): 0, or -1 when it is no such
 * socket (abstract, unnamed, another name). */
static int activated_dir(char *out, size_t n)
{
    struct sockaddr_un sa;
    socklen_t l = sizeof sa;
    memset(&sa, 0, sizeof sa);
    if (getsockname(3, (struct sockaddr *)&sa, &l) != 0 || sa.sun_family != AF_UNIX ||
        l <= offsetof(struct sockaddr_un, sun_path) || sa.sun_path[0] != '/')
        return -1;
    char path[sizeof sa.sun_path + 1];
    size_t k = l - offsetof(struct sockaddr_un, sun_path);
    memcpy(path, sa.sun_path, k);
    path[k] = '\0';
    const char *slash = strrchr(path, '/');
    if (strcmp(slash + 1, CGIH_SOCK_NAME) != 0 || slash == path || (size_t)(slash - path) >= n)
        return -1;
    memcpy(out, path, (size_t)(slash - path));
    out[slash - path] = '\0';
    return 0;
}

/* The socket file at S.sock is ours: own_socket() compares with it from
 * now on. One already gone (removed between our bind() or the exec that
 * kept our socket, and this look) matches no file: the first look stops
 * us, where it was not looked at again and we held the lock, no client
 * reaching us, until --idle-exit. */
static void note_own_socket(void)
{
    S.sock_st_ok = 1;
    if (lstat(S.sock, &S.sock_st) != 0 || !S_ISSOCK(S.sock_st.st_mode))
        memset(&S.sock_st, 0, sizeof S.sock_st);
}

static int open_socket(void)
{
    if (socket_activated()) {
        S.lfd = 3;
        const char *re = getenv("CGIHOST_REEXEC");
        S.activated = !re || strcmp(re, "activated") == 0;
        unsetenv("CGIHOST_REEXEC");
        unsetenv("LISTEN_PID");
        unsetenv("LISTEN_FDS");
        unsetenv("LISTEN_FDNAMES");
        int fl = fcntl(3, F_GETFD), listening = 0;
        socklen_t ll = sizeof listening;
        if (fl < 0 || fcntl(3, F_SETFD, fl | FD_CLOEXEC) != 0 || fcntl(3, F_SETFL, O_NONBLOCK) != 0 ||
            getsockopt(3, SOL_SOCKET, SO_ACCEPTCONN, &listening, &ll) != 0 || !listening) {
            fprintf(stderr, "cgihost: LISTEN_FDS=1 but fd 3 is unusable\n");
            return -1;
        }
        /* Re-executed: the socket file is ours, as our lock says. */
        if (!S.activated)
            note_own_socket();
        return 0;
    }
    if (unlink(S.sock) != 0 && errno != ENOENT) {
        fprintf(stderr, "cgihost: cannot remove %s: %s\n", S.sock, strerror(errno));
        return -1;
    }
    S.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, S.sock, strlen(S.sock) + 1);
    mode_t old = umask(0177);
    int rc = S.lfd < 0 ? -1 : bind(S.lfd, (struct sockaddr *)&sa, sizeof sa);
    umask(old);
    if (rc != 0 || listen(S.lfd, SOMAXCONN) != 0) {
        fprintf(stderr, "cgihost: cannot listen on %s: %s\n", S.sock, strerror(errno));
        return -1;
    }
    note_own_socket();
    return 0;
}

/* sys.std* made once, before the preloads (a module that keeps the
 * sys.stdout of its import, as cgitb's handler does, then keeps the one a
 * request on pipes has), on pipes and sockets as most requests' fds 0-2
 * are, and on /dev/null for regular files and /dev/null itself (mod_cgid's
 * stderr is the error log). They name fds 0-2, nothing else of ours: a
 * child whose fd matches the kind takes the premade object. Making them in
 * each child cost 50-95 copy-on-write faults, a third of what a request
 * took. Our own fds 0-2 are put back (Python's messages here still reach
 * them). */
static int premake_stdio(void)
{
    /* How Python made stdio, to make it again per request. */
    PyObject *out = PySys_GetObject("stdout");
    if (!out || out == Py_None)
        return -1;
    S.stdio_encoding = PyObject_GetAttrString(out, "encoding");
    S.stdio_errors = PyObject_GetAttrString(out, "errors");
    PyObject *wt = PyObject_GetAttrString(out, "write_through");
    if (!S.stdio_encoding || !S.stdio_errors || !wt)
        return -1;
    S.buffered_stdio = !PyObject_IsTrue(wt);
    Py_DECREF(wt);
    int saved[3], p[2], nul = -1;
    for (int fd = 0; fd < 3; fd++)
        saved[fd] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (saved[0] >= 0 && saved[1] >= 0 && saved[2] >= 0) {
        struct stat nst;
        if ((nul = open("/dev/null", O_RDWR | O_CLOEXEC)) >= 0 && fstat(nul, &nst) == 0 &&
            S_ISCHR(nst.st_mode) && dup2(nul, 0) == 0 && dup2(nul, 1) == 1 && dup2(nul, 2) == 2) {
            S.null_rdev = nst.st_rdev;
            S.stdio_on_files = make_stdio_set(7, S.std_file) == 0;
        }
        if (!S.stdio_on_files)
            PyErr_Clear(); /* each child makes its own then */
        if (pipe2(p, O_CLOEXEC) == 0) {
            S.stdio_on_pipes = dup2(p[0], 0) == 0 && dup2(p[1], 1) == 1 && dup2(p[1], 2) == 2 &&
                               make_stdio_set(7, S.std_pipe) == 0;
            for (int fd = 0; fd < 3 && S.stdio_on_pipes; fd++)
                S.stdio_on_pipes = set_stdio(fd, S.std_pipe[fd]) == 0;
            close(p[0]);
            close(p[1]);
        }
        if (!S.stdio_on_pipes)
            PyErr_Clear();
    }
    if (nul >= 0)
        close(nul);
    for (int fd = 0; fd < 3; fd++) {
        if (saved[fd] >= 0 && dup2(saved[fd], fd) != fd) {
            logmsg("cannot put back fd %d: %s", fd, strerror(errno));
            return -1;
        }
        if (saved[fd] >= 0)
            close(saved[fd]);
    }
    return 0;
}

/* The threads of this process (/proc/self/status), or -1. */
static long own_threads(void)
{
    FILE *f = fopen("/proc/self/status", "re");
    if (!f)
        return -1;
    char line[256];
    long n = -1;
    while (n < 0 && fgets(line, sizeof line, f))
        if (sscanf(line, "Threads: %ld", &n) != 1)
            n = -1;
    (void)fclose(f); /* read only */
    return n;
}

/* Whether the module M is named in the comma- or space-separated LIST. */
static int listed(const char *list, const char *m)
{
    size_t len = strlen(m);
    for (const char *p = list; p && *p;) {
        p += strspn(p, ", ");
        size_t w = strcspn(p, ", ");
        if (w == len && memcmp(p, m, len) == 0)
            return 1;
        p += w;
    }
    return 0;
}

/* A preloaded module's import started a thread: a request's child would
 * not have it (a fork copies only the thread that forks; a lock it held
 * stays held, and a queue it serves is never served), where the script's
 * import under python3 starts it. The server starts again without that
 * module (CGIHOST_PRELOAD_SKIP, kept across later restarts), which the
 * requests then import themselves. 0 if it could not. */
static int restart_without(const char *m)
{
    const char *skip = getenv("CGIHOST_PRELOAD_SKIP");
    char *env = NULL;
    if (asprintf(&env, "CGIHOST_PRELOAD_SKIP=%s%s%s", skip && *skip ? skip : "",
                 skip && *skip ? "," : "", m) < 0)
        return 0;
    logmsg("cannot preload %s: its import started a thread, which no request would have (a "
           "fork copies only the thread that forks); restarting without it, scripts import it "
           "themselves",
           m);
    reexec(env); /* returns only if it failed */
    free(env);
    return 0;
}

static int preload(void)
{
    /* The built-in modules, os, then the configured ones; a module that
     * fails to import is reported and skipped. os because python3's start
     * imports it (site does) and nearly every script imports it: here
     * nothing else had, and a request's `import os` executed the frozen
     * os module, 3.4 ms and 313 page faults, twice a whole hello.py request.
     * Its os.environ is posix.environ, which each request sets. */
    if (premake_stdio() < 0)
        return -1;
    char *list = NULL; /* the whole list, however long */
    if (asprintf(&list, "cgi,cgitb,os,%s", S.preload ? S.preload : "") < 0) {
        logmsg("out of memory for the preload list");
        return -1;
    }
    int cgitb_noted = 0, nth = 0;
    long threads = -1;
    const char *skip = getenv("CGIHOST_PRELOAD_SKIP");
    for (char *save = NULL, *m = strtok_r(list, ", ", &save); m; m = strtok_r(NULL, ", ", &save)) {
        int configured = ++nth > 3; /* after cgi, cgitb and os */
        if (configured && threads < 0)
            threads = own_threads();
        if (configured && listed(skip, m))
            continue;
        PyObject *mod = PyImport_ImportModule(m);
        if (!mod) {
            logmsg("cannot preload %s:", m);
            /* Not in sys.last_*: each request would see them, and their
             * frames would hold what the module took (cgitb, say). */
            PyErr_PrintEx(0);
        }
        Py_XDECREF(mod);
        /* (the list's second: nothing but the server holds it yet) */
        if (strcmp(m, "cgitb") == 0 && !cgitb_noted++)
            (void)cgih_cgitb_note_import(); /* cannot fail */
        if (configured && threads > 0 && own_threads() > threads && !restart_without(m)) {
            logmsg("cannot restart without %s", m);
            free(list);
            return -1;
        }
    }
    free(list);
    /* The files those came from (and what they imported), watched as the
     * site directories are: an upgraded one restarts the server. */
    cgih_py_watch_modules();
    /* One FieldStorage of a made-up GET, before any fork, reading nothing
     * of ours (its environ is given): the names cgi looks up are then
     * interned and kept for every request (shim/pyutil.c), 40% of a
     * FieldStorage()'s instructions. */
    PyObject *cgi = PyImport_ImportModule("cgi");
    PyObject *fsc = cgi ? PyObject_GetAttrString(cgi, "FieldStorage") : NULL;
    PyObject *none = fsc ? PyTuple_New(0) : NULL;
    PyObject *kw = none ? Py_BuildValue("{s{ssss}}", "environ", "REQUEST_METHOD", "GET", "QUERY_STRING",
                                        "a=1&b=")
                        : NULL;
    PyObject *fs = kw ? PyObject_Call(fsc, none, kw) : NULL;
    PyObject *got = fs ? PyObject_CallMethod(fs, "getvalue", "s", "a") : NULL;
    if (!got)
        PyErr_Clear(); /* only a little slower then */
    Py_XDECREF(got);
    Py_XDECREF(fs);
    Py_XDECREF(kw);
    Py_XDECREF(none);
    Py_XDECREF(fsc);
    Py_XDECREF(cgi);
    /* Children share the heap as it is now: keep the collector off it.
     * What the configured modules left in cycles (a failed one's functions
     * and globals, a frame kept by its traceback) is collected first: kept,
     * a reference it held to cgitb would count as taken (a request's
     * `import cgitb` would give the server's module). */
    PyObject *gc = PyImport_ImportModule("gc");
    PyObject *col = gc && S.preload && *S.preload ? PyObject_CallMethod(gc, "collect", NULL) : NULL;
    if (!col)
        PyErr_Clear();
    Py_XDECREF(col);
    PyObject *r = gc ? PyObject_CallMethod(gc, "freeze", NULL) : NULL;
    Py_XDECREF(gc);
    if (!r)
        return -1;
    Py_DECREF(r);
    return 0;
}

static void usage_serve(FILE *f)
{
    fputs("usage: cgihost serve [--user USER] [--socket-dir DIR] [--pool N] [--max-children N]\n"
          "                     [--queue N] [--queue-ms MS]\n"
          "                     [--idle-exit SECONDS] [--stop-wait SECONDS]\n"
          "                     [--preload MOD,MOD...]\n"
          "       cgihost stop | status [--user USER] [--socket-dir DIR]\n",
          f);
}

/* Whoever started us may have left fds open (a shell's redirections, a web
 * server's, root's files before `serve --user`): none of them is ours, and
 * every request child would inherit them. Closes fds from FIRST up, below
 * the soft RLIMIT_NOFILE (a tool such as valgrind keeps its own above it). */
static int close_inherited_fds(int first)
{
    struct rlimit nf;
    if (getrlimit(RLIMIT_NOFILE, &nf) != 0)
        return -1;
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return -1;
    int keep = dirfd(d), n = 0, fds[256];
    struct dirent *de;
    /* Collected first, closed after: no closing under readdir's feet. */
    do {
        n = 0;
        rewinddir(d);
        while (n < (int)(sizeof fds / sizeof *fds) && (de = readdir(d))) {
            char *end;
            long fd = strtol(de->d_name, &end, 10);
            if (*end || end == de->d_name || fd < first || fd == keep ||
                (nf.rlim_cur != RLIM_INFINITY && (rlim_t)fd >= nf.rlim_cur))
                continue;
            fds[n++] = (int)fd;
        }
        for (int i = 0; i < n; i++)
            if (close(fds[i]) != 0 && errno != EBADF) {
                closedir(d);
                return -1;
            }
    } while (n == (int)(sizeof fds / sizeof *fds));
    return closedir(d);
}

static int serve(int argc, char **argv)
{
    const char *user = NULL, *dir = getenv("CGIHOST_SOCKET_DIR");
    /* fds 0-2 open, so that no socket or received fd lands on them. */
    if (cgih_fill_std_fds(0) < 0)
        return 1;
    /* Nothing else inherited, but a socket handed over as fd 3. */
    if (close_inherited_fds(socket_activated() ? 4 : 3) != 0) {
        fprintf(stderr, "cgihost: cannot close inherited file descriptors: %s\n", strerror(errno));
        return 1;
    }
    S.qtail = &S.qhead;
    S.preload = getenv("CGIHOST_PRELOAD");
    S.tz = getenv("TZ");
    /* Before Python's start reads it: a file replaced in between is then
     * read again by every request, never missed. */
    S.tz_st_ok = tz_file_stat(S.tz, &S.tz_st);
    S.tmp_ok = stat("/tmp", &S.tmp_st) == 0;
    for (size_t i = 0; i < N_NS; i++)
        S.ns_ok[i] = ns_link(0, ns_names[i], S.ns_link[i], sizeof S.ns_link[i]) == 0;
    S.proc_ok = access("/proc/self/root/tmp", F_OK) == 0;
    const char *ub = getenv("PYTHONUSERBASE"), *home = getenv("HOME");
    if (ub && *ub)
        S.relative_user_base = *ub != '/' ? "PYTHONUSERBASE, relative" : NULL;
    else if (home && *home && *home != '/')
        S.relative_user_base = "HOME, relative";
    /* The numeric settings: default, then the environment, then the option. */
    long pool = 2, max_children = 64, queue = 256;
    S.queue_ms = 500;
    S.idle_exit = 600;
    S.stop_wait = 30;
    const struct {
        const char *name, *env;
        long lo, hi, *to;
    } num[] = {{"--pool", "CGIHOST_POOL", 0, 64, &pool},
               {"--max-children", "CGIHOST_MAX_CHILDREN", 1, 4096, &max_children},
               {"--queue", "CGIHOST_QUEUE", 0, 65536, &queue},
               {"--queue-ms", "CGIHOST_QUEUE_MS", 0, 3600000, &S.queue_ms},
               {"--idle-exit", "CGIHOST_IDLE_EXIT", 0, 1L << 30, &S.idle_exit},
               {"--stop-wait", "CGIHOST_STOP_WAIT", 0, 86400, &S.stop_wait}};
    int env_bad[sizeof num / sizeof *num]; /* the default stays */
    for (size_t k = 0; k < sizeof num / sizeof *num; k++)
        env_bad[k] = env_long(num[k].env, num[k].lo, num[k].hi, num[k].to) != 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--auto") == 0) { /* started by a client (internal) */
            S.autostarted = 1;
            continue;
        }
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage_serve(stdout);
            return 0;
        }
        size_t k = 0;
        while (k < sizeof num / sizeof *num && strcmp(a, num[k].name) != 0)
            k++;
        int known = k < sizeof num / sizeof *num || strcmp(a, "--user") == 0 ||
                    strcmp(a, "--socket-dir") == 0 || strcmp(a, "--preload") == 0;
        if (!known || !val) {
            if (!known)
                fprintf(stderr, "cgihost serve: unknown option %s\n", a);
            else
                fprintf(stderr, "cgihost serve: %s needs a value\n", a);
            usage_serve(stderr);
            return 2;
        }
        i++;
        if (strcmp(a, "--user") == 0)
            user = val;
        else if (strcmp(a, "--socket-dir") == 0)
            dir = val;
        else if (strcmp(a, "--preload") == 0)
            S.preload = val;
        else if (parse_long(val, num[k].lo, num[k].hi, num[k].to) != 0) {
            fprintf(stderr, "cgihost serve: %s %s: not a whole number from %ld to %ld\n", a, val,
                    num[k].lo, num[k].hi);
            usage_serve(stderr);
            return 2;
        }
    }
    S.pool = (int)pool;
    S.max_children = (int)max_children;
    S.queue = (int)queue;
    find_journal();
    /* Root serves only as the user it is told to, and drops to it before
     * anything else: before Python starts. */
    if (geteuid() == 0 && (!user || S.autostarted)) {
        fprintf(stderr, S.autostarted
                            ? "cgihost: no server starts by itself as root; root runs one with "
                              "serve --user USER\n"
                            : "cgihost: refusing to serve as root; use serve --user USER\n");
        return 1;
    }
    int was_root = geteuid() == 0;
    if (was_root && leave_roots_terminal() < 0)
        return 1;
    if (user && drop_to(user) < 0)
        return 1;
    /* Nor root's working directory (a directory of /root, say): kept, it
     * would be the server's, and through /proc/PID/cwd any script of the
     * user could list and read it, past a parent closed to the user. */
    if (was_root && chdir("/") != 0) {
        fprintf(stderr, "cgihost: cannot enter /: %s\n", strerror(errno));
        return 1;
    }
    if (was_root && clean_reexec(argv - 1) < 0)
        return 1;
    int tty = open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC);
    S.has_tty = tty >= 0;
    if (tty >= 0)
        close(tty);
    int ng = getgroups(0, NULL);
    if (ng < 0 || !(S.groups = calloc((size_t)ng + 1, sizeof(gid_t))) ||
        (S.ngroups = getgroups(ng, S.groups)) != ng) {
        fprintf(stderr, "cgihost: cannot read my groups: %s\n", strerror(errno));
        return 1;
    }
    /* Socket-activated, the socket passed is the one to name and to guard:
     * its directory is the socket directory; one given must be that one. */
    char passed[sizeof S.dir];
    if (socket_activated()) {
        struct stat a, b;
        if (activated_dir(passed, sizeof passed) != 0) {
            fprintf(stderr, "cgihost: the socket passed as fd 3 (LISTEN_FDS) is not a socket file "
                            "named server.sock, where clients look for it\n");
            return 1;
        }
        if (dir && *dir &&
            (stat(dir, &a) != 0 || stat(passed, &b) != 0 || a.st_dev != b.st_dev ||
             a.st_ino != b.st_ino)) {
            fprintf(stderr,
                    "cgihost: the socket passed as fd 3 (LISTEN_FDS) is in %s, not in the "
                    "socket directory %s\n",
                    passed, dir);
            return 1;
        }
        if (!dir || !*dir)
            dir = passed;
    }
    if (dir && *dir) {
        if (snprintf(S.dir, sizeof S.dir, "%s", dir) >= (int)sizeof S.dir)
            return 1;
    } else if (cgih_sockdir(S.dir, sizeof S.dir, geteuid()) != CGIH_OK) {
        return 1;
    }
    const char *why;
    if (cgih_sockdir_check(S.dir, geteuid(), 1, &why) != CGIH_OK) {
        fprintf(stderr, "cgihost: socket directory %s: %s\n", S.dir, why);
        return 1;
    }
    if (cgih_sockpath(S.sock, sizeof S.sock, S.dir) != CGIH_OK) {
        fprintf(stderr, "cgihost: socket directory path too long: %s\n", S.dir);
        return 1;
    }
    char lock[PATH_MAX];
    if (snprintf(lock, sizeof lock, "%s/lock", S.dir) >= (int)sizeof lock)
        return 1;
    S.lockfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (S.lockfd < 0) {
        fprintf(stderr, "cgihost: cannot make %s: %s\n", lock, strerror(errno));
        return 1;
    }
    if (flock(S.lockfd, LOCK_EX | LOCK_NB) != 0) {
        if (S.autostarted)
            return 0; /* another client started one first */
        fprintf(stderr, "cgihost: a server already runs in %s\n", S.dir);
        return 1;
    }
    /* An auto-started server's log, its stderr, starts empty once it holds
     * the lock (the client opens it without truncating, lest a start that
     * finds the lock taken empty the log of the server that runs); a start
     * that fails from here leaves its one line, not one more each time. */
    struct stat es;
    if (S.autostarted && !socket_activated() && fstat(2, &es) == 0 && S_ISREG(es.st_mode) &&
        ftruncate(2, 0) != 0)
        logmsg("cannot empty the log: %s", strerror(errno));
    /* Said here, in the log as it will stay (and once: as root, the run
     * before the re-exec as the user says nothing). */
    for (size_t k = 0; k < sizeof num / sizeof *num; k++)
        if (env_bad[k])
            env_long_ignored(num[k].env, num[k].lo, num[k].hi, *num[k].to);
    /* The signals the loop reads from its signalfd are held from before
     * the socket exists: one sent once it does (a Ctrl-C that root's relay
     * passes on, a stop), while Python starts and modules are preloaded,
     * waits for the loop, and stops the server as it would a moment later.
     * It was Python's (its SIGINT handler: noted, or a KeyboardInterrupt in
     * a preload), and the server ran on. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGXCPU); /* the CPU time limit passed all the same: stop, as asked */
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0) {
        fprintf(stderr, "cgihost: %s\n", strerror(errno));
        return 1;
    }
    if (open_socket() < 0)
        return 1;

    /* The file we run, even if another has since taken its name (then a
     * restart into that one follows). */
    ssize_t n = readlink("/proc/self/exe", S.self, sizeof S.self - 1);
    if (n >= 0 && (size_t)n > 10 && memcmp(S.self + n - 10, " (deleted)", 10) == 0)
        n -= 10;
    if (n < 0 || (S.self[n] = '\0', stat("/proc/self/exe", &S.self_st)) != 0) {
        fprintf(stderr, "cgihost: cannot find my binary\n");
        return 1;
    }
    S.argv = argv - 1; /* main()'s: cgihost-py serve ... */
    if (!(S.env0 = copy_env(environ)) || !(S.shape = shape_of(S.env0, &S.nshape)))
        return 1;
    /* The same environment before and after Python's start, but for what
     * the start itself added. */
    int status = cgih_py_init(NULL, NULL);
    if (status >= 0)
        return status ? status : 1;
    size_t ne = 0;
    for (char **e = environ; *e; e++)
        ne++;
    S.added = calloc(ne + 1, sizeof *S.added);
    if (!S.added)
        return 1;
    for (char **e = environ; *e; e++) {
        int had = 0;
        for (char **o = S.env0; *o && !had; o++)
            had = strcmp(*o, *e) == 0;
        if (!had && !(S.added[S.nadded++] = strdup(*e)))
            return 1;
    }
    if (!(S.cache = PyDict_New()) || !(S.pending = PyList_New(0)) || !(S.uncached = PySet_New(NULL)) ||
        preload() < 0) {
        PyErr_Print();
        return 1;
    }
    cgih_py_set_code_lookup(cache_lookup);
    cgih_py_fix_baseline();
    if (cgih_proc_status(0, &S.sigign, &S.sigign_known, &S.confined, &S.confined_known) != CGIH_OK)
        S.sigign_known = S.confined_known = 0;
    const char *pf = getenv("CGIHOST_PREFAULT");
    int sanitized = 0; /* a sanitizer would see the pages' bytes as reads and writes */
#if defined(__SANITIZE_ADDRESS__)
    sanitized = 1;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
    sanitized = 1;
#endif
#endif
    if (!sanitized && !(pf && strcmp(pf, "0") == 0)) {
        void *m = mmap(NULL, sizeof *L, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        L = m == MAP_FAILED ? NULL : m;
    }
    if (!sanitized) {
        const char *small = hugify_code();
        if (small)
            logmsg("code and constants stay on small pages: %s", small);
        share_code_on_fork();
    }

    /* Whoever started us may ignore SIGCHLD (inherited across exec): then
     * the kernel would reap the children unseen, and none would end here. */
    if (signal(SIGCHLD, SIG_DFL) == SIG_ERR ||
        (S.sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK)) < 0 ||
        (S.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0) {
        fprintf(stderr, "cgihost: %s\n", strerror(errno));
        return 1;
    }
    S.wlisten = (struct watch){.kind = W_LISTEN};
    S.wsignal = (struct watch){.kind = W_SIGNAL};
    ep_add(S.sfd, EPOLLIN, &S.wsignal);
    update_listening();
    S.t_start = S.t_active = S.t_selfcheck = now_s();
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    S.ncpu = ncpu > 0 ? (int)ncpu : 1;
    /* Each running request holds two fds here, and each waiting one one: the
     * queue gets what the fd limit leaves (accept() failing with EMFILE
     * is handled too, but would turn waiting into refusals). The soft fd
     * limit is raised, up to the hard one, to hold what --max-children and
     * --queue ask: systemd's default soft limit, 1024, left a queue of 0 to
     * --max-children 512 and up. Requests run with their client's limits
     * (apply_rlimits()), whatever the server's soft one. */
    struct rlimit nf;
    if (getrlimit(RLIMIT_NOFILE, &nf) == 0 && nf.rlim_cur != RLIM_INFINITY) {
        rlim_t need = (rlim_t)(2L * S.max_children + S.queue + 32);
        if (need > nf.rlim_cur) {
            rlim_t cur = nf.rlim_max != RLIM_INFINITY && need > nf.rlim_max ? nf.rlim_max : need;
            struct rlimit up = {cur, nf.rlim_max};
            if (up.rlim_cur > nf.rlim_cur && setrlimit(RLIMIT_NOFILE, &up) == 0)
                logmsg("fd limit raised from %ld to %ld for --max-children %d and --queue %d",
                       (long)nf.rlim_cur, (long)up.rlim_cur, S.max_children, S.queue);
        }
    }
    long room = getrlimit(RLIMIT_NOFILE, &nf) == 0 && nf.rlim_cur != RLIM_INFINITY
                    ? (long)nf.rlim_cur - 2L * S.max_children - 32
                    : (long)S.queue;
    if (room < (long)S.queue) {
        S.queue = room > 0 ? (int)room : 0;
        logmsg("--queue cut to %d: the fd limit is %ld", S.queue, (long)nf.rlim_cur);
    }
    logmsg("serving on %s (pool %d, idle exit %lds)", S.sock, S.pool, S.idle_exit);

    struct epoll_event ev[64];
    long queue_wait = -1;
    S.backoff = 10;
serve:
    for (;;) {
        int busy_work = !S.stopping && (want_refill() || PyList_GET_SIZE(S.pending) > 0);
        for (struct child *c = S.idle; c && !busy_work; c = c->next)
            busy_work = c->gen != S.gen;
        int timeout = busy_work ? 0 : 1000;
        if (queue_wait >= 0 && queue_wait < timeout)
            timeout = (int)queue_wait;
        int k = epoll_wait(S.epfd, ev, 64, timeout);
        if (k < 0 && errno != EINTR) {
            logmsg("epoll_wait: %s", strerror(errno));
            break;
        }
        for (int i = 0; i < k; i++) {
            struct watch *w = ev[i].data.ptr;
            switch (w->kind) {
            case W_LISTEN:
                on_listen();
                break;
            case W_SIGNAL:
                on_signal();
                break;
            case W_CTL:
                if (w->c->ctl >= 0)
                    (void)on_ctl(w->c);
                break;
            case W_CONN:
                if (w->c->conn >= 0)
                    on_conn(w->c, ev[i].events);
                break;
            case W_QUEUED:
                if (w->q->fd >= 0)
                    on_queued(w->q, ev[i].events);
                break;
            }
        }
        /* Dead pool children are freed only here, after their events. */
        while (S.grave) {
            struct child *c = S.grave;
            S.grave = c->next;
            free(c);
        }
        queue_wait = drain_queue();
        if (k == 0 && busy_work)
            idle_work();
        update_listening();
        long now = now_s();
        if (!S.stopping && S.idle_exit > 0 && S.nbusy == 0 && now - S.t_active >= S.idle_exit)
            start_stop("idle");
        if ((!S.stopping || (S.restarting && !S.draining)) && now != S.t_selfcheck &&
            !S.activated && S.sock_st_ok && !own_socket()) {
            /* Removed (a /tmp cleaner, rm -r of the directory), also while a
             * restart waits for running requests: no client reaches us, and
             * our lock would keep a new server from starting. Leave, so
             * that the next request starts one: the lock goes at once, not
             * when the requests running end (--stop-wait), and we keep
             * watching those until they do. */
            S.t_selfcheck = now;
            S.restarting = 0;
            start_stop("the socket file is gone or another's");
            if (S.nbusy > 0) {
                logmsg("%d requests still running: leaving the lock to a new server, watching "
                       "them until they end",
                       S.nbusy);
                let_socket_go();
            }
        }
        if (!S.stopping && now != S.t_selfcheck) {
            S.t_selfcheck = now;
            struct stat self;
            const char *changed;
            int found = stat(S.self, &self) == 0, missing = !found && errno == ENOENT;
            if (binary_replaced(now, found ? &self : NULL)) {
                S.restarting = 1;
                S.site_changed = 0;
                start_stop("binary replaced");
            } else if (binary_gone(now, missing)) {
                start_stop("the binary I run from is gone (uninstalled, or its build cleaned)");
            } else if (cgih_py_site_changed()) {
                /* A fresh start would find another sys.path: ours is made
                 * once, at our start. */
                S.restarting = 1;
                S.site_changed = 1;
                start_stop("a site-packages directory or .pth file changed");
            } else if ((changed = cgih_py_module_changed()) != NULL) {
                /* A module we imported (preloaded, or os's, an encoding)
                 * was upgraded: a request would run its old code, where a
                 * fresh start, and a request's own import, read the new. */
                S.restarting = 1;
                snprintf(S.module_changed, sizeof S.module_changed, "%s", changed);
                start_stop("a module's file changed");
            } else if (cpu_time_near_limit()) {
                start_stop(
                    "three quarters of the CPU time limit used (RLIMIT_CPU, inherited from the "
                    "client that started this server); the next request starts a fresh one");
            } else {
                retire_stopped_idle();
            }
        }
        if (S.stopping && S.nqueued > 0)
            queue_wait = drain_queue(); /* a stop just begun: they run in-process now */
        /* (Pool children told to leave are waited for, a moment at most:
         * one may have taken a connection, which its TAKEN makes busy.) */
        if (S.stopping && S.nbusy == 0 && (!S.leaving || now - S.t_stop >= 2))
            break;
        /* (Socket-activated, no successor starts while we run: we keep the
         * socket, answering at once, until the requests end.) */
        if (S.stopping && !S.draining && !S.activated && now - S.t_stop >= S.stop_wait) {
            /* Requests still run after --stop-wait: a successor may start
             * (socket and lock let go), while we keep forwarding their
             * clients' signals and killing those whose clients leave, until
             * the last one ends. */
            logmsg("%d requests still running: leaving the socket to a new server, watching them "
                   "until they end",
                   S.nbusy);
            let_socket_go();
        }
    }
    S.stopping = 1;
    (void)drain_queue(); /* whoever still waits runs in-process */
    if (S.restarting && S.nbusy == 0) {
        reexec(NULL);
        /* The exec failed (the file changed again since it ran): serve on
         * as we are, and look at it again later. The lock is still ours. */
        S.stopping = S.restarting = 0;
        S.t_active = now_s();
        failed_look(S.t_active);
        logmsg("serving on %s, as before", S.sock);
        goto serve;
    }
    if (!S.activated && !S.draining) /* draining: the socket may be a successor's by now */
        unlink_own_socket();
    logmsg("stopped after %ld requests", S.served);
    return 0;
}

/* ---- stop and status ------------------------------------------------------------------ */

/* Whether process pid runs (a zombie does not), as far as /proc tells. */
static int still_running(int pid)
{
    char st = proc_state(pid);
    return st && st != 'Z' && st != 'X';
}

/* For status: the program server PID runs (" (deleted)" after its file was
 * replaced or removed, until it re-executes or stops) and the settings it
 * was started with, its own serve options and CGIHOST_* variables. A server
 * started by a request takes those of the first request; one of another
 * virtual host with other settings is served as it is. Said only where
 * /proc/PID is UID's (not a server in a PID namespace of its own, whose
 * pid means another process here) and readable. */
static void print_started_as(pid_t pid, uid_t uid)
{
    char path[64], prog[PATH_MAX], buf[65536];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%ld", (long)pid);
    if (stat(path, &st) != 0 || st.st_uid != uid)
        return;
    snprintf(path, sizeof path, "/proc/%ld/exe", (long)pid);
    ssize_t n = readlink(path, prog, sizeof prog - 1);
    if (n <= 0)
        return;
    prog[n] = '\0';
    printf("  program %s\n", prog);
    static const char *const names[] = {
        "CGIHOST_POOL=",      "CGIHOST_MAX_CHILDREN=", "CGIHOST_QUEUE=",  "CGIHOST_QUEUE_MS=",
        "CGIHOST_IDLE_EXIT=", "CGIHOST_STOP_WAIT=",    "CGIHOST_PRELOAD="};
    int said = 0;
    for (int which = 0; which < 2; which++) {
        snprintf(path, sizeof path, "/proc/%ld/%s", (long)pid, which ? "environ" : "cmdline");
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            continue;
        size_t len = 0;
        ssize_t k;
        while (len < sizeof buf - 1 && (k = read(fd, buf + len, sizeof buf - 1 - len)) > 0)
            len += (size_t)k;
        close(fd);
        buf[len] = '\0';
        /* cmdline: the words after "serve"; environ: the settings */
        int after = 0;
        for (char *w = buf; w < buf + len; w += strlen(w) + 1) {
            int show = 0;
            if (!which) {
                show = after;
                after = after || strcmp(w, "serve") == 0;
            }
            for (size_t i = 0; which && i < sizeof names / sizeof *names; i++)
                show = show || strncmp(w, names[i], strlen(names[i])) == 0;
            if (show)
                printf("%s %s", said++ ? "" : "  started with", w);
        }
    }
    if (said)
        printf("\n");
}

static int ask(int argc, char **argv, uint32_t kind)
{
    const char *dir = getenv("CGIHOST_SOCKET_DIR"), *user = NULL;
    if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage_serve(stdout);
        return 0;
    }
    const char *cmd = kind == CGIH_KIND_STOP ? "stop" : "status";
    for (int i = 1; i < argc; i += 2) {
        int known = strcmp(argv[i], "--socket-dir") == 0 || strcmp(argv[i], "--user") == 0;
        if (!known || i + 1 == argc) {
            fprintf(stderr,
                    known ? "cgihost %s: %s needs a value\n" : "cgihost %s: unknown option %s\n",
                    cmd, argv[i]);
            usage_serve(stderr);
            return 2;
        }
        if (strcmp(argv[i], "--socket-dir") == 0)
            dir = argv[i + 1];
        else
            user = argv[i + 1];
    }
    uid_t uid = geteuid();
    if (user) {
        struct passwd *pw = getpwnam(user);
        if (!pw) {
            fprintf(stderr, "cgihost: no user %s\n", user);
            return 2;
        }
        uid = pw->pw_uid;
        if (uid != geteuid() && geteuid() != 0) {
            fprintf(stderr, "cgihost: --user %s: only root asks another user's server\n", user);
            return 2;
        }
    } else if (uid == 0) {
        fprintf(stderr, "cgihost: root has no server (cgihost serves no request as root): "
                        "name the server's user with --user\n");
        return 2;
    }
    char d[PATH_MAX], path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    if (dir && *dir)
        snprintf(d, sizeof d, "%s", dir);
    const char *why;
    if ((!(dir && *dir) && cgih_sockdir(d, sizeof d, uid) != CGIH_OK) ||
        cgih_sockpath(path, sizeof path, d) != CGIH_OK) {
        fprintf(stderr, "cgihost: socket directory path too long: %.200s\n", d);
        return 2;
    }
    if (cgih_sockdir_check(d, uid, 0, &why) != CGIH_OK) {
        printf("cgihost: no server (%s: %s)\n", d, why);
        return kind == CGIH_KIND_STOP ? 0 : 3;
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    memcpy(sa.sun_path, path, strlen(path) + 1);
    struct timeval tv = {5, 0};
    /* SO_SNDTIMEO bounds connect() too: a stopped server's full backlog. */
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0 ||
        connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        printf("cgihost: no server on %s\n", path);
        if (fd >= 0)
            close(fd);
        return kind == CGIH_KIND_STOP ? 0 : 3;
    }
    /* The server must be the user's, as the client checks it. */
    if (!cgih_peer_is_server_of(fd, path, uid)) {
        printf("cgihost: %s is not a server of uid %u\n", path, (unsigned)uid);
        close(fd);
        return 1;
    }
    struct cgih_hdr h = {CGIH_PROTO_MAGIC, CGIH_PROTO_VERSION, kind, 0};
    int32_t info[CGIH_INFO_COUNT] = {0};
    int got = 0;
    if (send(fd, &h, sizeof h, MSG_NOSIGNAL) == (ssize_t)sizeof h) {
        struct cgih_msg m;
        while (got < CGIH_INFO_COUNT && read_full(fd, &m, sizeof m) == 0 && m.type == CGIH_MSG_INFO)
            info[got++] = m.value;
    }
    close(fd);
    if (got == 0) {
        printf("cgihost: the server on %s did not answer\n", path);
        return 1;
    }
    if (kind == CGIH_KIND_STOP) {
        /* Wait (bounded) for it to go: its lock is free then. */
        char lock[PATH_MAX];
        struct stat lst;
        int lfd = snprintf(lock, sizeof lock, "%s/lock", d) < (int)sizeof lock
                      ? open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
                      : -1;
        if (lfd >= 0 && (fstat(lfd, &lst) != 0 || !S_ISREG(lst.st_mode))) {
            close(lfd); /* not the server's lock: a FIFO would have hung the open */
            lfd = -1;
        }
        int gone = 0;
        for (int i = 0; i < 200 && lfd >= 0 && !gone; i++) {
            gone = flock(lfd, LOCK_SH | LOCK_NB) == 0;
            if (!gone)
                usleep(50000);
        }
        if (lfd >= 0)
            close(lfd);
        if (gone && still_running(info[0]))
            printf("cgihost: server %d has let its socket go; it ends when its requests do\n",
                   info[0]);
        else
            printf(gone ? "cgihost: server %d stopped\n" : "cgihost: server %d is stopping\n",
                   info[0]);
        return 0;
    }
    printf("cgihost: server %d on %s\n  uptime %ds, %d requests served, %d running, %d idle children, "
           "%d cached scripts",
           info[0], path, info[1], info[2], info[3], info[4], info[5]);
    if (got > 6) /* a server from before the queue sends six */
        printf(", %d waiting", info[6]);
    if (got > 7)
        printf(", %d refused (run by their clients)", info[7]);
    printf("\n");
    print_started_as(info[0], uid);
    return 0;
}

int cgih_server_is_command(const char *w)
{
    return strcmp(w, "serve") == 0 || strcmp(w, "stop") == 0 || strcmp(w, "status") == 0;
}

int cgih_server_command(int argc, char **argv)
{
    if (strcmp(argv[0], "serve") == 0) {
        int rc = serve(argc, argv);
        fflush(NULL);
        _exit(rc);
    }
    return ask(argc, argv, strcmp(argv[0], "stop") == 0 ? CGIH_KIND_STOP : CGIH_KIND_QUERY);
}
