// SPDX-License-Identifier: GPL-2.0
/*
 * Memory shared with the process: the state page, the spawn ring and the
 * scheduler area (every P's public half, then the G table).
 *
 * All of it is kernel pages mapped into the process, charged to its memory
 * cgroup. The G table is sized for maxg goroutines but its pages are only
 * allocated when the process first touches them, with the kernel's private
 * half of their goroutines (struct gmp_gk): a G index whose page was never
 * touched is not a goroutine, and the kernel rejects it.
 *
 * Goroutine stacks are the process's own memory, but a fault handler here
 * knows where their guards are (gmp_stack_fault()).
 */
#include <linux/errno.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/nospec.h>
#include <linux/slab.h>
#include <linux/vmalloc.h>

#include "gmp_compat.h"
#include "gmp_core.h"
#include "gmp_shm.h"

/*
 * Pages for @size bytes; the first @vmap_size bytes' worth are allocated
 * now and mapped for the kernel at r->vaddr, the rest later on demand.
 */
int gmp_region_alloc(struct gmp_region *r, size_t size, size_t vmap_size)
{
	unsigned int i;

	r->npages = PAGE_ALIGN(size) >> PAGE_SHIFT;
	r->nvmap = PAGE_ALIGN(vmap_size) >> PAGE_SHIFT;
	r->pages = kvcalloc(r->npages, sizeof(*r->pages), GMP_GFP);
	if (!r->pages)
		return -ENOMEM;
	for (i = 0; i < r->nvmap; i++) {
		r->pages[i] = alloc_page(GMP_GFP | __GFP_ZERO);
		if (!r->pages[i])
			return -ENOMEM;	/* gmp_region_free() undoes */
	}
	r->vaddr = vmap(r->pages, r->nvmap, VM_MAP, PAGE_KERNEL);
	return r->vaddr ? 0 : -ENOMEM;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_region_alloc);

void gmp_region_free(struct gmp_region *r)
{
	unsigned int i;

	if (r->vaddr)
		vunmap(r->vaddr);
	if (r->pages) {
		for (i = 0; i < r->npages; i++)
			if (r->pages[i])
				__free_page(r->pages[i]);
		kvfree(r->pages);
	}
	memset(r, 0, sizeof(*r));
}
EXPORT_SYMBOL_IF_KUNIT(gmp_region_free);

/* The scheduler area's size for @nprocs P's and @maxg slots. */
u64 gmp_sched_area_size(u32 nprocs, u32 maxg, u64 *gtab_off)
{
	*gtab_off = PAGE_ALIGN((u64)nprocs * sizeof(struct gmp_pshared));
	return *gtab_off + PAGE_ALIGN((u64)maxg * sizeof(struct gmp_gslot));
}
EXPORT_SYMBOL_IF_KUNIT(gmp_sched_area_size);

int gmp_gtab_init(struct gmp_sched *s, u32 nprocs, u32 maxg)
{
	u64 gtab_off, size = gmp_sched_area_size(nprocs, maxg, &gtab_off);
	int ret;

	mutex_init(&s->gtab_lock);
	s->maxg = maxg;
	s->gtab_pgoff = gtab_off >> PAGE_SHIFT;
	s->gk = kvcalloc(DIV_ROUND_UP(maxg, GMP_GSLOTS_PER_PAGE),
			 sizeof(*s->gk), GMP_GFP);
	if (!s->gk)
		return -ENOMEM;
	ret = gmp_region_alloc(&s->sched_region, size, gtab_off);
	if (ret)
		return ret;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_gtab_init);

void gmp_gtab_destroy(struct gmp_sched *s)
{
	unsigned int i;

	if (s->gk) {
		for (i = 0; i < DIV_ROUND_UP(s->maxg, GMP_GSLOTS_PER_PAGE); i++)
			kvfree(s->gk[i]);
		kvfree(s->gk);
		s->gk = NULL;
	}
	gmp_region_free(&s->sched_region);
	mutex_destroy(&s->gtab_lock);
}
EXPORT_SYMBOL_IF_KUNIT(gmp_gtab_destroy);

/*
 * Page @pg of the scheduler area, allocating it (and, for the G table,
 * its goroutines' private halves) with @gfp if this is the first touch.
 * NULL: no memory, or outside the area.
 */
