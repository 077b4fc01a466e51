/* client.c -- the client commands: a request to the control socket, the
 * answer printed for a person (or as JSON). */
#include "client.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "util.h"

enum { EXIT_OK = 0, EXIT_ERROR = 1, EXIT_USAGE = 2, EXIT_UNREACHABLE = 3 };

/* A command line, as read. */
struct args {
    const char *cmd;
    const char *socket;
    const char **names;
    size_t nnames;
    const char *signal;   /* signal */
    bool json;            /* status --json */
    double timeout;       /* stop, wait; < 0: none */
    bool ready, exit;     /* wait */
    long lines;           /* logs -n; < 0: the default */
    const char *stream;   /* logs --stream */
    bool follow;          /* logs -f */
};

static const struct usage {
    const char *cmd;
    const char *text;
} usages[] = {
    {"status", "tend status [NAME...] [--json] [--socket PATH]"},
    {"start", "tend start NAME... [--socket PATH]"},
    {"stop", "tend stop NAME... [--timeout SECONDS] [--socket PATH]"},
    {"restart", "tend restart NAME... [--socket PATH]"},
    {"kill", "tend kill NAME... [--socket PATH]"},
    {"signal", "tend signal SIGNAL NAME... [--socket PATH]"},
    {"logs", "tend logs NAME [-n LINES] [--stream stdout|stderr] [-f] [--socket PATH]"},
    {"wait", "tend wait NAME... [--ready | --exit] [--timeout SECONDS] [--socket PATH]"},
    {"reload", "tend reload [--socket PATH]"},
    {"shutdown", "tend shutdown [--socket PATH]"},
};

bool client_is_command(const char *cmd)
{
    for (size_t i = 0; i < ARRAY_LEN(usages); i++)
        if (strcmp(cmd, usages[i].cmd) == 0)
            return true;
    return false;
}

static const char *usage_of(const char *cmd)
{
    for (size_t i = 0; i < ARRAY_LEN(usages); i++)
        if (strcmp(cmd, usages[i].cmd) == 0)
            return usages[i].text;
    return "";
}

static int usage(const struct args *a, const char *fmt, const char *arg)
    __attribute__((format(printf, 2, 0)));

/* Misuse: the message and the command's usage on stderr; exit code 2. */
static int usage(const struct args *a, const char *fmt, const char *arg)
{
    fprintf(stderr, "tend %s: ", a->cmd);
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nusage: %s\n", usage_of(a->cmd));
    return EXIT_USAGE;
}

/* Seconds from `s`; false unless a finite number >= 0. */
static bool parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (!*s || *end || errno || !isfinite(v) || v < 0)
        return false;
    *out = v;
    return true;
}

/* The value of option `opt` at argv[*i] ("--opt V" or "--opt=V"), or NULL
 * when argv[*i] is not that option.  *missing when its value is. */
static const char *opt_value(int argc, char **argv, int *i, const char *opt, bool *missing)
{
    size_t n = strlen(opt);
    const char *a = argv[*i];
    if (strncmp(a, opt, n) != 0)
        return NULL;
    if (a[n] == '=')
        return a + n + 1;
    if (a[n] != '\0')
        return NULL;
    if (*i + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*i];
}

