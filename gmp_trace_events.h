/* SPDX-License-Identifier: GPL-2.0 */
/*
 * gmp's tracepoints (the "gmp" system in tracefs), for perf, trace-cmd
 * and bpftrace: what the kernel side of the scheduler does. Every event
 * carries the instance's owner (tgid); goroutines are named by G index
 * and, where the kernel has its slot, by goroutine id (a value user
 * space wrote: for reading, never trusted). The user library's own
 * switches are not here: kgo records them itself (KGO_TRACE).
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM gmp

#if !defined(_GMP_TRACE_EVENTS_H) || defined(TRACE_HEADER_MULTI_READ)
#define _GMP_TRACE_EVENTS_H

#include <linux/tracepoint.h>

/* An M resumes a goroutine on its P: start, wake, hand-off, preemption. */
TRACE_EVENT(gmp_execute,
	    TP_PROTO(pid_t tgid, u32 p, u32 gidx, u64 goid, bool inherit),
	    TP_ARGS(tgid, p, gidx, goid, inherit),
	    TP_STRUCT__entry(__field(pid_t, tgid)
			     __field(u32, p)
			     __field(u32, gidx)
			     __field(u64, goid)
			     __field(bool, inherit)),
	    TP_fast_assign(__entry->tgid = tgid;
			   __entry->p = p;
			   __entry->gidx = gidx;
			   __entry->goid = goid;
			   __entry->inherit = inherit;),
	    TP_printk("tgid=%d p=%u g=%u goid=%llu inherit=%d",
		      __entry->tgid, __entry->p, __entry->gidx, __entry->goid,
		      __entry->inherit)
);

/* A goroutine parks in the kernel (the netpoller) or is made runnable. */
DECLARE_EVENT_CLASS(gmp_g_class,
		    TP_PROTO(pid_t tgid, u32 gidx),
		    TP_ARGS(tgid, gidx),
		    TP_STRUCT__entry(__field(pid_t, tgid)
				     __field(u32, gidx)),
		    TP_fast_assign(__entry->tgid = tgid;
				   __entry->gidx = gidx;),
		    TP_printk("tgid=%d g=%u",
			      __entry->tgid, __entry->gidx)
);

DEFINE_EVENT(gmp_g_class, gmp_park,
	     TP_PROTO(pid_t tgid, u32 gidx),
	     TP_ARGS(tgid, gidx)
);

DEFINE_EVENT(gmp_g_class, gmp_ready,
	     TP_PROTO(pid_t tgid, u32 gidx),
	     TP_ARGS(tgid, gidx)
);

/* P @p took goroutines from @victim's queue (Go's runqsteal). */
TRACE_EVENT(gmp_steal,
	    TP_PROTO(pid_t tgid, u32 p, u32 victim, u32 gidx),
	    TP_ARGS(tgid, p, victim, gidx),
	    TP_STRUCT__entry(__field(pid_t, tgid)
			     __field(u32, p)
			     __field(u32, victim)
			     __field(u32, gidx)),
	    TP_fast_assign(__entry->tgid = tgid;
			   __entry->p = p;
			   __entry->victim = victim;
			   __entry->gidx = gidx;),
	    TP_printk("tgid=%d p=%u victim=%u g=%u",
		      __entry->tgid, __entry->p, __entry->victim,
		      __entry->gidx)
);

/* sysmon: P @p's goroutine ran a slice (preempt) or its M blocked (handoff). */
DECLARE_EVENT_CLASS(gmp_p_class,
		    TP_PROTO(pid_t tgid, u32 p, u32 gidx, pid_t tid),
		    TP_ARGS(tgid, p, gidx, tid),
		    TP_STRUCT__entry(__field(pid_t, tgid)
				     __field(u32, p)
				     __field(u32, gidx)
				     __field(pid_t, tid)),
		    TP_fast_assign(__entry->tgid = tgid;
				   __entry->p = p;
				   __entry->gidx = gidx;
				   __entry->tid = tid;),
		    TP_printk("tgid=%d p=%u g=%u m=%d",
			      __entry->tgid, __entry->p, __entry->gidx,
			      __entry->tid)
);

DEFINE_EVENT(gmp_p_class, gmp_preempt,
	     TP_PROTO(pid_t tgid, u32 p, u32 gidx, pid_t tid),
	     TP_ARGS(tgid, p, gidx, tid)
);

DEFINE_EVENT(gmp_p_class, gmp_handoff,
	     TP_PROTO(pid_t tgid, u32 p, u32 gidx, pid_t tid),
	     TP_ARGS(tgid, p, gidx, tid)
);

/* A thread becomes an M (MSTART), or leaves (MSTART returns). */
DECLARE_EVENT_CLASS(gmp_m_class,
		    TP_PROTO(pid_t tgid, pid_t tid, u32 id, u32 mcount),
		    TP_ARGS(tgid, tid, id, mcount),
		    TP_STRUCT__entry(__field(pid_t, tgid)
				     __field(pid_t, tid)
				     __field(u32, id)
				     __field(u32, mcount)),
		    TP_fast_assign(__entry->tgid = tgid;
				   __entry->tid = tid;
				   __entry->id = id;
				   __entry->mcount = mcount;),
		    TP_printk("tgid=%d m=%d id=%u mcount=%u",
			      __entry->tgid, __entry->tid, __entry->id,
			      __entry->mcount)
);

DEFINE_EVENT(gmp_m_class, gmp_mstart,
	     TP_PROTO(pid_t tgid, pid_t tid, u32 id, u32 mcount),
	     TP_ARGS(tgid, tid, id, mcount)
);

DEFINE_EVENT(gmp_m_class, gmp_mstop,
	     TP_PROTO(pid_t tgid, pid_t tid, u32 id, u32 mcount),
	     TP_ARGS(tgid, tid, id, mcount)
);

#endif /* _GMP_TRACE_EVENTS_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#define TRACE_INCLUDE_FILE gmp_trace_events
#include <trace/define_trace.h>