struct page *gmp_gtab_populate(struct gmp_sched *s, unsigned int pg, gfp_t gfp)
{
	struct gmp_region *r = &s->sched_region;
	unsigned int gpg, i;
	struct gmp_gk *gk;
	struct page *page;

	if (pg >= r->npages)
		return NULL;
	pg = array_index_nospec(pg, r->npages);
	/* Pairs with the release below: the page's gk array is set. */
	page = smp_load_acquire(&r->pages[pg]);
	if (page)
		return page;

	mutex_lock(&s->gtab_lock);
	page = r->pages[pg];
	if (page)
		goto out;
	gpg = pg - s->gtab_pgoff;
	gk = kvcalloc(GMP_GSLOTS_PER_PAGE, sizeof(*gk), gfp);
	if (!gk)
		goto out;
	page = alloc_page(gfp | __GFP_ZERO);
	if (!page) {
		kvfree(gk);
		goto out;
	}
	for (i = 0; i < GMP_GSLOTS_PER_PAGE; i++) {
		atomic_set(&gk[i].kstate, GMP_GK_NONE);
		gk[i].gidx = gpg * GMP_GSLOTS_PER_PAGE + i;
		INIT_LIST_HEAD(&gk[i].link);
	}
	s->gk[gpg] = gk;
	/* Publish the page after its gk array (pairs with the acquires). */
	smp_store_release(&r->pages[pg], page);
out:
	mutex_unlock(&s->gtab_lock);
	return page;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_gtab_populate);

/*
 * The shared slot of goroutine @gidx (and its private half in *@gkp), or
 * NULL if @gidx is no goroutine: 0, out of range, or on a page the process
 * never touched. The slot is user memory: read each field once.
 */
struct gmp_gslot *gmp_gslot(struct gmp_sched *s, u32 gidx, struct gmp_gk **gkp)
{
	unsigned int gpg, off;
	struct page *page;

	if (gidx == 0 || gidx >= s->maxg)
		return NULL;
	gidx = array_index_nospec(gidx, s->maxg);
	gpg = gidx / GMP_GSLOTS_PER_PAGE;
	off = gidx % GMP_GSLOTS_PER_PAGE;
	/* Pairs with the release in gmp_gtab_populate(). */
	page = smp_load_acquire(&s->sched_region.pages[s->gtab_pgoff + gpg]);
	if (!page)
		return NULL;
	if (gkp)
		*gkp = &s->gk[gpg][off];
	return (struct gmp_gslot *)page_address(page) + off;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_gslot);

/*
 * Which region of @s the mapping offset @pgoff (in pages) falls in, and
 * the page index within it; NULL if none.
 */
static struct gmp_region *gmp_region_at(struct gmp_sched *s,
					unsigned long pgoff,
					unsigned long *pg)
{
	static const unsigned long offs[] = {
		GMP_OFF_POLL >> PAGE_SHIFT,
		GMP_OFF_SCHED >> PAGE_SHIFT,
		GMP_OFF_RING >> PAGE_SHIFT,
		GMP_OFF_STATE >> PAGE_SHIFT,
	};
	struct gmp_region *regions[] = {
		&s->pollslot_region, &s->sched_region, &s->ring_region, &s->state_region,
	};
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		if (pgoff < offs[i])
			continue;
		*pg = pgoff - offs[i];
		return *pg < regions[i]->npages ? regions[i] : NULL;
	}
	return NULL;
}

/*
 * A fault in any of the three mappings maps the page; in the scheduler
 * area it allocates it on the first touch. The mapping holds the file, so
 * the instance outlives it.
 *
 * Only the owner's address space is served. The mappings are VM_DONTCOPY,
 * but madvise(MADV_DOFORK) clears that, and a forked child would then
 * share the parent's state page, run queues and G table. Its copy of the
 * mapping has no page table entries (these are plain shared mappings, not
 * VM_MIXEDMAP, so fork does not copy them): every access faults here and
 * gets SIGBUS.
 *
 * kgo claims G table pages with MADV_POPULATE_WRITE, whose faults are not
 * the user's: at the memory cgroup's limit that call fails with ENOMEM and
 * the process goes on. A plain touch is like any page the process touches:
 * the limit is then the memory cgroup OOM killer's business.
 */
