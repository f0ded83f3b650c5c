// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * Goroutine dumps (Go's traceback.go): every goroutine, its status, how
 * long it has waited and where, with a backtrace, in Go's format. From
 * kgo_dump(), on SIGQUIT, and after the deadlock report.
 *
 * A goroutine that is not running has its context saved on its own stack
 * (kgo_x86_64.S). kgo_traceback_ctx() calls the unwinder through a frame
 * whose call frame information says "my caller is that context", so
 * libgcc's _Unwind_Backtrace, begun here on the dumping thread's stack,
 * walks on up the goroutine's stack, reading it and never writing to it.
 * A goroutine running on another thread has no saved context: Go stops
 * it with a signal first; kgo says its stack is unavailable.
 *
 * Everything here may run in a signal handler, so it allocates with mmap
 * only, formats its own numbers and writes with write(2). Symbols come
 * from each object's own .symtab (a static program has no dynamic
 * symbols) or, without one, from dladdr(); each frame also gives the
 * object's path and the address in it, for addr2line.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <unwind.h>

#include "../gmp_uapi.h"
#include "kgo.h"
#include "kgo_runtime.h"

/* Frames printed per goroutine at most (Go: 100). */
#define KGO_TB_MAX	64

/* Objects whose symbols are kept at hand. */
#define KGO_SYM_OBJS	16

void kgo_traceback_ctx(const void *ctx, void (*fn)(void *), void *arg)
	KGO_HIDDEN;
extern char kgo_traceback_ctx_end[] KGO_HIDDEN;
extern char kgo_gostart_end[] KGO_HIDDEN;

/* --- Output: one buffer, whole lines, write(2) ----------------------------- */

struct tbuf {
	int fd;
	bool failed;
	size_t n;
	char b[4096];
};

static void tb_flush(struct tbuf *o)
{
	size_t off = 0;
	ssize_t w;

	while (off < o->n && !o->failed) {
		w = write(o->fd, o->b + off, o->n - off);
		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno != EINTR)
			o->failed = true;
	}
	o->n = 0;
}

static void tb_puts(struct tbuf *o, const char *s)
{
	for (; *s; s++) {
		if (o->n == sizeof(o->b))
			tb_flush(o);
		o->b[o->n++] = *s;
	}
}

static void tb_putu(struct tbuf *o, uint64_t v, unsigned int base)
{
	char d[24];
	int i = sizeof(d) - 1;

	d[i] = '\0';
	do {
		d[--i] = "0123456789abcdef"[v % base];
		v /= base;
	} while (v);
	if (base == 16)
		tb_puts(o, "0x");
	tb_puts(o, d + i);
}

/* --- Symbols ---------------------------------------------------------------- */

struct fsym {
	uintptr_t addr, size;
	const char *name;		/* in the object's mapped file */
};

/* One object's functions, sorted by address, or none (NULL). */
struct symobj {
	char path[256];			/* dlpi_name: "" for the program */
	char shown[256];		/* the path printed */
	uintptr_t bias;
	struct fsym *syms;
	size_t nsyms;
	bool tried;
};

static struct {
	int lock;			/* a spin lock: no mutex in a handler */
	struct symobj obj[KGO_SYM_OBJS];
	unsigned int nobj;
} syms;

