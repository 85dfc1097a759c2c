/* shebang.c: the option a script's "#!" line gives its Python interpreter
 * (see shebang.h). */
#include "shebang.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int blank(char c)
{
    return c == ' ' || c == '\t';
}

int cgih_shebang_python_arg(const char *buf, size_t len, char *opt)
{
    opt[0] = '\0';
    /* The kernel looks at the first BINPRM_BUF_SIZE - 1 bytes, up to a
     * newline; a NUL ends the strings it makes of them. */
    if (len > CGIH_SHEBANG_MAX - 1)
        len = CGIH_SHEBANG_MAX - 1;
    if (len < 2 || buf[0] != '#' || buf[1] != '!')
        return 0;
    const char *nl = memchr(buf, '\n', len);
    size_t end = nl ? (size_t)(nl - buf) : len;
    const char *nul = memchr(buf, '\0', end);
    if (nul)
        end = (size_t)(nul - buf);
    while (end > 2 && (blank(buf[end - 1]) || buf[end - 1] == '\r'))
        end--;
    size_t name = 2;
    while (name < end && blank(buf[name]))
        name++;
    size_t sep = name;
    while (sep < end && !blank(buf[sep]))
        sep++;
    if (sep == name)
        return 0;
    size_t arg = sep;
    while (arg < end && blank(buf[arg]))
        arg++;
    if (arg == end)
        return 0;
    size_t base = sep;
    while (base > name && buf[base - 1] != '/')
        base--;
    if (sep - base < 6 || memcmp(buf + base, "python", 6) != 0)
        return 0;
    memcpy(opt, buf + arg, end - arg);
    opt[end - arg] = '\0';
    return 1;
}

int cgih_shebang_python_arg_of(const char *path, char *opt)
{
    opt[0] = '\0';
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return 0;
    char buf[CGIH_SHEBANG_MAX];
    struct stat st;
    ssize_t n = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        do
            n = pread(fd, buf, sizeof buf, 0);
        while (n < 0 && errno == EINTR);
    }
    close(fd);
    return n > 0 ? cgih_shebang_python_arg(buf, (size_t)n, opt) : 0;
}
