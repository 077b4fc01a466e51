/* fuzz_envfile.c -- the env_file parser and the overlay (envfile.h).
 *
 * The bytes are two env files: A, up to the first NUL byte, and B, the
 * rest (so A never holds a NUL and B may).  Each is parsed by
 * envfile_parse and by a model of the format written here from envfile.h
 * and the README (not from envfile.c); when both load, B's list is laid on
 * A's with envfile_overlay (B's entries with an empty value as bare keys,
 * which unset).  The oracles:
 *  - a file loads exactly when the model says it does, with the same
 *    entries: "KEY=VALUE" strings, each key once, in the order of their
 *    first lines, the value of the last line with that key;
 *  - an error is "FILE:LINE: message" with the line of the first bad line
 *    (1-based, after a byte-order mark), printable ASCII only, and never
 *    shows a value: when a line's key is good and its value bad, no 12
 *    bytes in a row of the value appear in the message (unless
 *    "FILE:LINE: KEY: ", which it may show, holds them too);
 *  - the overlay keeps A's keys in A's order, each with B's entry if B has
 *    that key, then B's other keys in B's order; the inputs are unchanged;
 *  - nothing crashes or leaks.
 * Where the documents leave room the model says nothing: `export =V` (is
 * "export" the key, or a prefix with no key after it?) is not judged. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "base/envfile.h"
#include "base/util.h"

#define FILE_NAME "fuzz.env"
#define SECRET_RUN 12  /* bytes of a value in a row that count as showing it */

/* ---- the model ---- */

struct entry {
    char *key;
    char *val;  /* NULL: a bare key (an unset, in an overlay) */
};

struct model {
    struct entry *e;
    size_t n, cap;
    bool ok;          /* the file loads */
    bool unjudged;    /* the documents do not say */
    size_t bad_line;  /* when !ok: the first bad line */
    const char *bad_val;  /* when !ok: the bad line's text after its first '=' */
    size_t bad_val_len;
    const char *bad_pre;  /* and before it (a message may show that) */
    size_t bad_pre_len;
    bool bad_after_key;   /* the bad line is KEY= and a bad value */
};

static void model_put(struct model *m, const char *k, size_t kn, const char *v, size_t vn,
                      bool bare)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strlen(m->e[i].key) == kn && memcmp(m->e[i].key, k, kn) == 0) {
            free(m->e[i].val);
            m->e[i].val = bare ? NULL : xstrndup(v, vn);
            return;
        }
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 16;
        m->e = xrealloc(m->e, m->cap * sizeof *m->e);
    }
    m->e[m->n].key = xstrndup(k, kn);
    m->e[m->n].val = bare ? NULL : xstrndup(v, vn);
    m->n++;
}

