/* lpattern.c -- a Lua 5.4 pattern matcher that counts its work.
 *
 * Lua's own matcher runs in C, out of sight of the instruction budget
 * (lvm.c), and backtracking lets a pattern cost a high power of the
 * subject's length: string.rep("a", 5e4):find(".-.-.-.-b") would freeze the
 * supervisor.  This one, written from the reference manual (6.4, 6.4.1),
 * spends "steps": one per pattern element tried and per subject byte a
 * quantifier or %b scans, more for long sets and back-references.  The Lua
 * functions charge them to the running policy (lvm_charge) every CHUNK
 * steps, and stop with "pattern too complex" past CEILING steps anyway.
 *
 * Positions are offsets: the subject needs no NUL after it.  Errors are
 * met where the matcher reaches them, as in Lua: find("b", "a%") is nil,
 * find("a", "a%") raises.  The core never raises: it returns STOPPED with
 * the reason in the matcher, for its callers to report. */
#include "policy/lpattern.h"

#include <ctype.h>
#include <lauxlib.h>
#include <stdbool.h>
#include <string.h>

#include "policy/lvm.h"

#define MAX_CAPTURES 32     /* as LUA_MAXCAPTURES */
#define MAX_NESTING 200     /* recursion levels of one match (Lua's MAXCCALLS) */
#define CHUNK 1024          /* steps between two charges to the policy */
#define CEILING 50000000L   /* steps of one Lua-facing call (~0.5 s of work) */

/* a capture's length while it is open, and for a position capture "()" */
#define CAP_OPEN (-1)
#define CAP_POSITION (-2)

/* What a match attempt returns other than an end offset (>= 0). */
#define FAILED (-1)
#define STOPPED (-2)  /* an error or the budget: m->why tells */

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

struct matcher {
    const unsigned char *s, *p;  /* subject and pattern (past an anchor '^') */
    size_t ls, lp;
    int ncap;         /* captures opened on the current path */
    int nest_left;    /* recursion levels left */
    long fuel;        /* steps left before the next charge (lpattern_find: in budget) */
    long charged;     /* steps charged so far */
    lua_State *L;     /* NULL in lpattern_find */
    const char *why;  /* after STOPPED: the error, NULL when out of budget */
    struct {
        size_t at;      /* offset in the subject */
        ptrdiff_t len;  /* or CAP_OPEN, CAP_POSITION */
    } cap[MAX_CAPTURES];
};

/* Set m up to match p in s; whether p is anchored (its '^' is then
 * skipped; gmatch passes anchors = false: there '^' is a plain char). */
static bool m_init(struct matcher *m, lua_State *L, const char *s, size_t ls, const char *p,
                   size_t lp, bool anchors, long fuel)
{
    bool anchored = anchors && lp > 0 && p[0] == '^';
    *m = (struct matcher){.s = (const unsigned char *)s, .ls = ls, .L = L, .fuel = fuel,
                          .p = (const unsigned char *)p + anchored, .lp = lp - anchored};
    return anchored;
}

static ptrdiff_t stop(struct matcher *m, const char *why)
{
    m->why = why;
    return STOPPED;
}

/* Charge the steps done since the last charge to the policy. */
static void m_settle(struct matcher *m)
{
    long owed = CHUNK - m->fuel;
    m->fuel = CHUNK;
    m->charged += owed;
    if (owed > 0)
        lvm_charge(m->L, owed);  /* may raise: nothing of ours needs freeing */
}

