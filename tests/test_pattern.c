/* test_pattern.c -- the budgeted pattern matcher (src/base/pattern.c, and
 * the Lua functions on it in src/policy/lpattern.c) against Lua's own:
 * generated cases run in a stock state and in one with lpattern_open,
 * hand-written cases for each feature and error, the pathological
 * patterns that motivated it, and pattern_check. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <lauxlib.h>
#include <lualib.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "base/pattern.h"
#include "policy/lpattern.h"
#include "policy/lvm.h"
#include "policy/policy.h"

/* Loaded in both states: run(op, ...) does one call and describes what
 * came out (values with their types, or the error) as one string.  The
 * functions are taken from string when this is loaded, so the stock state
 * keeps Lua's own. */
static const char driver[] =
    "local find, match, gmatch, gsub = string.find, string.match, string.gmatch, string.gsub\n"
    "local function ser(ok, ...)\n"
    "  local t = {ok and 'ok' or 'err'}\n"
    "  for i = 1, select('#', ...) do\n"
    "    local v = select(i, ...)\n"
    "    t[#t + 1] = type(v) .. ':' .. tostring(v)\n"
    "  end\n"
    "  return table.concat(t, '|')\n"
    "end\n"
    "SER = ser\n"
    "local T = {a = 'X', b = false, ab = 7, aa = {}, ['1'] = 'one', [1] = 'P1', [2] = true,\n"
    "           ['('] = 'paren', c = 'C%1'}\n"
    "local function F(...)\n"
    "  local x = ...\n"
    "  if x == 'b' then return nil elseif x == 'c' then return false\n"
    "  elseif x == 'aa' then return {} elseif type(x) == 'number' then return x * 10 end\n"
    "  local t = {}\n"
    "  for i = 1, select('#', ...) do t[i] = tostring((select(i, ...))) end\n"
    "  return '<' .. select('#', ...) .. ':' .. table.concat(t, ',') .. '>'\n"
    "end\n"
    "local REPL = {'x', '%0', '%1', '<%1|%2>', '%%', '%', '%x', '', '%3', 7, 2.5, T, F,\n"
    "              '[%0%0]', 'a%%b%1'}\n"
    "NREPL = #REPL\n"
    "function run(op, s, p, a, b, c)\n"
    "  if op == 'find' then return ser(pcall(find, s, p, a, b))\n"
    "  elseif op == 'match' then return ser(pcall(match, s, p, a))\n"
    "  elseif op == 'gmatch' then\n"
    "    return ser(pcall(function()\n"
    "      local out, it = {}, gmatch(s, p, a)\n"
    "      for _ = 1, 40 do\n"
    "        local r = table.pack(it())\n"
    "        if r[1] == nil then break end\n"
    "        out[#out + 1] = ser(true, table.unpack(r, 1, r.n))\n"
    "      end\n"
    "      return table.concat(out, ';')\n"
    "    end))\n"
    "  else return ser(pcall(gsub, s, p, REPL[a], b)) end\n"
    "end\n"
    "function chunk(text) return ser(pcall(assert(load(text)))) end\n";

static lua_State *new_state(bool ours)
{
    lua_State *L = luaL_newstate();
    assert_non_null(L);
    luaL_openlibs(L);
    if (ours)
        lpattern_open(L);
    if (luaL_dostring(L, driver))
        fail_msg("driver: %s", lua_tostring(L, -1));
    return L;
}

static int setup(void **state)
{
    lua_State **Ls = malloc(2 * sizeof *Ls);
    Ls[0] = new_state(false);
    Ls[1] = new_state(true);
    *state = Ls;
    return 0;
}

static int teardown(void **state)
{
    lua_State **Ls = *state;
    lua_close(Ls[0]);
    lua_close(Ls[1]);
    free(Ls);
    return 0;
}

/* An argument for run: a string (with its length), an integer, or nil. */
struct arg {
    enum { A_NIL, A_INT, A_STR, A_TRUE } kind;
    lua_Integer i;
    const char *s;
    size_t len;
};

