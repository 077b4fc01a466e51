/* log.h -- tend's own log lines, on stderr through the output sink. */
#ifndef TEND_LOG_H
#define TEND_LOG_H

#include <stdbool.h>

/* LOG_NOTICE is shown at every level (--quiet too) but marked as info:
 * for the one line of tend's own exit. */
enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_NOTICE };

/* Lines below `level` are dropped (--quiet sets LOG_WARN). */
void log_set_level(enum log_level level);

/* One JSON object a line instead: {"time", "level", "proc", "message"}
 * (--log-format json, for log shippers). */
void log_set_json(bool on);

/* "tend: [warning: |error: ][PROC: ]message".  `proc` may be NULL. */
void log_msg(enum log_level level, const char *proc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_info(proc, ...) log_msg(LOG_INFO, proc, __VA_ARGS__)
#define log_warn(proc, ...) log_msg(LOG_WARN, proc, __VA_ARGS__)
#define log_error(proc, ...) log_msg(LOG_ERROR, proc, __VA_ARGS__)

#endif
