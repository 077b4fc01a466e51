/* proc_output.c -- a proc's stdout and stderr: reading the pipes in
 * bursts, splitting what is read into lines, the rings, the output sink or
 * file, the listeners, and the tails cut from the rings. */
#include "core/proc_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "core/outfile.h"
#include "base/util.h"

/* Two read buffers, used in turn within a read burst, so the pending tail
 * of one block (defer_block) can stay where it was read while the next
 * block comes in.  As large as a pipe (LAUNCH_PIPE_SIZE): a fast writer's
 * whole backlog comes in one read, which (measured with `make bench`,
 * output) takes a third less time than four reads of 64 KiB. */
static char read_bufs[2][256 * 1024];

/* An unfinished line up to this long is copied in front of the next read
 * (stream_read_burst); a longer one is completed where it is kept. */
#define READ_CARRY_MAX 4096

struct proc_listener *proc_listen(struct proc *p, proc_line_fn *fn, void *data)
{
    struct proc_listener *l = xcalloc(1, sizeof *l);
    l->fn = fn;
    l->data = data;
    struct proc_listener **pp = &p->listeners;
    while (*pp)
        pp = &(*pp)->next;
    *pp = l;
    return l;
}

/* Free the listeners marked dead, unless somebody walks the list. */
static void prune_listeners(struct proc *p)
{
    if (p->listening)
        return;
    for (struct proc_listener **pp = &p->listeners; *pp;) {
        struct proc_listener *l = *pp;
        if (l->dead) {
            *pp = l->next;
            if (l->own_data)
                free(l->data);
            free(l);
        } else {
            pp = &l->next;
        }
    }
}

void proc_unlisten(struct proc *p, struct proc_listener *l)
{
    l->dead = true;
    prune_listeners(p);
}

static void flush_pending(struct proc *p, int i);

/* Numbers the output lines of every proc, both streams, in the order they
 * arrive: `tend logs` merges rings by it (proc_impl.h). */
uint64_t proc_line_seq;

/* The file stream i goes to: stderr's own, or the one of both; NULL. */
static struct outfile *proc_outfile(const struct proc *p, int i)
{
    return i && p->file_err ? p->file_err : p->file;
}

static void emit_line(struct proc *p, int i, const char *line, size_t len)
{
    struct proc_stream *s = &p->out[i];
    flush_pending(p, i);  /* the lines before this one go first */
    if (!s->ring)
        s->ring = ring_new();
    ring_push(s->ring, proc_line_seq++, ev_now(p->loop), line, len);
    if (p->spec->output == OUTPUT_INHERIT || p->spec->output_console)
        output_line(i ? 2 : 1, p->spec->name, line, len);
    struct outfile *f = proc_outfile(p, i);
    if (f)
        outfile_line(f, p->spec->name, line, len);
    if (p->listeners) {
        p->listening++;
        for (struct proc_listener *l = p->listeners; l; l = l->next)
            if (!l->dead)
                l->fn(p, i, line, len, l->data);
        p->listening--;
        prune_listeners(p);
    }
}

/* Append to the unfinished line; once it holds PROC_LINE_MAX bytes, the
 * next byte makes it a line of its own (split, SPEC 6), as emit_split
 * does: a line of exactly k * PROC_LINE_MAX bytes is k lines, whatever
 * the reads it came in. */
static void partial_append(struct proc *p, int i, const char *buf, size_t n)
{
    struct proc_stream *s = &p->out[i];
    while (n > 0) {
        if (s->plen == PROC_LINE_MAX) {
            emit_line(p, i, s->partial, s->plen);
            s->plen = 0;
        }
        size_t c = PROC_LINE_MAX - s->plen;
        if (c > n)
            c = n;
        if (!s->partial)
            s->partial = xmalloc(PROC_LINE_MAX);
        memcpy(s->partial + s->plen, buf, c);
        s->plen += c;
        buf += c;
        n -= c;
    }
}

