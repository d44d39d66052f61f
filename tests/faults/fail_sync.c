/*
 * LD_PRELOAD shim for test_sync_failed.py: fdatasync fails with EIO while
 * the file named by CHATDESK_TEST_FAIL_SYNC exists, as a delayed
 * allocation ENOSPC or a dying disk reports it on ext4. Otherwise the
 * real fdatasync runs.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

int
fdatasync(int fd)
{
	static int (*real)(int);
	const char *flag = getenv("CHATDESK_TEST_FAIL_SYNC");

	if (flag != NULL && access(flag, F_OK) == 0) {
		errno = EIO;
		return -1;
	}
	if (real == NULL)
		real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
	return real(fd);
}
