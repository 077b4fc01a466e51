/* pattern.c -- a Lua 5.4 pattern matcher that counts its work.
 *
 * Lua's own matcher runs in C, out of sight of any budget, and
 * backtracking lets a pattern cost a high power of the subject's length:
 * string.rep("a", 5e4):find(".-.-.-.-b") would freeze the supervisor.
 * This one, written from the reference manual (6.4, 6.4.1), spends
 * "steps": one per pattern element tried and per subject byte a
 * quantifier or %b scans, more for long sets and back-references.  Its
 * caller gives it a plain budget, or a callback that is charged the steps
 * every so often and may stop it.
 *
 * Positions are offsets: the subject needs no NUL after it.  Errors are
 * met where the matcher reaches them, as in Lua: find("b", "a%") is nil,
 * find("a", "a%") raises.  The matcher never raises: it returns
 * PATTERN_STOPPED with the reason in `why`, for its callers to report. */
#include "base/pattern.h"

#include <ctype.h>
#include <string.h>

#define MAX_NESTING 200  /* recursion levels of one match (Lua's MAXCCALLS) */

static const char E_ENDS_PCT[] = "malformed pattern (ends with '%')";
static const char E_NO_BRACKET[] = "malformed pattern (missing ']')";
static const char E_FRONTIER[] = "missing '[' after '%f' in pattern";
static const char E_BALANCE[] = "malformed pattern (missing arguments to '%b')";
static const char E_CLOSE[] = "invalid pattern capture";
static const char E_UNFINISHED[] = "unfinished capture";
static const char E_TOO_MANY[] = "too many captures";
static const char E_COMPLEX[] = "pattern too complex";
#define E_IDX(d) "invalid capture index %" #d
static const char *const E_INDEX[10] = {E_IDX(0), E_IDX(1), E_IDX(2), E_IDX(3), E_IDX(4),
                                        E_IDX(5), E_IDX(6), E_IDX(7), E_IDX(8), E_IDX(9)};

bool pattern_init(struct pattern *m, const char *s, size_t ls, const char *p, size_t lp,
                  bool anchors, long chunk, pattern_charge_fn *charge, void *ctx)
{
    bool anchored = anchors && lp > 0 && p[0] == '^';
    *m = (struct pattern){.s = (const unsigned char *)s, .ls = ls, .fuel = chunk,
                          .chunk = chunk, .charge = charge, .ctx = ctx,
                          .p = (const unsigned char *)p + anchored, .lp = lp - anchored};
    return anchored;
}

static ptrdiff_t stop(struct pattern *m, const char *why)
{
    m->why = why;
    return PATTERN_STOPPED;
}

bool pattern_settle(struct pattern *m)
{
    long owed = m->chunk - m->fuel;
    m->fuel = m->chunk;
    if (!m->charge || owed <= 0)
        return true;
    return m->charge(m->ctx, owed);  /* may leave by longjmp */
}

bool pattern_spend(struct pattern *m, long n)
{
    if ((m->fuel -= n) >= 0)
        return true;
    if (m->charge && pattern_settle(m))
        return true;
    m->why = m->charge ? E_COMPLEX : NULL;  /* NULL: pattern_find's budget is spent */
    return false;
}

/* ---- parsing ---- */

static int isnul(int c)
{
    return c == 0;
}

/* Whether byte c is in class %cl (or is cl, for an escaped char).  %z is
 * not in the manual, but Lua 5.4 still has it. */
static bool class_has(int c, int cl)
{
    static const char names[] = "acdglpsuwxz";
    static int (*const tests[])(int) = {isalpha, iscntrl, isdigit, isgraph, islower, ispunct,
                                        isspace, isupper, isalnum, isxdigit, isnul};
    const char *k = cl ? strchr(names, tolower(cl)) : NULL;
    if (!k)
        return cl == c;
    bool in = tests[k - names](c) != 0;
    return isupper(cl) ? !in : in;
}

/* Whether c is in the set p[lb..rb], '[' to its ']'. */
static bool set_has(const unsigned char *p, size_t lb, size_t rb, int c)
{
    bool want = p[lb + 1] != '^';
    for (size_t k = lb + (want ? 1 : 2); k < rb; k++) {
        if (p[k] == '%') {  /* item_end made sure it does not escape the ']' */
            if (class_has(c, p[++k]))
                return want;
        } else if (k + 2 < rb && p[k + 1] == '-') {
            if (p[k] <= c && c <= p[k + 2])
                return want;
            k += 2;
        } else if (p[k] == c) {
            return want;
        }
    }
    return !want;
}

/* Where the single item at p[i] (a char, '.', %x or a set) ends, in *end;
 * an error when it is malformed. */