/* run(op, args...) in L; the description, copied to out (NUL-terminated). */
static void run_in(lua_State *L, const char *fn, const struct arg *args, int nargs, char *out,
                   size_t outsz, size_t *outlen)
{
    lua_getglobal(L, fn);
    for (int i = 0; i < nargs; i++) {
        switch (args[i].kind) {
        case A_NIL: lua_pushnil(L); break;
        case A_INT: lua_pushinteger(L, args[i].i); break;
        case A_STR: lua_pushlstring(L, args[i].s, args[i].len); break;
        case A_TRUE: lua_pushboolean(L, 1); break;
        }
    }
    if (lua_pcall(L, nargs, 1, 0) != LUA_OK)
        fail_msg("%s failed: %s", fn, lua_tostring(L, -1));
    size_t len;
    const char *r = lua_tolstring(L, -1, &len);
    if (len >= outsz)
        len = outsz - 1;
    memcpy(out, r, len);
    out[len] = '\0';
    *outlen = len;
    lua_pop(L, 1);
}

/* Runs a chunk of Lua in both states: both must describe its results as
 * `want` (ok|type:value|...). */
static void expect(void **state, const char *code, const char *want)
{
    lua_State **Ls = *state;
    struct arg a = {A_STR, 0, code, strlen(code)};
    char got[2][512];
    size_t len[2];
    for (int k = 0; k < 2; k++) {
        run_in(Ls[k], "chunk", &a, 1, got[k], sizeof got[k], &len[k]);
        if (strcmp(got[k], want) != 0)
            fail_msg("%s Lua: %s\n  got  %s\n  want %s", k ? "our" : "stock", code, got[k], want);
    }
}

/* ---- the differential test ---- */

static uint32_t seed = 0x2545F491u;

static unsigned rnd(unsigned n)
{
    seed ^= seed << 13;
    seed ^= seed >> 17;
    seed ^= seed << 5;
    return seed % n;
}

struct sbuf {
    char b[256];
    size_t n;
};

static void put(struct sbuf *sb, const char *s)
{
    size_t l = strlen(s);
    if (sb->n + l < sizeof sb->b) {
        memcpy(sb->b + sb->n, s, l);
        sb->n += l;
    }
}

static const char *pick(const char *const *list, size_t n)
{
    return list[rnd((unsigned)n)];
}
#define PICK(list) pick(list, sizeof list / sizeof list[0])

static const char *const singles[] = {
    "a", "a", "b", "b", "c", "1", " ", ".", ".", "%a", "%d", "%s", "%w", "%l", "%u", "%p",
    "%x", "%c", "%g", "%z", "%A", "%D", "%S", "%W", "%L", "%U", "%P", "%X", "%C", "%G", "%Z",
    "%.", "%%", "%(", "%)", "%[", "%-", "%]", "%^", "%$", "[ab]", "[^a]", "[a-c]", "[%d.]",
    "[]a]", "[^]a]", "[a-]", "[%a_]", "[b-a]", "[%]]", "[-a]", "[^%s]", "[%w%(]", "^", "]",
};
static const char *const specials[] = {
    "%bab", "%b()", "%baa", "%f[a]", "%f[%w]", "%f[^a]", "%f[ab]", "%f[%z]", "()", "%1",
    "%2", "%3", "$",
};
static const char *const malformed[] = {
    "%", "[a", "[", "[^", "%f", "%fa", "(", ")", "%0", "%9", "%b", "%ba", "[%", "[]", "%f[a",
};

static void gen_seq(struct sbuf *sb, int depth)
{
    int items = (int)rnd(5);
    for (int i = 0; i < items; i++) {
        unsigned k = rnd(20);
        if (k < 12) {
            put(sb, PICK(singles));
            static const char *const quant[] = {"*", "+", "-", "?", "", "", "", ""};
            put(sb, PICK(quant));
        } else if (k < 15) {
            put(sb, PICK(specials));
        } else if (k < 18 && depth < 2) {
            put(sb, "(");
            gen_seq(sb, depth + 1);
            put(sb, ")");
        } else if (k == 19 && rnd(3) == 0) {
            put(sb, PICK(malformed));
        }
    }
}

static size_t gen_pattern(char *out)
{
    struct sbuf sb = {.n = 0};
    if (rnd(6) == 0)
        put(&sb, "^");
    gen_seq(&sb, 0);
    if (rnd(6) == 0)
        put(&sb, "$");
    if (rnd(25) == 0)
        put(&sb, PICK(malformed));
    memcpy(out, sb.b, sb.n);
    return sb.n;
}

