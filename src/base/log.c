/* log.c -- tend's own log lines. */
#include "base/log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/output.h"
#include "base/util.h"

static enum log_level min_level = LOG_INFO;
static bool json;

void log_set_json(bool on)
{
    json = on;
}

/* The line as a JSON object, through jansson (its escaping is right for
 * any bytes a proc name or message may hold). */
static void log_json(enum log_level level, const char *proc, const char *msg)
{
    static const char *const names[] = {"debug", "info", "warning", "error", "info"};
    char when[32];
    output_time_iso(when);
    json_t *o = json_object();
    json_object_set_new(o, "time", json_string(when));
    json_object_set_new(o, "level", json_string(names[level]));
    json_object_set_new(o, "proc", proc ? json_stringn(proc, strlen(proc)) : json_null());
    size_t len;
    char *text = utf8_clean(msg, strlen(msg), &len);  /* bytes not UTF-8: U+FFFD */
    json_object_set_new(o, "message", json_stringn(text, len));
    free(text);
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (line) {
        output_line_plain(2, line, strlen(line));
        free(line);
    }
}

void log_set_level(enum log_level level)
{
    min_level = level;
}

void log_msg(enum log_level level, const char *proc, const char *fmt, ...)
{
    static const char *const tags[] = {"debug: ", "", "warning: ", "error: ", ""};
    char msg[1024];
    if (level < min_level)
        return;
    if (json) {
        char text[1024];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(text, sizeof text, fmt, ap);
        va_end(ap);
        log_json(level, proc, text);
        return;
    }
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
