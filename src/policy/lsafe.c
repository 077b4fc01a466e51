/* lsafe.c -- Lua's standard library, made safe for the supervisor's loop.
 *
 * A policy is trusted to say what to run, not to be free of mistakes: no
 * mistake in it may freeze or crash the loop.  What stays out of reach of
 * the instruction budget (lvm.c) is closed here:
 * - __gc finalizers run with hooks off, so a looping one could never be
 *   stopped: setmetatable refuses a metatable that has one;
 * - debug.sethook would lift the budget;
 * - every new coroutine is charged a quantum up front: a thread's last
 *   partial quantum is never seen by the hook, so a loop of fresh
 *   coroutines would otherwise run uncounted;
 * - Lua does not verify bytecode and a corrupted chunk can crash the VM:
 *   load, loadfile, dofile and require take text only;
 * - reading a FIFO (or a terminal) blocks: files are opened only when they
 *   are regular files (or do not exist yet, for writing);
 * - pattern matching runs in C: string.find, match, gmatch and gsub are
 *   lpattern.c's, which charges its steps to the budget;
 * - string.rep and table.move loop in C as long as they are asked to:
 *   they are charged by their length;
 * - os.execute and io.popen block and race the reaper: use tend.exec. */
#include "policy/lsafe.h"

#include <lauxlib.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "policy/lpattern.h"
#include "policy/lvm.h"

/* ---- metatables without __gc ---- */

static void check_no_gc(lua_State *L, int mt, const char *fn)
{
    if (lua_type(L, mt) != LUA_TTABLE)
        return;
    lua_pushliteral(L, "__gc");
    if (lua_rawget(L, mt) != LUA_TNIL)
        luaL_error(L, "%s: a metatable with __gc is not allowed in a policy "
                   "(finalizers run outside the instruction budget); "
                   "use a to-be-closed variable (__close) instead", fn);
    lua_pop(L, 1);
}

/* Calls the original function (upvalue 1) with the same arguments. */
static int call_original(lua_State *L)
{
    int n = lua_gettop(L);
    lua_pushvalue(L, lua_upvalueindex(1));
    lua_insert(L, 1);
    lua_call(L, n, LUA_MULTRET);
    return lua_gettop(L);
}

static int l_setmetatable(lua_State *L)
{
    check_no_gc(L, 2, "setmetatable");
    return call_original(L);
}

static int l_debug_setmetatable(lua_State *L)
{
    check_no_gc(L, 2, "debug.setmetatable");
    return call_original(L);
}

static int l_refused(lua_State *L)
{
    return luaL_error(L, "%s", lua_tostring(L, lua_upvalueindex(1)));
}

/* ---- coroutines pay for their last quantum ---- */

static int l_coroutine_new(lua_State *L)
{
    lvm_charge(L, LVM_QUANTUM);
    return call_original(L);
}

/* ---- library loops in C, charged by their length ---- */

/* string.rep(s, n [, sep]) copies in a C loop of n rounds, even when the
 * result is empty: ("", 1e15) would spin for days */
static int l_string_rep(lua_State *L)
{
    size_t l, lsep = 0;
    luaL_checklstring(L, 1, &l);
    lua_Integer n = luaL_checkinteger(L, 2);
    luaL_optlstring(L, 3, "", &lsep);
    if (n <= 0 || l + lsep == 0) {
        lua_pushliteral(L, "");
        return 1;
    }
    lvm_charge(L, (long)(n / 16 > LONG_MAX / 2 ? LONG_MAX / 2 : n / 16));
    return call_original(L);
}

/* table.move(a1, f, e, t [, a2]) loops e - f + 1 times in C */
static int l_table_move(lua_State *L)
{
    lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3);
    if (e >= f) {
        lua_Unsigned n = (lua_Unsigned)e - (lua_Unsigned)f;
        lvm_charge(L, n > (lua_Unsigned)(LONG_MAX / 2) ? LONG_MAX / 2 : (long)n);
    }
    return call_original(L);
}

/* ---- text chunks only ---- */

/* A path the policy may open: a regular file, /dev/null, or one that does
 * not exist yet (the open then fails or creates a regular file).  NULL
 * when fine, else why not. */
static const char *unsafe_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return NULL;  /* the open says what is wrong */
    if (S_ISREG(st.st_mode) || strcmp(path, "/dev/null") == 0)
        return NULL;
    return S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file (reading it could block tend)";
}

/* load(chunk [, name [, mode [, env]]]) in text mode */
static int l_load(lua_State *L)
{
    const char *mode = luaL_optstring(L, 3, "t");
    if (strchr(mode, 'b'))
        return luaL_argerror(L, 3, "binary chunks are not loaded in a policy (\"t\" only)");
    int n = lua_gettop(L);
    if (n < 3)
        lua_settop(L, n = 3);
    lua_pushliteral(L, "t");
    lua_replace(L, 3);
    return call_original(L);
}