/* Spend n steps; false (m->why set) when the matcher must stop. */
static bool spend(struct matcher *m, long n)
{
    if ((m->fuel -= n) >= 0)
        return true;
    if (m->L) {
        m_settle(m);  /* a spent policy budget raises in there */
        if (m->charged <= CEILING)
            return true;
    }
    m->why = m->L ? E_COMPLEX : NULL;  /* NULL: lpattern_find's budget is spent */
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
 * matcher (at each element it reaches) and lpattern_check use it. */
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
static bool item_has(const struct matcher *m, size_t si, size_t i, size_t e)
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

static ptrdiff_t match_rest(struct matcher *m, size_t si, size_t pi);

/* Match the pattern from pi against the subject from si, one recursion
 * level deeper: the end of the match, FAILED or STOPPED. */
static ptrdiff_t match_at(struct matcher *m, size_t si, size_t pi)
{
    if (m->nest_left == 0)
        return stop(m, E_COMPLEX);
    m->nest_left--;
    ptrdiff_t r = match_rest(m, si, pi);
    m->nest_left++;
    return r;
}

static ptrdiff_t open_capture(struct matcher *m, size_t si, size_t pi, ptrdiff_t kind)
{
    if (m->ncap >= MAX_CAPTURES)
        return stop(m, E_TOO_MANY);
    m->cap[m->ncap].at = si;
    m->cap[m->ncap++].len = kind;
    ptrdiff_t r = match_at(m, si, pi);
    if (r == FAILED)
        m->ncap--;
    return r;
}

static ptrdiff_t close_capture(struct matcher *m, size_t si, size_t pi)
{
    int l = m->ncap - 1;
    while (l >= 0 && m->cap[l].len != CAP_OPEN)
        l--;
    if (l < 0)
        return stop(m, E_CLOSE);
    m->cap[l].len = (ptrdiff_t)(si - m->cap[l].at);
    ptrdiff_t r = match_at(m, si, pi);
    if (r == FAILED)
        m->cap[l].len = CAP_OPEN;
    return r;
}

/* %bxy with x at p[pi]: the end of the balanced run from si, or FAILED. */
static ptrdiff_t balanced(struct matcher *m, size_t si, size_t pi)
{
    if (si >= m->ls || m->s[si] != m->p[pi])
        return FAILED;
    unsigned char opener = m->p[pi], closer = m->p[pi + 1];
    long depth = 1;
    for (size_t k = si + 1; k < m->ls; k++) {
        if (!spend(m, 1))
            return STOPPED;
        if (m->s[k] == closer) {  /* tested first: "%baa" closes at the next a */
            if (--depth == 0)
                return (ptrdiff_t)k + 1;
        } else if (m->s[k] == opener) {
            depth++;
        }
    }
    return FAILED;
}

/* Back-reference %d at si: the end of the repeated text or FAILED. */
static ptrdiff_t backref(struct matcher *m, size_t si, int d)
{
    int l = d - '1';
    if (l < 0 || l >= m->ncap || m->cap[l].len == CAP_OPEN)
        return stop(m, E_INDEX[d - '0']);
    ptrdiff_t len = m->cap[l].len;
    if (len == CAP_POSITION)
        return FAILED;  /* as in Lua: a position never repeats */
    if (!spend(m, len / 16))
        return STOPPED;
    if (m->ls - si < (size_t)len || memcmp(m->s + m->cap[l].at, m->s + si, (size_t)len) != 0)
        return FAILED;
    return (ptrdiff_t)(si + (size_t)len);
}

/* Single item el repeated as often as it matches from si, then the rest
 * tried with ever fewer repeats. */
static ptrdiff_t longest_first(struct matcher *m, size_t si, const struct elem *el, long cost)
{
    size_t n = 0;
    while (item_has(m, si + n, el->from, el->to)) {
        if (!spend(m, cost))
            return STOPPED;
        n++;
    }
    for (;; n--) {
        ptrdiff_t r = match_at(m, si + n, el->next);
        if (r != FAILED || n == 0)
            return r;
    }
}

/* The rest tried first after no repeat of el, then after one more at a
 * time while el matches. */
static ptrdiff_t shortest_first(struct matcher *m, size_t si, const struct elem *el, long cost)
{
    for (;; si++) {
        ptrdiff_t r = match_at(m, si, el->next);
        if (r != FAILED)
            return r;
        if (!spend(m, cost))
            return STOPPED;
        if (!item_has(m, si, el->from, el->to))
            return FAILED;
    }
}

/* The loop behind match_at: elements that cannot backtrack advance in
 * place, the others recurse. */
static ptrdiff_t match_rest(struct matcher *m, size_t si, size_t pi)
{
    struct elem el;
    ptrdiff_t r;
    for (;; pi = el.next) {
        if (!spend(m, 1))
            return STOPPED;
        if ((m->why = parse_elem(m->p, m->lp, pi, &el)))
            return STOPPED;
        /* a long set takes long to scan, here and at each test of it */
        long cost = 1 + (long)(el.to - el.from - 1) / 2;
        switch (el.kind) {
        case EL_END:
            return (ptrdiff_t)si;
        case EL_OPEN:
        case EL_POSITION:
            return open_capture(m, si, el.next, el.kind == EL_OPEN ? CAP_OPEN : CAP_POSITION);
        case EL_CLOSE:
            return close_capture(m, si, el.next);
        case EL_DOLLAR:
            return si == m->ls ? (ptrdiff_t)si : FAILED;
        case EL_BALANCE:
        case EL_BACKREF:
            r = el.kind == EL_BALANCE ? balanced(m, si, el.from) : backref(m, si, m->p[el.from]);
            if (r < 0)
                return r;
            si = (size_t)r;
            continue;
        case EL_FRONTIER: {
            if (!spend(m, 2 * cost))
                return STOPPED;
            /* the edges of the subject count as '\0' */
            int before = si > 0 ? m->s[si - 1] : 0, here = si < m->ls ? m->s[si] : 0;
            if (set_has(m->p, el.from, el.to - 1, before) ||
                !set_has(m->p, el.from, el.to - 1, here))
                return FAILED;
            continue;
        }
        case EL_SINGLE:
            if (!spend(m, cost - 1))
                return STOPPED;
            if (!item_has(m, si, el.from, el.to)) {
                if (el.quant == '*' || el.quant == '?' || el.quant == '-')
                    continue;  /* zero repeats */
                return FAILED;
            }
            switch (el.quant) {
            case '?':
                if ((r = match_at(m, si + 1, el.next)) != FAILED)
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

/* Try the pattern at si, then at each later position (unless anchored),
 * passing over an empty match at `skip`; the start of the first match (its
 * end in *end), FAILED or STOPPED. */
static ptrdiff_t search(struct matcher *m, size_t si, bool anchored, ptrdiff_t skip, size_t *end)
{
    for (; si <= m->ls; si++) {
        m->ncap = 0;
        m->nest_left = MAX_NESTING;
        ptrdiff_t r = match_at(m, si, 0);
        if (r == STOPPED)
            return STOPPED;
        if (r >= 0 && r != skip) {
            *end = (size_t)r;
            return (ptrdiff_t)si;
        }
        if (anchored)
            break;
    }
    return FAILED;
}

/* Whether p has none of the characters that make a pattern (string.find
 * then searches it as plain text). */
static bool is_plain(const char *p, size_t lp)
{
    for (size_t i = 0; i < lp; i++)
        if (memchr("^$*+?.([%-", p[i], 10))
            return false;
    return true;
}

/* ---- without Lua ---- */

const char *lpattern_check(const char *pat, size_t lp)
{
    const unsigned char *p = (const unsigned char *)pat;
    int ncap = 0, nopen = 0, l;
    int opened[MAX_CAPTURES];  /* the open captures, innermost last */
    bool closed[MAX_CAPTURES];
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
            if (ncap >= MAX_CAPTURES)
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

int lpattern_find(const char *s, size_t ls, const char *p, size_t lp, long *budget,
                  const char **err)
{
    if (err)
        *err = NULL;
    if (is_plain(p, lp)) {
        *budget -= 1 + (long)(ls / 64);  /* memmem is linear */
        if (*budget < 0)
            return LPAT_TOO_COSTLY;
        return memmem(s, ls, p, lp) ? LPAT_MATCH : LPAT_NOMATCH;
    }
    struct matcher m;
    size_t end;
    bool anchored = m_init(&m, NULL, s, ls, p, lp, true, *budget);
    ptrdiff_t r = search(&m, 0, anchored, -1, &end);
    *budget = m.fuel;
    if (r == STOPPED && !m.why)
        return LPAT_TOO_COSTLY;
    /* string.find would return the captures: an open one is an error */
    for (int i = 0; r >= 0 && i < m.ncap; i++)
        if (m.cap[i].len == CAP_OPEN)
            r = stop(&m, E_UNFINISHED);
    if (r == STOPPED && err)
        *err = m.why;
    return r == STOPPED ? LPAT_MALFORMED : r >= 0 ? LPAT_MATCH : LPAT_NOMATCH;
}

/* ---- the Lua functions ---- */

/* Raise the error that stopped the matcher. */
static int m_raise(struct matcher *m)
{
    m_settle(m);
    return luaL_error(m->L, "%s", m->why);
}

/* An init argument (1-based, negative from the end) as an offset; more
 * than ls when it is past the end. */
static size_t start_offset(lua_State *L, int arg, size_t ls)
{
    lua_Integer pos = luaL_optinteger(L, arg, 1);
    if (pos > 0)
        return (size_t)pos - 1;
    if (pos == 0 || pos < -(lua_Integer)ls)
        return 0;
    return ls - (size_t)(-pos);
}

/* Push capture i of the match s[si..ei) (the whole match for i = 0 when
 * there are no captures). */
static void push_capture(struct matcher *m, int i, size_t si, size_t ei)
{
    if (i >= m->ncap) {
        if (i != 0)
            luaL_error(m->L, "invalid capture index %%%d", i + 1);
        lua_pushlstring(m->L, (const char *)m->s + si, ei - si);
    } else if (m->cap[i].len == CAP_OPEN) {
        luaL_error(m->L, "%s", E_UNFINISHED);
    } else if (m->cap[i].len == CAP_POSITION) {
        lua_pushinteger(m->L, (lua_Integer)m->cap[i].at + 1);
    } else {
        lua_pushlstring(m->L, (const char *)m->s + m->cap[i].at, (size_t)m->cap[i].len);
    }
}

/* Push all captures, or the whole match when there are none and `whole`;
 * how many. */
static int push_captures(struct matcher *m, size_t si, size_t ei, bool whole)
{
    int n = (m->ncap == 0 && whole) ? 1 : m->ncap;
    luaL_checkstack(m->L, n, E_TOO_MANY);
    for (int i = 0; i < n; i++)
        push_capture(m, i, si, ei);
    return n;
}

/* string.find and string.match */
static int find_or_match(lua_State *L, bool find)
{
    size_t ls, lp, end;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_offset(L, 3, ls);
    ptrdiff_t at = FAILED;
    struct matcher m;
    if (init > ls) {
        /* nothing to find */
    } else if (find && (lua_toboolean(L, 4) || is_plain(p, lp))) {
        lvm_charge(L, 1 + (long)((ls - init) / 64));
        const char *hit = memmem(s + init, ls - init, p, lp);
        if (hit) {
            lua_pushinteger(L, hit - s + 1);
            lua_pushinteger(L, (lua_Integer)(hit - s + lp));
            return 2;
        }
    } else {
        bool anchored = m_init(&m, L, s, ls, p, lp, true, CHUNK);
        if ((at = search(&m, init, anchored, -1, &end)) == STOPPED)
            return m_raise(&m);
        m_settle(&m);
    }
    if (at == FAILED) {
        luaL_pushfail(L);
        return 1;
    }
    if (!find)
        return push_captures(&m, (size_t)at, end, true);
    lua_pushinteger(L, (lua_Integer)at + 1);
    lua_pushinteger(L, (lua_Integer)end);
    return 2 + push_captures(&m, (size_t)at, end, false);
}

static int str_find(lua_State *L)
{
    return find_or_match(L, true);
}

static int str_match(lua_State *L)
{
    return find_or_match(L, false);
}

/* Where a gmatch iterator is (upvalue 3; 1 and 2 hold the strings). */
struct gmatch_pos {
    size_t next;     /* the next position to try */
    ptrdiff_t last;  /* end of the last match, -1 before the first */
};

static int gmatch_next(lua_State *L)
{
    size_t ls, lp, end;
    const char *s = lua_tolstring(L, lua_upvalueindex(1), &ls);
    const char *p = lua_tolstring(L, lua_upvalueindex(2), &lp);
    struct gmatch_pos *g = lua_touserdata(L, lua_upvalueindex(3));
    struct matcher m;
    m_init(&m, L, s, ls, p, lp, false, CHUNK);
    /* an empty match where the last one ended does not count */
    ptrdiff_t at = search(&m, g->next, false, g->last, &end);
    if (at == STOPPED)
        return m_raise(&m);
    m_settle(&m);
    if (at == FAILED)
        return 0;
    g->next = end;
    g->last = (ptrdiff_t)end;
    return push_captures(&m, (size_t)at, end, true);
}

static int str_gmatch(lua_State *L)
{
    size_t ls;
    luaL_checklstring(L, 1, &ls);
    luaL_checkstring(L, 2);
    size_t init = start_offset(L, 3, ls);
    lua_settop(L, 2);  /* the strings become upvalues: they stay alive */
    struct gmatch_pos *g = lua_newuserdatauv(L, sizeof *g, 0);
    g->next = init > ls ? ls + 1 : init;
    g->last = -1;
    lua_pushcclosure(L, gmatch_next, 3);
    return 1;
}

/* Append the replacement string (argument 3) for the match s[si..ei). */
static void add_template(struct matcher *m, luaL_Buffer *b, size_t si, size_t ei)
{
    size_t lr;
    const char *r = lua_tolstring(m->L, 3, &lr), *end = r + lr, *pct;
    if (!spend(m, 1 + (long)(lr / 16)))
        m_raise(m);
    for (; (pct = memchr(r, '%', (size_t)(end - r))); r = pct + 2) {
        luaL_addlstring(b, r, (size_t)(pct - r));
        int d = pct + 1 < end ? (unsigned char)pct[1] : 0;
        if (d == '%') {
            luaL_addchar(b, '%');
        } else if (d == '0') {
            luaL_addlstring(b, (const char *)m->s + si, ei - si);
        } else if (isdigit(d)) {
            push_capture(m, d - '1', si, ei);
            luaL_addvalue(b);  /* a position becomes its decimal text */
        } else {
            luaL_error(m->L, "invalid use of '%c' in replacement string", '%');
        }
    }
    luaL_addlstring(b, r, (size_t)(end - r));
}

/* Append the replacement for the match s[si..ei), given as a value of Lua
 * type tr; whether it changed the text (false and nil keep the match). */
static bool add_replacement(struct matcher *m, luaL_Buffer *b, size_t si, size_t ei, int tr)
{
    lua_State *L = m->L;
    if (tr == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        lua_call(L, push_captures(m, si, ei, true), 1);
    } else if (tr == LUA_TTABLE) {
        push_capture(m, 0, si, ei);
        lua_gettable(L, 3);
    } else {
        add_template(m, b, si, ei);
        return true;
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(b, (const char *)m->s + si, ei - si);
        return false;
    }
    if (!lua_isstring(L, -1))
        luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
    luaL_addvalue(b);
    return true;
}

static int str_gsub(lua_State *L)
{
    size_t ls, lp, end;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    int tr = lua_type(L, 3);
    lua_Integer max = luaL_optinteger(L, 4, (lua_Integer)ls + 1), n = 0;
    luaL_argexpected(L, tr == LUA_TNUMBER || tr == LUA_TSTRING || tr == LUA_TFUNCTION ||
                     tr == LUA_TTABLE, 3, "string/function/table");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    struct matcher m;
    bool anchored = m_init(&m, L, s, ls, p, lp, true, CHUNK), changed = false;
    size_t si = 0;
    ptrdiff_t last = -1;
    while (n < max) {
        /* at si only; not an empty match right after the last one */
        ptrdiff_t at = search(&m, si, true, last, &end);
        if (at == STOPPED)
            return m_raise(&m);
        if (at >= 0) {
            n++;
            changed |= add_replacement(&m, &b, si, end, tr);
            si = end;
            last = (ptrdiff_t)end;
        } else if (si < ls) {
            luaL_addchar(&b, s[si++]);
        } else {
            break;
        }
        if (anchored)
            break;
    }
    m_settle(&m);
    if (!changed) {
        lua_pushvalue(L, 1);
    } else {
        luaL_addlstring(&b, s + si, ls - si);
        luaL_pushresult(&b);
    }
    lua_pushinteger(L, n);
    return 2;
}

static const luaL_Reg pattern_funcs[] = {
    {"find", str_find}, {"match", str_match}, {"gmatch", str_gmatch}, {"gsub", str_gsub},
    {NULL, NULL},
};

/* The string library table is also the strings' metatable __index: the
 * method form (s:find(p)) changes with it. */
void lpattern_open(lua_State *L)
{
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    if (lua_getfield(L, -1, "string") == LUA_TTABLE)
        luaL_setfuncs(L, pattern_funcs, 0);
    lua_pop(L, 2);
}