static void *map_anon(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/* Shell sort by address: qsort may call malloc, which a handler must not. */
static void fsym_sort(struct fsym *a, size_t n)
{
	size_t gap, i, j;
	struct fsym v;

	for (gap = 1; gap < n / 3; gap = 3 * gap + 1)
		;
	for (; gap; gap /= 3)
		for (i = gap; i < n; i++) {
			v = a[i];
			for (j = i; j >= gap && a[j - gap].addr > v.addr;
			     j -= gap)
				a[j] = a[j - gap];
			a[j] = v;
		}
}

/*
 * Map @o's file and keep its defined functions from .symtab (or, if it
 * was stripped, .dynsym). Every offset is checked against the file's
 * size: a damaged file gives no symbols, never a fault. The mapping is
 * kept: the names point into it.
 */
static void symobj_load(struct symobj *o)
{
	const char *file = o->path[0] ? o->path : "/proc/self/exe";
	const Elf64_Shdr *sh, *tab = NULL, *str;
	const Elf64_Ehdr *eh;
	const Elf64_Sym *s;
	size_t i, n, size;
	struct stat st;
	char *m;
	int fd;

	o->tried = true;
	strcpy(o->shown, file);
	if (!o->path[0]) {
		ssize_t r = readlink(file, o->shown, sizeof(o->shown) - 1);

		o->shown[r > 0 ? r : 0] = '\0';
		if (r <= 0)
			strcpy(o->shown, file);
	}
	fd = open(file, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &st) || st.st_size < (off_t)sizeof(*eh)) {
		close(fd);
		return;
	}
	size = (size_t)st.st_size;
	m = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return;
	eh = (const Elf64_Ehdr *)m;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shentsize != sizeof(*sh) || eh->e_shoff > size ||
	    eh->e_shnum > (size - eh->e_shoff) / sizeof(*sh))
		goto bad;
	sh = (const Elf64_Shdr *)(m + eh->e_shoff);
	for (i = 0; i < eh->e_shnum; i++)
		if (sh[i].sh_type == SHT_SYMTAB ||
		    (sh[i].sh_type == SHT_DYNSYM && !tab))
			tab = &sh[i];
	if (!tab || tab->sh_link >= eh->e_shnum)
		goto bad;
	str = &sh[tab->sh_link];
	if (tab->sh_offset > size || tab->sh_size > size - tab->sh_offset ||
	    str->sh_offset > size || str->sh_size > size - str->sh_offset ||
	    !str->sh_size || m[str->sh_offset + str->sh_size - 1])
		goto bad;
	s = (const Elf64_Sym *)(m + tab->sh_offset);
	n = tab->sh_size / sizeof(*s);
	o->syms = map_anon(n * sizeof(*o->syms) + 1);
	if (!o->syms)
		goto bad;
	for (i = 0; i < n; i++) {
		if (ELF64_ST_TYPE(s[i].st_info) != STT_FUNC ||
		    s[i].st_shndx == SHN_UNDEF || !s[i].st_value ||
		    s[i].st_name >= str->sh_size)
			continue;
		o->syms[o->nsyms++] = (struct fsym){
			.addr = s[i].st_value,
			.size = s[i].st_size,
			.name = m + str->sh_offset + s[i].st_name,
		};
	}
	fsym_sort(o->syms, o->nsyms);
	return;
bad:
	munmap(m, size);
}

struct modfind {
	uintptr_t pc, bias;
	const char *name;
	bool found;
};

static int modfind_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct modfind *f = arg;
	uintptr_t v;
	int i;

	(void)size;
	for (i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		v = info->dlpi_addr + ph->p_vaddr;
		if (f->pc >= v && f->pc - v < ph->p_memsz) {
			f->bias = info->dlpi_addr;
			f->name = info->dlpi_name;
			f->found = true;
			return 1;
		}
	}
	return 0;
}

/* The object @pc is in (its symbols loaded once), or NULL. */
static struct symobj *symobj_find(uintptr_t pc)
{
	struct modfind f = { .pc = pc };
	struct symobj *o = NULL;
	unsigned int i;

	dl_iterate_phdr(modfind_cb, &f);
	if (!f.found || strlen(f.name) >= sizeof(o->path))
		return NULL;
	while (__atomic_exchange_n(&syms.lock, 1, __ATOMIC_ACQUIRE))
		;
	for (i = 0; i < syms.nobj && !o; i++)
		if (syms.obj[i].bias == f.bias &&
		    !strcmp(syms.obj[i].path, f.name))
			o = &syms.obj[i];
	if (!o && syms.nobj < KGO_SYM_OBJS) {
		o = &syms.obj[syms.nobj++];
		strcpy(o->path, f.name);
		o->bias = f.bias;
	}
	if (o && !o->tried)
		symobj_load(o);
	__atomic_store_n(&syms.lock, 0, __ATOMIC_RELEASE);
	return o;
}

/* Print "name(...)" and "\tobject +0xaddr" for @pc (a return address). */
/*
 * "name(...)", or for a creator "created by name in goroutine N" (Go
 * 1.21's), then "\tobject +0xaddr" for @pc (a return address unless
 * @exact). @parent: the creator's goroutine, or 0.
 */
