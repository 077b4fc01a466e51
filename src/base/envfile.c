/* envfile.c -- env files: the parser, the reader and the overlay of
 * envfile.h. */
#include "base/envfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/strmap.h"
#include "base/util.h"

/* ---- a list of entries, each key once ---- */

struct envset {
    char **v;             /* the entries, NULL-terminated */
    char **keys;          /* v[i]'s key (the map's keys point here) */
    size_t n, cap;
    struct strmap index;  /* key -> position + 1 */
};

static size_t key_len(const char *entry)
{
    return strcspn(entry, "=");
}

/* Set `entry` (taken over) in the set: in place of its key's entry, or
 * appended. */
static void envset_put(struct envset *s, char *entry)
{
    char *key = xstrndup(entry, key_len(entry));
    uintptr_t at = (uintptr_t)strmap_get(&s->index, key);
    if (at) {
        free(key);
        free(s->v[at - 1]);
        s->v[at - 1] = entry;
        return;
    }
    if (s->n + 1 >= s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
        s->keys = xrealloc(s->keys, s->cap * sizeof *s->keys);
    }
    s->keys[s->n] = key;
    s->v[s->n++] = entry;
    s->v[s->n] = NULL;
    strmap_put(&s->index, key, (void *)(uintptr_t)s->n);
}

/* The list (the set's own memory but the list is gone). */
static char **envset_take(struct envset *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->keys[i]);
    free(s->keys);
    strmap_free(&s->index);
    char **v = s->v ? s->v : xcalloc(1, sizeof *v);
    memset(s, 0, sizeof *s);
    return v;
}

static void envset_free(struct envset *s)
{
    char **v = envset_take(s);
    for (char **e = v; *e; e++)
        free(*e);
    free(v);
}

char **envfile_overlay(char *const *base, char *const *over)
{
    struct envset s = {0};
    for (char *const *e = base; e && *e; e++)
        envset_put(&s, xstrdup(*e));
    for (char *const *e = over; e && *e; e++)
        envset_put(&s, xstrdup(*e));
    return envset_take(&s);
}

/* ---- the parser ---- */

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool key_start(char c)
{
    return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || c == '_';
}

static bool key_char(char c)
{
    return key_start(c) || ('0' <= c && c <= '9') || c == '.' || c == '-';
}

/* Up to 64 bytes of s[0..n), printable ASCII only, for a message. */
static char *shown(const char *s, size_t n)
{
    size_t cut = n > 64 ? 64 : n;
    char *out = xmalloc(cut * 4 + 4);
    size_t o = 0;
    for (size_t i = 0; i < cut; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out[o++] = (char)c;
        } else {
            static const char hex[] = "0123456789abcdef";
            out[o++] = '\\';
            out[o++] = 'x';
            out[o++] = hex[c >> 4];
            out[o++] = hex[c & 15];
        }
    }
    if (cut < n)
        out[o++] = '.', out[o++] = '.', out[o++] = '.';
    out[o] = '\0';
    return out;
}

/* One line (without its end of line) into *entry ("KEY=VALUE"), or NULL
 * for a blank or comment line; on error a message (without FILE:LINE). */