static size_t gen_subject(char *out)
{
    static const char alphabet[] = "aaaabbbc11 ()_.A";
    size_t n = rnd(11);
    for (size_t i = 0; i < n; i++)
        out[i] = rnd(40) == 0 ? '\0' : alphabet[rnd(sizeof alphabet - 1)];
    return n;
}

#define CASES 6000

static void test_differential(void **state)
{
    lua_State **Ls = *state;
    lua_getglobal(Ls[1], "NREPL");
    unsigned nrepl = (unsigned)lua_tointeger(Ls[1], -1);
    lua_pop(Ls[1], 1);
    static const lua_Integer inits[] = {1, 2, -1, -3, 0, 5, 12, -20};
    static const lua_Integer maxes[] = {0, 1, 2, -1};
    static const char *const ops[] = {"find", "match", "gmatch", "gsub"};
    unsigned compared = 0, errors = 0, hits = 0;
    for (int c = 0; c < CASES; c++) {
        char pat[256], subj[16];
        size_t lp = gen_pattern(pat), ls = gen_subject(subj);
        for (int o = 0; o < 4; o++) {
            struct arg args[6] = {
                {A_STR, 0, ops[o], strlen(ops[o])},
                {A_STR, 0, subj, ls},
                {A_STR, 0, pat, lp},
                {A_NIL, 0, NULL, 0},
                {A_NIL, 0, NULL, 0},
            };
            if (o == 3) {
                args[3] = (struct arg){A_INT, 1 + (lua_Integer)rnd(nrepl), NULL, 0};
                if (rnd(3) == 0)
                    args[4] = (struct arg){A_INT, maxes[rnd(4)], NULL, 0};
            } else {
                if (rnd(3) == 0)
                    args[3] = (struct arg){A_INT, inits[rnd(8)], NULL, 0};
                if (o == 0 && rnd(5) == 0)
                    args[4] = (struct arg){A_TRUE, 0, NULL, 0};
            }
            char got[2][4096];
            size_t len[2];
            for (int k = 0; k < 2; k++)
                run_in(Ls[k], "run", args, 6, got[k], sizeof got[k], &len[k]);
            if (len[0] != len[1] || memcmp(got[0], got[1], len[0]) != 0)
                fail_msg("case %d: %s(%.*s, %.*s, ...)\n  stock %s\n  ours  %s", c, ops[o],
                         (int)ls, subj, (int)lp, pat, got[0], got[1]);
            compared++;
            errors += got[0][0] == 'e';
            hits += strncmp(got[0], "ok|nil", 6) != 0 && got[0][0] == 'o';
        }
    }
    print_message("%u calls compared (%u errors, %u with a result)\n", compared, errors, hits);
    /* the grammar must reach both sides of each question */
    assert_true(errors > compared / 50);
    assert_true(hits > compared / 4);
}

/* The two states really run different code. */
static void test_installed(void **state)
{
    lua_State **Ls = *state;
    const char *fns[] = {"find", "match", "gmatch", "gsub"};
    for (int i = 0; i < 4; i++) {
        lua_CFunction f[2];
        for (int k = 0; k < 2; k++) {
            lua_getglobal(Ls[k], "string");
            lua_getfield(Ls[k], -1, fns[i]);
            f[k] = lua_tocfunction(Ls[k], -1);
            lua_pop(Ls[k], 2);
        }
        assert_non_null(f[1]);
        assert_ptr_not_equal(f[0], f[1]);
    }
    /* the method form goes through the same table */
    expect(state, "return ('x'):find('x') == string.find('x', 'x')", "ok|boolean:true");
    lua_getglobal(Ls[1], "string");
    lua_getfield(Ls[1], -1, "find");
    lua_pushliteral(Ls[1], "");
    luaL_getmetafield(Ls[1], -1, "__index");
    lua_getfield(Ls[1], -1, "find");
    assert_true(lua_rawequal(Ls[1], -1, -4));
    lua_settop(Ls[1], 0);
}

/* ---- hand-written cases, checked against both ---- */