/* A complete line, split into pieces of PROC_LINE_MAX bytes if longer. */
static void emit_split(struct proc *p, int i, const char *line, size_t len)
{
    for (; len > PROC_LINE_MAX; line += PROC_LINE_MAX, len -= PROC_LINE_MAX)
        emit_line(p, i, line, PROC_LINE_MAX);
    emit_line(p, i, line, len);
}

/* Whether a block of complete lines holds one longer than PROC_LINE_MAX,
 * i.e. PROC_LINE_MAX + 1 bytes in a row without a newline.  One memrchr
 * a window: the newline nearest a window's end starts the next window. */
static bool has_long_line(const char *buf, size_t n)
{
    size_t from = 0;  /* where the current line starts */
    while (n - from > PROC_LINE_MAX + 1) {
        const char *nl = memrchr(buf + from, '\n', PROC_LINE_MAX + 1);
        if (!nl)
            return true;
        from = (size_t)(nl - buf) + 1;
    }
    return false;
}

/* Emit the unfinished line, if any, and let its buffer go. */
static void partial_flush(struct proc *p, int i)
{
    struct proc_stream *s = &p->out[i];
    if (s->plen)
        emit_line(p, i, s->partial, s->plen);
    s->plen = 0;
    free(s->partial);
    s->partial = NULL;
}

/* Put the last `max` (at most RING_LINES) lines of a block of complete
 * lines (each ending in '\n') into the ring: the earlier ones would only be
 * pushed out again.  The sequence numbers skip the lines left out, which
 * keeps them in order. */
static void ring_tail_of_block(struct proc *p, int i, const char *buf, size_t n, size_t max)
{
    struct proc_stream *s = &p->out[i];
    if (n == 0)
        return;
    const char *starts[RING_LINES];
    size_t k = 0;
    const char *end = buf + n - 1;  /* the final newline */
    while (k < max && end >= buf) {
        const char *nl = end > buf ? memrchr(buf, '\n', (size_t)(end - buf)) : NULL;
        starts[k++] = nl ? nl + 1 : buf;
        if (!nl)
            break;
        end = nl;
    }
    if (!s->ring)
        s->ring = ring_new();
    proc_line_seq += 1;  /* a gap: the lines before these were not kept */
    ring_stage(s->ring, proc_line_seq, ev_now(p->loop), starts[k - 1],
               (size_t)(buf + n - starts[k - 1]), k);
    proc_line_seq += k;
}

/* The ring takes the pending tail now. */
static void flush_pending(struct proc *p, int i)
{
    struct proc_stream *s = &p->out[i];
    if (s->pend_len) {
        size_t n = s->pend_len;
        s->pend_len = 0;
        ring_tail_of_block(p, i, s->pend, n, RING_LINES);
    }
}

/* Keep the tail of a block of complete lines for the ring, which takes it
 * once the current read burst is over (stream_read): when a program writes
 * fast, most blocks are superseded by the next before anybody could look. */
static void defer_block(struct proc *p, int i, const char *buf, size_t n)
{
    struct proc_stream *s = &p->out[i];
    /* the start of the last RING_LINES lines (or of the block) */
    size_t start = 0, pos = n - 1, lines = 0;  /* buf[n - 1] is a newline */
    bool whole_block = false;
    while (lines < RING_LINES) {
        const char *nl = memrchr(buf, '\n', pos);
        lines++;
        if (!nl) {
            start = 0;
            whole_block = true;
            break;
        }
        start = (size_t)(nl - buf) + 1;
        pos = (size_t)(nl - buf);
    }
    if (whole_block && lines < RING_LINES && s->pend_len) {
        /* too few lines here: the newest of the older ones still count */
        size_t older = s->pend_len;
        s->pend_len = 0;
        ring_tail_of_block(p, i, s->pend, older, RING_LINES - lines);
    }
    s->pend = buf + start;  /* in a read buffer, valid until the burst ends */
    s->pend_len = n - start;
}