static char *parse_line(const char *p, size_t n, char **entry)
{
    *entry = NULL;
    if (memchr(p, '\0', n))
        return xstrdup("the line holds a NUL byte");
    size_t i = 0;
    while (i < n && is_blank(p[i]))
        i++;
    if (i == n || p[i] == '#')
        return NULL;
    if (n - i > 6 && memcmp(p + i, "export", 6) == 0 && is_blank(p[i + 6])) {
        i += 6;
        while (i < n && is_blank(p[i]))
            i++;
    }
    size_t k0 = i;
    while (i < n && key_char(p[i]))
        i++;
    size_t k1 = i;
    while (i < n && is_blank(p[i]))
        i++;
    if (i == n || p[i] != '=') {
        /* no '=' where it belongs: the line may well be a secret pasted
         * on its own, so only a key-like start of it is shown */
        const char *eq = memchr(p + k0, '=', n - k0);
        if (!eq)
            return xstrdup("KEY=VALUE expected (the line has no '=')");
        char *k = shown(p + k0, (size_t)(eq - (p + k0)));
        char *msg = xasprintf("'%s' is not a variable name (a letter or _, then letters, "
                              "digits, _ . -)", k);
        free(k);
        return msg;
    }
    if (k1 == k0)
        return xstrdup("KEY=VALUE expected (no name before the '=')");
    if (!key_start(p[k0])) {
        char *k = shown(p + k0, k1 - k0);
        char *msg = xasprintf("'%s' is not a variable name (it must start with a letter "
                              "or _)", k);
        free(k);
        return msg;
    }
    char *key = xstrndup(p + k0, k1 - k0);
    i++;  /* the '=' */
    while (i < n && is_blank(p[i]))
        i++;
    struct buf v = {0};
    buf_put(&v, key, strlen(key));
    buf_put(&v, "=", 1);
    char *err = NULL;
    if (i < n && (p[i] == '\'' || p[i] == '"')) {
        char q = p[i++];
        bool closed = false;
        while (i < n && !err) {
            char c = p[i++];
            if (c == q) {
                closed = true;
                break;
            }
            if (q == '"' && c == '\\') {
                if (i == n) {
                    err = xasprintf("%s: a \\ ends the line (a quoted value ends on its "
                                    "line; write \\n for a newline)", key);
                    break;
                }
                char e = p[i++];
                if (e == '"' || e == '\\') {
                    c = e;
                } else if (e == 'n') {
                    c = '\n';
                } else {
                    char *s = shown(&e, 1);
                    err = xasprintf("%s: \\%s is not an escape of double quotes (only \\\", "
                                    "\\\\ and \\n are)", key, s);
                    free(s);
                }
            }
            if (!err)
                buf_put(&v, &c, 1);
        }
        if (!err && !closed)
            err = xasprintf("%s: no closing %c (a quoted value ends on its line%s)", key, q,
                            q == '"' ? "; write \\n for a newline" : "");
        while (!err && i < n && is_blank(p[i]))
            i++;
        if (!err && i < n)
            err = xasprintf("%s: text after the closing %c (%s)", key, q,
                            p[i] == '#' ? "a # comment goes on a line of its own"
                                        : "quote the whole value");
    } else {
        size_t end = n;
        while (end > i && is_blank(p[end - 1]))
            end--;
        buf_put(&v, p + i, end - i);
    }
    free(key);
    if (err) {
        free(v.p);
        return err;
    }
    buf_put(&v, "", 1);
    *entry = v.p;
    return NULL;
}

char **envfile_parse(const char *buf, size_t len, const char *file, char **err)
{
    struct envset s = {0};
    *err = NULL;
    size_t pos = 0, line = 0;
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    while (pos < len) {
        line++;
        const char *p = buf + pos;
        const char *nl = memchr(p, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - p) : len - pos;
        pos += n + (nl != NULL);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        char *entry, *msg = parse_line(p, n, &entry);
        if (msg) {
            *err = xasprintf("%s:%zu: %s", file, line, msg);
            free(msg);
            envset_free(&s);
            return NULL;
        }
        if (entry)
            envset_put(&s, entry);
    }
    return envset_take(&s);
}

/* ---- reading ---- */

char *envfile_read(const char *path, size_t *len, char **err)
{
    *err = NULL;
    *len = 0;
    struct stat st;
    /* a FIFO would block, a device may do something on open: only a
     * regular file is opened, and checked again once open */
    if (stat(path, &st) != 0) {
        *err = xasprintf("%s: %s", path, strerror(errno));
        return NULL;
    }
    if (!S_ISREG(st.st_mode)) {
        *err = xasprintf("%s: not a regular file", path);
        return NULL;
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        *err = xasprintf("%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        *err = xasprintf("%s: not a regular file", path);
        return NULL;
    }
    size_t cap = (size_t)st.st_size < ENVFILE_MAX ? (size_t)st.st_size + 1 : ENVFILE_MAX + 1;
    char *b = xmalloc(cap + 1);
    size_t n = 0;
    while (n < cap) {
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *err = xasprintf("%s: %s", path, strerror(errno));
            break;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap && cap <= ENVFILE_MAX) {  /* it grew since the stat */
            cap = cap * 2 > ENVFILE_MAX + 1 ? ENVFILE_MAX + 1 : cap * 2;
            b = xrealloc(b, cap + 1);
        }
    }
    close(fd);
    if (!*err && n > ENVFILE_MAX)
        *err = xasprintf("%s: larger than %d bytes (an env file holds variables)", path,
                         ENVFILE_MAX);
    if (*err) {
        free(b);
        return NULL;
    }
    b[n] = '\0';
    *len = n;
    return b;
}