static void test_classes_and_sets(void **state)
{
    expect(state, "return ('hello world'):find('o w')", "ok|number:5|number:7");
    expect(state, "return ('hello world'):find('l+')", "ok|number:3|number:4");
    expect(state, "return ('x = 42;'):match('%a+%s*=%s*(%d+)')", "ok|string:42");
    expect(state, "return ('a1_B\\t!'):gsub('%w', '.')", "ok|string:.._.\t!|number:3");
    expect(state, "return ('a1_B\\t!'):gsub('%W', '.')", "ok|string:a1.B..|number:3");
    expect(state, "return ('aB3 \\0x'):gsub('%l', '#')", "ok|string:#B3 \0#|number:2");
    expect(state, "return ('aB3 \\0x'):gsub('%u', '#')", "ok|string:a#3 \0x|number:1");
    expect(state, "return ('aB3 \\0x'):gsub('%c', '#')", "ok|string:aB3 #x|number:1");
    expect(state, "return ('F0g!'):gsub('%x', '#')", "ok|string:##g!|number:2");
    expect(state, "return ('a, b.'):gsub('%p', '')", "ok|string:a b|number:2");
    expect(state, "return ('a b\\n'):gsub('%g', '')", "ok|string: \n|number:2");
    expect(state, "return ('a.b'):find('.', 1, true)", "ok|number:2|number:2");
    expect(state, "return ('a.b'):find('%.')", "ok|number:2|number:2");
    expect(state, "return ('x]y'):find('[]]')", "ok|number:2|number:2");
    expect(state, "return ('x]y'):find('[^]x]')", "ok|number:3|number:3");
    expect(state, "return ('a-z'):gsub('[a-]', '_')", "ok|string:__z|number:2");
    expect(state, "return ('abcxyz'):gsub('[b-dy]', '_')", "ok|string:a__x_z|number:3");
    expect(state, "return ('a%b'):find('[%%]')", "ok|number:2|number:2");
    expect(state, "return ('a1 b'):gsub('[%d%s]', '')", "ok|string:ab|number:2");
    expect(state, "return ('\\0a'):find('%z')", "ok|number:1|number:1");
    expect(state, "return ('\\200'):find('%a')", "ok|nil:nil");  /* the C locale */
}

static void test_quantifiers_and_anchors(void **state)
{
    expect(state, "return ('<a><b>'):match('<(.*)>')", "ok|string:a><b");
    expect(state, "return ('<a><b>'):match('<(.-)>')", "ok|string:a");
    expect(state, "return ('aaab'):match('a+')", "ok|string:aaa");
    expect(state, "return ('b'):match('a+')", "ok|nil:nil");
    expect(state, "return ('-12'):match('^[+-]?%d+$')", "ok|string:-12");
    expect(state, "return ('x-12'):match('^[+-]?%d+$')", "ok|nil:nil");
    expect(state, "return ('ab'):find('^b')", "ok|nil:nil");
    expect(state, "return ('ab'):find('b$')", "ok|number:2|number:2");
    expect(state, "return ('a$b'):find('$b')", "ok|number:2|number:3");
    expect(state, "return ('a^b'):find('a^')", "ok|number:1|number:2");
    expect(state, "return ('aaa'):gsub('^a', 'x')", "ok|string:xaa|number:1");
    expect(state, "return ('abc'):gsub('', '-')", "ok|string:-a-b-c-|number:4");
    expect(state, "return ('abc'):gsub('b*', '-')", "ok|string:-a-c-|number:3");
    expect(state, "return ('abc'):find('', 10)", "ok|nil:nil");
    expect(state, "return ('abc'):find('', 4)", "ok|number:4|number:3");
    expect(state, "return ('abcabc'):find('b', -3)", "ok|number:5|number:5");
    expect(state, "return ('abc'):find('a', -10)", "ok|number:1|number:1");
    expect(state, "return ('abc'):find('a', 0)", "ok|number:1|number:1");
    expect(state, "return ('a+b'):find('+', 1, true)", "ok|number:2|number:2");
    expect(state, "return ('ab'):find('b', 1.0)", "ok|number:2|number:2");
    expect(state, "return pcall(string.find, 'a', 'a', 1.5)",
           "ok|boolean:false|string:bad argument #3 to 'string.find' "
           "(number has no integer representation)");
}