static const char *item_end(const unsigned char *p, size_t lp, size_t i, size_t *end)
{
    unsigned char c = p[i++];
    if (c == '%') {
        if (i >= lp)
            return E_ENDS_PCT;
        i++;
    } else if (c == '[') {
        if (i < lp && p[i] == '^')
            i++;
        /* the first member is taken as is: "[]]" and "[^]]" hold ']' */
        do {
            if (i >= lp)
                return E_NO_BRACKET;
            if (p[i++] == '%' && i < lp)
                i++;
        } while (i >= lp || p[i] != ']');
        i++;
    }
    *end = i;
    return NULL;
}

/* One element of a pattern, as parse_elem reads it. */
struct elem {
    enum { EL_END, EL_OPEN, EL_POSITION, EL_CLOSE, EL_DOLLAR, EL_BALANCE, EL_FRONTIER,
           EL_BACKREF, EL_SINGLE } kind;
    size_t from, to;  /* the operand: a single item, the frontier's set, the
                       * %b pair, the back-reference's digit (from only) */
    size_t next;      /* where the next element starts */
    int quant;        /* a single item's '*', '+', '-', '?', or 0 */
};

/* Read the element at p[i]; an error when it is malformed.  Both the
 * matcher (at each element it reaches) and pattern_check use it. */
static const char *parse_elem(const unsigned char *p, size_t lp, size_t i, struct elem *el)
{
    el->from = el->to = el->next = i;
    el->quant = 0;
    el->kind = EL_END;
    if (i == lp)
        return NULL;
    int c = p[i], d = i + 1 < lp ? p[i + 1] : -1;
    if (c == '(' || c == ')') {
        el->kind = c == ')' ? EL_CLOSE : d == ')' ? EL_POSITION : EL_OPEN;
        el->next = i + (el->kind == EL_POSITION ? 2 : 1);
        return NULL;
    }
    if (c == '$' && d < 0) {  /* an anchor only at the very end */
        el->kind = EL_DOLLAR;
        return NULL;
    }
    if (c == '%' && d == 'b') {
        el->kind = EL_BALANCE;
        el->from = i + 2;
        el->next = i + 4;
        return i + 3 < lp ? NULL : E_BALANCE;
    }
    if (c == '%' && d == 'f') {
        el->kind = EL_FRONTIER;
        el->from = i + 2;
        if (i + 2 >= lp || p[i + 2] != '[')
            return E_FRONTIER;
        const char *err = item_end(p, lp, i + 2, &el->to);
        el->next = el->to;
        return err;
    }
    if (c == '%' && d >= 0 && isdigit(d)) {
        el->kind = EL_BACKREF;
        el->from = i + 1;
        el->next = i + 2;
        return NULL;
    }
    el->kind = EL_SINGLE;
    const char *err = item_end(p, lp, i, &el->to);
    el->next = el->to;
    if (!err && el->to < lp && memchr("*+-?", p[el->to], 4))
        el->quant = p[el->next++];
    return err;
}

/* ---- matching ---- */

/* Whether the single item p[i..e) matches the subject byte at si. */
static bool item_has(const struct pattern *m, size_t si, size_t i, size_t e)
{
    if (si >= m->ls)
        return false;
    int c = m->s[si];
    switch (m->p[i]) {
    case '.': return true;
    case '%': return class_has(c, m->p[i + 1]);
    case '[': return set_has(m->p, i, e - 1, c);
    default: return m->p[i] == c;
    }
}

static ptrdiff_t match_rest(struct pattern *m, size_t si, size_t pi);

/* Match the pattern from pi against the subject from si, one recursion
 * level deeper: the end of the match, PATTERN_FAILED or PATTERN_STOPPED. */
static ptrdiff_t match_at(struct pattern *m, size_t si, size_t pi)
{
    if (m->nest_left == 0)
        return stop(m, E_COMPLEX);
    m->nest_left--;
    ptrdiff_t r = match_rest(m, si, pi);
    m->nest_left++;
    return r;
}

static ptrdiff_t open_capture(struct pattern *m, size_t si, size_t pi, ptrdiff_t kind)
{
    if (m->ncap >= PATTERN_MAXCAPTURES)
        return stop(m, E_TOO_MANY);
    m->cap[m->ncap].at = si;
    m->cap[m->ncap++].len = kind;
    ptrdiff_t r = match_at(m, si, pi);
    if (r == PATTERN_FAILED)
        m->ncap--;
    return r;
}

static ptrdiff_t close_capture(struct pattern *m, size_t si, size_t pi)
{
    int l = m->ncap - 1;
    while (l >= 0 && m->cap[l].len != PATTERN_CAP_OPEN)
        l--;
    if (l < 0)
        return stop(m, E_CLOSE);
    m->cap[l].len = (ptrdiff_t)(si - m->cap[l].at);
    ptrdiff_t r = match_at(m, si, pi);
    if (r == PATTERN_FAILED)
        m->cap[l].len = PATTERN_CAP_OPEN;
    return r;
}

