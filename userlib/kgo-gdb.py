# SPDX-License-Identifier: LGPL-2.1 OR MIT
"""kgo's goroutines in gdb, as Go's runtime-gdb.py shows Go's.

  info goroutines      every goroutine: id, status (and what it waits
                       for), the P and thread running it, and where it
                       is: the innermost frame outside kgo
  goroutine N CMD      run gdb's CMD (bt, info frame, ...) as if the
                       goroutine N were the selected thread's: one that
                       is running, on the thread running it; any other,
                       with the registers of the context it saved

kgo embeds this script in every program it is linked into (the
.debug_gdb_scripts section): gdb loads it from a program under its
auto-load safe-path (add-auto-load-safe-path DIR), or run
"source .../share/kgo/kgo-gdb.py". It reads a live process: the G table
and the state page are shared mappings, which core files leave out
unless /proc/PID/coredump_filter has bit 3.
"""

import struct

import gdb

# kgo_asm.h: the context a switch saves, from its sp up.
CTX_REGS = 24           # r15, r14, r13, r12, rbx, rbp
CTX_RET = 72
CTX_SIZE = 80
SLOT_SIZE = 64          # struct gmp_gslot
SLOT_FMT = "<QQQQQIIQ"  # pc sp arg goid parentgoid status p user
SLOTS_PER_READ = 64

STATUS = ("idle", "runnable", "running", "syscall", "waiting", "dead")
REASONS = {             # kgo_traceback.c's waitreason()
    "kgo_chan_recv": "chan receive",
    "kgo_chan_send": "chan send",
    "kgo_select": "select",
    "kgo_sleep": "sleep",
    "kgo netpoll": "IO wait",
    "kgo_mutex_lock": "sync.Mutex.Lock",
    "kgo_rwmutex_rlock": "sync.RWMutex.RLock",
    "kgo_rwmutex_lock": "sync.RWMutex.Lock",
    "kgo_waitgroup_wait": "sync.WaitGroup.Wait",
}
SAVED = ("rip", "rsp", "rbp", "rbx", "r12", "r13", "r14", "r15")


def _u64(addr):
    mem = gdb.selected_inferior().read_memory(addr, 8)
    return struct.unpack("<Q", mem.tobytes())[0]


def _addr(expr):
    return int(gdb.parse_and_eval(expr).cast(gdb.lookup_type("long")))


class Goroutine:
    def __init__(self, gidx, slot, g):
        (self.pc, self.sp, _, self.goid, self.parent, status, self.p,
         _) = slot
        self.gidx = gidx
        self.status = STATUS[status] if status < len(STATUS) else "?"
        self.g = g
        self.thread = None

    def reason(self):
        if self.status != "waiting":
            return self.status
        who = self.g["waitreason"]
        why = who.string() if int(who) else "waiting"
        return "waiting: " + REASONS.get(why, why)

    def context(self):
        """The saved context's sp, if it has one to unwind from.

        A running goroutine no thread runs is between two slices: it has
        switched out (its context saved) and its status is not yet
        written.
        """
        if self.status not in ("runnable", "waiting") and \
                (self.status != "running" or self.thread):
            return None
        if self.pc != _addr("&kgo_resume"):
            return None
        lo = int(self.g["stack"])
        if not lo <= self.sp <= lo + int(self.g["stack_size"]) - CTX_SIZE:
            return None
        return self.sp


def goroutines():
    """Every goroutine in use, by G index, with the thread running it."""
    try:
        rt = gdb.parse_and_eval("__kgo_rt")
    except gdb.error:
        raise gdb.GdbError("no kgo in this program (no __kgo_rt)")
    gtab, maxg = int(rt["gtab"]), int(rt["maxg"])
    if not gtab:
        return []
    gptr = gdb.lookup_type("struct kgo_g").pointer()
    inf = gdb.selected_inferior()
    out, gidx, done = [], 1, False
    # Indices are handed out in order from 1: the first slot without a
    # G record ends the table (slots come a page of 64 at a time).
    while not done and gidx <= maxg:
        n = min(SLOTS_PER_READ - gidx % SLOTS_PER_READ, maxg - gidx + 1)
        buf = inf.read_memory(gtab + gidx * SLOT_SIZE,
                              n * SLOT_SIZE).tobytes()
        for i in range(n):
            slot = struct.unpack_from(SLOT_FMT, buf, i * SLOT_SIZE)
            if not slot[7]:
                done = True
                break
            if 1 <= slot[5] <= 4:
                g = gdb.Value(slot[7]).cast(gptr).dereference()
                out.append(Goroutine(gidx + i, slot, g))
        gidx += n
    running, sps = {}, []
    curg_off = _addr("__kgo_curg_off")
    cur = gdb.selected_thread()
    try:
        for t in inf.threads():
            t.switch()
            sps.append((int(gdb.parse_and_eval("$rsp")), t))
            fs = int(gdb.parse_and_eval("$fs_base"))
            if fs:
                curg = _u64(fs + curg_off)
                if curg:
                    running[curg] = t
    finally:
        if cur:
            cur.switch()
    for gr in out:
        gr.thread = running.get(int(gr.g.address))
        if gr.thread is None:
            # Between two slices (in the preemption stub, say) the
            # thread's curg is not yet or no longer set, but the thread
            # still runs on the goroutine's stack.
            lo = int(gr.g["stack"])
            hi = lo + int(gr.g["stack_size"])
            gr.thread = next((t for sp, t in sps if lo <= sp < hi), None)
    return sorted(out, key=lambda gr: gr.goid)


