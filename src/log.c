/* log.c -- tend's own log lines. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>

#include "output.h"

static enum log_level min_level = LOG_INFO;

void log_set_level(enum log_level level)
{
    min_level = level;
}

void log_msg(enum log_level level, const char *proc, const char *fmt, ...)
{
    static const char *const tags[] = {"debug: ", "", "warning: ", "error: "};
    char msg[1024];
    if (level < min_level)
        return;
    int n = snprintf(msg, sizeof msg, "tend: %s%s%s", tags[level],
                     proc ? proc : "", proc ? ": " : "");
    if (n < 0 || (size_t)n >= sizeof msg)
        n = 0;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg + n, sizeof msg - n, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len >= sizeof msg)
        len = sizeof msg - 1;
    output_line(2, NULL, msg, len);
}
