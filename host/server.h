/* server.h: the resident server (`cgihost serve`) and the `stop` and
 * `status` commands, all in cgihost-py; and what the server's request
 * children need from main.c. The client side is client.c (build/cgihost). */
#ifndef CGIH_SERVER_H
#define CGIH_SERVER_H

/* Whether word is one of the commands: serve, stop, status. */
int cgih_server_is_command(const char *word);

/* Runs a command; argv[0] is its name. Returns the exit status. */
int cgih_server_command(int argc, char **argv);

/* Defined in main.c, run by main() and by each request child on the
 * request's argv, environment and cwd: the script path, exactly as for a
 * cold start. cgih_main_prepare() returns -1 to go on with cgih_main_run(),
 * else the exit status (a CGI error response or usage has been written). */
int cgih_main_prepare(int *argc, char ***argv);
int cgih_main_run(int argc, char **argv);

#endif