/* A block of complete lines, each ending in '\n' and none longer than
 * PROC_LINE_MAX (stream_feed splits those).  Line by line where something needs each
 * line (listeners, prefixes, timestamps, a rotation inside the block);
 * else one write for the whole block. */
static void emit_block(struct proc *p, int i, const char *buf, size_t n)
{
    enum output_mode mode = p->spec->output;
    struct outfile *f = proc_outfile(p, i);
    bool whole = !p->listeners && !p->spec->output_console &&
                 (mode == OUTPUT_DISCARD ||
                  (mode == OUTPUT_FILE && f && outfile_takes_block(f, n)));
    if (whole) {
        if (f)
            outfile_write(f, p->spec->name, buf, n);
        defer_block(p, i, buf, n);
        return;
    }
    if (!p->listeners && mode == OUTPUT_INHERIT) {
        for (const char *l = buf, *end = buf + n; l < end;) {
            const char *nl = memchr(l, '\n', (size_t)(end - l));
            output_line(i ? 2 : 1, p->spec->name, l, (size_t)(nl - l));
            l = nl + 1;
        }
        defer_block(p, i, buf, n);
        return;
    }
    for (const char *l = buf, *end = buf + n; l < end;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        emit_line(p, i, l, (size_t)(nl - l));
        l = nl + 1;
    }
}

/* Split what was read into lines: an unfinished line from before is
 * completed first, the complete lines go as one block, the rest waits. */
static void stream_feed(struct proc *p, int i, const char *buf, size_t n)
{
    struct proc_stream *s = &p->out[i];
    if (s->plen > 0) {
        const char *nl = memchr(buf, '\n', n);
        if (!nl) {
            partial_append(p, i, buf, n);
            return;
        }
        size_t len = (size_t)(nl - buf);
        partial_append(p, i, buf, len);
        partial_flush(p, i);
        buf = nl + 1;
        n -= len + 1;
    }
    const char *last = n ? memrchr(buf, '\n', n) : NULL;
    if (last) {
        size_t block = (size_t)(last - buf) + 1;
        if (block > PROC_LINE_MAX + 1 && has_long_line(buf, block)) {
            for (const char *l = buf, *end = buf + block; l < end;) {
                const char *nl = memchr(l, '\n', (size_t)(end - l));
                emit_split(p, i, l, (size_t)(nl - l));
                l = nl + 1;
            }
        } else {
            emit_block(p, i, buf, block);
        }
        buf += block;
        n -= block;
    }
    if (n)
        partial_append(p, i, buf, n);
}

static void stream_cb(struct ev_loop *loop, ev_io *w, int revents);

/* Read what the pipe holds.  Normally a few reads at a time (other procs
 * get their turn) and a pause while the output sink is congested; when
 * `draining` at exit, everything already there, up to a bound. */
static void stream_read_burst(struct proc *p, int i, bool draining);

/* Read a burst; the ring is up to date whenever the loop gets control. */
void proc_stream_read(struct proc *p, int i, bool draining)
{
    stream_read_burst(p, i, draining);
    flush_pending(p, i);
}

static void stream_read_burst(struct proc *p, int i, bool draining)
{
    struct proc_stream *s = &p->out[i];
    /* draining at exit: all a full pipe holds, and a little more */
    int rounds = draining ? (int)(LAUNCH_PIPE_SIZE / sizeof read_bufs[0]) + 4 : 4;
    while (s->fd >= 0 && rounds-- > 0) {
        /* only a stream copied to a congested sink waits: a proc writing to
         * a file, or discarding, is not slowed by tend's stdout */
        if (!draining && (p->spec->output == OUTPUT_INHERIT || p->spec->output_console) &&
            output_congested_fd(i ? 2 : 1)) {
            ev_io_stop(p->loop, &s->w);
            s->paused = true;
            output_wait(&p->ow);
            return;
        }
        char *buf = read_bufs[rounds & 1];
        /* the pending ring tail may still sit in this buffer: a read that
         * only lengthened an unfinished line came in between */
        if (s->pend_len && s->pend >= buf && s->pend < buf + sizeof read_bufs[0])
            flush_pending(p, i);
        /* a short unfinished line goes in front of what is read, so the
         * line it becomes is part of the block, not written on its own */
        size_t carry = s->plen <= READ_CARRY_MAX ? s->plen : 0;
        if (carry)
            memcpy(buf, s->partial, carry);
        ssize_t n = read(s->fd, buf + carry, sizeof read_bufs[0] - carry);
        if (n > 0) {
            s->plen -= carry;
            stream_feed(p, i, buf, carry + (size_t)n);
        } else if (n < 0 && errno == EINTR) {
            rounds++;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        } else {
            if (n < 0)
                log_warn(p->spec->name, "reading %s: %s", i ? "stderr" : "stdout",
                         strerror(errno));
            proc_stream_close(p, i);
        }
    }
}