static void test_captures(void **state)
{
    expect(state, "return ('key=val'):find('(%w+)=(%w+)')",
           "ok|number:1|number:7|string:key|string:val");
    expect(state, "return ('hello'):match('()ll()')", "ok|number:3|number:5");
    expect(state, "return ('abab'):match('(ab)%1')", "ok|string:ab");
    expect(state, "return ('say \"hi\" now'):match('([\"\\'])(.-)%1')",
           "ok|string:\"|string:hi");
    expect(state, "return ('aa'):find('()%1')", "ok|nil:nil");
    expect(state, "return ('abc'):match('((a)(b))')", "ok|string:ab|string:a|string:b");
    expect(state, "return ('f(a(b)c) d'):match('%b()')", "ok|string:(a(b)c)");
    expect(state, "return ('f(a(b c) d'):match('%b()')", "ok|string:(b c)");
    expect(state, "return ('f(a b'):match('%b()')", "ok|nil:nil");
    expect(state, "return ('\"x\" \"y\"'):match('%b\"\"')", "ok|string:\"x\"");
    expect(state, "return ('THE (quick) fox'):gsub('%f[%a]%a+', 'W')",
           "ok|string:W (W) W|number:3");
    expect(state, "return ('abc'):find('%f[%a]')", "ok|number:1|number:0");
    expect(state, "return ('abc'):find('%f[%z]')", "ok|number:4|number:3");
    expect(state, "return ('a' .. ('()'):rep(31)):find('a' .. ('()'):rep(31))",
           "ok|number:1|number:1|number:2|number:2|number:2|number:2|number:2|number:2|"
           "number:2|number:2|number:2|number:2|number:2|number:2|number:2|number:2|number:2|"
           "number:2|number:2|number:2|number:2|number:2|number:2|number:2|number:2|number:2|"
           "number:2|number:2|number:2|number:2|number:2|number:2|number:2");
}

static void test_gmatch(void **state)
{
    expect(state, "local t = {} for k, v in ('a=1, b=2'):gmatch('(%w+)=(%w+)') do "
           "t[#t + 1] = k .. v end return table.concat(t, ' ')", "ok|string:a1 b2");
    expect(state, "local t = {} for w in ('one two'):gmatch('%a*') do t[#t + 1] = '[' .. w .. ']' "
           "end return table.concat(t)", "ok|string:[one][two]");
    expect(state, "local t = {} for w in ('^a^a'):gmatch('^a') do t[#t + 1] = w end "
           "return #t", "ok|number:2");
    expect(state, "local t = {} for p in ('abc'):gmatch('()', 2) do t[#t + 1] = p end "
           "return table.concat(t, ',')", "ok|string:2,3,4");
    expect(state, "local t = {} for p in ('abc'):gmatch('.', -1) do t[#t + 1] = p end "
           "return table.concat(t, ',')", "ok|string:c");
    expect(state, "local it = ('abc'):gmatch('x', 10) return it()", "ok");
}

static void test_gsub_replacements(void **state)
{
    expect(state, "return ('hello world'):gsub('o', '0', 1)", "ok|string:hell0 world|number:1");
    expect(state, "return ('hello'):gsub('l', 'L', 0)", "ok|string:hello|number:0");
    expect(state, "return ('abc'):gsub('%w', '%0%0')", "ok|string:aabbcc|number:3");
    expect(state, "return ('abc'):gsub('b', '%1')", "ok|string:abc|number:1");
    expect(state, "return ('a-b'):gsub('(%w)-(%w)', '%2-%1')", "ok|string:b-a|number:1");
    expect(state, "return ('ab'):gsub('()b', '%1')", "ok|string:a2|number:1");
    expect(state, "return ('5%'):gsub('%%', '%% of')", "ok|string:5% of|number:1");
    expect(state, "return ('ab'):gsub('b', 42)", "ok|string:a42|number:1");
    expect(state, "return ('$x $y'):gsub('%$(%w+)', {x = 'X', y = false})",
           "ok|string:X $y|number:2");
    expect(state, "return ('1 2'):gsub('%d', function(d) return d * 2 end)",
           "ok|string:2 4|number:2");
    expect(state, "return ('a b'):gsub('%a', function() end)", "ok|string:a b|number:2");
    expect(state, "return ('ab'):gsub('(a)(b)', function(x, y) return y .. x end)",
           "ok|string:ba|number:1");
    expect(state, "return ('abc'):gsub('^', '>')", "ok|string:>abc|number:1");
    expect(state, "return string.gsub(123, '2', 'x')", "ok|string:1x3|number:1");
}