static vm_fault_t gmp_vm_fault(struct vm_fault *vmf)
{
	struct gmp_sched *s = vmf->vma->vm_private_data;
	gfp_t gfp = vmf->flags & FAULT_FLAG_USER ? GFP_KERNEL_ACCOUNT : GMP_GFP;
	struct gmp_region *r;
	struct page *page;
	unsigned long pg;

	if (vmf->vma->vm_mm != s->mm)
		return VM_FAULT_SIGBUS;
	r = gmp_region_at(s, vmf->pgoff, &pg);
	if (!r)
		return VM_FAULT_SIGBUS;
	if (r == &s->sched_region)
		page = gmp_gtab_populate(s, pg, gfp);
	else if (r == &s->pollslot_region)	/* pairs with gmp_pollslot_get() */
		page = smp_load_acquire(&r->pages[array_index_nospec(pg, r->npages)]);
	else
		page = r->pages[array_index_nospec(pg, r->npages)];
	if (!page)
		return r == &s->pollslot_region ? VM_FAULT_SIGBUS :
		       VM_FAULT_OOM;
	get_page(page);
	vmf->page = page;
	return 0;
}

const struct vm_operations_struct gmp_vm_ops = {
	.fault = gmp_vm_fault,
};

/* --- Goroutine stacks -------------------------------------------------- */

#define GMP_STACKS_PGOFF_SHIFT	(GMP_STACKS_SIZE_SHIFT - PAGE_SHIFT)

/*
 * Is page @pgoff of a stack mapping (its offset says the layout, see
 * gmp_uapi.h) a guard page? Everything comes from the offset: the mapping
 * keeps no state, so a forked child's copy and the pieces of a split
 * mapping are served alike.
 */
bool gmp_stack_guard_page(unsigned long pgoff)
{
	u64 off = (u64)pgoff << PAGE_SHIFT;
	u64 guard = (off >> GMP_STACKS_GUARD_SHIFT) & 0xff;
	u64 stack = (off >> GMP_STACKS_SIZE_SHIFT) & 0xffff;
	u64 page = pgoff & ((1UL << GMP_STACKS_PGOFF_SHIFT) - 1);

	return do_div(page, (u32)(guard + stack)) < guard;
}
EXPORT_SYMBOL_IF_KUNIT(gmp_stack_guard_page);

/*
 * A stack page on first touch: a guard is SIGSEGV; anything else a zeroed
 * page, charged to the process's memory cgroup. A write fault copies it
 * into a private anonymous page of the process's own (the mapping is
 * private), a read fault maps it until the first write does so.
 */
static vm_fault_t gmp_stack_fault(struct vm_fault *vmf)
{
	struct page *page;

	if (gmp_stack_guard_page(vmf->pgoff))
		return VM_FAULT_SIGSEGV;
	page = alloc_page(GFP_HIGHUSER | __GFP_ZERO | __GFP_ACCOUNT);
	if (!page)
		return VM_FAULT_OOM;
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct gmp_stack_vm_ops = {
	.fault = gmp_stack_fault,
};

/*
 * mmap at GMP_OFF_STACKS_LAYOUT(): private, never executable, not to grow,
 * with a layout of at least one guard and one stack page.
 */
int gmp_stack_mmap(struct vm_area_struct *vma)
{
	u64 off = (u64)vma->vm_pgoff << PAGE_SHIFT;

	if ((off & ~(GMP_OFF_STACKS | 0xffULL << GMP_STACKS_GUARD_SHIFT |
		     0xffffULL << GMP_STACKS_SIZE_SHIFT |
		     ((1ULL << GMP_STACKS_SIZE_SHIFT) - 1))) ||
	    !((off >> GMP_STACKS_GUARD_SHIFT) & 0xff) ||
	    !((off >> GMP_STACKS_SIZE_SHIFT) & 0xffff))
		return -EINVAL;
	if (vma->vm_flags & VM_MAYSHARE)
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	gmp_vma_flags_clear(vma, VM_MAYEXEC);
	gmp_vma_flags_set(vma, VM_DONTEXPAND);
	vma->vm_ops = &gmp_stack_vm_ops;
	return 0;
}