static void stream_cb(struct ev_loop *loop, ev_io *w, int revents)
{
    /* the watcher's data is the owner; its address says which stream */
    struct proc *owner = w->data;
    int i = w == &owner->out[1].w;
    proc_hold(owner);
    /* both pipes became ready before one poll: libev calls the watchers
     * in the reverse of the order epoll reported them (its pending queue
     * is a stack), and epoll reports the first ready first, so the other
     * stream, still pending, holds the older lines: read it first, so
     * that a line on stdout then one on stderr are numbered in that order */
    ev_io *other = &owner->out[!i].w;
    if (ev_is_pending(other)) {
        ev_clear_pending(loop, other);
        proc_stream_read(owner, !i, false);
    }
    proc_stream_read(owner, i, false);
    proc_release(owner);
}

void proc_stream_close(struct proc *p, int i)
{
    struct proc_stream *s = &p->out[i];
    if (s->fd < 0)
        return;
    flush_pending(p, i);
    partial_flush(p, i);
    ev_io_stop(p->loop, &s->w);
    close(s->fd);
    s->fd = -1;
    s->paused = false;
}

static void output_wake(struct output_waiter *w)
{
    struct proc *p = container_of(w, struct proc, ow);
    for (int i = 0; i < 2; i++) {
        struct proc_stream *s = &p->out[i];
        if (s->paused && s->fd >= 0) {
            s->paused = false;
            ev_io_start(p->loop, &s->w);
        }
    }
}

char *proc_tail(const struct proc *p, int stream, size_t lines,
                bool since_incarnation)
{
    const struct ring *r = p->out[stream ? 1 : 0].ring;
    if (!r)
        return xstrdup("");
    return ring_tail(r, lines, (size_t)-1, since_incarnation ? p->inc_seq : 0);
}

/* The `tail` of a terminal status: this incarnation's stderr, else its
 * stdout, at most PROC_TAIL_MAX bytes. */
char *proc_terminal_tail(const struct proc *p)
{
    for (int i = 1; i >= 0; i--) {
        const struct ring *r = p->out[i].ring;
        if (!r)
            continue;
        char *t = ring_tail(r, RING_LINES, PROC_TAIL_MAX, p->inc_seq);
        if (*t)
            return t;
        free(t);
    }
    return xstrdup("");
}

void proc_reopen_output(struct proc *p)
{
    if (p->file)
        outfile_reopen(p->file, p->spec->name);
    if (p->file_err)
        outfile_reopen(p->file_err, p->spec->name);
}

void proc_output_init(struct proc *p)
{
    for (int i = 0; i < 2; i++) {
        p->out[i].fd = -1;
        ev_io_init(&p->out[i].w, stream_cb, -1, EV_READ);
        p->out[i].w.data = p;
    }
    p->ow.wake = output_wake;
}

void proc_output_free(struct proc *p)
{
    while (p->listeners) {
        struct proc_listener *l = p->listeners;
        p->listeners = l->next;
        if (l->own_data)
            free(l->data);
        free(l);
    }
    for (int i = 0; i < 2; i++)
        ring_free(p->out[i].ring);
    outfile_close(p->file);
    outfile_close(p->file_err);
}
