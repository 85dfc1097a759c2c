/* shebang.h: the option a script's "#!" line gives its Python interpreter.
 *
 * Pure C. A script that a web server runs directly (mod_cgi) starts the
 * interpreter that the kernel reads from its first line, as
 * fs/binfmt_script.c does: "#!", blanks, the interpreter's path, blanks, then
 * at most one argument, the rest of the line without trailing blanks ("-u -O"
 * is one argument, which python3 refuses; "-uO" is two options). cgihost runs
 * the script as that python3 would have: with the options of this argument,
 * when the interpreter is a python (its file name starts with "python").
 * A carriage return ending the line (a script saved with CRLF line ends) is
 * taken as a blank, where the kernel would keep it.
 */
#ifndef CGIH_SHEBANG_H
#define CGIH_SHEBANG_H

#include <stddef.h>

/* What the kernel reads of a script: BINPRM_BUF_SIZE. */
#define CGIH_SHEBANG_MAX 256

/* The argument of the "#!" line in buf[0..len) (a file's first bytes) when it
 * names a python: copied NUL-terminated to opt (at least CGIH_SHEBANG_MAX
 * bytes), returns 1; else returns 0 and opt is "". */
int cgih_shebang_python_arg(const char *buf, size_t len, char *opt);

/* The same for the file at path: 0 also when it cannot be read (the run then
 * reports that itself). Opens it without waiting (a FIFO gives nothing). */
int cgih_shebang_python_arg_of(const char *path, char *opt);

#endif