/* %bxy with x at p[pi]: the end of the balanced run from si, or PATTERN_FAILED. */
static ptrdiff_t balanced(struct pattern *m, size_t si, size_t pi)
{
    if (si >= m->ls || m->s[si] != m->p[pi])
        return PATTERN_FAILED;
    unsigned char opener = m->p[pi], closer = m->p[pi + 1];
    long depth = 1;
    for (size_t k = si + 1; k < m->ls; k++) {
        if (!pattern_spend(m, 1))
            return PATTERN_STOPPED;
        if (m->s[k] == closer) {  /* tested first: "%baa" closes at the next a */
            if (--depth == 0)
                return (ptrdiff_t)k + 1;
        } else if (m->s[k] == opener) {
            depth++;
        }
    }
    return PATTERN_FAILED;
}

/* Back-reference %d at si: the end of the repeated text or PATTERN_FAILED. */
static ptrdiff_t backref(struct pattern *m, size_t si, int d)
{
    int l = d - '1';
    if (l < 0 || l >= m->ncap || m->cap[l].len == PATTERN_CAP_OPEN)
        return stop(m, E_INDEX[d - '0']);
    ptrdiff_t len = m->cap[l].len;
    if (len == PATTERN_CAP_POSITION)
        return PATTERN_FAILED;  /* as in Lua: a position never repeats */
    if (!pattern_spend(m, len / 16))
        return PATTERN_STOPPED;
    if (m->ls - si < (size_t)len || memcmp(m->s + m->cap[l].at, m->s + si, (size_t)len) != 0)
        return PATTERN_FAILED;
    return (ptrdiff_t)(si + (size_t)len);
}

/* Single item el repeated as often as it matches from si, then the rest
 * tried with ever fewer repeats. */
static ptrdiff_t longest_first(struct pattern *m, size_t si, const struct elem *el, long cost)
{
    size_t n = 0;
    while (item_has(m, si + n, el->from, el->to)) {
        if (!pattern_spend(m, cost))
            return PATTERN_STOPPED;
        n++;
    }
    for (;; n--) {
        ptrdiff_t r = match_at(m, si + n, el->next);
        if (r != PATTERN_FAILED || n == 0)
            return r;
    }
}

/* The rest tried first after no repeat of el, then after one more at a
 * time while el matches. */
static ptrdiff_t shortest_first(struct pattern *m, size_t si, const struct elem *el, long cost)
{
    for (;; si++) {
        ptrdiff_t r = match_at(m, si, el->next);
        if (r != PATTERN_FAILED)
            return r;
        if (!pattern_spend(m, cost))
            return PATTERN_STOPPED;
        if (!item_has(m, si, el->from, el->to))
            return PATTERN_FAILED;
    }
}

/* The loop behind match_at: elements that cannot backtrack advance in
 * place, the others recurse. */
static ptrdiff_t match_rest(struct pattern *m, size_t si, size_t pi)
{
    struct elem el;
    ptrdiff_t r;
    for (;; pi = el.next) {
        if (!pattern_spend(m, 1))
            return PATTERN_STOPPED;
        if ((m->why = parse_elem(m->p, m->lp, pi, &el)))
            return PATTERN_STOPPED;
        /* a long set takes long to scan, here and at each test of it */
        long cost = 1 + (long)(el.to - el.from - 1) / 2;
        switch (el.kind) {
        case EL_END:
            return (ptrdiff_t)si;
        case EL_OPEN:
        case EL_POSITION:
            return open_capture(m, si, el.next,
                                el.kind == EL_OPEN ? PATTERN_CAP_OPEN : PATTERN_CAP_POSITION);
        case EL_CLOSE:
            return close_capture(m, si, el.next);
        case EL_DOLLAR:
            return si == m->ls ? (ptrdiff_t)si : PATTERN_FAILED;
        case EL_BALANCE:
        case EL_BACKREF:
            r = el.kind == EL_BALANCE ? balanced(m, si, el.from) : backref(m, si, m->p[el.from]);
            if (r < 0)
                return r;
            si = (size_t)r;
            continue;
        case EL_FRONTIER: {
            if (!pattern_spend(m, 2 * cost))
                return PATTERN_STOPPED;
            /* the edges of the subject count as '\0' */
            int before = si > 0 ? m->s[si - 1] : 0, here = si < m->ls ? m->s[si] : 0;
            if (set_has(m->p, el.from, el.to - 1, before) ||
                !set_has(m->p, el.from, el.to - 1, here))
                return PATTERN_FAILED;
            continue;
        }
        case EL_SINGLE:
            if (!pattern_spend(m, cost - 1))
                return PATTERN_STOPPED;
            if (!item_has(m, si, el.from, el.to)) {
                if (el.quant == '*' || el.quant == '?' || el.quant == '-')
                    continue;  /* zero repeats */
                return PATTERN_FAILED;
            }
            switch (el.quant) {
            case '?':
                if ((r = match_at(m, si + 1, el.next)) != PATTERN_FAILED)
                    return r;
                continue;
            case '+': return longest_first(m, si + 1, &el, cost);
            case '*': return longest_first(m, si, &el, cost);
            case '-': return shortest_first(m, si, &el, cost);
            default: si++; continue;
            }
        }
    }
}