static void model_free(struct model *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->e[i].key);
        free(m->e[i].val);
    }
    free(m->e);
    memset(m, 0, sizeof *m);
}

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool keych(char c)
{
    return alpha(c) || (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* One line (its end of line taken off) into the model; false if bad. */
static bool model_line(struct model *m, const char *p, size_t n)
{
    if (memchr(p, '\0', n))
        return false;
    size_t i = 0;
    while (i < n && blank(p[i]))
        i++;
    if (i == n || p[i] == '#')
        return true;  /* blank or comment */
    if (n - i >= 7 && memcmp(p + i, "export", 6) == 0 && blank(p[i + 6])) {
        size_t j = i + 6;
        while (j < n && blank(p[j]))
            j++;
        if (j < n && p[j] == '=')
            m->unjudged = true;
        i = j;
    }
    size_t k0 = i;
    if (i == n || !(alpha(p[i]) || p[i] == '_'))
        return false;
    while (i < n && keych(p[i]))
        i++;
    size_t k1 = i;
    while (i < n && blank(p[i]))
        i++;
    if (i == n || p[i] != '=')
        return false;
    m->bad_after_key = true;  /* from here, only the value can be bad */
    i++;
    while (i < n && blank(p[i]))
        i++;
    if (i < n && (p[i] == '\'' || p[i] == '"')) {
        char q = p[i++];
        char *v = xmalloc(n - i + 1);
        size_t vn = 0;
        for (;;) {
            if (i == n) {
                free(v);
                return false;  /* no closing quote on the line */
            }
            char c = p[i++];
            if (c == q)
                break;
            if (q == '"' && c == '\\') {
                if (i == n) {
                    free(v);
                    return false;
                }
                char e = p[i++];
                if (e == 'n') {
                    c = '\n';
                } else if (e == '"' || e == '\\') {
                    c = e;
                } else {
                    free(v);
                    return false;
                }
            }
            v[vn++] = c;
        }
        while (i < n && blank(p[i]))
            i++;
        if (i < n) {
            free(v);
            return false;  /* text after the closing quote */
        }
        model_put(m, p + k0, k1 - k0, v, vn, false);
        free(v);
        return true;
    }
    size_t end = n;
    while (end > i && blank(p[end - 1]))
        end--;
    model_put(m, p + k0, k1 - k0, p + i, end - i, false);
    return true;
}

/* The model's reading of a whole file. */
static void model_parse(struct model *m, const char *buf, size_t len)
{
    memset(m, 0, sizeof *m);
    m->ok = true;
    size_t pos = 0, line = 0;
    if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        pos = 3;
    while (pos < len) {
        line++;
        const char *p = buf + pos;
        const char *nl = memchr(p, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - p) : len - pos;
        pos += n + (nl ? 1 : 0);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        m->bad_after_key = false;
        if (!model_line(m, p, n)) {
            m->ok = false;
            m->bad_line = line;
            const char *eq = memchr(p, '=', n);
            m->bad_val = eq ? eq + 1 : p + n;
            m->bad_val_len = eq ? (size_t)(p + n - (eq + 1)) : 0;
            m->bad_pre = p;
            m->bad_pre_len = eq ? (size_t)(eq - p) : n;
            return;
        }
    }
}

/* ---- the oracles ---- */

static size_t list_len(char **v)
{
    size_t n = 0;
    while (v[n])
        n++;
    return n;
}

/* `got` holds exactly the model's entries, in its order. */
static void check_list(const char *what, char **got, const struct model *m)
{
    size_t n = list_len(got);
    if (n != m->n)
        fuzz_fail("entries", "%s: %zu entries, the model has %zu", what, n, m->n);
    for (size_t i = 0; i < n; i++) {
        const struct entry *e = &m->e[i];
        size_t kn = strlen(e->key);
        bool same = strncmp(got[i], e->key, kn) == 0 &&
                    (e->val ? got[i][kn] == '=' && strcmp(got[i] + kn + 1, e->val) == 0
                            : got[i][kn] == '\0');
        if (!same)
            fuzz_fail("entry", "%s: entry %zu is %s, the model has %s=%s", what, i,
                      fuzz_show(got[i], strlen(got[i])), e->key,
                      e->val ? fuzz_show(e->val, strlen(e->val)) : "(bare)");
    }
}

/* Whether the len bytes at s hold the n bytes at w.  A loop of our own,
 * not memmem: libFuzzer watches memmem's arguments and would learn the
 * messages' words as tokens, then write them into values, where finding
 * them proves nothing. */
static bool holds(const char *s, size_t len, const char *w, size_t n)
{
    for (size_t at = 0; at + n <= len; at++) {
        size_t i = 0;
        while (i < n && s[at + i] == w[i])
            i++;
        if (i == n)
            return true;
    }
    return false;
}

static void check_error(const char *what, const char *err, const struct model *m,
                        const char *buf, size_t len)
{
    char prefix[64];
    int pn = snprintf(prefix, sizeof prefix, "%s:%zu: ", FILE_NAME, m->bad_line);
    if (strncmp(err, prefix, (size_t)pn) != 0)
        fuzz_fail("error-line", "%s: error %s, the model expects it on line %zu (input %s)",
                  what, fuzz_show(err, strlen(err)), m->bad_line, fuzz_show(buf, len));
    if (err[pn] == '\0')
        fuzz_fail("error-empty", "%s: error %s says nothing", what, err);
    for (const char *c = err; *c; c++)
        if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
            fuzz_fail("error-bytes", "%s: error %s holds byte 0x%02x", what,
                      fuzz_show(err, strlen(err)), (unsigned char)*c);
    /* judged where the key is good and the value bad (a message may show
     * what stands before the '=' of a line without a good key, with
     * quotes and escapes, and a run of it may recur in the value); a run
     * of the value that the key holds too proves nothing */
    if (m->bad_after_key && m->bad_val_len >= SECRET_RUN) {
        /* what the message may show besides its words: "FILE:LINE: KEY: "
         * (a run across "2: " and the key is no value shown) */
        const char *kp = m->bad_pre;
        size_t kn = m->bad_pre_len;
        while (kn > 0 && blank(*kp))
            kp++, kn--;
        if (kn > 6 && memcmp(kp, "export", 6) == 0 && blank(kp[6])) {
            kp += 6, kn -= 6;  /* the key, without its `export ` */
            while (kn > 0 && blank(*kp))
                kp++, kn--;
        }
        while (kn > 0 && blank(kp[kn - 1]))
            kn--;
        struct buf shown = {0};
        buf_printf(&shown, "%s%.*s: ", prefix, (int)kn, kp);
        for (size_t i = 0; i + SECRET_RUN <= m->bad_val_len; i++)
            if (holds(err, strlen(err), m->bad_val + i, SECRET_RUN) &&
                !holds(shown.p, shown.len, m->bad_val + i, SECRET_RUN))
                fuzz_fail("error-shows-value", "%s: error %s shows the value %s", what,
                          fuzz_show(err, strlen(err)),
                          fuzz_show(m->bad_val, m->bad_val_len));
        free(shown.p);
    }
}

/* Parse one file both ways and compare; the list (or NULL) and the model. */
static char **parse_checked(const char *what, const char *buf, size_t len, struct model *m)
{
    char *err = NULL;
    char **got = envfile_parse(buf, len, FILE_NAME, &err);
    model_parse(m, buf, len);
    if ((got == NULL) == (err == NULL))
        fuzz_fail("contract", "%s: list %p with error %p", what, (void *)got, (void *)err);
    if (fuzz_debug())
        fuzz_note("%s: %s -> %s; model %s%s\n", what, fuzz_show(buf, len),
                  err ? err : "loaded", m->ok ? "loads" : "refuses",
                  m->unjudged ? " (unjudged)" : "");
    if (!m->unjudged) {
        if (got && !m->ok)
            fuzz_fail("accepted", "%s: %s loaded; the model refuses line %zu", what,
                      fuzz_show(buf, len), m->bad_line);
        if (!got && m->ok)
            fuzz_fail("refused", "%s: %s refused (%s); the model loads it", what,
                      fuzz_show(buf, len), err);
        if (got)
            check_list(what, got, m);
        else
            check_error(what, err, m, buf, len);
    }
    free(err);
    return got;
}

static void list_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static char **list_copy(char **v)
{
    size_t n = list_len(v);
    char **c = xcalloc(n + 1, sizeof *c);
    for (size_t i = 0; i < n; i++)
        c[i] = xstrdup(v[i]);
    return c;
}

static bool list_same(char **a, char **b)
{
    size_t i = 0;
    for (; a[i] && b[i]; i++)
        if (strcmp(a[i], b[i]) != 0)
            return false;
    return !a[i] && !b[i];
}

/* B laid on A, against the model of envfile_overlay. */
static void check_overlay(char **a, const struct model *ma, char **b)
{
    /* B's entries with an empty value become bare keys (unsets) */
    size_t nb = list_len(b);
    char **over = xcalloc(nb + 1, sizeof *over);
    for (size_t i = 0; i < nb; i++) {
        size_t kn = strcspn(b[i], "=");
        over[i] = b[i][kn] == '=' && b[i][kn + 1] == '\0' ? xstrndup(b[i], kn) : xstrdup(b[i]);
    }
    char **a0 = list_copy(a), **over0 = list_copy(over);
    char **got = envfile_overlay(a, over);
    if (!list_same(a, a0) || !list_same(over, over0))
        fuzz_fail("overlay-input", "envfile_overlay changed its inputs");

    struct model m = {0};
    for (size_t i = 0; i < ma->n; i++)
        model_put(&m, ma->e[i].key, strlen(ma->e[i].key), ma->e[i].val,
                  ma->e[i].val ? strlen(ma->e[i].val) : 0, !ma->e[i].val);
    for (size_t i = 0; over[i]; i++) {
        size_t kn = strcspn(over[i], "=");
        const char *v = over[i][kn] ? over[i] + kn + 1 : NULL;
        model_put(&m, over[i], kn, v, v ? strlen(v) : 0, !v);
    }
    check_list("overlay", got, &m);
    model_free(&m);
    list_free(got);
    list_free(a0);
    list_free(over0);
    list_free(over);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    fuzz_setup("envfile");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    const char *nul = memchr(buf, '\0', size);
    size_t alen = nul ? (size_t)(nul - buf) : size;
    const char *bbuf = nul ? nul + 1 : buf + size;
    size_t blen = size - alen - (nul ? 1 : 0);

    struct model ma, mb;
    char **a = parse_checked("file A", buf, alen, &ma);
    char **b = parse_checked("file B", bbuf, blen, &mb);
    if (a && b && !ma.unjudged)
        check_overlay(a, &ma, b);
    list_free(a);
    list_free(b);
    model_free(&ma);
    model_free(&mb);
    return 0;
}