/* Read the command line into `a`; 0, or the exit code of a misuse. */
static int parse_args(int argc, char **argv, struct args *a)
{
    memset(a, 0, sizeof *a);
    a->cmd = argv[0];
    a->timeout = -1;
    a->lines = -1;
    a->names = xcalloc((size_t)argc, sizeof *a->names);
    bool options = true;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *v;
        bool missing = false;
        const char *cmd = a->cmd;
        if (options && strcmp(arg, "--") == 0) {
            options = false;
        } else if (!options || arg[0] != '-' || arg[1] == '\0') {
            if (strcmp(cmd, "signal") == 0 && !a->signal)
                a->signal = arg;
            else
                a->names[a->nnames++] = arg;
        } else if ((v = opt_value(argc, argv, &i, "--socket", &missing))) {
            a->socket = v;
        } else if (strcmp(cmd, "status") == 0 && strcmp(arg, "--json") == 0) {
            a->json = true;
        } else if ((strcmp(cmd, "stop") == 0 || strcmp(cmd, "wait") == 0) &&
                   (v = opt_value(argc, argv, &i, "--timeout", &missing))) {
            if (!parse_seconds(v, &a->timeout))
                return usage(a, "--timeout %s: a number of seconds (0 or more) expected", v);
        } else if (strcmp(cmd, "wait") == 0 && strcmp(arg, "--ready") == 0) {
            a->ready = true;
        } else if (strcmp(cmd, "wait") == 0 && strcmp(arg, "--exit") == 0) {
            a->exit = true;
        } else if (strcmp(cmd, "logs") == 0 && (strcmp(arg, "-f") == 0 ||
                                                strcmp(arg, "--follow") == 0)) {
            a->follow = true;
        } else if (strcmp(cmd, "logs") == 0 &&
                   ((v = opt_value(argc, argv, &i, "-n", &missing)) ||
                    (!missing && (v = opt_value(argc, argv, &i, "--lines", &missing))))) {
            char *end;
            errno = 0;
            long n = strtol(v, &end, 10);
            if (!*v || *end || errno || n < 0)
                return usage(a, "-n %s: a number of lines (0 or more) expected", v);
            a->lines = n;
        } else if (strcmp(cmd, "logs") == 0 &&
                   (v = opt_value(argc, argv, &i, "--stream", &missing))) {
            if (strcmp(v, "stdout") != 0 && strcmp(v, "stderr") != 0)
                return usage(a, "--stream %s: stdout or stderr expected", v);
            a->stream = v;
        } else if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            printf("usage: %s\n", usage_of(cmd));
            return -1;
        } else if (missing) {
            return usage(a, "%s needs a value", arg);
        } else {
            return usage(a, "unknown option %s", arg);
        }
        if (missing)
            return usage(a, "%s needs a value", arg);
    }
    const char *cmd = a->cmd;
    if (strcmp(cmd, "signal") == 0) {
        if (!a->signal)
            return usage(a, "which signal?%s", "");
        if (signal_from_name(a->signal) < 0)
            return usage(a, "unknown signal %s", a->signal);
    }
    bool none = strcmp(cmd, "reload") == 0 || strcmp(cmd, "shutdown") == 0;
    if (none && a->nnames)
        return usage(a, "takes no proc names (got %s)", a->names[0]);
    if (!none && strcmp(cmd, "status") != 0 && a->nnames == 0)
        return usage(a, "which proc?%s", "");
    if (strcmp(cmd, "logs") == 0 && a->nnames > 1)
        return usage(a, "one proc at a time (got %s too)", a->names[1]);
    if (a->ready && a->exit)
        return usage(a, "--ready or --exit, not both%s", "");
    return 0;
}

/* The request for the command line. */
static json_t *build_request(const struct args *a)
{
    json_t *req = json_object();
    json_object_set_new(req, "cmd", json_string(a->cmd));
    if (a->nnames) {
        json_t *names = json_array();
        for (size_t i = 0; i < a->nnames; i++)
            json_array_append_new(names, json_string(a->names[i]));
        json_object_set_new(req, "names", names);
    }
    if (a->signal)
        json_object_set_new(req, "signal", json_string(a->signal));
    if (a->timeout >= 0)
        json_object_set_new(req, "timeout", json_real(a->timeout));
    if (a->exit)
        json_object_set_new(req, "exit", json_true());
    if (a->lines >= 0)
        json_object_set_new(req, "lines", json_integer(a->lines));
    if (a->stream)
        json_object_set_new(req, "stream", json_string(a->stream));
    if (a->follow)
        json_object_set_new(req, "follow", json_true());
    return req;
}

/* ---- the connection ---- */

struct link {
    int fd;
    const char *path;
    char *buf;      /* buf[start..len) is what was read and not yet taken */
    size_t start, len, cap;
    size_t scanned; /* buf[start..scanned) holds no newline */
};

/* Connect to the socket; 0, or exit code 3 after saying why. */
static int link_open(struct link *l, const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    l->path = path;
    l->buf = NULL;
    l->start = l->len = l->cap = l->scanned = 0;
    if (strlen(path) >= sizeof sa.sun_path) {
        fprintf(stderr, "tend: cannot reach tend at %s: the path is too long\n", path);
        return EXIT_UNREACHABLE;
    }
    strcpy(sa.sun_path, path);
    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l->fd < 0 || connect(l->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        int e = errno;
        fprintf(stderr, "tend: cannot reach tend at %s: %s%s\n", path, strerror(e),
                e == ENOENT || e == ECONNREFUSED
                    ? " (is it running? --socket PATH or $TEND_SOCKET choose the socket)"
                    : "");
        if (l->fd >= 0)
            close(l->fd);
        return EXIT_UNREACHABLE;
    }
    return 0;
}