/* loadfile(name [, mode [, env]]): a regular file, in text mode */
static int l_loadfile(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);  /* no stdin: it would block */
    const char *mode = luaL_optstring(L, 2, "t");
    if (strchr(mode, 'b'))
        return luaL_argerror(L, 2, "binary chunks are not loaded in a policy (\"t\" only)");
    const char *why = unsafe_path(path);
    if (why) {
        luaL_pushfail(L);
        lua_pushfstring(L, "cannot open %s: %s", path, why);
        return 2;
    }
    int env = lua_gettop(L) >= 3 ? 3 : 0;
    if (luaL_loadfilex(L, path, "t") != LUA_OK) {
        luaL_pushfail(L);
        lua_insert(L, -2);
        return 2;
    }
    if (env) {
        lua_pushvalue(L, env);
        if (!lua_setupvalue(L, -2, 1))
            lua_pop(L, 1);
    }
    return 1;
}

static int l_dofile(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *why = unsafe_path(path);
    if (why)
        return luaL_error(L, "cannot open %s: %s", path, why);
    lua_settop(L, 1);
    if (luaL_loadfilex(L, path, "t") != LUA_OK)
        return lua_error(L);
    lua_call(L, 0, LUA_MULTRET);
    return lua_gettop(L) - 1;
}

/* package.searchers[2]: Lua modules along package.path, text only */
static int l_search_lua(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    const char *path = lua_tostring(L, -1);
    if (!path)
        return luaL_error(L, "'package.path' must be a string");
    lua_getfield(L, -2, "searchpath");
    lua_pushstring(L, name);
    lua_pushvalue(L, -3);
    lua_call(L, 2, 2);
    if (lua_isnil(L, -2))
        return 1;  /* the list of files tried */
    const char *file = lua_tostring(L, -2);
    const char *why = unsafe_path(file);
    if (why)
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, file,
                          why);
    if (luaL_loadfilex(L, file, "t") != LUA_OK)
        return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, file,
                          lua_tostring(L, -1));
    lua_pushstring(L, file);
    return 2;
}

/* ---- files that cannot block ---- */

/* io.open(name [, mode]), io.lines(name, ...), io.input(name),
 * io.output(name): the name must be a regular file. */
static int l_io_guarded(lua_State *L)
{
    if (lua_type(L, 1) == LUA_TSTRING) {
        const char *path = lua_tostring(L, 1);
        const char *why = unsafe_path(path);
        if (why) {
            /* io.open answers nil, message, errno; the others raise */
            if (strcmp(lua_tostring(L, lua_upvalueindex(2)), "open") == 0) {
                luaL_pushfail(L);
                lua_pushfstring(L, "%s: %s", path, why);
                lua_pushinteger(L, 0);
                return 3;
            }
            return luaL_error(L, "%s: %s", path, why);
        }
    }
    return call_original(L);
}

/* ---- installing ---- */

/* Wrap lib.fn: the new C function gets the original as upvalue 1 and
 * `extra` (when not NULL) as upvalue 2. */
static void wrap(lua_State *L, const char *lib, const char *fn, lua_CFunction f,
                 const char *extra)
{
    if (lib)
        lua_getglobal(L, lib);
    else
        lua_pushglobaltable(L);
    if (lua_type(L, -1) == LUA_TTABLE) {
        lua_getfield(L, -1, fn);
        int n = 1;
        if (extra) {
            lua_pushstring(L, extra);
            n++;
        }
        lua_pushcclosure(L, f, n);
        lua_setfield(L, -2, fn);
    }
    lua_pop(L, 1);
}

static void refuse(lua_State *L, const char *lib, const char *fn, const char *why)
{
    if (lua_getglobal(L, lib) == LUA_TTABLE) {
        lua_pushfstring(L, "%s.%s %s", lib, fn, why);
        lua_pushcclosure(L, l_refused, 1);
        lua_setfield(L, -2, fn);
    }
    lua_pop(L, 1);
}

void lsafe_open(lua_State *L)
{
    lpattern_open(L);  /* string.find and friends, on the budget */
    wrap(L, NULL, "setmetatable", l_setmetatable, NULL);
    wrap(L, "debug", "setmetatable", l_debug_setmetatable, NULL);
    refuse(L, "debug", "sethook", "is not allowed in a policy (tend keeps the hook for "
                                  "its instruction budget)");
    refuse(L, "os", "execute", "would block the supervisor; use tend.exec");
    refuse(L, "io", "popen", "would block the supervisor; use tend.exec");
    wrap(L, "string", "rep", l_string_rep, NULL);
    wrap(L, "table", "move", l_table_move, NULL);
    wrap(L, "coroutine", "create", l_coroutine_new, NULL);
    wrap(L, "coroutine", "wrap", l_coroutine_new, NULL);
    wrap(L, NULL, "load", l_load, NULL);
    lua_pushcfunction(L, l_loadfile);
    lua_setglobal(L, "loadfile");
    lua_pushcfunction(L, l_dofile);
    lua_setglobal(L, "dofile");
    static const char *const io_fns[] = {"open", "lines", "input", "output"};
    for (size_t i = 0; i < sizeof io_fns / sizeof io_fns[0]; i++)
        wrap(L, "io", io_fns[i], l_io_guarded, io_fns[i]);
    /* require: the Lua searcher (2nd) reads text only */
    lua_getglobal(L, "package");
    if (lua_getfield(L, -1, "searchers") == LUA_TTABLE) {
        lua_pushcfunction(L, l_search_lua);
        lua_rawseti(L, -2, 2);
    }
    lua_pop(L, 2);
}
