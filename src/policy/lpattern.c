/* lpattern.c -- string.find, match, gmatch and gsub on a work budget.
 *
 * Lua's own versions run their matcher in C, out of sight of the
 * instruction budget (lvm.c).  These use base/pattern.c's matcher, which
 * counts its steps, and charge them to the running policy (lvm_charge)
 * every CHUNK steps; past CEILING steps a call stops with "pattern too
 * complex" anyway. */
#include "policy/lpattern.h"

#include <ctype.h>
#include <lauxlib.h>
#include <stdbool.h>
#include <string.h>

#include "base/pattern.h"
#include "policy/lvm.h"

#define CHUNK 1024          /* steps between two charges to the policy */
#define CEILING 50000000L   /* steps of one Lua-facing call (~0.5 s of work) */

/* A match for Lua: the matcher, and the policy it charges. */
struct lmatch {
    struct pattern m;
    lua_State *L;
    long charged;  /* steps charged so far */
};

/* The matcher's charge callback: the steps go to the running policy. */
static bool lm_charge(void *ctx, long steps)
{
    struct lmatch *lm = ctx;
    lm->charged += steps;
    lvm_charge(lm->L, steps);  /* may raise: nothing of ours needs freeing */
    return lm->charged <= CEILING;
}

/* Set lm up to match p in s for L; whether p is anchored (see
 * pattern_init). */
static bool lm_init(struct lmatch *lm, lua_State *L, const char *s, size_t ls, const char *p,
                    size_t lp, bool anchors)
{
    lm->L = L;
    lm->charged = 0;
    return pattern_init(&lm->m, s, ls, p, lp, anchors, CHUNK, lm_charge, lm);
}

/* Raise the error that stopped the matcher. */
static int m_raise(struct lmatch *lm)
{
    pattern_settle(&lm->m);
    return luaL_error(lm->L, "%s", lm->m.why);
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
static void push_capture(struct lmatch *lm, int i, size_t si, size_t ei)
{
    size_t at;
    ptrdiff_t len;
    const char *err = pattern_capture(&lm->m, i, si, ei, &at, &len);
    if (err)
        luaL_error(lm->L, "%s", err);
    if (len == PATTERN_CAP_POSITION)
        lua_pushinteger(lm->L, (lua_Integer)at + 1);
    else
        lua_pushlstring(lm->L, (const char *)lm->m.s + at, (size_t)len);
}

/* Push all captures, or the whole match when there are none and `whole`;
 * how many. */
static int push_captures(struct lmatch *lm, size_t si, size_t ei, bool whole)
{
    int n = (lm->m.ncap == 0 && whole) ? 1 : lm->m.ncap;
    luaL_checkstack(lm->L, n, "too many captures");
    for (int i = 0; i < n; i++)
        push_capture(lm, i, si, ei);
    return n;
}

/* string.find and string.match */
static int find_or_match(lua_State *L, bool find)
{
    size_t ls, lp, end;
    const char *s = luaL_checklstring(L, 1, &ls);
    const char *p = luaL_checklstring(L, 2, &lp);
    size_t init = start_offset(L, 3, ls);
    ptrdiff_t at = PATTERN_FAILED;
    struct lmatch lm;
    if (init > ls) {
        /* nothing to find */
    } else if (find && (lua_toboolean(L, 4) || pattern_is_plain(p, lp))) {
        lvm_charge(L, 1 + (long)((ls - init) / 64));
        const char *hit = memmem(s + init, ls - init, p, lp);
        if (hit) {
            lua_pushinteger(L, hit - s + 1);
            lua_pushinteger(L, (lua_Integer)(hit - s + lp));
            return 2;
        }
    } else {
        bool anchored = lm_init(&lm, L, s, ls, p, lp, true);
        if ((at = pattern_search(&lm.m, init, anchored, -1, &end)) == PATTERN_STOPPED)
            return m_raise(&lm);
        pattern_settle(&lm.m);
    }
    if (at == PATTERN_FAILED) {
        luaL_pushfail(L);
        return 1;
    }
    if (!find)
        return push_captures(&lm, (size_t)at, end, true);
    lua_pushinteger(L, (lua_Integer)at + 1);
    lua_pushinteger(L, (lua_Integer)end);
    return 2 + push_captures(&lm, (size_t)at, end, false);
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
    struct lmatch lm;
    lm_init(&lm, L, s, ls, p, lp, false);
    /* an empty match where the last one ended does not count */
    ptrdiff_t at = pattern_search(&lm.m, g->next, false, g->last, &end);
    if (at == PATTERN_STOPPED)
        return m_raise(&lm);
    pattern_settle(&lm.m);
    if (at == PATTERN_FAILED)
        return 0;
    g->next = end;
    g->last = (ptrdiff_t)end;
    return push_captures(&lm, (size_t)at, end, true);
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
static void add_template(struct lmatch *lm, luaL_Buffer *b, size_t si, size_t ei)
{
    size_t lr;
    const char *r = lua_tolstring(lm->L, 3, &lr), *end = r + lr, *pct;
    if (!pattern_spend(&lm->m, 1 + (long)(lr / 16)))
        m_raise(lm);
    for (; (pct = memchr(r, '%', (size_t)(end - r))); r = pct + 2) {
        luaL_addlstring(b, r, (size_t)(pct - r));
        int d = pct + 1 < end ? (unsigned char)pct[1] : 0;
        if (d == '%') {
            luaL_addchar(b, '%');
        } else if (d == '0') {
            luaL_addlstring(b, (const char *)lm->m.s + si, ei - si);
        } else if (isdigit(d)) {
            push_capture(lm, d - '1', si, ei);
            luaL_addvalue(b);  /* a position becomes its decimal text */
        } else {
            luaL_error(lm->L, "invalid use of '%c' in replacement string", '%');
        }
    }
    luaL_addlstring(b, r, (size_t)(end - r));
}

/* Append the replacement for the match s[si..ei), given as a value of Lua
 * type tr; whether it changed the text (false and nil keep the match). */
static bool add_replacement(struct lmatch *lm, luaL_Buffer *b, size_t si, size_t ei, int tr)
{
    lua_State *L = lm->L;
    if (tr == LUA_TFUNCTION) {
        lua_pushvalue(L, 3);
        lua_call(L, push_captures(lm, si, ei, true), 1);
    } else if (tr == LUA_TTABLE) {
        push_capture(lm, 0, si, ei);
        lua_gettable(L, 3);
    } else {
        add_template(lm, b, si, ei);
        return true;
    }
    if (!lua_toboolean(L, -1)) {
        lua_pop(L, 1);
        luaL_addlstring(b, (const char *)lm->m.s + si, ei - si);
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
    struct lmatch lm;
    bool anchored = lm_init(&lm, L, s, ls, p, lp, true), changed = false;
    size_t si = 0;
    ptrdiff_t last = -1;
    while (n < max) {
        /* at si only; not an empty match right after the last one */
        ptrdiff_t at = pattern_search(&lm.m, si, true, last, &end);
        if (at == PATTERN_STOPPED)
            return m_raise(&lm);
        if (at >= 0) {
            n++;
            changed |= add_replacement(&lm, &b, si, end, tr);
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
    pattern_settle(&lm.m);
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
