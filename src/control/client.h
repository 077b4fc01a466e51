/* client.h -- the client commands (tend status, start, stop, restart,
 * kill, signal, logs, wait, reload, shutdown): one request to the control
 * socket of a running tend, its answer printed.  A client may block; it is
 * not the loop. */
#ifndef TEND_CLIENT_H
#define TEND_CLIENT_H

#include <stdbool.h>

/* Whether `cmd` names a client command. */
bool client_is_command(const char *cmd);

/* Run the client command argv[0] with its arguments (read by cli.c, as
 * every command's are); the exit code: 0 ok, 1 an error answer (or a wait
 * that failed), 2 usage, 3 no supervisor reachable on the socket. */
int client_main(int argc, char **argv);

#endif