static void test_errors(void **state)
{
    static const char *const cases[][2] = {
        {"return ('a'):find('a%')", "malformed pattern (ends with '%')"},
        {"return ('a'):find('[a')", "malformed pattern (missing ']')"},
        {"return ('a'):find('[]')", "malformed pattern (missing ']')"},
        {"return ('a'):find('%f')", "missing '[' after '%f' in pattern"},
        {"return ('a'):find('%fa')", "missing '[' after '%f' in pattern"},
        {"return ('a'):find('%ba')", "malformed pattern (missing arguments to '%b')"},
        {"return ('aa'):find('(a)%2')", "invalid capture index %2"},
        {"return ('aa'):find('(a%1)')", "invalid capture index %1"},
        {"return ('aa'):find('%0')", "invalid capture index %0"},
        {"return ('a'):match('a)')", "invalid pattern capture"},
        {"return ('a'):find('(a')", "unfinished capture"},
        {"return ('a'):gsub('(a', {})", "unfinished capture"},
        {"return ('a'):find(('()'):rep(33))", "too many captures"},
        {"return ('a'):rep(300):find(('a?'):rep(300))", "pattern too complex"},
        {"return ('a'):gsub('a', '%2')", "invalid capture index %2"},
        {"return ('a'):gsub('(a)', '%2')", "invalid capture index %2"},
        {"return ('a'):gsub('a', '%x')", "invalid use of '%' in replacement string"},
        {"return ('a'):gsub('a', 'x%')", "invalid use of '%' in replacement string"},
        {"return ('a'):gsub('a', {a = {}})", "invalid replacement value (a table)"},
        {"return ('a'):gsub('a', load'return true')",
         "invalid replacement value (a boolean)"},
        {"return ('a'):gsub('a')",
         "bad argument #2 to 'gsub' (string/function/table expected, got no value)"},
        {"return ('a'):gsub('a', 'x', 'y')",
         "bad argument #3 to 'gsub' (number expected, got string)"},
        {"return string.find('a', {})", "bad argument #2 to 'find' (string expected, got table)"},
        {"return ('a'):gmatch('(a')()", "unfinished capture"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char want[256];
        /* raised in a function called by the chunk: with its position */
        snprintf(want, sizeof want, "err|string:[string \"%s\"]:1: %s", cases[i][0], cases[i][1]);
        expect(state, cases[i][0], want);
    }
    /* errors are met where the match runs into them, as in Lua */
    expect(state, "return ('b'):find('a%')", "ok|nil:nil");
    expect(state, "return ('a)'):find(')')", "ok|number:2|number:2");  /* plain: no specials */
    expect(state, "return ('a'):gsub('(a', 'x')", "ok|string:x|number:1");
}

/* ---- bounded work ---- */

static void test_pathological_in_lua(void **state)
{
    lua_State *L = ((lua_State **)*state)[1];
    static const char *const codes[] = {
        "return string.rep('a', 5e4):find('.-.-.-.-b')",
        "return string.rep('a', 5e4):match('.-.-.-.-b')",
        "return string.rep('a', 5e4):gsub('.-.-.-.-b', '')",
        "for _ in string.rep('a', 5e4):gmatch('.-.-.-.-b') do end",
        "return string.rep('a', 5e4):find(string.rep('a*', 30) .. 'b')",
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        int rc = luaL_dostring(L, codes[i]);
        assert_int_not_equal(rc, LUA_OK);
        const char *msg = lua_tostring(L, -1);
        if (!strstr(msg, "pattern too complex"))
            fail_msg("%s: %s", codes[i], msg);
        lua_settop(L, 0);
    }
}

static void test_pathological_budget(void **state)
{
    size_t n = 50000;
    char *s = malloc(n);
    memset(s, 'a', n);
    long budget = 1000000;
    const char *err = "unset";
    int r = pattern_find(s, n, ".-.-.-.-b", 9, &budget, &err);
    assert_int_equal(r, PATTERN_TOO_COSTLY);
    assert_true(budget <= 0);
    assert_true(budget > -100);  /* it stopped at once */
    assert_null(err);
    /* a budget already spent stops at the first step */
    budget = 0;
    assert_int_equal(pattern_find(s, n, "a", 1, &budget, &err), PATTERN_TOO_COSTLY);
    budget = 0;
    assert_int_equal(pattern_find(s, n, "(a)", 3, &budget, &err), PATTERN_TOO_COSTLY);
    free(s);
}

/* A normal pattern on a 64 KiB line: a modest budget suffices, in Lua and
 * without it. */
static void test_long_line(void **state)
{
    size_t n = 64 * 1024;
    char *s = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = "abc def, 1.2 [x]\t"[i % 18];
    const char tail[] = "listening on port 8080";
    memcpy(s + n - (sizeof tail - 1), tail, sizeof tail - 1);
    s[n] = '\0';
    long budget = 2000000;
    const char *p = "listening on port (%d+)";
    assert_int_equal(pattern_find(s, n, p, strlen(p), &budget, NULL), PATTERN_MATCH);
    assert_true(budget > 0);
    long spent = 2000000 - budget;
    print_message("64 KiB line: %ld steps\n", spent);
    assert_true(spent >= (long)n);  /* one try per position at least */
    budget = 2000000;
    assert_int_equal(pattern_find(s, n, "port %d+$", 9, &budget, NULL), PATTERN_MATCH);
    budget = 2000000;
    assert_int_equal(pattern_find(s, n, "^abc", 4, &budget, NULL), PATTERN_MATCH);
    assert_true(budget > 2000000 - 10);  /* anchored: one position only */
    budget = 2000000;
    assert_int_equal(pattern_find(s, n, "port 9", 6, &budget, NULL), PATTERN_NOMATCH);
    budget = 2000000;
    assert_int_equal(pattern_find(s, n, "port 9%d", 8, &budget, NULL), PATTERN_NOMATCH);

    lua_State *L = ((lua_State **)*state)[1];
    lua_getglobal(L, "string");
    lua_getfield(L, -1, "match");
    lua_pushlstring(L, s, n);
    lua_pushstring(L, p);
    assert_int_equal(lua_pcall(L, 2, 1, 0), LUA_OK);
    assert_string_equal(lua_tostring(L, -1), "8080");
    lua_settop(L, 0);
    free(s);
}

/* In a policy's VM the steps are charged to the run's budget, which stops
 * a pathological match long before the ceiling, at most a chunk late. */
static void test_policy_budget(void **state)
{
    char *dir = tmpdir_new();
    char *path = write_file(dir, "p.lua", "-- nothing\n");
    char *err = NULL;
    struct policy *pol = policy_load(path, &err);
    if (!pol)
        fail_msg("policy_load: %s", err);
    struct lvm *vm = pol->vm;
    lua_State *L = vm->L;
    lpattern_open(L);

    vm->budget = 1000000;
    lvm_arm(vm, L);
    int rc = luaL_dostring(L, "return string.rep('a', 5e4):find('.-.-.-.-b')");
    lvm_disarm(vm, L);
    assert_int_not_equal(rc, LUA_OK);
    const char *msg = lua_tostring(L, -1);
    if (!strstr(msg, "instruction budget exceeded"))
        fail_msg("%s", msg);
    assert_true(vm->budget_left <= 0);
    assert_true(vm->budget_left > -2048);
    lua_settop(L, 0);

    /* a normal match on a 64 KiB line is charged its steps, and fits */
    vm->budget = 10000000;
    lvm_arm(vm, L);
    rc = luaL_dostring(L, "return (string.rep('x', 65536) .. 'port 80'):match('port (%d+)')");
    lvm_disarm(vm, L);
    assert_int_equal(rc, LUA_OK);
    assert_string_equal(lua_tostring(L, -1), "80");
    long spent = vm->budget - vm->budget_left;
    assert_true(spent >= 65536);
    assert_true(spent < 1000000);
    lua_settop(L, 0);

    policy_free(pol);
    free(path);
    tmpdir_free(dir);
}

static void test_find_codes(void **state)
{
    long budget = 1000;
    const char *err = NULL;
    assert_int_equal(pattern_find("abc", 3, "b", 1, &budget, &err), PATTERN_MATCH);
    assert_int_equal(pattern_find("abc", 3, "^b", 2, &budget, &err), PATTERN_NOMATCH);
    assert_int_equal(pattern_find("abc", 3, "c$", 2, &budget, &err), PATTERN_MATCH);
    assert_int_equal(pattern_find("a)", 2, ")", 1, &budget, &err), PATTERN_MATCH);
    assert_int_equal(pattern_find("", 0, "", 0, &budget, &err), PATTERN_MATCH);
    assert_int_equal(pattern_find("a\0b", 3, "%zb", 3, &budget, &err), PATTERN_MATCH);
    /* the subject needs no NUL after it */
    assert_int_equal(pattern_find("ab", 1, "a%f[%z]", 7, &budget, &err), PATTERN_MATCH);
    assert_int_equal(pattern_find("ab", 1, "ab", 2, &budget, &err), PATTERN_NOMATCH);
    assert_int_equal(pattern_find("a", 1, "a%", 2, &budget, &err), PATTERN_MALFORMED);
    assert_string_equal(err, "malformed pattern (ends with '%')");
    assert_int_equal(pattern_find("a", 1, "(a", 2, &budget, &err), PATTERN_MALFORMED);
    assert_string_equal(err, "unfinished capture");
    assert_int_equal(pattern_find("b", 1, "(a", 2, &budget, &err), PATTERN_NOMATCH);
    assert_null(err);
    long before = budget;
    assert_int_equal(pattern_find("xyz", 3, "z+", 2, &budget, &err), PATTERN_MATCH);
    assert_true(budget < before && budget > before - 50);
}

/* ---- pattern_check ---- */

static void test_check(void **state)
{
    static const char *const good[] = {
        "", "^", "$", "^$", "a", "^a*b+c-d?$", "[]]", "[^]]", "[a-]", "%bxy", "%f[%w]",
        "(a)%1", "()%1", "((a)(b))%3%2%1", "$a", "a^", "%]", "[%]]", "(a*)", "a**", "%b()*",
        "%d+%.%d+", ("()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()"),
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        const char *e = pattern_check(good[i], strlen(good[i]));
        if (e)
            fail_msg("%s: %s", good[i], e);
    }
    static const char *const bad[][2] = {
        {"a%", "malformed pattern (ends with '%')"},
        {"[a", "malformed pattern (missing ']')"},
        {"[]", "malformed pattern (missing ']')"},
        {"[^]", "malformed pattern (missing ']')"},
        {"[%]", "malformed pattern (missing ']')"},
        {"%f", "missing '[' after '%f' in pattern"},
        {"%fa", "missing '[' after '%f' in pattern"},
        {"%f[a", "malformed pattern (missing ']')"},
        {"%b", "malformed pattern (missing arguments to '%b')"},
        {"%ba", "malformed pattern (missing arguments to '%b')"},
        {"%1", "invalid capture index %1"},
        {"(a)%2", "invalid capture index %2"},
        {"(a%1)", "invalid capture index %1"},
        {"%0", "invalid capture index %0"},
        {"a)", "invalid pattern capture"},
        {"(a))", "invalid pattern capture"},
        {"(a", "unfinished capture"},
        {"((a)$", "unfinished capture"},
        {"()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()()",
         "too many captures"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *e = pattern_check(bad[i][0], strlen(bad[i][0]));
        if (!e || strcmp(e, bad[i][1]) != 0)
            fail_msg("%s: %s, want %s", bad[i][0], e ? e : "(well formed)", bad[i][1]);
    }
    /* what check rejects, a match that reaches it rejects the same way */
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *p = bad[i][0];
        if (!strcmp(p, "a)"))
            continue;  /* find treats ")" as plain text when nothing else is special */
        char subject[64] = "aaaa";
        long budget = 10000;
        const char *err = NULL;
        int r = pattern_find(subject, strlen(subject), p, strlen(p), &budget, &err);
        if (r != PATTERN_MALFORMED || strcmp(err, bad[i][1]) != 0)
            fail_msg("find %s: %d %s", p, r, err ? err : "");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_installed),
        cmocka_unit_test(test_differential),
        cmocka_unit_test(test_classes_and_sets),
        cmocka_unit_test(test_quantifiers_and_anchors),
        cmocka_unit_test(test_captures),
        cmocka_unit_test(test_gmatch),
        cmocka_unit_test(test_gsub_replacements),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_pathological_in_lua),
        cmocka_unit_test(test_pathological_budget),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_policy_budget),
        cmocka_unit_test(test_find_codes),
        cmocka_unit_test(test_check),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