static void tb_frame(struct tbuf *o, uintptr_t pc, bool exact,
		     const char *prefix, uint64_t parent)
{
	uintptr_t look = exact ? pc : pc - 1, rel;
	struct symobj *so = symobj_find(look);
	const char *name = NULL;
	size_t lo = 0, hi;
	Dl_info di;

	if (so && so->nsyms) {
		rel = look - so->bias;
		hi = so->nsyms;
		while (hi - lo > 1) {	/* the last symbol at or below rel */
			size_t mid = lo + (hi - lo) / 2;

			if (so->syms[mid].addr <= rel)
				lo = mid;
			else
				hi = mid;
		}
		if (so->syms[lo].addr <= rel &&
		    (rel - so->syms[lo].addr < so->syms[lo].size ||
		     !so->syms[lo].size))
			name = so->syms[lo].name;
	}
	if (!name && dladdr((void *)look, &di) && di.dli_sname)
		name = di.dli_sname;
	tb_puts(o, prefix);
	tb_puts(o, name ? name : "?");
	if (parent) {
		tb_puts(o, " in goroutine ");
		tb_putu(o, parent, 10);
	}
	tb_puts(o, prefix[0] ? "\n\t" : "(...)\n\t");
	if (so) {
		tb_puts(o, so->shown);
		tb_puts(o, " +");
		tb_putu(o, pc - so->bias, 16);
	} else {
		tb_putu(o, pc, 16);
	}
	tb_puts(o, "\n");
}

/* --- Unwinding ------------------------------------------------------------- */

struct trace {
	uintptr_t pc[KGO_TB_MAX];
	bool exact[KGO_TB_MAX];
	int n;
	bool more;			/* frames beyond KGO_TB_MAX */
	int mode;			/* what to skip: enum below */
	uintptr_t from;			/* TRACE_FROM_PC: the first pc kept */
	uintptr_t lo, hi;		/* TRACE_CTX: the goroutine's stack */
	bool started;
};

enum {
	TRACE_CTX,		/* after kgo_traceback_ctx's frame */
	TRACE_SIGNAL,		/* from the frame a signal interrupted */
	TRACE_FROM_PC,		/* from the frame whose pc is @from */
};

static _Unwind_Reason_Code trace_cb(struct _Unwind_Context *ctx, void *arg)
{
	struct trace *t = arg;
	int before = 0;
	uintptr_t pc = _Unwind_GetIPInfo(ctx, &before);

	if (!pc)
		return _URC_END_OF_STACK;
	if (!t->started) {
		switch (t->mode) {
		case TRACE_CTX:
			if (pc > (uintptr_t)kgo_traceback_ctx &&
			    pc <= (uintptr_t)kgo_traceback_ctx_end)
				t->started = true;
			return _URC_NO_REASON;
		case TRACE_SIGNAL:
			t->started = before;
			break;
		default:
			t->started = pc == t->from;
		}
		if (!t->started)
			return _URC_NO_REASON;
	}
	/*
	 * Where every goroutine begins (gostart1, called by kgo_gostart):
	 * Go leaves its runtime.goexit out too.
	 */
	if (pc > (uintptr_t)kgo_gostart && pc <= (uintptr_t)kgo_gostart_end) {
		if (t->n)
			t->n--;
		return _URC_END_OF_STACK;
	}
	/*
	 * A goroutine's frames stay on its stack: a frame outside it means
	 * what was read is not a stack any more (it ran meanwhile). Stop
	 * before the unwinder reads around it.
	 */
	if (t->mode == TRACE_CTX) {
		uintptr_t cfa = _Unwind_GetCFA(ctx);

		if (cfa < t->lo || cfa > t->hi)
			return _URC_END_OF_STACK;
	}
	if (t->n == KGO_TB_MAX) {
		t->more = true;
		return _URC_END_OF_STACK;
	}
	t->exact[t->n] = before;
	t->pc[t->n++] = pc;
	return _URC_NO_REASON;
}

static void trace_run(void *arg)
{
	_Unwind_Backtrace(trace_cb, arg);
}

