// SPDX-License-Identifier: GPL-2.0
/*
 * The default P count, Go 1.25's container-aware GOMAXPROCS: the CPUs of
 * the process's affinity mask, capped by the tightest cpu.max quota of
 * its cgroup and every ancestor, rounded up, but at least 2 for a limit;
 * GMPMAXPROCS overrides it. The cgroup cases need 4 CPUs (on 2, the
 * floor of 2 hides any limit): vm/test.sh runs this test in a 4-CPU
 * guest too.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include "gmp_test_util.h"
#include "kselftest_harness.h"

static int report_procs(void *arg)
{
	(void)arg;
	return kgo_nprocs();
}

/*
 * kgo_run in a child, with @ncpus CPUs of affinity (0: as inherited),
 * GMPMAXPROCS as @env (NULL: unset), in cgroup directory @cg (NULL: as
 * inherited): its P count, or -1.
 */
static int procs_in_child(int ncpus, const char *env, const char *cg)
{
	int sync[2], status, i;
	char path[512], pid[32];
	cpu_set_t set;
	pid_t p;
	FILE *f;

	if (pipe(sync))
		return -1;
	p = fork();
	if (!p) {
		close(sync[1]);
		if (read(sync[0], &i, 1) != 1)	/* moved into @cg first */
			_exit(255);
		if (ncpus) {
			CPU_ZERO(&set);
			for (i = 0; i < ncpus; i++)
				CPU_SET(i, &set);
			if (sched_setaffinity(0, sizeof(set), &set))
				_exit(254);
		}
		if (env)
			setenv("GMPMAXPROCS", env, 1);
		else
			unsetenv("GMPMAXPROCS");
		if (kgo_run(report_procs, NULL, &status))
			_exit(253);
		_exit(status);
	}
	close(sync[0]);
	if (cg) {
		snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
		snprintf(pid, sizeof(pid), "%d", p);
		f = fopen(path, "w");
		if (!f || fputs(pid, f) < 0 || fclose(f))
			kill(p, SIGKILL);
	}
	if (write(sync[1], "x", 1) != 1)
		kill(p, SIGKILL);
	close(sync[1]);
	waitpid(p, &status, 0);
	return WIFEXITED(status) && WEXITSTATUS(status) < 250 ?
	       WEXITSTATUS(status) : -1;
}

TEST(procs_follow_the_affinity_mask)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);

	REQUIRE_GMP();
	if (online < 2)
		SKIP(return, "one CPU: no smaller mask to set");
	EXPECT_EQ(1, procs_in_child(1, NULL, NULL));
	EXPECT_EQ(online, procs_in_child(0, NULL, NULL))
		TH_LOG("no mask and no cgroup limit: one P per online CPU");
	EXPECT_EQ(3, procs_in_child(1, "3", NULL))
		TH_LOG("GMPMAXPROCS=3 overrides the mask");
}

#define CG_ROOT "/sys/fs/cgroup"
#define CG_PARENT CG_ROOT "/gmp-procs"
#define CG_CHILD CG_PARENT "/child"

static int put(const char *path, const char *s)
{
	FILE *f = fopen(path, "w");
	int r = f && fputs(s, f) >= 0 ? 0 : -1;

	if (f && fclose(f))
		r = -1;
	return r;
}

/* A parent and a child cgroup with the cpu controller; why not, or NULL. */
static const char *cgroups_setup(void)
{
	struct stat st;

	mkdir(CG_ROOT, 0755);	/* the busybox guest may not have it */
	if (stat(CG_ROOT "/cgroup.controllers", &st) &&
	    mount("none", CG_ROOT, "cgroup2", 0, NULL))
		return "cannot mount cgroup2 on " CG_ROOT " (no CONFIG_CGROUPS?)";
	if (put(CG_ROOT "/cgroup.subtree_control", "+cpu"))
		return "no cpu controller (CONFIG_CFS_BANDWIDTH?)";
	rmdir(CG_CHILD);
	rmdir(CG_PARENT);
	if (mkdir(CG_PARENT, 0755) ||
	    put(CG_PARENT "/cgroup.subtree_control", "+cpu") ||
	    mkdir(CG_CHILD, 0755))
		return "cannot make the test's cgroups";
	if (stat(CG_CHILD "/cpu.max", &st))
		return "no cpu.max (CONFIG_CFS_BANDWIDTH off)";
	return NULL;
}

static int procs_under(const char *parent_max, const char *child_max,
		       const char *env)
{
	if (put(CG_PARENT "/cpu.max", parent_max) ||
	    put(CG_CHILD "/cpu.max", child_max))
		return -2;
	return procs_in_child(0, env, CG_CHILD);
}

TEST(procs_follow_the_cgroup_cpu_limit)
{
	long online = sysconf(_SC_NPROCESSORS_ONLN);
	const char *why;

	REQUIRE_GMP();
	if (online < 4)
		SKIP(return, "%ld CPUs: the floor of 2 P's hides a limit below 4 (vm/test.sh runs this with 4)",
		     online);
	why = cgroups_setup();
	if (why)
		SKIP(return, "%s", why);
	EXPECT_EQ(4, procs_under("max 100000", "max 100000", NULL));
	EXPECT_EQ(3, procs_under("300000 100000", "max 100000", NULL))
		TH_LOG("a parent's limit of 3 CPUs binds its child");
	EXPECT_EQ(3, procs_under("max 100000", "250000 100000", NULL))
		TH_LOG("2.5 CPUs round up to 3");
	EXPECT_EQ(2, procs_under("300000 100000", "150000 100000", NULL))
		TH_LOG("the tighter of the two, 1.5, rounds up to 2");
	EXPECT_EQ(2, procs_under("max 100000", "50000 100000", NULL))
		TH_LOG("half a CPU: the floor of 2");
	EXPECT_EQ(1, procs_under("max 100000", "300000 100000", "1"))
		TH_LOG("GMPMAXPROCS=1 overrides the limit");
	put(CG_PARENT "/cpu.max", "max 100000");
	rmdir(CG_CHILD);
	rmdir(CG_PARENT);
}

TEST_HARNESS_MAIN
