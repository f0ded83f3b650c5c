/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A raw gmp instance for the uapi-level selftests, set up the way a
 * runtime would: GMP_IOC_CREATE, then the state page, the spawn ring and
 * the scheduler area mapped as the uapi says (gmp_uapi.h). kgo does the
 * same in kgo_setup.c; the tests that poke the kernel directly use this.
 */
#ifndef GMP_RAW_H
#define GMP_RAW_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "../gmp_uapi.h"

struct raw_inst {
	int fd;
	struct gmp_create c;		/* CREATE's answer */
	struct gmp_state *state;
	struct gmp_ring *ring;
	struct gmp_spawn *spawn;	/* the ring's entries */
	struct gmp_pshared *p0;		/* the scheduler area; P 0 first */
	struct gmp_gslot *gtab;		/* the G table, in that area */
};

/*
 * CREATE an instance on @fd with the fields of @in (its size is set
 * here) and map it into @ri. Returns 0, or -errno of the step that
 * failed; @ri->fd is @fd either way, for the caller to close.
 */
static inline int raw_inst_setup(struct raw_inst *ri, int fd,
				 const struct gmp_create *in)
{
	memset(ri, 0, sizeof(*ri));
	ri->fd = fd;
	ri->c = *in;
	ri->c.size = sizeof(ri->c);
	if (ioctl(fd, GMP_IOC_CREATE, &ri->c))
		return -errno;
	ri->state = mmap(NULL, ri->c.state_size, PROT_READ, MAP_SHARED, fd,
			 GMP_OFF_STATE);
	if (ri->state == MAP_FAILED)
		return -errno;
	ri->ring = mmap(NULL, ri->c.ring_size, PROT_READ | PROT_WRITE,
			MAP_SHARED, fd, GMP_OFF_RING);
	if (ri->ring == MAP_FAILED)
		return -errno;
	ri->p0 = mmap(NULL, ri->c.sched_size, PROT_READ | PROT_WRITE,
		      MAP_SHARED, fd, GMP_OFF_SCHED);
	if (ri->p0 == MAP_FAILED)
		return -errno;
	ri->spawn = (void *)((char *)ri->ring + GMP_RING_SPAWN_OFF);
	ri->gtab = (void *)((char *)ri->p0 + ri->c.gtab_off);
	return 0;
}

#endif /* GMP_RAW_H */