static bool link_send(struct link *l, json_t *msg)
{
    char *s = json_dumps(msg, JSON_COMPACT);
    size_t n = strlen(s), off = 0;
    bool ok = true;
    while (ok && off <= n) {
        /* the request, then its newline */
        const char *p = off < n ? s + off : "\n";
        size_t k = off < n ? n - off : 1;
        ssize_t w = send(l->fd, p, k, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            ok = false;
        else
            off += (size_t)w;
    }
    free(s);
    return ok;
}

/* The next line, without its newline: *n bytes at the pointer returned,
 * which stays valid until the next call.  NULL at the end of the
 * connection. */
static char *link_line(struct link *l, size_t *n)
{
    for (;;) {
        char *nl = l->len > l->scanned ? memchr(l->buf + l->scanned, '\n', l->len - l->scanned)
                                       : NULL;
        if (nl) {
            char *line = l->buf + l->start;
            *n = (size_t)(nl - line);
            l->start = l->scanned = (size_t)(nl + 1 - l->buf);
            return line;
        }
        l->scanned = l->len;
        if (l->start > 0) {  /* the lines taken make room */
            memmove(l->buf, l->buf + l->start, l->len - l->start);
            l->len -= l->start;
            l->scanned -= l->start;
            l->start = 0;
        }
        if (l->cap - l->len < 65536) {
            l->cap = l->cap ? l->cap * 2 : 65536;
            l->buf = xrealloc(l->buf, l->cap);
        }
        ssize_t r = read(l->fd, l->buf + l->len, l->cap - l->len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return NULL;
        l->len += (size_t)r;
    }
}

/* A line as a message; NULL, with a message, when it is not JSON. */
static json_t *link_parse(const struct link *l, const char *line, size_t n)
{
    json_error_t err;
    json_t *msg = json_loadb(line, n, 0, &err);
    if (!msg)
        fprintf(stderr, "tend: a malformed answer from %s: %s\n", l->path, err.text);
    return msg;
}

/* The next message, NULL at the end of the connection.  A line that is
 * not JSON ends it too, with a message. */
static json_t *link_next(struct link *l)
{
    size_t n;
    char *line = link_line(l, &n);
    return line ? link_parse(l, line, n) : NULL;
}

static void link_close(struct link *l)
{
    close(l->fd);
    free(l->buf);
}

/* ---- printing ---- */

static double num(const json_t *o, const char *key)
{
    return json_number_value(json_object_get(o, key));
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* "0:01:02", "3d 4:05:06". */
static void fmt_duration(double s, char *buf, size_t n)
{
    long t = s > 0 ? (long)s : 0;
    long d = t / 86400, h = t / 3600 % 24, m = t / 60 % 60, sec = t % 60;
    if (d)
        snprintf(buf, n, "%ldd %ld:%02ld:%02ld", d, h, m, sec);
    else
        snprintf(buf, n, "%ld:%02ld:%02ld", h, m, sec);
}

/* "12s", "5m", "3h", "2d". */
static void fmt_short(double s, char *buf, size_t n)
{
    if (s < 0)
        s = 0;
    if (s < 10)
        snprintf(buf, n, "%.1fs", s);
    else if (s < 120)
        snprintf(buf, n, "%.0fs", s);
    else if (s < 7200)
        snprintf(buf, n, "%.0fm", s / 60);
    else if (s < 172800)
        snprintf(buf, n, "%.0fh", s / 3600);
    else
        snprintf(buf, n, "%.0fd", s / 86400);
}

/* One line a proc after start, stop, restart, kill and signal. */
static void print_outcome(const struct args *a, const json_t *list)
{
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *st = json_array_get(list, i);
        const char *state = str(st, "state");
        printf("%s: %s", str(st, "name"), state);
        if (json_object_get(st, "pid"))
            printf(" (pid %lld)", (long long)json_integer_value(json_object_get(st, "pid")));
        else if (!strcmp(state, "stopped"))
            printf(" (exit code %lld)",
                   (long long)json_integer_value(json_object_get(st, "exit_code")));
        else if (!strcmp(state, "killed"))
            printf(" (signal %s)", str(st, "signal"));
        else if (!strcmp(state, "failed"))
            printf(" (%s)", str(st, "reason"));
        if (json_object_get(st, "restart_at"))
            printf("; restarting in %.2gs", num(st, "restart_at") - now_mono());
        if (!strcmp(a->cmd, "signal"))
            printf("; sent SIG%s", signal_name(signal_from_name(a->signal)));
        printf("\n");
    }
}

static void print_line(const json_t *line)
{
    fputs(str(line, "text"), stdout);
    fputc('\n', stdout);
}

/* ---- replies as text ---- */

/* A reply of thousands of statuses is not parsed into a jansson tree
 * (that and dumping it again were most of the time of `tend status` with
 * many procs): its text is checked and read as it stands.  `tend status
 * --json` prints it indented as json_dumpf(JSON_INDENT(2)) did, which is
 * the same text as long as what tend sent is what jansson itself writes --
 * tend's replies are.  What jansson would write otherwise is left to the
 * parse: an escape it would not use, bytes that are not UTF-8, an integer
 * it could not hold, a key twice, a result that is neither an array nor
 * an object.  Reals alone are taken as written (checking them would mean
 * converting each twice): tend writes them as jansson does, "%.17g". */


/* `n` spaces. */
static void ob_pad(struct buf *b, size_t n)
{
    if (n == 0)
        return;
    buf_reserve(b, n);
    memset(b->p + b->len, ' ', n);
    b->len += n;
}

/* A reading of JSON text; with `out`, the text is also written there,
 * indented as JSON_INDENT(2) does. */
struct pretty {
    const char *p, *end;  /* the input left */
    struct buf *out;
};

static void pp_put(struct pretty *pp, const char *s, size_t n)
{
    if (pp->out)
        buf_put(pp->out, s, n);
}

/* A newline and the indent of `depth`. */
static void pp_newline(struct pretty *pp, int depth)
{
    if (pp->out) {
        buf_put(pp->out, "\n", 1);
        ob_pad(pp->out, 2 * (size_t)depth);
    }
}

static void pp_space(struct pretty *pp)
{
    while (pp->p < pp->end &&
           (*pp->p == ' ' || *pp->p == '\t' || *pp->p == '\n' || *pp->p == '\r'))
        pp->p++;
}

/* Whether the next byte (after white space) is `c`, then taken. */
static bool pp_take(struct pretty *pp, char c)
{
    pp_space(pp);
    if (pp->p >= pp->end || *pp->p != c)
        return false;
    pp->p++;
    return true;
}

static int pp_hex(unsigned char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* A string as jansson writes it: only '"', '\\' and control characters
 * escaped (\b \t \n \f \r, else \u00XX in capitals), the rest UTF-8 as
 * it is (no overlong forms, no surrogates). */
static bool pp_string(struct pretty *pp)
{
    const unsigned char *s = (const unsigned char *)pp->p;
    const unsigned char *end = (const unsigned char *)pp->end, *q = s + 1;
    if (s >= end || *s != '"')
        return false;
    for (;;) {
        if (q >= end)
            return false;
        unsigned c = *q;
        if (c == '"')
            break;
        if (c >= 0x20 && c < 0x80 && c != '\\') {
            q++;
            continue;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (end - q < 2)
                return false;
            unsigned char e = q[1];
            if (e == '"' || e == '\\' || e == 'b' || e == 't' || e == 'n' || e == 'f' ||
                e == 'r') {
                q += 2;
                continue;
            }
            /* \u00XX for a control character without a short form */
            if (e != 'u' || end - q < 6 || q[2] != '0' || q[3] != '0' || q[4] > '1' ||
                pp_hex(q[4]) < 0 || pp_hex(q[5]) < 0)
                return false;
            int v = pp_hex(q[4]) * 16 + pp_hex(q[5]);
            if (v == 0 || v == '\b' || v == '\t' || v == '\n' || v == '\f' || v == '\r')
                return false;
            q += 6;
            continue;
        }
        size_t bad, k = utf8_char(q, (size_t)(end - q), &bad);
        if (k == 0)
            return false;
        q += k;
    }
    q++;
    pp_put(pp, pp->p, (size_t)(q - s));
    pp->p = (const char *)q;
    return true;
}

static bool pp_digit(const char *p, const char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* A number in JSON's grammar and in the form jansson writes: an integer
 * that fits, not "-0"; a real with a lower-case 'e' and its exponent
 * without '+' or leading zeros. */
static bool pp_number(struct pretty *pp)
{
    const char *p = pp->p, *end = pp->end, *start = p;
    bool real = false;
    if (p < end && *p == '-')
        p++;
    if (!pp_digit(p, end))
        return false;
    const char *digits = p;
    if (*p == '0')
        p++;
    else
        while (pp_digit(p, end))
            p++;
    size_t ndigits = (size_t)(p - digits);
    if (p < end && *p == '.') {
        real = true;
        if (!pp_digit(++p, end))
            return false;
        while (pp_digit(p, end))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        real = true;
        if (*p == 'E')
            return false;
        if (p + 1 < end && p[1] == '-')
            p++;
        if (!pp_digit(++p, end) || *p == '0')
            return false;
        while (pp_digit(p, end))
            p++;
    }
    if (!real) {  /* a json_int_t, not "-0" */
        const char *max = *start == '-' ? "9223372036854775808" : "9223372036854775807";
        if (ndigits > 19 || (ndigits == 19 && memcmp(digits, max, 19) > 0) ||
            (*start == '-' && *digits == '0'))
            return false;
    }
    pp_put(pp, start, (size_t)(p - start));
    pp->p = p;
    return true;
}

static bool pp_word(struct pretty *pp, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(pp->end - pp->p) < n || memcmp(pp->p, w, n) != 0)
        return false;
    pp_put(pp, w, n);
    pp->p += n;
    return true;
}

/* One value at `depth`. */
static bool pp_value(struct pretty *pp, int depth)
{
    pp_space(pp);
    if (pp->p >= pp->end)
        return false;
    char open = *pp->p;
    if (open == '"')
        return pp_string(pp);
    if (open == '-' || (open >= '0' && open <= '9'))
        return pp_number(pp);
    if (open == 't')
        return pp_word(pp, "true");
    if (open == 'f')
        return pp_word(pp, "false");
    if (open == 'n')
        return pp_word(pp, "null");
    if ((open != '[' && open != '{') || depth >= 64)
        return false;
    char close = open == '[' ? ']' : '}';
    pp->p++;
    pp_put(pp, &open, 1);
    if (pp_take(pp, close)) {  /* [] and {} */
        pp_put(pp, &close, 1);
        return true;
    }
    struct {
        const char *p;
        size_t n;
    } keys[32];  /* a key twice: jansson keeps one */
    size_t nkeys = 0;
    for (bool first = true;; first = false) {
        if (!first)
            pp_put(pp, ",", 1);
        pp_newline(pp, depth + 1);
        if (open == '{') {
            pp_space(pp);
            const char *key = pp->p;
            if (!pp_string(pp))
                return false;
            if (pp->out) {
                /* the same text: the same key (there is one way to write each) */
                size_t n = (size_t)(pp->p - key);
                for (size_t i = 0; i < nkeys; i++)
                    if (keys[i].n == n && memcmp(keys[i].p, key, n) == 0)
                        return false;
                if (nkeys == ARRAY_LEN(keys))
                    return false;
                keys[nkeys].p = key;
                keys[nkeys++].n = n;
            }
            if (!pp_take(pp, ':'))
                return false;
            pp_put(pp, ": ", 2);
        }
        if (!pp_value(pp, depth + 1))
            return false;
        if (pp_take(pp, close))
            break;
        if (!pp_take(pp, ','))
            return false;
    }
    pp_newline(pp, depth);
    pp_put(pp, &close, 1);
    return true;
}

/* The result of the reply `line` when it is {"ok":true,"result":R}, as it
 * stands: R is then pp->p[0..end). */
static bool reply_result(const char *line, size_t n, struct pretty *pp)
{
    static const char head[] = "{\"ok\":true,\"result\":";
    if (n < sizeof head || memcmp(line, head, sizeof head - 1) != 0)
        return false;
    const char *end = line + n;
    while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        end--;
    if (end[-1] != '}')
        return false;
    pp->p = line + sizeof head - 1;
    pp->end = end - 1;
    return true;
}

/* Print the result of the reply `line` indented; false, with nothing
 * printed, to leave it to the parse. */
static bool print_result_as_is(const char *line, size_t n)
{
    struct buf out = {0};
    struct pretty pp = {.out = &out};
    if (!reply_result(line, n, &pp))
        return false;
    buf_reserve(&out, n + n / 2 + 2);
    pp_space(&pp);
    /* json_dumpf writes nothing of a result that is neither */
    bool ok = pp.p < pp.end && (*pp.p == '[' || *pp.p == '{') && pp_value(&pp, 0);
    pp_space(&pp);
    if (ok && pp.p == pp.end) {
        buf_put(&out, "\n", 1);
        fwrite(out.p, 1, out.len, stdout);
    }
    free(out.p);
    return ok && pp.p == pp.end;
}

/* ---- the table ---- */

/* A status object as it stands in a reply: where each field's value is. */
#define FIELDS_MAX 64
struct fobj {
    size_t n;
    struct {
        const char *key, *val;  /* the key without its quotes; the value's text */
        size_t klen, vlen;
    } f[FIELDS_MAX];
};

/* Read an object (or skip another value: no fields) into `o`. */
static bool fobj_read(struct pretty *pp, struct fobj *o)
{
    o->n = 0;
    pp_space(pp);
    if (pp->p >= pp->end || *pp->p != '{')
        return pp_value(pp, 1);
    pp->p++;
    if (pp_take(pp, '}'))
        return true;
    do {
        if (o->n == FIELDS_MAX)
            return false;
        pp_space(pp);
        const char *key = pp->p;
        if (!pp_string(pp))
            return false;
        o->f[o->n].key = key + 1;
        o->f[o->n].klen = (size_t)(pp->p - key) - 2;
        if (!pp_take(pp, ':'))
            return false;
        pp_space(pp);
        const char *val = pp->p;
        if (!pp_value(pp, 2))
            return false;
        o->f[o->n].val = val;
        o->f[o->n].vlen = (size_t)(pp->p - val);
        o->n++;
    } while (pp_take(pp, ','));
    return pp_take(pp, '}');
}

/* The text of field `key` (the last one so named, as jansson keeps it),
 * or NULL. */
static const char *fget(const struct fobj *o, const char *key, size_t *vlen)
{
    size_t kl = strlen(key);
    for (size_t i = o->n; i-- > 0;)
        if (o->f[i].klen == kl && memcmp(o->f[i].key, key, kl) == 0) {
            *vlen = o->f[i].vlen;
            return o->f[i].val;
        }
    return NULL;
}

static bool fhas(const struct fobj *o, const char *key)
{
    size_t n;
    return fget(o, key, &n) != NULL;
}

/* json_number_value: 0 when not a number. */
static double fnum(const struct fobj *o, const char *key)
{
    size_t n;
    const char *v = fget(o, key, &n);
    return v && (*v == '-' || (*v >= '0' && *v <= '9')) ? strtod(v, NULL) : 0;
}

/* json_integer_value: 0 when not an integer. */
static long long fint(const struct fobj *o, const char *key)
{
    size_t n;
    const char *v = fget(o, key, &n);
    if (!v || !(*v == '-' || (*v >= '0' && *v <= '9')))
        return 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] == '.' || v[i] == 'e' || v[i] == 'E')
            return 0;
    return strtoll(v, NULL, 10);
}

static bool ftrue(const struct fobj *o, const char *key)
{
    size_t n;
    const char *v = fget(o, key, &n);
    return v && n == 4 && memcmp(v, "true", 4) == 0;
}

/* The string `key` unescaped into buf (at most size - 1 bytes, as
 * snprintf would cut it); "" when it is not a string. */
static const char *fstr(const struct fobj *o, const char *key, char *buf, size_t size)
{
    size_t n, k = 0;
    const char *v = fget(o, key, &n);
    if (v && *v == '"') {
        for (size_t i = 1; i + 1 < n && k + 1 < size; i++) {
            char c = v[i];
            if (c == '\\') {
                char e = v[++i];
                if (e == 'u') {  /* \u00XX: a control character */
                    c = (char)(pp_hex((unsigned char)v[i + 3]) * 16 +
                               pp_hex((unsigned char)v[i + 4]));
                    i += 4;
                } else {
                    c = e == 'b' ? '\b' : e == 't' ? '\t' : e == 'n' ? '\n' : e == 'f' ? '\f'
                        : e == 'r' ? '\r' : e;
                }
            }
            buf[k++] = c;
        }
    }
    buf[k] = '\0';
    return buf;
}

/* The ANSI colour of a state, or NULL. */
static const char *state_colour(const char *s, const struct fobj *st)
{
    if (!strcmp(s, "ready") || !strcmp(s, "running"))
        return "32";  /* green */
    if (!strcmp(s, "starting") || !strcmp(s, "stopping"))
        return "33";  /* yellow */
    if (!strcmp(s, "killed") || !strcmp(s, "failed") ||
        (!strcmp(s, "stopped") && fnum(st, "exit_code") != 0))
        return "31";  /* red */
    if (!strcmp(s, "pending"))
        return "2";   /* dim */
    return NULL;
}

static bool use_colour(void)
{
    const char *nc = getenv("NO_COLOR"), *term = getenv("TERM");
    return isatty(1) && !(nc && *nc) && !(term && strcmp(term, "dumb") == 0);
}

enum { C_NAME, C_STATE, C_PID, C_UPTIME, C_RESTARTS, C_INFO, C_NEXT, NCOLS };

#define CELL 256  /* bytes a cell holds, its NUL included */

/* The cells of one status row; its colour in *colour. */
static void status_row(const struct fobj *st, double now, char cells[NCOLS][CELL],
                       const char **colour)
{
    char state[CELL], a[CELL], b[CELL];
    fstr(st, "state", state, sizeof state);
    *colour = state_colour(state, st);
    bool alive = !strcmp(state, "starting") || !strcmp(state, "running") ||
                 !strcmp(state, "ready") || !strcmp(state, "stopping");
    fstr(st, "name", cells[C_NAME], CELL);
    memcpy(cells[C_STATE], state, CELL);
    if (fhas(st, "pid"))
        snprintf(cells[C_PID], CELL, "%lld", fint(st, "pid"));
    else
        strcpy(cells[C_PID], "-");
    if (alive && fhas(st, "started_at"))
        fmt_duration(now - fnum(st, "started_at"), cells[C_UPTIME], CELL);
    else if (alive && fhas(st, "since"))
        fmt_duration(now - fnum(st, "since"), cells[C_UPTIME], CELL);
    else
        strcpy(cells[C_UPTIME], "-");
    snprintf(cells[C_RESTARTS], CELL, "%lld", fint(st, "restarts"));

    char ago[32] = "";
    if (fhas(st, "ended_at")) {
        char d[16];
        fmt_short(now - fnum(st, "ended_at"), d, sizeof d);
        snprintf(ago, sizeof ago, ", %s ago", d);
    }
    bool health = fhas(st, "health"), text = fhas(st, "status_text");
    if (!strcmp(state, "stopped"))
        snprintf(cells[C_INFO], CELL, "exit %lld%s", fint(st, "exit_code"), ago);
    else if (!strcmp(state, "killed"))
        snprintf(cells[C_INFO], CELL, "signal %s%s%s", fstr(st, "signal", a, sizeof a),
                 ftrue(st, "core_dumped") ? " (core dumped)" : "", ago);
    else if (!strcmp(state, "failed"))
        fstr(st, "reason", cells[C_INFO], CELL);
    else if (health || text)
        snprintf(cells[C_INFO], CELL, "%s%s%s", fstr(st, "health", a, sizeof a),
                 health && text ? ": " : "", fstr(st, "status_text", b, sizeof b));
    else
        strcpy(cells[C_INFO], "-");

    if (fhas(st, "restart_at")) {
        char d[16];
        fmt_short(fnum(st, "restart_at") - now, d, sizeof d);
        snprintf(cells[C_NEXT], CELL, "restart in %s", d);
    } else if (fhas(st, "gave_up")) {
        snprintf(cells[C_NEXT], CELL, "gave up: %s", fstr(st, "gave_up", a, sizeof a));
    } else if (!strcmp(state, "stopping")) {
        char d[16];
        fmt_short(fnum(st, "deadline") - now, d, sizeof d);
        snprintf(cells[C_NEXT], CELL, "SIGKILL in %s", d);
    } else {
        strcpy(cells[C_NEXT], "-");
    }
    /* one line a proc, whatever a reason holds */
    for (int c = 0; c < NCOLS; c++)
        for (char *p = cells[c]; *p; p++)
            if (*p == '\n' || *p == '\t' || *p == '\r')
                *p = ' ';
}

/* The table of `tend status` for the list of statuses at pp (an array;
 * anything else is an empty list), written to `out`.  False when that is
 * not JSON as jansson writes it. */
static bool table_text(struct pretty *pp, struct buf *out)
{
    static const char *const heads[NCOLS] = {"NAME", "STATE", "PID", "UPTIME",
                                             "RESTARTS", "INFO", "NEXT"};
    struct buf cells = {0};  /* every cell, NUL-terminated, row after row */
    const char **colours = NULL;
    size_t n = 0, width[NCOLS];
    double now = now_mono();
    bool colour = use_colour(), ok = true;
    struct fobj *o = xmalloc(sizeof *o);
    for (int c = 0; c < NCOLS; c++)
        width[c] = strlen(heads[c]);
    pp_space(pp);
    if (pp->p >= pp->end) {
        ok = false;
    } else if (*pp->p != '[') {
        ok = pp_value(pp, 0);  /* not a list: none */
    } else if (pp->p++, !pp_take(pp, ']')) {
        do {
            char row[NCOLS][CELL];
            if (!(ok = fobj_read(pp, o)))
                break;
            colours = xrealloc(colours, (n + 1) * sizeof *colours);
            status_row(o, now, row, &colours[n]);
            for (int c = 0; c < NCOLS; c++) {
                size_t len = strlen(row[c]);
                if (len > width[c])
                    width[c] = len;
                buf_put(&cells, row[c], len + 1);
            }
            n++;
        } while (pp_take(pp, ','));
        ok = ok && pp_take(pp, ']');
    }
    if (ok) {
        buf_reserve(out, cells.len + n * NCOLS * 8 + 256);
        for (int c = 0; c < NCOLS - 1; c++) {
            buf_put(out, heads[c], strlen(heads[c]));
            ob_pad(out, width[c] - strlen(heads[c]) + 2);
        }
        buf_put(out, heads[NCOLS - 1], strlen(heads[NCOLS - 1]));
        buf_put(out, "\n", 1);
        const char *cell = cells.p;
        for (size_t i = 0; i < n; i++) {
            const char *col = colour ? colours[i] : NULL;
            for (int c = 0; c < NCOLS; c++) {
                size_t len = strlen(cell);
                if (c == C_STATE && col) {
                    buf_put(out, "\033[", 2);
                    buf_put(out, col, strlen(col));
                    buf_put(out, "m", 1);
                    buf_put(out, cell, len);
                    buf_put(out, "\033[0m", 4);
                } else {
                    buf_put(out, cell, len);
                }
                if (c == NCOLS - 1)
                    buf_put(out, "\n", 1);
                else
                    ob_pad(out, width[c] - len + 2);
                cell += len + 1;
            }
        }
    }
    free(o);
    free(colours);
    free(cells.p);
    return ok;
}

/* The table for the reply `line`, printed; false, with nothing printed,
 * to leave it to the parse. */
static bool print_table_as_is(const char *line, size_t n)
{
    struct buf out = {0};
    struct pretty pp = {0};
    bool ok = reply_result(line, n, &pp) && table_text(&pp, &out);
    pp_space(&pp);
    ok = ok && pp.p == pp.end;
    if (ok)
        fwrite(out.p, 1, out.len, stdout);
    free(out.p);
    return ok;
}

/* The table for a parsed result: its text as jansson writes it. */
static bool print_table(const json_t *list)
{
    char *text = json_is_array(list) ? json_dumps(list, JSON_COMPACT) : xstrdup("[]");
    struct buf out = {0};
    struct pretty pp = {.p = text, .end = text ? text + strlen(text) : NULL};
    bool ok = text && table_text(&pp, &out);
    if (ok)
        fwrite(out.p, 1, out.len, stdout);
    free(out.p);
    free(text);
    return ok;
}

/* ---- the commands ---- */

int client_main(int argc, char **argv)
{
    struct args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0) {
        free(a.names);
        return rc < 0 ? EXIT_OK : rc;
    }
    char *path = ctl_socket_path(a.socket);
    struct link l;
    if ((rc = link_open(&l, path))) {
        free(path);
        free(a.names);
        return rc;
    }
    json_t *req = build_request(&a);
    /* even when the request cannot be sent, tend may have said why first
     * (a refused uid) */
    link_send(&l, req);
    json_decref(req);
    size_t n;
    char *line = link_line(&l, &n);
    json_t *reply = NULL;
    if (line && strcmp(a.cmd, "status") == 0 &&
        (a.json ? print_result_as_is(line, n) : print_table_as_is(line, n))) {
        rc = EXIT_OK;
        goto out;
    }
    if (line)
        reply = link_parse(&l, line, n);
    if (!reply) {
        fprintf(stderr, "tend: %s: the connection ended before an answer\n", path);
        rc = EXIT_UNREACHABLE;
        goto out;
    }
    json_t *result = json_object_get(reply, "result");
    if (!json_is_true(json_object_get(reply, "ok"))) {
        const char *err = json_string_value(json_object_get(reply, "error"));
        fprintf(stderr, "tend: %s\n", err ? err : "the supervisor refused the request");
        rc = EXIT_ERROR;
        goto out;
    }
    const char *cmd = a.cmd;
    if (strcmp(cmd, "status") == 0) {
        if (a.json) {
            json_dumpf(result, stdout, JSON_INDENT(2));
            fputc('\n', stdout);
        } else if (!print_table(result)) {
            fprintf(stderr, "tend: %s: cannot read the statuses in the answer\n", path);
            rc = EXIT_ERROR;
            goto out;
        }
    } else if (strcmp(cmd, "logs") == 0) {
        for (size_t i = 0; i < json_array_size(result); i++)
            print_line(json_array_get(result, i));
        fflush(stdout);
        json_t *msg;
        while (a.follow && (msg = link_next(&l))) {
            if (json_object_get(msg, "dropped"))
                fprintf(stderr, "tend: %lld lines dropped (this client fell behind)\n",
                        (long long)json_integer_value(json_object_get(msg, "dropped")));
            else
                print_line(msg);
            fflush(stdout);
            json_decref(msg);
        }
    } else if (strcmp(cmd, "shutdown") == 0) {
        /* tend closes the connection on its way out */
        json_t *msg;
        while ((msg = link_next(&l)))
            json_decref(msg);
    } else if (strcmp(cmd, "wait") != 0 && strcmp(cmd, "reload") != 0) {
        print_outcome(&a, result);
    }
    rc = EXIT_OK;
out:
    json_decref(reply);
    link_close(&l);
    free(path);
    free(a.names);
    return rc;
}