def _kgo_frame(frame):
    name = frame.name() or ""
    if name.startswith(("kgo_", "__kgo_")):
        return True
    sal = frame.find_sal()
    base = sal.symtab.filename.rsplit("/", 1)[-1] if sal.symtab else ""
    return base.startswith("kgo_")


def _where():
    """The innermost frame outside kgo, described, from the newest."""
    frame = gdb.newest_frame()
    first = frame
    while frame and _kgo_frame(frame):
        frame = frame.older()
    frame = frame or first
    sal = frame.find_sal()
    text = "%s ()" % (frame.name() or "0x%x" % frame.pc())
    if sal.symtab:
        text += " at %s:%d" % (sal.symtab.filename.rsplit("/", 1)[-1],
                               sal.line)
    return text


class _Regs:
    """The selected thread wears goroutine @gr's saved registers."""

    def __init__(self, ctx):
        self.ctx = ctx

    def __enter__(self):
        self.saved = {r: int(gdb.parse_and_eval("$" + r)) for r in SAVED}
        # The call's own pc, inside it: frame 0 is the switch's caller
        # at the call, as unwinders show a return address's frame.
        regs = {"rip": _u64(self.ctx + CTX_RET) - 1,
                "rsp": self.ctx + CTX_SIZE}
        for i, r in enumerate(("r15", "r14", "r13", "r12", "rbx", "rbp")):
            regs[r] = _u64(self.ctx + CTX_REGS + 8 * i)
        for r, v in regs.items():
            gdb.execute("set $%s = %d" % (r, v), to_string=True)
        return self

    def __exit__(self, *exc):
        for r, v in self.saved.items():
            gdb.execute("set $%s = %d" % (r, v), to_string=True)
        return False


def _run_as(gr, fn):
    """fn() with goroutine @gr's frames as the selected thread's."""
    if gr.thread:
        cur = gdb.selected_thread()
        gr.thread.switch()
        try:
            return fn()
        finally:
            cur.switch()
    ctx = gr.context()
    if ctx is None:
        return None
    with _Regs(ctx):
        return fn()


class InfoGoroutines(gdb.Command):
    """List kgo's goroutines: id, status, P, thread and where it is."""

    def __init__(self):
        super().__init__("info goroutines", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        cur = gdb.selected_thread()
        print("  %-6s %-28s %-4s %-8s %s" % ("Id", "Status", "P", "Thread",
                                             "Where"))
        for gr in goroutines():
            where = _run_as(gr, _where)
            if where is None:
                fn = gr.g["main_fn"] if int(gr.g["main_fn"]) else gr.g["fn"]
                where = "not started: %s" % gdb.format_address(int(fn)) \
                    if gr.pc == _addr("&kgo_gostart") else "?"
            mark = "*" if gr.thread and gr.thread == cur else " "
            print("%s %-6d %-28s %-4s %-8s %s" % (
                mark, gr.goid, gr.reason(),
                gr.p if gr.thread else "-",
                gr.thread.num if gr.thread else "-", where))


class GoroutineCmd(gdb.Command):
    """goroutine N CMD: run CMD with goroutine N's frames."""

    def __init__(self):
        super().__init__("goroutine", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        words = arg.split(None, 1)
        if len(words) < 2 or not words[0].isdigit():
            raise gdb.GdbError("usage: goroutine N CMD")
        goid = int(words[0])
        for gr in goroutines():
            if gr.goid == goid:
                break
        else:
            raise gdb.GdbError("no goroutine %d" % goid)
        cmd = words[1]
        if _run_as(gr, lambda: gdb.execute(cmd, from_tty) or True) is None:
            raise gdb.GdbError("goroutine %d has no frames: %s" %
                               (goid, gr.reason()))


InfoGoroutines()
GoroutineCmd()