static void tb_trace(struct tbuf *o, const struct trace *t)
{
	int i;

	for (i = 0; i < t->n; i++)
		tb_frame(o, t->pc[i], t->exact[i], "", 0);
	if (t->more)
		tb_puts(o, "...additional frames elided...\n");
}

/* --- Goroutines -------------------------------------------------------------- */

/* Go's wait reasons for gopark's @who. */
static const char *waitreason(const char *who)
{
	static const struct { const char *who, *reason; } map[] = {
		{ "kgo_chan_recv", "chan receive" },
		{ "kgo_chan_send", "chan send" },
		{ "kgo_select", "select" },
		{ "kgo_sleep", "sleep" },
		{ "kgo netpoll", "IO wait" },
		{ "kgo_mutex_lock", "sync.Mutex.Lock" },
		{ "kgo_rwmutex_rlock", "sync.RWMutex.RLock" },
		{ "kgo_rwmutex_lock", "sync.RWMutex.Lock" },
		{ "kgo_waitgroup_wait", "sync.WaitGroup.Wait" },
	};
	size_t i;

	if (!who)
		return "waiting";
	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(who, map[i].who))
			return map[i].reason;
	return who;
}

/* A context kgo saved, inside @g's stack: a backtrace can start there. */
static bool ctx_ok(const struct kgo_g *g, uintptr_t sp)
{
	uintptr_t lo = (uintptr_t)g->stack;

	return !(sp & 7) && sp >= lo && sp <= lo + g->stack_size &&
	       lo + g->stack_size - sp >= KGO_CTX_SIZE;
}

enum dumpself {
	SELF_NONE,		/* the caller runs no goroutine worth a trace */
	SELF_SIGNAL,		/* a signal interrupted this thread's goroutine */
	SELF_CALLER,		/* kgo_dump(): its caller's frames */
};

/*
 * One goroutine's block; false if it is free or dead (nothing printed).
 * A park was stamped with the kernel's sysmontime (no clock read on that
 * path); "N minutes" compares it with the clock now.
 */
static bool dumpg(struct tbuf *o, struct gmp_gslot *gs, struct kgo_g *g,
		  enum dumpself self, uintptr_t from)
{
	uint32_t st = __atomic_load_n(&gs->status, __ATOMIC_ACQUIRE);
	uint64_t now = (uint64_t)nanotime(), since = g->waitsince;
	uintptr_t pc = (uintptr_t)gs->pc, sp = (uintptr_t)gs->sp;
	struct trace t = { .n = 0 };
	const char *what;

	switch (st) {
	case GMP_GRUNNABLE:
		what = "runnable";
		break;
	case GMP_GRUNNING:
		what = "running";
		break;
	case GMP_GSYSCALL:
		what = "syscall";
		break;
	case GMP_GWAITING:
		what = waitreason(g->waitreason);
		break;
	default:
		return false;	/* free, or dead */
	}
	tb_puts(o, "goroutine ");
	tb_putu(o, g->goid, 10);
	tb_puts(o, " [");
	tb_puts(o, what);
	/* Go's "N minutes", from a minute on */
	if (st == GMP_GWAITING && since && now > since &&
	    now - since >= 60ULL * 1000000000) {
		tb_puts(o, ", ");
		tb_putu(o, (now - since) / (60ULL * 1000000000), 10);
		tb_puts(o, " minutes");
	}
	if (g->lockedm)
		tb_puts(o, ", locked to thread");
	tb_puts(o, "]:\n");