ptrdiff_t pattern_search(struct pattern *m, size_t si, bool anchored, ptrdiff_t skip,
                         size_t *end)
{
    for (; si <= m->ls; si++) {
        m->ncap = 0;
        m->nest_left = MAX_NESTING;
        ptrdiff_t r = match_at(m, si, 0);
        if (r == PATTERN_STOPPED)
            return PATTERN_STOPPED;
        if (r >= 0 && r != skip) {
            *end = (size_t)r;
            return (ptrdiff_t)si;
        }
        if (anchored)
            break;
    }
    return PATTERN_FAILED;
}

bool pattern_is_plain(const char *p, size_t lp)
{
    for (size_t i = 0; i < lp; i++)
        if (memchr("^$*+?.([%-", p[i], 10))
            return false;
    return true;
}

/* ---- checking and finding ---- */

const char *pattern_check(const char *pat, size_t lp)
{
    const unsigned char *p = (const unsigned char *)pat;
    int ncap = 0, nopen = 0, l;
    int opened[PATTERN_MAXCAPTURES];  /* the open captures, innermost last */
    bool closed[PATTERN_MAXCAPTURES];
    struct elem el;
    const char *err;
    for (size_t i = lp > 0 && p[0] == '^';; i = el.next) {
        if ((err = parse_elem(p, lp, i, &el)))
            return err;
        switch (el.kind) {
        case EL_END:
        case EL_DOLLAR:
            return nopen ? E_UNFINISHED : NULL;
        case EL_OPEN:
        case EL_POSITION:
            if (ncap >= PATTERN_MAXCAPTURES)
                return E_TOO_MANY;
            if (!(closed[ncap] = el.kind == EL_POSITION))
                opened[nopen++] = ncap;
            ncap++;
            break;
        case EL_CLOSE:
            if (nopen == 0)
                return E_CLOSE;
            closed[opened[--nopen]] = true;
            break;
        case EL_BACKREF:
            l = p[el.from] - '1';
            if (l < 0 || l >= ncap || !closed[l])
                return E_INDEX[p[el.from] - '0'];
            break;
        default:
            break;
        }
    }
}

int pattern_find(const char *s, size_t ls, const char *p, size_t lp, long *budget,
                 const char **err)
{
    if (err)
        *err = NULL;
    if (pattern_is_plain(p, lp)) {
        *budget -= 1 + (long)(ls / 64);  /* memmem is linear */
        if (*budget < 0)
            return PATTERN_TOO_COSTLY;
        return memmem(s, ls, p, lp) ? PATTERN_MATCH : PATTERN_NOMATCH;
    }
    struct pattern m;
    size_t end;
    bool anchored = pattern_init(&m, s, ls, p, lp, true, *budget, NULL, NULL);
    ptrdiff_t r = pattern_search(&m, 0, anchored, -1, &end);
    *budget = m.fuel;
    if (r == PATTERN_STOPPED && !m.why)
        return PATTERN_TOO_COSTLY;
    /* string.find would return the captures: an open one is an error */
    for (int i = 0; r >= 0 && i < m.ncap; i++)
        if (m.cap[i].len == PATTERN_CAP_OPEN)
            r = stop(&m, E_UNFINISHED);
    if (r == PATTERN_STOPPED && err)
        *err = m.why;
    return r == PATTERN_STOPPED ? PATTERN_MALFORMED : r >= 0 ? PATTERN_MATCH : PATTERN_NOMATCH;
}


const char *pattern_capture(const struct pattern *m, int i, size_t si, size_t ei, size_t *at,
                            ptrdiff_t *len)
{
    if (i >= m->ncap) {
        if (i != 0)
            return E_INDEX[i + 1];
        *at = si;
        *len = (ptrdiff_t)(ei - si);
        return NULL;
    }
    if (m->cap[i].len == PATTERN_CAP_OPEN)
        return E_UNFINISHED;
    *at = m->cap[i].at;
    *len = m->cap[i].len;
    return NULL;
}
