/* sdnotify.h -- tend speaking sd_notify to its own supervisor (systemd with
 * Type=notify): READY=1 once every autostart proc is ready, STOPPING=1 when
 * it shuts down. */
#ifndef TEND_SDNOTIFY_H
#define TEND_SDNOTIFY_H

/* Take NOTIFY_SOCKET from the environment (and out of it, so the procs do
 * not inherit tend's); without it the calls below do nothing. */
void sdnotify_init(void);
/* Send one message ("READY=1"); never blocks, errors are logged once. */
void sdnotify_send(const char *msg);
void sdnotify_close(void);

#endif