	if (g == getg() && st == GMP_GRUNNING && self != SELF_NONE) {
		t.mode = self == SELF_SIGNAL ? TRACE_SIGNAL : TRACE_FROM_PC;
		t.from = from;
		_Unwind_Backtrace(trace_cb, &t);
		tb_trace(o, &t);
	} else if ((st == GMP_GRUNNABLE || st == GMP_GWAITING) &&
		   pc == (uintptr_t)kgo_resume && ctx_ok(g, sp)) {
		t.mode = TRACE_CTX;
		t.lo = (uintptr_t)g->stack;
		t.hi = t.lo + g->stack_size;
		kgo_traceback_ctx((const void *)sp, trace_run, &t);
		/* It ran meanwhile: what was read may be a mix. */
		if (__atomic_load_n(&gs->sp, __ATOMIC_ACQUIRE) != sp ||
		    __atomic_load_n(&gs->status, __ATOMIC_ACQUIRE) != st)
			tb_puts(o, "\tgoroutine ran while dumped: stack may be stale\n");
		tb_trace(o, &t);
	} else if (st == GMP_GRUNNABLE && pc == (uintptr_t)kgo_gostart) {
		/* Not started yet: where it will begin. */
		tb_frame(o, g->main_fn ? (uintptr_t)g->main_fn :
			 (uintptr_t)g->fn, true, "", 0);
	} else {
		tb_puts(o, "\tgoroutine running on other thread; stack unavailable\n");
	}
	if (!g->main_fn && g->gopc)
		tb_frame(o, g->gopc, false, "created by ", gs->parentgoid);
	tb_puts(o, "\n");
	return true;
}

/*
 * Every goroutine to @fd, the calling thread's own first, as Go lists
 * the current one first. Returns how many were printed.
 */
static int dumpall(int fd, enum dumpself self, uintptr_t from)
{
	struct tbuf *o = map_anon(sizeof(*o));
	uint32_t gidx, n = stack_ngidx();
	struct kgo_g *me = getg(), *g;
	struct gmp_gslot *gs;
	int count = 0;

	if (!o)
		return -ENOMEM;
	o->fd = fd;
	if (me)
		count += dumpg(o, me->slot, me, self, from);
	for (gidx = 1; gidx <= n && gidx <= rt.maxg; gidx++) {
		gs = gslot(gidx);
		g = (struct kgo_g *)(uintptr_t)
			__atomic_load_n(&gs->user, __ATOMIC_ACQUIRE);
		if (g && g != me && g->gidx == gidx)
			count += dumpg(o, gs, g, SELF_NONE, 0);
	}
	tb_flush(o);
	munmap(o, sizeof(*o));
	return count;
}

/* --- Entry points ---------------------------------------------------------- */

__attribute__((noinline)) int kgo_dump(int fd)
{
	uintptr_t from = (uintptr_t)__builtin_return_address(0);
	sigset_t quit, old;
	int n;

	if (fd < 0)
		return -EBADF;
	if (rt.fd < 0)
		return -ENXIO;
	/*
	 * Inside kgo: the caller stays on this M, its stack where it is. No
	 * SIGQUIT meanwhile: its dump would wait for the symbol table's lock,
	 * which this thread may hold.
	 */
	sigemptyset(&quit);
	sigaddset(&quit, SIGQUIT);
	pthread_sigmask(SIG_BLOCK, &quit, &old);
	acquirem();
	n = dumpall(fd, SELF_CALLER, from);
	releasem();
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return n;
}

/* After a fatal message (checkdead): every goroutine, to stderr. */
void dump_fatal(void)
{
	sigset_t quit;

	sigemptyset(&quit);
	sigaddset(&quit, SIGQUIT);	/* as in kgo_dump() */
	pthread_sigmask(SIG_BLOCK, &quit, NULL);
	acquirem();
	dumpall(2, SELF_NONE, 0);
}

/* Go's SIGQUIT: every goroutine to stderr, then exit status 2. */
static void sigquit_handler(int sig, siginfo_t *info, void *uc)
{
	static const char msg[] = "SIGQUIT: quit\n\n";

	(void)sig;
	(void)info;
	(void)uc;
	acquirem();	/* no preemption moves this goroutine now */
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	dumpall(2, SELF_SIGNAL, 0);
	_exit(2);
}

/* Unless the program has its own: SIGQUIT dumps, as in Go. */
void sigquit_install(void)
{
	struct sigaction sa, old;

	/*
	 * ThreadSanitizer holds an asynchronous signal back until the thread
	 * next enters a function it intercepts, and an M waiting in the
	 * kernel enters none: SIGQUIT would be lost. It keeps its default.
	 */
	if (KGO_TSAN)
		return;
	if (sigaction(SIGQUIT, NULL, &old) || old.sa_handler != SIG_DFL ||
	    (old.sa_flags & SA_SIGINFO))
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sigquit_handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigfillset(&sa.sa_mask);
	sigaction(SIGQUIT, &sa, NULL);
}
